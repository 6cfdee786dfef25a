"""The campaign rule as a property: one journal never sends one person two messages.

Hypothesis draws short histories of a campaign, each a sequence of: edit the
definition, replace the list (people added, dropped, listed twice, renamed),
and send through the real CLI against the sandbox, which may fail some requests
(500s with one attempt), lose answers after delivering (`unknown`), or revoke
the credentials mid-run. Whatever the history, without --resend-sent and
--resend-unknown the sandbox never delivers to one `to` twice, and every run
ends with an exit code, never a traceback (issue 15, item 1).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.sandbox.faults import Faults
from linepress.sandbox.server import SandboxServer, running_sandbox

KEY = "campaign-rule-key"
PEOPLE = [f"U{n:032x}" for n in range(1, 7)]
FAULTS = {
    "none": Faults(),
    "errors": Faults(server_errors=0.5),
    "lost-answers": Faults(drop_after=0.3),
    "revoked": Faults(unauthorized_after=2),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(api_key=KEY, seed=11) as server:
        yield server


def definition(version: int) -> str:
    return f"from: APP\nmessage:\n  type: TEXT\n  text: 'Version {version}: hi {{{{ name }}}}'\n"


STEP = st.one_of(
    st.tuples(st.just("edit"), st.integers(1, 3)),
    st.tuples(
        st.just("list"),
        st.lists(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["Ann", "Bo"])), max_size=6),
    ),
    st.tuples(st.just("send"), st.sampled_from(sorted(FAULTS))),
)


@given(steps=st.lists(STEP, min_size=1, max_size=5))
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_history_of_edits_and_reruns_sends_one_person_twice(
    sandbox: SandboxServer, steps: list[tuple[str, object]]
) -> None:
    DELIVERED.clear()
    sandbox.set_faults(Faults())
    sandbox.reset()
    with tempfile.TemporaryDirectory() as folder:
        campaign = Path(folder)
        (campaign / "def.yaml").write_text(definition(0))
        (campaign / "users.csv").write_text(f"to,name\n{PEOPLE[0]},Ann\n{PEOPLE[1]},Bo\n")
        for step, value in [*steps, ("send", "none")]:
            if step == "edit":
                assert isinstance(value, int)
                (campaign / "def.yaml").write_text(definition(value))
            elif step == "list":
                assert isinstance(value, list)
                rows = "".join(f"{to},{name}\n" for to, name in value)
                (campaign / "users.csv").write_text("to,name\n" + rows)
            else:
                assert isinstance(value, str)
                sandbox.set_faults(FAULTS[value])
                sandbox.reset()  # counters for `unauthorized_after`; deliveries kept below
                _send(campaign, sandbox)
            assert max(DELIVERED.values(), default=0) <= 1, (steps, DELIVERED)


#: Deliveries per `to` over one history (the sandbox's counter is reset per run).
DELIVERED: dict[str, int] = {}


def _send(campaign: Path, sandbox: SandboxServer) -> None:
    args = [
        "send", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "--base-url", sandbox.url, "--no-progress", "--max-attempts", "1",
        "--concurrency", "2", "--backoff-base", "0.001", "--backoff-cap", "0.01",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, env={"INFOBIP_API_KEY": KEY})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    for to, count in sandbox.count_by_to().items():
        DELIVERED[to] = DELIVERED.get(to, 0) + count

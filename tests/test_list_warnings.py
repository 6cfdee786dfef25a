"""What `check` and `compile` say about a list before anything is sent.

The same person on several rows (issue 15, item 2) and a list with nobody on it
(item 3), through the real CLI: a warning, an error with --strict, silenced by
--allow-duplicates; the repeat finder itself against any list (hypothesis).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.operations.duplicates import RepeatedRecipients

DEFINITION = "from: APP\nto: '{{ user_id }}'\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"
U1, U2, U3 = (f"U{n:032x}" for n in (1, 2, 3))  # LINE user IDs
LIST = (
    "user_id,name\n"
    f"{U1},Sato\n"
    f"{U2},Tanaka (silver)\n"
    f"{U2},Tanaka (app)\n"
    f"{U3},Suzuki\n"
    f"{U1},Sato again\n"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "def.yaml").write_text(DEFINITION)
    (tmp_path / "list.csv").write_text(LIST)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


REPEATS = [
    "list.csv:4: row 3: to: warning: same recipient as row 2",
    "list.csv:6: row 5: to: warning: same recipient as row 1",
]


def test_check_lists_each_repeated_recipient_as_a_warning(project: Path) -> None:
    done = run("check", "def.yaml", "--data", "list.csv")
    assert done.exit_code == 0, done.output
    for line in REPEATS:
        assert line in done.output
    assert "--allow-duplicates" in done.output
    assert "ok: 1 definition, 5 recipients (2 warnings)" in done.output


def test_check_strict_fails_on_a_repeated_recipient(project: Path) -> None:
    done = run("check", "def.yaml", "--data", "list.csv", "--strict")
    assert done.exit_code == 1, done.output
    assert "list.csv:4: row 3: to: same recipient as row 2" in done.output
    assert "warning:" not in done.output


@pytest.mark.parametrize("command", ["check", "compile"])
def test_allow_duplicates_silences_it(project: Path, command: str) -> None:
    done = run(command, "def.yaml", "--data", "list.csv", "--allow-duplicates", "--strict")
    assert done.exit_code == 0, done.output
    assert "same recipient" not in done.output


def test_compile_warns_and_still_writes_every_body(project: Path) -> None:
    done = run("compile", "def.yaml", "--data", "list.csv", "-o", "out.jsonl")
    assert done.exit_code == 0, done.output
    for line in REPEATS:
        assert line in done.output
    bodies = [json.loads(line) for line in Path("out.jsonl").read_text().splitlines()]
    assert [b["to"] for b in bodies] == [U1, U2, U2, U3, U1]


@pytest.mark.parametrize("extra", [[], ["--keep-going"]])
def test_compile_strict_refuses_the_list(project: Path, extra: list[str]) -> None:
    done = run("compile", "def.yaml", "--data", "list.csv", "--strict", "-o", "out.jsonl", *extra)
    assert done.exit_code == 1, done.output
    assert "list.csv:6: row 5: to: same recipient as row 1" in done.output


def test_a_json_list_is_located_too(project: Path) -> None:
    Path("list.json").write_text(
        json.dumps([{"user_id": U3, "name": "a"}, {"user_id": U3, "name": "b"}])
    )
    done = run("check", "def.yaml", "--data", "list.json")
    assert done.exit_code == 0, done.output
    assert "row 2: to: warning: same recipient as row 1" in done.output


def test_a_failed_row_is_not_a_recipient(project: Path) -> None:
    """A row that did not compile is reported for itself, not as a repeat."""
    Path("list.csv").write_text(f"user_id,name\n{U1},a\n{U1},\n")
    Path("def.yaml").write_text(DEFINITION.replace("Hi {{ name }}", "{{ name }}"))
    done = run("check", "def.yaml", "--data", "list.csv")
    assert done.exit_code == 1, done.output
    assert "row 2" in done.output
    assert "same recipient" not in done.output


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            "user_id,name\n",
            "list.csv: warning: the data holds no recipients: nothing would be sent",
        ),
        ("user_id,name\n,\n,\n", "the data holds no recipients (2 blank rows)"),
    ],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_an_empty_list_is_a_warning(project: Path, command: str, data: str, said: str) -> None:
    Path("list.csv").write_text(data)
    done = run(command, "def.yaml", "--data", "list.csv")
    assert done.exit_code == 0, done.output
    assert said in done.output
    assert "--allow-empty" in done.output


def test_an_empty_json_lines_file_is_a_warning(project: Path) -> None:
    Path("list.jsonl").write_text("")
    done = run("compile", "def.yaml", "--data", "list.jsonl", "-o", "out.jsonl")
    assert done.exit_code == 0, done.output
    assert "list.jsonl: warning: the data holds no recipients" in done.output
    assert Path("out.jsonl").read_text() == ""


def test_an_empty_list_fails_check_strict(project: Path) -> None:
    Path("list.csv").write_text("user_id,name\n")
    done = run("check", "def.yaml", "--data", "list.csv", "--strict")
    assert done.exit_code == 1, done.output
    assert "list.csv: the data holds no recipients" in done.output


def test_a_list_with_recipients_says_nothing_of_it(project: Path) -> None:
    Path("list.csv").write_text(f"user_id,name\n{U1},a\n")
    done = run("check", "def.yaml", "--data", "list.csv")
    assert done.output.strip() == "ok: 1 definition, 1 recipient"


# ------------------------------------------------------------------ any list

IDS = st.lists(st.sampled_from(["U1", "U2", "U3", "U4", "Ü5", "6", "U1 "]), max_size=30)


def expected_repeats(ids: list[str]) -> list[tuple[int, int]]:
    first: dict[str, int] = {}
    found = []
    for row, to in enumerate(ids, start=1):
        if to in first:
            found.append((row, first[to]))
        else:
            first[to] = row
    return found


def found_repeats(finder: RepeatedRecipients) -> list[tuple[int, int]]:
    return [(p.row or 0, int(p.message.split("row ")[1].split(":")[0])) for p in finder.problems()]


@given(ids=IDS, chunk=st.integers(1, 8))
@settings(max_examples=300, deadline=None)
def test_the_finder_names_every_repeat_and_its_first_row(ids: list[str], chunk: int) -> None:
    """Whatever the list, and however many rows each packing of the hashes takes."""
    finder = RepeatedRecipients("list.csv")
    finder.batch = chunk
    for row, to in enumerate(ids, start=1):
        finder.note(row, row + 1, to)
    problems = list(finder.problems())
    assert [
        (p.row or 0, int(p.message.split("row ")[1].split(":")[0])) for p in problems
    ] == expected_repeats(ids)
    assert all(p.location and p.location.line == (p.row or 0) + 1 for p in problems)


def test_the_finder_covers_every_range_of_hashes() -> None:
    """Thousands of people, each listed twice in a shuffled list: every repeat is named."""
    ids = [f"U{n:032x}" for n in range(3000)] * 2
    random.Random(7).shuffle(ids)
    finder = RepeatedRecipients("list.csv")
    finder.batch = 97
    for row, to in enumerate(ids, start=1):
        finder.note(row, row + 1, to)
    assert found_repeats(finder) == expected_repeats(ids)
    assert len(expected_repeats(ids)) == 3000


@given(ids=st.lists(st.sampled_from([U1, U2, U3]), min_size=1, max_size=12))
@settings(max_examples=25, deadline=None)
def test_check_lists_the_repeats_of_any_list(ids: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "def.yaml").write_text(DEFINITION)
        data = Path(folder, "list.csv")
        data.write_text("user_id,name\n" + "".join(f"{to},n{i}\n" for i, to in enumerate(ids)))
        done = run("check", str(Path(folder, "def.yaml")), "--data", str(data))
    assert done.exit_code == 0, done.output
    listed = [line for line in done.output.splitlines() if "same recipient" in line]
    assert [
        f"{data}:{row + 1}: row {row}: to: warning: same recipient as row {first}"
        for row, first in expected_repeats(ids)
    ] == [line.split(": a second")[0] for line in listed]

"""A campaign follows a corrected base URL when nothing reached the old one (review 15 #2).

Following the breaker's advice ("use http:// for it") must not get the re-run
refused; moving a campaign that did reach people needs `--move-campaign`, and
nobody gets a second message either way.
"""

from __future__ import annotations

from pathlib import Path

from test_send_outages import KEY, campaign, nothing_sent, send, statuses

from linepress.sandbox.server import running_sandbox

__all__ = ["campaign"]  # the fixture


def test_following_the_breakers_scheme_advice_continues_the_campaign(campaign: Path) -> None:
    with running_sandbox(api_key=KEY) as sandbox:
        wrong = send(campaign, sandbox.url.replace("http://", "https://"))
        assert wrong.returncode == 1 and "use http://" in wrong.stderr
        nothing_sent(statuses(campaign))
        fixed = send(campaign, sandbox.url)
        assert fixed.returncode == 0, fixed.stderr
        assert "moved the campaign from base URL https://" in fixed.stderr
        assert "no request of it reached any endpoint" in fixed.stderr
        counts = sandbox.count_by_to()
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert statuses(campaign) == {"sent": 60}


def test_a_wrong_port_then_the_right_one_continues_the_campaign(campaign: Path) -> None:
    with running_sandbox(api_key=KEY) as sandbox:
        host, _port = sandbox.url.rsplit(":", 1)
        refused = send(campaign, f"{host}:1")  # nothing listens on port 1
        assert refused.returncode == 1, refused.stderr
        fixed = send(campaign, sandbox.url)
        assert fixed.returncode == 0, fixed.stderr
        assert set(sandbox.count_by_to().values()) == {1}


def test_a_campaign_that_reached_people_moves_only_when_asked_and_never_resends(
    campaign: Path,
) -> None:
    with running_sandbox(api_key=KEY) as first:
        assert send(campaign, first.url).returncode == 0
    users = campaign / "users.csv"
    users.write_text(users.read_text() + "U9999,Late\n")
    with running_sandbox(api_key=KEY) as second:  # the same endpoint under a new address
        refused = send(campaign, second.url)
        assert refused.returncode == 2, refused.stderr
        assert "may have reached that endpoint" in refused.stderr
        assert "--move-campaign" in refused.stderr and "--journal PATH" in refused.stderr
        assert second.count_by_to() == {}
        moved = send(campaign, second.url, "--move-campaign")
        assert moved.returncode == 0, moved.stderr
        assert "moved the campaign" in moved.stderr
        assert second.count_by_to() == {"U9999": 1}  # the 60 reached before stay skipped
        again = send(campaign, second.url)  # now bound to the new address
        assert again.returncode == 0, again.stderr
        assert second.count_by_to() == {"U9999": 1}


def test_another_shard_is_never_moved(campaign: Path) -> None:
    # Nothing reached anyone, but another shard is another list: still refused.
    assert (
        send(campaign, "http://127.0.0.1:1", "--shard", "1/2", "--journal", "j.db").returncode == 1
    )
    with running_sandbox(api_key=KEY) as sandbox:
        other = send(campaign, sandbox.url, "--shard", "2/2", "--journal", "j.db")
        assert other.returncode == 2, other.stderr
        assert "shard 1/2" in other.stderr and "moved" not in other.stderr
        assert sandbox.count_by_to() == {}

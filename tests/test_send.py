"""Sending with an injected transport: verdicts, pacing, journal, resume, reports.

End-to-end runs against the real sandbox server live in test_send_sandbox.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pacing_sim import VirtualTime

from linepress.errors import UsageError
from linepress.operations.compile import DataOptions
from linepress.operations.send import SendOptions, SendResult, Shard, send
from linepress.send.answers import judge_exception, judge_response
from linepress.send.dispatch import DispatchSettings
from linepress.send.pacing import Pacer
from linepress.send.report import merge_reports, read_report
from linepress.send.sqlite_journal import SqliteJournal as Journal
from linepress.send.stopsignal import StopSignal

SECRET = "s3cr3t-api-key-never-shown"
ENV = {"INFOBIP_BASE_URL": "api.example.test", "INFOBIP_API_KEY": SECRET}
FAST = DispatchSettings(
    concurrency=4, max_attempts=3, timeout=5, backoff_base=0.001, backoff_cap=0.01
)
DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"

Handler = Callable[[httpx.Request], httpx.Response]


def accepted(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        200, json={"to": body["to"], "messageCount": 1, "messageId": f"m-{body['to']}"}
    )


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "def.yaml").write_text(DEFINITION)
    rows = "\n".join(f"U{i},Name {i}" for i in range(1, 11))
    (tmp_path / "users.csv").write_text(f"to,name\n{rows}\n")
    return tmp_path


def run_send(folder: Path, handler: Handler, **options: object) -> SendResult:
    settings = options.pop("settings", FAST)
    data = options.pop("data", "users.csv")
    return send(
        SendOptions(
            definition=folder / "def.yaml",
            data=DataOptions(str(folder / str(data))),
            settings=settings,  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        ),
        transport=httpx.MockTransport(handler),
        environ=ENV,
    )


def statuses(folder: Path) -> dict[str, str]:
    journal = Journal(folder / ".linepress" / "def.db")
    try:
        return {e.recipient or "": e.status for e in journal.entries()}
    finally:
        journal.close()


# -- verdicts ---------------------------------------------------------------


def response(status: int, **kwargs: object) -> httpx.Response:
    return httpx.Response(
        status, request=httpx.Request("POST", "https://x/line/1/single"), **kwargs
    )  # type: ignore[arg-type]


def test_verdicts_for_answers() -> None:
    assert judge_response(response(200, json={"messageId": "abc"})).message_id == "abc"
    bad = judge_response(
        response(
            400,
            json={
                "requestError": {
                    "serviceException": {
                        "messageId": "BAD_REQUEST",
                        "text": "Bad request",
                        "validationErrors": {"message.text": ["too long"]},
                    }
                }
            },
        )
    )
    assert (bad.action, bad.http_status) == ("failed", 400)
    assert bad.error == 'HTTP 400: BAD_REQUEST Bad request {"message.text": ["too long"]}'
    assert judge_response(response(401)).action == "stop"
    assert judge_response(response(404)).action == "stop"
    limited = judge_response(response(429, headers={"Retry-After": "7"}))
    assert (limited.action, limited.retry_after) == ("retry", 7.0)
    assert judge_response(response(429)).retry_after is None
    assert judge_response(response(503)).action == "retry"
    newer = judge_response(response(422, json={"errorCode": "E422", "description": "Invalid to"}))
    assert newer.error == "HTTP 422: E422 Invalid to"


def test_verdicts_for_failures_say_whether_the_request_may_have_arrived() -> None:
    request = httpx.Request("POST", "https://x/")
    assert judge_exception(httpx.ConnectError("refused", request=request)).action == "retry"
    assert judge_exception(httpx.ConnectTimeout("slow", request=request)).action == "retry"
    assert judge_exception(httpx.ReadTimeout("slow", request=request)).action == "unknown"
    assert judge_exception(httpx.RemoteProtocolError("closed", request=request)).action == "unknown"
    assert judge_exception(httpx.ReadError("reset", request=request)).action == "unknown"


# -- pacing -----------------------------------------------------------------


def test_pacer_spaces_requests_evenly_without_an_initial_burst() -> None:
    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        clock[0] += seconds

    pacer = Pacer(10, clock=lambda: clock[0], sleep=sleep)

    async def main() -> None:
        for _ in range(5):
            await pacer.wait()
        clock[0] += 5.0  # a slow patch
        for _ in range(3):
            await pacer.wait()

    asyncio.run(main())
    # The first request goes at once, every next one 0.1 s later; after falling
    # behind there is no catch-up burst, just the same spacing.
    assert slept == [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]


def test_a_retry_after_holds_back_requests_already_waiting_for_their_slot() -> None:
    # Six workers wait for slots 50 ms apart; the first answer (after a 20 ms round
    # trip) is a 429 with Retry-After: the five still waiting must not go out during
    # the pause, and after it they keep the spacing (no burst). Virtual time: exact.
    time = VirtualTime()

    async def main() -> list[float]:
        pacer = Pacer(20, clock=time.now, sleep=time.sleep)
        sent: list[float] = []

        async def worker() -> None:
            await pacer.wait(time)
            sent.append(time.now())
            if len(sent) == 1:
                await time.sleep(0.02)  # the round trip; the answer: 429, Retry-After
                pacer.pause_until(time.now() + 0.3)

        await asyncio.gather(*(worker() for _ in range(6)))
        return sent

    sent = time.run(main())
    assert sent[0] == 0.0
    assert all(t >= 0.32 for t in sent[1:]), sent
    assert all(b - a >= 0.05 - 1e-9 for a, b in itertools.pairwise(sent[1:])), sent


# -- outcomes in the journal and report -----------------------------------------


def test_each_kind_of_answer_ends_in_the_right_status(campaign: Path) -> None:
    calls: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        to = json.loads(request.content)["to"]
        calls[to] += 1
        if to == "U2":
            return httpx.Response(
                400, json={"requestError": {"serviceException": {"text": "Invalid user"}}}
            )
        if to == "U3" and calls[to] == 1:
            return httpx.Response(429, headers={"Retry-After": "0"})
        if to == "U4":
            raise httpx.ReadTimeout("no answer", request=request)
        if to == "U5" and calls[to] == 1:
            raise httpx.ConnectError("refused", request=request)
        if to == "U6":
            return httpx.Response(503)
        return accepted(request)

    result = run_send(campaign, handler, report=campaign / "report.jsonl")
    rows = list(read_report(campaign / "report.jsonl"))
    by_to = {r["to"]: r for r in rows}
    assert by_to["U1"]["status"] == "sent" and by_to["U1"]["message_id"] == "m-U1"
    assert by_to["U2"]["status"] == "failed" and "Invalid user" in by_to["U2"]["error"]
    assert (by_to["U3"]["status"], by_to["U3"]["attempts"]) == ("sent", 2)
    assert by_to["U4"]["status"] == "unknown" and calls["U4"] == 1  # never silently retried
    assert (by_to["U5"]["status"], by_to["U5"]["attempts"]) == ("sent", 2)
    assert (by_to["U6"]["status"], by_to["U6"]["attempts"]) == ("failed", 3)
    assert "gave up after 3 attempts" in by_to["U6"]["error"]
    assert [r["row"] for r in rows] == list(range(1, 11))
    summary = json.loads((campaign / "report.jsonl").read_text().splitlines()[-1])["summary"]
    assert (summary["sent"], summary["failed"], summary["unknown"], summary["total"]) == (
        7,
        2,
        1,
        10,
    )
    assert result.summary is not None and not result.summary.ok


def test_a_rerun_finishes_the_job_without_resending(campaign: Path) -> None:
    sent: Counter[str] = Counter()
    broken = {"U3", "U7"}

    def flaky(request: httpx.Request) -> httpx.Response:
        to = json.loads(request.content)["to"]
        if to in broken:
            return httpx.Response(503)
        sent[to] += 1
        return accepted(request)

    first = run_send(campaign, flaky)
    assert first.summary is not None and first.summary.counts["failed"] == 2
    broken.clear()
    second = run_send(campaign, flaky)
    assert second.summary is not None and second.summary.ok
    assert sent == Counter({f"U{i}": 1 for i in range(1, 11)})


def test_bad_credentials_stop_the_run_and_leave_the_rest_pending(campaign: Path) -> None:
    answered = []

    def revoked_after_three(request: httpx.Request) -> httpx.Response:
        if len(answered) >= 3:
            return httpx.Response(
                401, json={"requestError": {"serviceException": {"messageId": "UNAUTHORIZED"}}}
            )
        answered.append(request)
        return accepted(request)

    result = run_send(campaign, revoked_after_three, settings=DispatchSettings(concurrency=1))
    assert result.summary is not None
    assert result.summary.stopped is not None and "HTTP 401" in result.summary.stopped
    assert result.summary.counts["sent"] == 3
    assert result.summary.counts["pending"] == 7
    # Fixed credentials: the same command finishes the list.
    result = run_send(campaign, accepted)
    assert result.summary is not None and result.summary.ok


def test_a_crash_leaves_in_flight_messages_unknown_and_they_are_not_resent(campaign: Path) -> None:
    run_send(campaign, lambda r: httpx.Response(503), settings=DispatchSettings(max_attempts=1))
    journal = Journal(campaign / ".linepress" / "def.db")
    journal.apply([], inflight=[4, 5])  # as if killed while rows 4 and 5 were in flight
    journal.close()
    sent: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["to"])
        return accepted(request)

    result = run_send(campaign, record)
    assert sorted(sent) == sorted(f"U{i}" for i in (1, 2, 3, 6, 7, 8, 9, 10))
    assert result.summary is not None and result.summary.counts["unknown"] == 2
    run_send(campaign, record, resend_unknown=True)
    assert sorted(sent[8:]) == ["U4", "U5"]
    assert set(statuses(campaign).values()) == {"sent"}


def test_duplicates_are_sent_once_unless_allowed(campaign: Path) -> None:
    (campaign / "dupes.csv").write_text("to,name\nU1,Ann\nU2,Bob\nU1,Ann\nU1,Other\n")
    sent: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request.content.decode())
        return accepted(request)

    result = run_send(campaign, record, data="dupes.csv", report=campaign / "r.jsonl")
    assert len(sent) == 2  # one message per person, whatever the rows' other data
    skipped = [r for r in read_report(campaign / "r.jsonl") if r["status"] == "skipped"]
    assert [(r["row"], r["error"]) for r in skipped] == [
        (3, "same recipient as row 1"),
        (4, "same recipient as row 1"),
    ]
    assert result.summary is not None and result.summary.ok
    sent.clear()
    run_send(
        campaign, record, data="dupes.csv", allow_duplicates=True, journal=campaign / "other.db"
    )
    assert len(sent) == 4


def test_an_invalid_row_means_nothing_is_sent(campaign: Path) -> None:
    (campaign / "bad.csv").write_text("to,name\nU1,Ann\nU2,{}\n".format("x" * 5001))
    sent: list[bytes] = []
    result = run_send(campaign, lambda r: sent.append(r.content) or accepted(r), data="bad.csv")
    assert sent == []
    assert result.summary is None and not result.ok
    assert [p.row for p in result.log.kept if p.severity == "error"] == [2]
    assert not (campaign / ".linepress" / "def.db").exists()  # no half-made journal left behind
    kept = run_send(
        campaign, lambda r: sent.append(r.content) or accepted(r), data="bad.csv", keep_going=True
    )
    assert len(sent) == 1
    assert kept.summary is not None and kept.summary.counts == {
        **kept.summary.counts,
        "sent": 1,
        "failed": 1,
    }


def test_a_journal_made_with_the_old_status_index_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    journal = Journal(path)
    journal.plan([])
    journal.close()
    raw = sqlite3.connect(path)
    raw.execute("CREATE INDEX recipients_status ON recipients (status, row)")
    raw.commit()
    Journal(path).close()
    names = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    raw.close()
    assert "recipients_status" not in names


def test_a_changed_list_continues_the_campaign_for_new_people_only(campaign: Path) -> None:
    run_send(campaign, accepted)
    (campaign / "users.csv").write_text("to,name\nU99,New\nU1,Again\n")
    sent: list[str] = []
    result = run_send(campaign, lambda r: sent.append(json.loads(r.content)["to"]) or accepted(r))
    assert sent == ["U99"]
    assert result.plan is not None and (result.plan.already_sent, result.plan.pending) == (1, 1)


def test_dry_run_sends_nothing_and_keeps_no_journal(campaign: Path) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a dry run must not send")

    result = send(
        SendOptions(
            definition=campaign / "def.yaml",
            data=DataOptions(str(campaign / "users.csv")),
            dry_run=True,
        ),
        transport=httpx.MockTransport(fail),
        environ={},
    )
    assert (
        result.summary is not None
        and result.summary.dry_run
        and result.summary.counts["sent"] == 10
    )
    assert not (campaign / ".linepress" / "def.db").exists()


def test_credentials_never_reach_the_journal_or_report(campaign: Path) -> None:
    seen = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(400, json={"requestError": {"serviceException": {"text": "nope"}}})

    run_send(campaign, record, report=campaign / "report.csv")
    assert seen[0] == f"App {SECRET}"
    for path in campaign.rglob("*"):
        assert path.is_dir() or SECRET.encode() not in path.read_bytes(), path


def test_shards_split_the_list_without_overlap_and_merge_back(campaign: Path) -> None:
    reports = []
    for index in (1, 2, 3):
        report = campaign / f"report-{index}.jsonl"
        run_send(campaign, accepted, shard=Shard(index, 3), report=report)
        reports.append(report)
    rows = [[r["row"] for r in read_report(p)] for p in reports]
    assert sorted(row for shard in rows for row in shard) == list(range(1, 11))
    assert all(rows)  # ten recipients over three shards: each gets some
    counts = merge_reports(reports, campaign / "merged.jsonl")
    assert counts["sent"] == 10
    assert [r["row"] for r in read_report(campaign / "merged.jsonl")] == list(range(1, 11))


def test_shard_parsing() -> None:
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("0/4", "5/4", "x", "1-2"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


def send_payloads(payloads: Path, text: str) -> tuple[SendResult, list[bytes]]:
    """`send --payloads` of `text` written to `payloads`; the result and what was sent."""
    payloads.write_text(text)
    sent: list[bytes] = []
    result = send(
        SendOptions(payloads=payloads, settings=FAST),
        transport=httpx.MockTransport(lambda r: sent.append(r.content) or accepted(r)),
        environ=ENV,
    )
    return result, sent


def test_sending_compiled_payloads(campaign: Path, tmp_path: Path) -> None:
    payloads = campaign / "bodies.jsonl"
    result, sent = send_payloads(
        payloads,
        '{"from":"A","to":"U1","message":{"type":"TEXT","text":"hi"}}\n'
        '{"from":"A","to":"U2","message":{"type":"TEXT","text":"yo"}}\n',
    )
    assert result.summary is not None and result.summary.ok
    assert sent == [line.encode() for line in payloads.read_text().splitlines()]
    assert (campaign / ".linepress" / "bodies.db").exists()


def test_an_edited_payload_file_is_checked_again(campaign: Path) -> None:
    # Bodies are checked again before sending: the file may have been edited.
    result, sent = send_payloads(
        campaign / "bodies.jsonl",
        '{"from":"A","to":"U1","message":{"type":"TEXT","text":"hi"}}\n'
        '{"from":"A","to":"","message":{"type":"TEXT","text":"hi"}}\n'
        '{"from":"A","to":"U3","message":{"type":"TEXT","text":"hi"}}\n',
    )
    assert not result.ok and sent == []
    (problem,) = [p for p in result.log.kept if p.severity == "error"]
    assert (problem.row, problem.path, problem.location.line) == (2, "to", 2)


def test_missing_configuration_is_a_usage_error(campaign: Path) -> None:
    with pytest.raises(UsageError, match="INFOBIP_BASE_URL"):
        send(SendOptions(definition=campaign / "def.yaml"), environ={})
    with pytest.raises(UsageError, match="INFOBIP_API_KEY"):
        send(SendOptions(definition=campaign / "def.yaml"), environ={"INFOBIP_BASE_URL": "x"})


# -- review findings: each of these once sent twice, lost a row or leaked the key ----


def test_a_second_run_on_the_same_journal_is_refused_while_the_first_holds_it(
    campaign: Path,
) -> None:
    journal = campaign / ".linepress" / "def.db"
    journal.parent.mkdir()
    holder = Journal(journal)
    try:
        with pytest.raises(UsageError, match="another linepress command is using this journal"):
            run_send(campaign, accepted)
    finally:
        holder.close()


def test_a_journal_made_against_another_base_url_is_refused(campaign: Path) -> None:
    run_send(campaign, accepted)
    with pytest.raises(UsageError, match="base URL"):
        send(
            SendOptions(
                definition=campaign / "def.yaml", data=DataOptions(str(campaign / "users.csv"))
            ),
            transport=httpx.MockTransport(accepted),
            environ={**ENV, "INFOBIP_BASE_URL": "http://127.0.0.1:9"},
        )


@pytest.mark.parametrize("key", ["s3cr3t\nInjected: yes", "s3cr3t é", "two words"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(campaign: Path, key: str) -> None:
    with pytest.raises(UsageError) as info:
        run_send_env(campaign, {**ENV, "INFOBIP_API_KEY": key})
    assert "s3cr3t" not in str(info.value) and "two" not in str(info.value)


def run_send_env(folder: Path, environ: dict[str, str]) -> SendResult:
    return send(
        SendOptions(
            definition=folder / "def.yaml",
            data=DataOptions(str(folder / "users.csv")),
            settings=FAST,
        ),
        transport=httpx.MockTransport(accepted),
        environ=environ,
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "ftp://example.com", "https://"])
def test_a_base_url_that_is_not_one_is_a_usage_error(campaign: Path, url: str) -> None:
    with pytest.raises(UsageError, match="base URL"):
        run_send_env(campaign, {**ENV, "INFOBIP_BASE_URL": url})


def test_new_data_on_stdin_is_a_new_run(campaign: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    def from_stdin(text: str) -> SendResult:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        return send(
            SendOptions(definition=campaign / "def.yaml", data=DataOptions("-"), settings=FAST),
            transport=httpx.MockTransport(accepted),
            environ=ENV,
        )

    first = from_stdin("to,name\nU1,A\nU2,B\n")
    assert first.summary is not None and first.summary.counts["sent"] == 2
    second = from_stdin("to,name\nU3,C\nU2,B\n")
    assert second.summary is not None
    # This run sent U3; the campaign has reached U1 (no longer listed), U2 and U3.
    assert second.summary.run_counts == {"sent": 1}
    assert (second.summary.counts["sent"], second.summary.counts["skipped"]) == (3, 0)


def test_a_new_run_does_not_resend_what_the_journal_already_sent(campaign: Path) -> None:
    sent: Counter[str] = Counter()

    def revoked_after_three(request: httpx.Request) -> httpx.Response:
        if sum(sent.values()) >= 3:
            return httpx.Response(401)
        sent[json.loads(request.content)["to"]] += 1
        return accepted(request)

    run_send(campaign, revoked_after_three, settings=DispatchSettings(concurrency=1))
    definition = campaign / "def.yaml"
    # A fixed typo changes every message: those already sent still get nothing more.
    definition.write_text(definition.read_text().replace("Hi ", "Hello "))

    def record(request: httpx.Request) -> httpx.Response:
        sent[json.loads(request.content)["to"]] += 1
        return accepted(request)

    result = run_send(campaign, record, report=campaign / "r.jsonl")
    assert sent == Counter({f"U{i}": 1 for i in range(1, 11)})
    assert result.summary is not None and result.summary.ok
    # The campaign counts the three as sent, with the message id that reached them.
    rows = list(read_report(campaign / "r.jsonl"))
    earlier = [r for r in rows if r["status"] == "sent" and r["error"]]
    assert [(r["to"], r["message_id"]) for r in earlier] == [
        (f"U{i}", f"m-U{i}") for i in (1, 2, 3)
    ]
    assert all(r["error"].startswith("already received version 1 of") for r in earlier)
    assert result.summary.counts["sent"] == 10 and result.summary.run_counts == {"sent": 7}
    # --resend-sent: only those an earlier version reached get this one.
    result = run_send(campaign, record, resend_sent=True)
    assert sent == Counter({**{f"U{i}": 1 for i in range(4, 11)}, "U1": 2, "U2": 2, "U3": 2})
    assert result.summary is not None and result.summary.run_counts == {"sent": 3}
    result = run_send(campaign, record, resend_sent=True)  # everyone has this version now
    assert result.summary is not None and result.summary.run_counts == {}
    assert sent == Counter({**{f"U{i}": 1 for i in range(4, 11)}, "U1": 2, "U2": 2, "U3": 2})


@pytest.mark.parametrize(
    "failure",
    [httpx.DecodingError("bad gzip"), httpx.ReadError("reset"), ValueError("a bug of ours")],
    ids=lambda e: type(e).__name__,
)
def test_a_failure_after_sending_is_unknown_never_resent(
    campaign: Path, failure: Exception
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content)["to"])
        raise failure

    run_send(campaign, handler, settings=DispatchSettings(concurrency=1))
    statuses_now = statuses(campaign)
    assert "inflight" not in statuses_now.values()
    assert statuses_now[calls[0]] == "unknown"
    before = len(calls)
    run_send(campaign, handler, settings=DispatchSettings(concurrency=1))
    assert calls.count(calls[0]) == 1 or before > 1  # the unknown one is not sent again


@pytest.mark.parametrize("status", [301, 307, 405])
def test_a_redirect_or_wrong_endpoint_stops_the_run(campaign: Path, status: int) -> None:
    result = run_send(
        campaign, lambda r: httpx.Response(status), settings=DispatchSettings(concurrency=1)
    )
    assert result.summary is not None and result.summary.stopped is not None
    assert result.summary.counts["pending"] == 10
    assert result.summary.counts["failed"] == 0


def test_an_invalid_row_in_another_shard_stops_every_shard(campaign: Path) -> None:
    (campaign / "mixed.csv").write_text(
        "to,name\n" + "".join(f"A{i},N\n" for i in range(6)) + ",no to\n"
    )
    sent: list[bytes] = []
    for index in (1, 2):
        result = run_send(
            campaign,
            lambda r: sent.append(r.content) or accepted(r),
            data="mixed.csv",
            shard=Shard(index, 2),
            journal=campaign / f"s{index}.db",
        )
        assert result.summary is None
    assert sent == []


def test_the_pacer_stops_waiting_when_the_run_stops() -> None:
    async def main() -> float:
        pacer = Pacer(0.001)  # one request every 1,000 seconds
        stop = StopSignal()
        await pacer.wait(stop)
        asyncio.get_running_loop().call_later(0.05, stop.set)
        started = asyncio.get_running_loop().time()
        await pacer.wait(stop)
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(main()) < 100

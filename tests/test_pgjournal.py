"""The PostgreSQL journal against a real server: schema, planning, claims, leases."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from postgres import PASSWORD, PASSWORD_ROLE, Cluster

from linepress.send import ledger
from linepress.send.dsn import redact_dsn
from linepress.send.journal import JournalMismatch, JournalUnavailable, LeaseLost, Outcome
from linepress.send.pgjournal import MIGRATIONS, PgJournal


def dsn(cluster: Cluster, database: str) -> str:
    return cluster.dsn(database, user=PASSWORD_ROLE, password=PASSWORD)


def plan_of(count: int) -> list[tuple[int, str, str | None, bytes | None, str | None]]:
    return [(i, f"k{i}", f"U{i}", b'{"to":"U%d"}' % i, None) for i in range(1, count + 1)]


def test_schema_is_versioned_and_created_once(pg_cluster: Cluster, pg_database: str) -> None:
    first = PgJournal(dsn(pg_cluster, pg_database), "c")
    second = PgJournal(dsn(pg_cluster, pg_database), "c")
    assert first.schema_version == second.schema_version == len(MIGRATIONS)
    rows = pg_cluster.psql("SELECT count(*) FROM linepress_schema_version", pg_database)
    assert rows == str(len(MIGRATIONS))
    first.close()
    second.close()


def test_two_workers_claim_disjoint_rows(pg_cluster: Cluster, pg_database: str) -> None:
    a = PgJournal(dsn(pg_cluster, pg_database), "c", claim_size=10)
    assert a.claim("fp", "b") == "new"
    a.plan(plan_of(25))
    b = PgJournal(dsn(pg_cluster, pg_database), "c", claim_size=10)
    assert b.claim("fp", "b") == "resume"
    got_a = a.to_send(resend_unknown=False)
    got_b = b.to_send(resend_unknown=False)
    assert [r for r, _, _ in got_a] == list(range(1, 11))
    assert [r for r, _, _ in got_b] == list(range(11, 21))
    # a worker cannot mark rows it does not hold
    with pytest.raises(LeaseLost):
        a.apply([], [15])
    a.apply([], [1, 2])
    a.apply([Outcome(1, "sent", 1, 200, "m1"), Outcome(2, "sent", 1, 200, "m2")])
    assert a.counts()["sent"] == 2
    assert b.more_later() is not None  # a still holds unsent rows
    a.close()  # leaving hands its unsent claims back at once
    claimed = [r for r, _, _ in b.to_send(resend_unknown=False, limit=100)]
    assert claimed == [*range(3, 11), 21, 22]
    b.close()


def test_a_dead_workers_rows_return_when_its_lease_runs_out(
    pg_cluster: Cluster, pg_database: str
) -> None:
    a = PgJournal(dsn(pg_cluster, pg_database), "c", lease=1.0, claim_size=5)
    a.ahead = 0  # (marks ahead: test_rows_marked_ahead_...)
    a.claim("fp", "b")
    a.plan(plan_of(8))
    a.to_send(resend_unknown=False)
    a.apply([], [1, 2])  # in flight when it "dies"
    assert a._lease is not None
    a._lease.stop()  # the heartbeat stops: as after kill -9, nothing renews the lease
    b = PgJournal(dsn(pg_cluster, pg_database), "c", lease=1.0, claim_size=5)
    assert b.claim("fp", "b") == "resume"
    assert [r for r, _, _ in b.to_send(resend_unknown=False)] == [6, 7, 8]
    assert b.to_send(resend_unknown=False) == []
    time.sleep(1.2)
    assert b.recover() == 2
    assert [r for r, _, _ in b.to_send(resend_unknown=False)] == [3, 4, 5]
    statuses = {e.row: e.status for e in b.entries()}
    assert statuses[1] == statuses[2] == "unknown"
    # the old worker, back from the dead, may not send what b took over
    with pytest.raises(LeaseLost):
        a.apply([], [3])
    a.close()
    b.close()


def test_rows_marked_ahead_are_sent_without_a_commit_and_never_lost(
    pg_cluster: Cluster, pg_database: str
) -> None:
    """A commit marks the next handed rows `inflight` too: their requests need no commit
    of their own. A clean stop puts the unused ones back to `pending`; after a kill they
    are `unknown` (maybe sent, as far as anyone can tell), never resent by default."""
    a = PgJournal(dsn(pg_cluster, pg_database), "c", lease=1.0, claim_size=6)
    a.ahead = 3
    a.claim("fp", "b")
    a.plan(plan_of(12))
    assert [r for r, _, _ in a.to_send(resend_unknown=False)] == [1, 2, 3, 4, 5, 6]
    a.apply([], [1])  # marks 1, and 2, 3, 4 ahead
    statuses = {e.row: (e.status, e.attempts) for e in a.entries()}
    assert [statuses[r] for r in (1, 2, 3, 4, 5)] == [("inflight", 1)] * 4 + [("pending", 0)]
    assert a.take_marked(2) and a.take_marked(3)
    assert not a.take_marked(2)  # once
    assert not a.take_marked(5)  # not marked: it needs a commit
    a.apply([Outcome(1, "sent", 1, 200, "m1")], [5])  # 4 is still ahead; 5 and 6 now
    assert {e.row: e.status for e in a.entries()}[6] == "inflight"
    a.close()  # a clean stop: 4 and 6 were never taken, so never sent
    # A killed worker: its marks ahead are `unknown` once its lease runs out.
    b = PgJournal(dsn(pg_cluster, pg_database), "c", lease=1.0, claim_size=3)
    b.ahead = 2
    assert b.claim("fp", "b") == "resume"
    after = {e.row: (e.status, e.attempts) for e in b.entries()}
    assert after[4] == after[6] == ("pending", 0)
    assert after[2] == after[3] == after[5] == ("unknown", 1)  # taken: maybe sent
    assert [r for r, _, _ in b.to_send(resend_unknown=False)] == [4, 6, 7]
    b.apply([], [4])
    assert b._lease is not None
    b._lease.stop()  # as after kill -9
    c = PgJournal(dsn(pg_cluster, pg_database), "c", lease=1.0)
    assert c.claim("fp", "b") == "resume"
    time.sleep(1.2)
    assert c.recover() == 3  # 4 in flight, 6 and 7 marked ahead
    assert [r for r, _, _ in c.to_send(resend_unknown=False)] == [8, 9, 10, 11, 12]
    b.close()  # back from the dead: it changes nothing now
    assert {e.row: e.status for e in c.entries()}[6] == "unknown"
    c.close()


def test_a_mark_ahead_older_than_a_third_of_the_lease_is_not_used(
    pg_cluster: Cluster, pg_database: str
) -> None:
    a = PgJournal(dsn(pg_cluster, pg_database), "c", lease=0.6, claim_size=4)
    a.claim("fp", "b")
    a.plan(plan_of(4))
    a.to_send(resend_unknown=False)
    a.apply([], [1])
    time.sleep(0.25)
    assert not a.take_marked(2)  # marked 0.25 s ago, the lease is 0.6 s: mark it again
    a.apply([], [2])  # the claim is checked again (it still holds)
    assert {e.row: e.status for e in a.entries()}[2] == "inflight"
    a.close()


def test_concurrent_starters_plan_once(pg_cluster: Cluster, pg_database: str) -> None:
    results: list[bool] = []
    journals = [PgJournal(dsn(pg_cluster, pg_database), "c") for _ in range(4)]

    def start(journal: PgJournal) -> None:
        if journal.claim("fp", "b") != "resume":
            time.sleep(0.2)  # planning takes a while; the others wait for it
            journal.plan(plan_of(100))
            results.append(False)
        else:
            results.append(True)

    threads = [threading.Thread(target=start, args=(j,)) for j in journals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True, True, True]
    assert journals[0].counts()["pending"] == 100
    for journal in journals:
        journal.close()


def test_duplicates_the_campaign_rule_and_bindings(pg_cluster: Cluster, pg_database: str) -> None:
    journal = PgJournal(dsn(pg_cluster, pg_database), "c")
    assert journal.claim("fp", "b") == "new"
    counts = journal.plan(
        [(1, "U1", "U1", b"x", None), (2, "U1", "U1", b"y", None), (3, "i#3", None, None, "bad"),
         (4, "U4", "U4", b"z", None)]
    )  # fmt: skip
    assert (counts.pending, counts.duplicates, counts.invalid) == (2, 1, 1)
    assert [(e.status, e.error) for e in journal.entries()] == [
        ("pending", None),
        ("skipped", "same recipient as row 1"),
        ("failed", "bad"),
        ("pending", None),
    ]
    journal.to_send(resend_unknown=False)
    journal.apply([], [1, 4])
    journal.apply([Outcome(1, "sent", 1, 200, "m1")])
    assert [e.row for e in journal.entries("inflight")] == [4]
    journal.close()  # row 4 was in flight: unknown
    # Another list continues the campaign: nobody gets a second message.
    again = PgJournal(dsn(pg_cluster, pg_database), "c")
    assert again.claim("fp2", "b") == "changed"
    counts = again.plan([(1, "U4", "U4", b"new", None), (2, "U1", "U1", b"new", None),
                         (3, "U9", "U9", b"new", None)])  # fmt: skip
    assert (counts.pending, counts.already_sent, counts.earlier_unknown) == (1, 1, 1)
    entries = list(again.entries())
    assert [e.status for e in entries] == ["unknown", "sent", "pending"]
    # The campaign counts U1 as sent, with the message id that reached them.
    assert (entries[1].message_id, entries[1].error) == ("m1", ledger.already_sent(1, same=False))
    assert again.settle(None, "sent").rows == [1]
    again.close()
    # Another endpoint is another campaign's business.
    other = PgJournal(dsn(pg_cluster, pg_database), "c")
    with pytest.raises(JournalMismatch):
        other.claim("fp2", "another base URL")
    other.close()
    # another campaign in the same database is independent
    third = PgJournal(dsn(pg_cluster, pg_database), "d")
    assert third.claim("another", "b") == "new"
    third.close()


def test_runs_are_numbered_across_workers(pg_cluster: Cluster, pg_database: str) -> None:
    a = PgJournal(dsn(pg_cluster, pg_database), "c")
    a.claim("fp", "b")
    a.plan(plan_of(3))
    b = PgJournal(dsn(pg_cluster, pg_database), "c")
    b.claim("fp", "b")
    assert (a.begin_run("one"), b.begin_run("two")) == (1, 2)
    a.end_run(1, {"sent": 3}, None)
    runs = b.runs()
    assert [(r.number, r.description, r.counts) for r in runs] == [
        (1, "one", {"sent": 3}),
        (2, "two", {}),
    ]
    assert runs[0].finished_at is not None and runs[1].finished_at is None
    a.close()
    b.close()


def test_passwords_never_show(pg_cluster: Cluster, pg_database: str) -> None:
    wrong = pg_cluster.dsn(pg_database, user=PASSWORD_ROLE, password="wrong-" + PASSWORD)
    with pytest.raises(JournalUnavailable) as caught:
        PgJournal(wrong, "c")
    assert PASSWORD not in str(caught.value)
    assert "password authentication failed" in str(caught.value)
    journal = PgJournal(dsn(pg_cluster, pg_database), "c")
    assert PASSWORD not in journal.location
    journal.close()
    assert redact_dsn("postgresql://u:s3cr%40t@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact_dsn("host=h password='a b' user=u") == "host=h password=*** user=u"
    assert (
        redact_dsn("postgresql://u@h/db?password=zz&x=1") == "postgresql://u@h/db?password=***&x=1"
    )


def test_no_server_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(JournalUnavailable) as caught:
        PgJournal(f"postgresql://u:{PASSWORD}@/db?host={tmp_path}", "c")
    assert "cannot connect" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert isinstance(caught.value.__cause__, type(None))
    assert psycopg  # imported for the fixture's sake


@pytest.mark.parametrize("password", ["abc@def-ghi", "x@@tail-part", PASSWORD + "@more"])
def test_a_raw_at_in_a_url_password_shows_no_piece_of_it(password: str) -> None:
    """libpq reads what follows a raw `@` as the host and quotes it in its error."""
    with pytest.raises(JournalUnavailable) as caught:
        PgJournal(f"postgresql://u:{password}@[::1/db", "c")
    shown = str(caught.value)
    assert "cannot connect" in shown
    for piece in [password, *password.split("@")]:
        assert len(piece) < 3 or piece not in shown, shown


def test_a_database_of_an_older_version_is_migrated(pg_cluster: Cluster, pg_database: str) -> None:
    with psycopg.connect(dsn(pg_cluster, pg_database), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.linepress_schema_version "
            "(version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(MIGRATIONS[0])  # type: ignore[arg-type]
        conn.execute("INSERT INTO public.linepress_schema_version (version) VALUES (1)")
        conn.execute("INSERT INTO linepress.campaigns (name, fingerprint) VALUES ('old', 'fp')")
    journal = PgJournal(dsn(pg_cluster, pg_database), "old")
    assert journal.schema_version == len(MIGRATIONS) >= 2
    assert journal.claim("fp", "b") == "new"  # the old campaign is still there, unplanned
    journal.close()


def test_a_campaign_made_with_schema_2_keeps_working(pg_cluster: Cluster, pg_database: str) -> None:
    """A campaign planned and partly sent by the previous schema (people without message
    ids or versions, earlier recipients `skipped`) resumes, then a changed list counts
    everyone it ever sent."""
    with psycopg.connect(dsn(pg_cluster, pg_database), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.linepress_schema_version "
            "(version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version in (1, 2):
            conn.execute(MIGRATIONS[version - 1])  # type: ignore[arg-type]
            conn.execute("INSERT INTO public.linepress_schema_version VALUES (%s)", (version,))
        (cid,) = conn.execute(
            "INSERT INTO linepress.campaigns (name, fingerprint, binding, planned) "
            "VALUES ('old', 'fp', 'b', true) RETURNING id"
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO linepress.recipients (campaign, row, key, recipient, body, status, "
            "attempts, message_id, error) VALUES "
            "(%(c)s, 1, 'U1', 'U1', 'b1', 'sent', 1, 'm1', NULL), "
            "(%(c)s, 2, 'U2', 'U2', 'b2', 'pending', 0, NULL, NULL), "
            "(%(c)s, 3, 'U3', 'U3', 'b3', 'skipped', 0, NULL, %(why)s)",
            {"c": cid, "why": ledger.ALREADY_SENT},
        )
        conn.execute("INSERT INTO linepress.people VALUES (%s, 'U3', 'sent')", (cid,))
    journal = PgJournal(dsn(pg_cluster, pg_database), "old")
    assert journal.schema_version == len(MIGRATIONS) == 3
    assert journal.claim("fp", "b") == "resume"
    assert [row for row, _, _ in journal.to_send(resend_unknown=False)] == [2]
    journal.apply([], [2])
    journal.apply([Outcome(2, "sent", 1, 200, "m2")])
    journal.close()
    # A new list: U1 and U2 stay sent (version 2 was the old plan), U3 is kept as dropped.
    again = PgJournal(dsn(pg_cluster, pg_database), "old")
    assert again.claim("fp2", "b") == "changed"
    counts = again.plan([(1, "U1", "U1", b"n1", None), (2, "U2", "U2", b"n2", None),
                         (3, "U4", "U4", b"n4", None)])  # fmt: skip
    assert (counts.pending, counts.already_sent, counts.dropped) == (1, 2, 1)
    found = [(e.row, e.recipient, e.status, e.message_id, e.error) for e in again.entries()]
    assert found == [
        (1, "U1", "sent", "m1", ledger.already_sent(2, same=False)),
        (2, "U2", "sent", "m2", ledger.already_sent(2, same=False)),
        (3, "U4", "pending", None, None),
        (4, "U3", "sent", None, ledger.DROPPED_SENT + "1"),
    ]
    assert again.counts()["sent"] == 3
    again.close()


def test_resend_sent_sends_only_an_earlier_version_and_only_once(
    pg_cluster: Cluster, pg_database: str
) -> None:
    def send_all(journal: PgJournal) -> list[int]:
        rows = [row for row, _, _ in journal.to_send(resend_unknown=False)]
        journal.apply([], rows)
        journal.apply([Outcome(r, "sent", 1, 200, f"m{r}-{journal.worker.hex[:4]}") for r in rows])
        return rows

    first = PgJournal(dsn(pg_cluster, pg_database), "r")
    first.claim("v1", "b")
    first.plan([(1, "U1", "U1", b"v1", None), (2, "U2", "U2", b"v1", None)])
    assert send_all(first) == [1, 2]
    first.close()
    second = PgJournal(dsn(pg_cluster, pg_database), "r")
    assert second.claim("v2", "b", replan=True) == "changed"
    counts = second.plan(
        [(1, "U1", "U1", b"v2", None), (2, "U3", "U3", b"v2", None)], resend_sent=True
    )
    assert (counts.resend, counts.pending, counts.already_sent, counts.dropped) == (1, 1, 0, 1)
    assert next(e.error for e in second.entries()) == ledger.resending(1)
    assert send_all(second) == [1, 2]
    second.close()
    # Again: everyone listed already has this exact message; U2 is kept as version 1's.
    third = PgJournal(dsn(pg_cluster, pg_database), "r")
    assert third.claim("v2", "b", replan=True) == "changed"
    counts = third.plan(
        [(1, "U1", "U1", b"v2", None), (2, "U3", "U3", b"v2", None)], resend_sent=True
    )
    assert (counts.resend, counts.pending, counts.already_sent, counts.dropped) == (0, 0, 2, 1)
    assert third.to_send(resend_unknown=False) == []
    assert [(e.status, e.error) for e in third.entries()] == [
        ("sent", ledger.already_sent(2, same=True)),
        ("sent", ledger.already_sent(2, same=True)),
        ("sent", ledger.DROPPED_SENT + "1"),
    ]
    third.close()


def test_a_database_that_is_not_ours_or_newer_is_refused_by_name(
    pg_cluster: Cluster, pg_database: str
) -> None:
    """Someone's own `linepress` schema, a version table of another shape, a newer schema
    (for reading too): each a `JournalUnavailable` that says what and what to do, no
    half-made schema left behind."""
    url = dsn(pg_cluster, pg_database)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA linepress; CREATE TABLE linepress.campaigns (x int)")
    with pytest.raises(JournalUnavailable, match="schema named `linepress` that no linepress"):
        PgJournal(url, "c")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA linepress CASCADE")
        conn.execute("CREATE TABLE public.linepress_schema_version (foo text)")
    with pytest.raises(JournalUnavailable, match="is not linepress's"):
        PgJournal(url, "c")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE public.linepress_schema_version")
    journal = PgJournal(url, "c")
    journal.claim("fp", "b")
    journal.plan(plan_of(3))
    journal.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.linepress_schema_version (version) VALUES (99)")
    for attach in (False, True):
        with pytest.raises(JournalUnavailable, match=r"version 99, newer .* upgrade linepress"):
            PgJournal(url, "c", attach=attach)


def test_status_while_a_worker_sends_says_so(pg_cluster: Cluster, pg_database: str) -> None:
    """`journal status` on a campaign a live worker sends: "sending now", not "killed?"."""
    from click.testing import CliRunner

    from linepress.cli.main import main

    url = dsn(pg_cluster, pg_database)
    worker = PgJournal(url, "c", lease=2.0)
    worker.claim("fp", "b")
    worker.plan(plan_of(3))
    worker.begin_run("test run")
    shown = CliRunner().invoke(main, ["journal", "status", url, "--campaign", "c"])
    assert shown.exit_code == 0, shown.output
    assert "run 1 at " in shown.output and "sending now (a worker on " in shown.output
    assert "killed?" not in shown.output and PASSWORD not in shown.output
    assert worker._lease is not None
    worker._lease.stop()  # as after kill -9: once its lease runs out, "did not finish"
    time.sleep(2.2)
    shown = CliRunner().invoke(main, ["journal", "status", url, "--campaign", "c"])
    assert "did not finish (killed?)" in shown.output, shown.output
    worker.close()


def test_pacer_findings_are_shared_through_the_heartbeat(
    pg_cluster: Cluster, pg_database: str
) -> None:
    a = PgJournal(dsn(pg_cluster, pg_database), "c", lease=3.0)
    a.claim("fp", "b")
    a.plan(plan_of(5))
    a.share_pace(120.0, 1_700_000_000.0)
    b = PgJournal(dsn(pg_cluster, pg_database), "c", lease=3.0)
    b.claim("fp", "b")
    deadline = time.monotonic() + 30
    while b.campaign_pace != (120.0, 1_700_000_000.0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.campaign_pace == (120.0, 1_700_000_000.0)
    assert b.live_workers == 2
    a.close()
    b.close()


@pytest.mark.parametrize(
    ("query", "environment", "expected"),
    [
        ("", None, "10"),
        ("&connect_timeout=3", None, "3"),
        ("", "7", "7"),
        ("&connect_timeout=4", "7", "4"),
    ],
)
def test_a_connect_timeout_the_user_gives_is_the_one_used(
    pg_cluster: Cluster,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    environment: str | None,
    expected: str,
) -> None:
    # The DSN's own connect_timeout, or PGCONNECT_TIMEOUT, wins over our default of 10 s.
    if environment is None:
        monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("PGCONNECT_TIMEOUT", environment)
    journal = PgJournal(dsn(pg_cluster, pg_database) + query, "c")
    try:
        assert journal._db.info.get_parameters()["connect_timeout"] == expected
    finally:
        journal.close()

"""Campaign-wide writes of the PostgreSQL journal: binding to the inputs, the plan, settling.

Both run on the worker's main connection while it holds the campaign's advisory lock
(`PgJournal.claim`), so concurrent starters plan once. The plan is streamed in with
COPY and judged by the server in set-wise updates: memory does not grow with the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import psycopg

from linepress.send import ledger
from linepress.send.journal import (
    Claim,
    JournalMismatch,
    ListShape,
    PlanCounts,
    Planned,
    Settled,
)

#: What this plan's requests did, by person (rows carried over from earlier plans made no
#: request: attempts 0, already remembered). A `sent` one records what reached them last
#: (message id, version, body digest); `unknown`/`inflight` (a crash) may have arrived,
#: and never hides an earlier `sent`. (The SQLite journal's `_remember_people`.)
_REMEMBER_PEOPLE = (
    "INSERT INTO linepress.people AS p (campaign, recipient, status, message_id, version, digest) "
    "SELECT DISTINCT ON (recipient) campaign, recipient, "
    "CASE status WHEN 'sent' THEN 'sent' ELSE 'unknown' END, message_id, %(version)s, "
    "sha256(body) FROM linepress.recipients r WHERE campaign = %(campaign)s "
    "AND status IN ('sent', 'unknown', 'inflight') AND recipient IS NOT NULL "
    "AND (attempts > 0 OR NOT EXISTS (SELECT 1 FROM linepress.people q "
    "     WHERE q.campaign = r.campaign AND q.recipient = r.recipient)) "
    "ORDER BY recipient, status = 'sent' DESC "
    "ON CONFLICT (campaign, recipient) DO UPDATE SET "
    "message_id = CASE WHEN excluded.status = 'sent' OR p.status <> 'sent' "
    "THEN excluded.message_id ELSE p.message_id END, "
    "version = CASE WHEN excluded.status = 'sent' OR p.status <> 'sent' "
    "THEN excluded.version ELSE p.version END, "
    "digest = CASE WHEN excluded.status = 'sent' OR p.status <> 'sent' "
    "THEN excluded.digest ELSE p.digest END, "
    "status = CASE WHEN p.status = 'sent' THEN 'sent' ELSE excluded.status END"
)

#: Whether person `p` already received row `r`'s exact body (`sha256`: a digest per person).
_SAME = "coalesce(p.digest = sha256(r.body), false)"
#: A ledger note with `{version}`, filled with the person's version (a parameter's place).
_NOTE = "replace(%s, '{version}', coalesce(p.version, 1)::text)"


def bind(
    db: psycopg.Connection[Any], campaign: int, fingerprint: str, binding: str, *, replan: bool
) -> Claim | int:
    """Bind campaign `campaign` (its id) to these inputs (see `CampaignJournal.claim`).

    Returns "resume" when it is planned with them (also with `replan` while other
    workers send that plan: `--resend-sent` workers started together plan once and
    join); otherwise, when no other worker holds a live lease, clears the plan
    (remembering who was sent what, by person) and returns "new" or "changed"; when
    others do, returns how many (the caller refuses). Raises `JournalMismatch` when
    `binding` differs from the recorded one.
    """
    row = db.execute(
        "SELECT fingerprint, planned, binding, "
        "EXISTS (SELECT 1 FROM linepress.people WHERE campaign = %s), "
        "(SELECT count(*) FROM linepress.workers WHERE campaign = %s "
        " AND expires_at > clock_timestamp()), plan_number "
        "FROM linepress.campaigns WHERE id = %s",
        (campaign, campaign, campaign),
    ).fetchone()
    assert row is not None
    existing, planned, recorded, has_people, others, number = row
    if recorded is not None and recorded != binding:
        raise JournalMismatch(recorded)
    if existing == fingerprint and planned and (not replan or others):
        return "resume"
    if others:
        return int(others)
    with db.transaction():
        # Planning never sends, so an unfinished plan is simply redone. Who was sent
        # (or maybe sent) is remembered by person, so no plan sends them again; each
        # finished plan is a version of the campaign's message, numbered from 1.
        db.execute(_REMEMBER_PEOPLE, {"version": number, "campaign": campaign})
        db.execute("DELETE FROM linepress.recipients WHERE campaign = %s", (campaign,))
        db.execute(
            "UPDATE linepress.campaigns SET fingerprint = %s, binding = %s, planned = false, "
            "description = NULL, plan_number = plan_number + (CASE WHEN planned THEN 1 ELSE 0 END) "
            "WHERE id = %s",
            (fingerprint, binding, campaign),
        )
    return "changed" if planned or has_people else "new"


def store(
    db: psycopg.Connection[Any],
    campaign: int,
    entries: Iterable[Planned],
    *,
    resend_sent: bool,
    shape: ListShape | None = None,
) -> PlanCounts:
    """Store the plan of campaign `campaign` in one commit (see `CampaignJournal.plan`)."""
    invalid = total = 0
    with db.transaction():
        with db.cursor().copy(
            "COPY linepress.recipients (campaign, row, key, recipient, body, status, error) "
            "FROM STDIN"
        ) as copy:
            for row, key, recipient, body, error in entries:
                total += 1
                status = "pending" if error is None else "failed"
                invalid += error is not None
                copy.write_row((campaign, row, key, recipient, body, status, error))
        # Fresh statistics: without them the planner takes the new rows for a handful
        # and joins them in nested loops (8,000 recipients took 71 s; now 0.5 s).
        db.execute("ANALYZE linepress.recipients")
        # A key's later records, each with its first (one pass over the plan).
        duplicates = db.execute(
            "UPDATE linepress.recipients r SET status = 'skipped', body = NULL, "
            "error = %s || d.first "
            "FROM (SELECT row, min(row) OVER (PARTITION BY key) AS first "
            "      FROM linepress.recipients WHERE campaign = %s AND status = 'pending') d "
            "WHERE r.campaign = %s AND r.row = d.row AND d.row <> d.first",
            (ledger.SAME_RECIPIENT_AS_ROW, campaign, campaign),
        ).rowcount
        earlier = _apply_people(db, campaign, resend_sent=resend_sent)
        dropped = _keep_dropped(db, campaign, shape or ListShape())
        db.execute("UPDATE linepress.campaigns SET planned = true WHERE id = %s", (campaign,))
    already_sent, earlier_unknown, resend = earlier
    return PlanCounts(
        pending=total - invalid - duplicates - already_sent - earlier_unknown - resend,
        invalid=invalid,
        duplicates=duplicates,
        already_sent=already_sent,
        earlier_unknown=earlier_unknown,
        resend=resend,
        dropped=dropped,
    )


def _apply_people(
    db: psycopg.Connection[Any], campaign: int, *, resend_sent: bool
) -> tuple[int, int, int]:
    """The campaign rule on the new plan's pending rows, set-wise.

    A person an earlier version reached is `sent` with the message id and a note naming
    the version, unless `resend_sent` and their body differs (then pending, noted); one
    an earlier run may have reached is `unknown` (pending with `resend_sent`). Returns
    (already sent, earlier unknown, to resend).
    """
    where = (
        "FROM linepress.people p WHERE r.campaign = %s AND p.campaign = %s "
        "AND p.recipient = r.recipient AND r.status = 'pending' "
    )
    resend = 0
    if resend_sent:
        resend = db.execute(
            f"UPDATE linepress.recipients r SET error = {_NOTE} "
            + where
            + f"AND p.status = 'sent' AND NOT {_SAME}",
            (ledger.RESENDING, campaign, campaign),
        ).rowcount
    # (With --resend-sent, only those who already have this exact body are left.)
    already_sent = db.execute(
        "UPDATE linepress.recipients r SET status = 'sent', message_id = p.message_id, "
        f"error = CASE WHEN {_SAME} THEN {_NOTE} ELSE {_NOTE} END "
        + where
        + "AND p.status = 'sent'"
        + (" AND r.error IS NULL" if resend_sent else ""),
        (ledger.ALREADY_SAME, ledger.ALREADY_EARLIER, campaign, campaign),
    ).rowcount
    earlier_unknown = 0
    if not resend_sent:
        earlier_unknown = db.execute(
            "UPDATE linepress.recipients r SET status = 'unknown', error = %s "
            + where
            + "AND p.status <> 'sent'",
            (ledger.MAYBE_SENT, campaign, campaign),
        ).rowcount
    return already_sent, earlier_unknown, resend


def _keep_dropped(db: psycopg.Connection[Any], campaign: int, shape: ListShape) -> int:
    """People earlier plans reached who are not in this list: rows after the list's last,
    so the campaign's counts and reports still show them. Returns how many.

    Runs once per plan (the planner holds the campaign's lock), so however many workers
    join, each such person is one row. Without a body such a row is never sent.
    """
    number = ledger.DROPPED_ROW % (
        "greatest(%(last)s, (SELECT coalesce(max(row), 0) FROM linepress.recipients "
        "WHERE campaign = %(campaign)s))",
        "%(shards)s",
        "%(shard)s",
    )
    return db.execute(
        "INSERT INTO linepress.recipients (campaign, row, key, recipient, body, status, "
        "message_id, error) "
        f"SELECT %(campaign)s, {number.format(nth='row_number() OVER (ORDER BY p.recipient)')}, "
        "%(key)s || p.recipient, p.recipient, NULL, p.status, p.message_id, "
        "CASE p.status WHEN 'sent' THEN %(sent)s || coalesce(p.version, 1) ELSE %(maybe)s END "
        "FROM linepress.people p WHERE p.campaign = %(campaign)s AND NOT EXISTS "
        "(SELECT 1 FROM linepress.recipients r WHERE r.campaign = %(campaign)s "
        " AND r.recipient = p.recipient)",
        {
            "campaign": campaign,
            "last": shape.last_row,
            "shards": shape.shards,
            "shard": shape.shard,
            "key": ledger.DROPPED_KEY,
            "sent": ledger.DROPPED_SENT,
            "maybe": ledger.DROPPED_MAYBE,
        },
    ).rowcount


def settle(
    db: psycopg.Connection[Any],
    campaign: int,
    rows: Sequence[int] | None,
    status: Literal["sent", "failed"],
) -> Settled:
    """Mark campaign `campaign`'s `unknown` rows as sent or failed (`CampaignJournal.settle`)."""
    note = ledger.settle_note(status)
    with db.transaction():
        if rows is None:
            wanted = [
                int(r[0])
                for r in db.execute(
                    "SELECT row FROM linepress.recipients WHERE campaign = %s "
                    "AND status = 'unknown' ORDER BY row",
                    (campaign,),
                )
            ]
        else:
            wanted = list(rows)
        found = {
            int(r): (str(s), who)
            for r, s, who in db.execute(
                "SELECT row, status, recipient FROM linepress.recipients "
                "WHERE campaign = %s AND row = ANY(%s) FOR UPDATE",
                (campaign, wanted),
            )
        }
        done, refused = ledger.settle_split(wanted, {r: s for r, (s, _) in found.items()})
        # The same words as `ledger.settled_error`, set-wise.
        db.execute(
            "UPDATE linepress.recipients SET status = %s, retryable = false, "
            "error = CASE WHEN %s = 'sent' THEN %s "
            "ELSE rtrim(%s || ': ' || coalesce(error, ''), ': ') END, "
            "updated_at = clock_timestamp() WHERE campaign = %s AND row = ANY(%s)",
            (status, status, note, note, campaign, done),
        )
        people = sorted({found[r][1] for r in done if found[r][1] is not None})
        if status == "sent":
            db.execute(
                "INSERT INTO linepress.people (campaign, recipient, status) "
                "SELECT %s, unnest(%s::text[]), 'sent' "
                "ON CONFLICT (campaign, recipient) DO UPDATE SET status = 'sent'",
                (campaign, people),
            )
        else:
            db.execute(
                "DELETE FROM linepress.people WHERE campaign = %s "
                "AND recipient = ANY(%s) AND status = 'unknown'",
                (campaign, people),
            )
    return Settled(done, refused)

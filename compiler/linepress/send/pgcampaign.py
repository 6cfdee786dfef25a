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
from linepress.send.journal import Claim, JournalMismatch, PlanCounts, Planned, Settled


def bind(
    db: psycopg.Connection[Any], campaign: int, fingerprint: str, binding: str, *, replan: bool
) -> Claim | int:
    """Bind campaign `campaign` (its id) to these inputs (see `CampaignJournal.claim`).

    Returns "resume" when it is planned with them; otherwise, when no other worker
    holds a live lease, clears the plan (remembering who was sent, by person) and
    returns "new" or "changed"; when others do, returns how many (the caller refuses).
    Raises `JournalMismatch` when `binding` differs from the recorded one.
    """
    row = db.execute(
        "SELECT fingerprint, planned, binding, "
        "EXISTS (SELECT 1 FROM linepress.people WHERE campaign = %s), "
        "(SELECT count(*) FROM linepress.workers WHERE campaign = %s "
        " AND expires_at > clock_timestamp()) "
        "FROM linepress.campaigns WHERE id = %s",
        (campaign, campaign, campaign),
    ).fetchone()
    assert row is not None
    existing, planned, recorded, has_people, others = row
    if recorded is not None and recorded != binding:
        raise JournalMismatch(recorded)
    if not replan and existing == fingerprint and planned:
        return "resume"
    if others:
        return int(others)
    with db.transaction():
        # Planning never sends, so an unfinished plan is simply redone. Who was sent
        # (or maybe sent) is remembered by person, so no plan sends them again.
        db.execute(
            "INSERT INTO linepress.people (campaign, recipient, status) "
            "SELECT DISTINCT ON (recipient) campaign, recipient, "
            "CASE status WHEN 'sent' THEN 'sent' ELSE 'unknown' END "
            "FROM linepress.recipients WHERE campaign = %s "
            "AND status IN ('sent', 'unknown', 'inflight') AND recipient IS NOT NULL "
            "ORDER BY recipient, status = 'sent' DESC "
            "ON CONFLICT (campaign, recipient) DO UPDATE SET status = CASE "
            "WHEN linepress.people.status = 'sent' THEN 'sent' ELSE excluded.status END",
            (campaign,),
        )
        db.execute("DELETE FROM linepress.recipients WHERE campaign = %s", (campaign,))
        db.execute(
            "UPDATE linepress.campaigns SET fingerprint = %s, binding = %s, planned = false, "
            "description = NULL WHERE id = %s",
            (fingerprint, binding, campaign),
        )
    return "changed" if planned or has_people else "new"


def store(
    db: psycopg.Connection[Any], campaign: int, entries: Iterable[Planned], *, resend_sent: bool
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
        already_sent = earlier_unknown = 0
        if not resend_sent:
            already_sent = db.execute(
                "UPDATE linepress.recipients r SET status = 'skipped', error = %s "
                "FROM linepress.people p WHERE r.campaign = %s AND p.campaign = %s "
                "AND p.recipient = r.recipient AND p.status = 'sent' AND r.status = 'pending'",
                (ledger.ALREADY_SENT, campaign, campaign),
            ).rowcount
            earlier_unknown = db.execute(
                "UPDATE linepress.recipients r SET status = 'unknown', error = %s "
                "FROM linepress.people p WHERE r.campaign = %s AND p.campaign = %s "
                "AND p.recipient = r.recipient AND p.status <> 'sent' AND r.status = 'pending'",
                (ledger.MAYBE_SENT, campaign, campaign),
            ).rowcount
        db.execute("UPDATE linepress.campaigns SET planned = true WHERE id = %s", (campaign,))
    return PlanCounts(
        pending=total - invalid - duplicates - already_sent - earlier_unknown,
        invalid=invalid,
        duplicates=duplicates,
        already_sent=already_sent,
        earlier_unknown=earlier_unknown,
    )


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

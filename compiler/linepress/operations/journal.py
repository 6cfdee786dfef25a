"""`linepress journal`: read a campaign journal and settle its `unknown` rows.

Works on any backend through `CampaignJournal`. `status` and `report` only
read, so they work while a run is sending; `settle` takes the journal for
itself, like a run.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from linepress.errors import Location, Problem, UsageError
from linepress.send.backends import open_journal
from linepress.send.journal import CampaignJournal, Entry, RunRecord, Settled
from linepress.send.report import entry_row, write_report

#: How many `unknown` rows `status` lists.
UNKNOWN_SHOWN = 50


@dataclass(frozen=True, slots=True)
class JournalStatus:
    """What a journal holds: the current plan's counts, its runs, the first `unknown` rows."""

    location: str
    description: str | None
    binding: str | None
    counts: dict[str, int]
    runs: list[RunRecord]
    unknown: list[Entry]


@contextlib.contextmanager
def _opened(
    location: str | Path, *, read_only: bool, campaign: str | None = None
) -> Iterator[CampaignJournal]:
    journal = open_journal(location, create=False, read_only=read_only, campaign=campaign)
    try:
        yield journal
    except sqlite3.DatabaseError as exc:  # a page damaged after the header check passed
        raise UsageError(
            Problem(
                f"the journal is damaged ({exc}): it cannot be read; keep the file for the "
                "record, and check Infobip's delivery reports before sending this campaign again",
                Location(str(location)),
                code="journal",
            )
        ) from None
    finally:
        journal.close()


def journal_status(location: str | Path, campaign: str | None = None) -> JournalStatus:
    """Read the journal at `location` (`campaign` in a PostgreSQL one); `UsageError` when none."""
    with _opened(location, read_only=True, campaign=campaign) as journal:
        unknown: list[Entry] = []
        for entry in journal.entries("unknown"):
            if len(unknown) >= UNKNOWN_SHOWN:
                break
            unknown.append(entry)
        return JournalStatus(
            journal.location,
            journal.meta("description"),
            journal.meta("binding"),
            journal.counts(),
            journal.runs(),
            unknown,
        )


def journal_report(
    location: str | Path,
    campaign: str | None = None,
    *,
    out: Path,
    inputs: Sequence[Path | str | None] = (),
) -> dict[str, int]:
    """Write the report of the journal's current plan to `out` (.csv or JSONL); returns the counts.

    The same rows a run's `--report` writes, from the journal as it is now (rows
    in flight are shown as `inflight`).
    """
    with _opened(location, read_only=True, campaign=campaign) as journal:
        counts = journal.counts()
        binding = journal.meta("binding")
        summary = {
            "summary": {
                "total": sum(counts.values()),
                **counts,
                "journal": journal.location,
                "binding": binding,
                # A shard's journal: its report merges with the other shards' (merge-reports).
                "shard": _shard_of(binding),
            }
        }
        write_report(
            out,
            (entry_row(e) for e in journal.entries()),
            summary,
            inputs=(*inputs, location if isinstance(location, Path) else None),
        )
        return counts


def _shard_of(binding: str | None) -> str | None:
    """`2/4` from a binding like `base URL https://…, shard 2/4` (None when not a shard)."""
    match = re.search(r", shard (\d+/\d+)$", binding or "")
    return match[1] if match else None


def journal_settle(
    location: str | Path,
    rows: Sequence[int] | None,
    status: Literal["sent", "failed"],
    *,
    campaign: str | None = None,
) -> Settled:
    """Mark `unknown` rows (all, when `rows` is None) as sent or failed; raises `UsageError`."""
    with _opened(location, read_only=False, campaign=campaign) as journal:
        journal.recover()  # we hold the journal: rows still in flight were left by a killed run
        return journal.settle(rows, status)

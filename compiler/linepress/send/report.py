"""The send report: one row per recipient, then a summary; and merging shard reports.

Reports go through `AtomicOutput` (a temporary file renamed into place), so a
killed run never leaves half a report at the final path. CSV cells that a
spreadsheet would execute (a leading `=`, `+`, `-`, `@`, tab or CR: OWASP's
CSV-injection list) are written with a leading `'`.

Both kinds end with the totals and the shard, so `merge-reports` can tell a
missing shard or a report cut short: JSONL with a `{"summary": {...}}` line,
CSV with a last row whose `row` is `summary` and whose `status` reads
`total 312: sent 300, failed 12; shard 2/4`.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linepress.errors import DataError, Location, Problem
from linepress.output import AtomicOutput
from linepress.send.journal import STATUSES, Entry

COLUMNS = ("row", "to", "status", "http_status", "attempts", "message_id", "error")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: The `row` cell of a CSV report's closing row.
SUMMARY_ROW = "summary"
_CSV_SUMMARY = re.compile(r"total (?P<total>\d+)(?:: [^;]*)?(?:; shard (?P<shard>\d+/\d+))?")


@dataclass(frozen=True, slots=True)
class Summary:
    """A run's outcome: the campaign's counts (the journal) and this run's own."""

    #: The campaign: every record of the current plan by status, from the journal.
    counts: dict[str, int]
    elapsed: float
    #: Requests that reached a verdict this run, per second of sending.
    rate: float
    dry_run: bool = False
    stopped: str | None = None
    #: This run's outcomes by status (what the progress line counted).
    run_counts: dict[str, int] = field(default_factory=dict)
    shard: str | None = None
    #: The journal, to name in advice (None for a dry run).
    journal: str | None = None
    #: 429 answers this run (each retried, so not a status of its own).
    throttled: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def shown_counts(self) -> dict[str, int]:
        """The campaign's counts as told: a dry run's rehearsed sends are `dry-run`, not `sent`."""
        if not self.dry_run:
            return self.counts
        rehearsed = self.run_counts.get("sent", 0)
        shown = dict(self.counts)
        shown["sent"] = shown.get("sent", 0) - rehearsed
        shown["dry-run"] = rehearsed
        return shown

    @property
    def ok(self) -> bool:
        """Every recipient sent or skipped, and the run was not stopped."""
        settled = self.counts.get("sent", 0) + self.counts.get("skipped", 0)
        return settled == self.total and self.stopped is None

    def line(self) -> str:
        """This run, then the campaign, then why it stopped and what to do about `unknown`."""
        head = "linepress send (dry run, nothing sent)" if self.dry_run else "linepress send"
        # A run stopped before any answer (the breaker, a long Retry-After) had work left.
        idle = "nothing sent before it stopped" if self.stopped else "nothing to send"
        done = _counts(self.run_counts)
        if self.dry_run:  # what a real run would have sent now, from the campaign's journal
            done = done.replace("sent ", "would send ", 1) if done.startswith("sent ") else done
        text = f"{head}: this run: {done or idle}"
        text += f" in {self.elapsed:.1f} s ({self.rate:,.0f} messages/s)"
        if self.throttled:
            text += f", {self.throttled:,} throttled answers (429)"
        text += f"; campaign: {self.total:,} recipients: {_counts(self.shown_counts) or 'none'}"
        if self.stopped:
            text += f"\nlinepress send: stopped: {self.stopped}"
        unknown = self.counts.get("unknown", 0)
        if unknown and not self.dry_run:
            journal = self.journal or "JOURNAL"
            text += (
                f"\nlinepress send: {unknown:,} unknown: they may have been delivered. Check "
                "Infobip's delivery reports, then record what happened with "
                f"`linepress journal settle {journal} --as sent|failed [--rows N,M]`, or send "
                "them again with --resend-unknown (a person may get two). "
                f"`linepress journal status {journal}` lists them."
            )
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": {
                "total": self.total,
                **{status: self.shown_counts.get(status, 0) for status in _TOLD},
                "this_run": {
                    ("dry-run" if self.dry_run and status == "sent" else status): count
                    for status, count in self.run_counts.items()
                },
                "elapsed_seconds": round(self.elapsed, 3),
                "messages_per_second": round(self.rate, 1),
                "throttled": self.throttled,
                "dry_run": self.dry_run,
                "stopped": self.stopped,
                "shard": self.shard,
            }
        }


#: The statuses a summary tells: the journal's, and a dry run's rehearsed sends.
_TOLD: tuple[str, ...] = (*STATUSES, "dry-run")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{s} {counts[s]:,}" for s in _TOLD if counts.get(s, 0))


def entry_row(entry: Entry, *, dry_run: bool = False) -> dict[str, Any]:
    """One report row; a dry run's rows say `dry-run`, never `sent`, with no answer or attempt."""
    if dry_run and _rehearsed(entry):
        return {
            "row": entry.row,
            "to": entry.recipient,
            "status": "dry-run",
            "http_status": None,
            "attempts": 0,
            "message_id": None,
            "error": entry.error,
        }
    return {
        "row": entry.row,
        "to": entry.recipient,
        "status": entry.status,
        "http_status": entry.http_status,
        "attempts": entry.attempts,
        "message_id": entry.message_id,
        "error": entry.error,
    }


def _rehearsed(entry: Entry) -> bool:
    """Sent by a dry run's stand-in (its message ids are `dry-run-N`), not by an earlier run."""
    return entry.status == "sent" and (entry.message_id or "").startswith("dry-run-")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell a spreadsheet shows, never runs: `=HYPERLINK(…)` -> `'=HYPERLINK(…)`."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_summary(summary: dict[str, Any]) -> str:
    """A summary as a CSV report's closing `status` cell: `total 3: sent 2, failed 1; shard 1/2`."""
    counts = {s: summary[s] for s in _TOLD if isinstance(summary.get(s), int) and summary[s]}
    total = summary.get("total")
    text = f"total {total if isinstance(total, int) else sum(counts.values())}"
    if counts:
        text += ": " + ", ".join(f"{status} {count}" for status, count in counts.items())
    shard = summary.get("shard")
    if isinstance(shard, str) and shard:
        text += f"; shard {shard}"
    return text


def _csv_summary_of(path: Path, line: int, record: dict[str, Any]) -> dict[str, Any]:
    """A CSV report's closing row read back as a summary (`total`, maybe `shard`)."""
    match = _CSV_SUMMARY.fullmatch(str(record.get("status") or ""))
    if match is None:
        raise _bad(
            path,
            line,
            "not a report's summary row: expected `total N: …; shard K/N` in `status` "
            f"(found {json.dumps(record.get('status'))[:60]})",
        )
    summary: dict[str, Any] = {"total": int(match["total"])}
    if match["shard"]:
        summary["shard"] = match["shard"]
    return summary


def write_report(
    path: Path,
    rows: Iterable[dict[str, Any]],
    summary: Summary | dict[str, Any] | None,
    *,
    inputs: Sequence[Path | str | None] = (),
) -> None:
    """`.csv`: a header, one line per recipient, a summary row; otherwise JSONL, then a summary line.

    `summary` (a `Summary`, or a dict `{"summary": {"total": N, "sent": N, …, "shard": "K/N"}}`)
    closes either kind; None leaves it out.

        Written whole or not at all. Raises `UsageError` when `path` is one of `inputs`,
    `OutputError` when it cannot be written to the end (a full disk).
    """
    out = AtomicOutput(path, inputs=inputs)
    try:
        handle = io.TextIOWrapper(out.file, encoding="utf-8", newline="")
        if path.suffix.lower() == ".csv":
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([csv_cell(row.get(k)) for k in COLUMNS])
            if summary is not None:
                closing = summary.as_dict() if isinstance(summary, Summary) else summary
                cells = [SUMMARY_ROW, "", csv_summary(closing.get("summary") or {})]
                writer.writerow(cells + [""] * (len(COLUMNS) - len(cells)))
        else:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            if summary is not None:
                closing = summary.as_dict() if isinstance(summary, Summary) else summary
                handle.write(json.dumps(closing, ensure_ascii=False) + "\n")
        handle.flush()
        handle.detach()
    except OSError as exc:  # a full disk: no partial report is left
        raise out.failed(exc) from None
    except BaseException:
        out.abort()
        raise
    out.commit()


@dataclass(slots=True)
class _Source:
    """One report being read: its rows, and its summary once seen."""

    path: Path
    summary: dict[str, Any] | None = None
    rows: int = 0


def _bad(path: Path, line: int | None, message: str) -> DataError:
    return DataError(Problem(message, Location(str(path), line), code="report"))


def _read(source: _Source) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row, record) of one report, checked: in row order, each with a numeric `row`."""
    path = source.path
    previous = 0
    for line, record in _records(path):
        if "summary" in record and isinstance(record["summary"], dict):
            source.summary = record["summary"]
            continue
        if record.get("row") == SUMMARY_ROW:  # a CSV report's closing row
            source.summary = _csv_summary_of(path, line, record)
            continue
        row = record.get("row")
        if isinstance(row, str) and row.strip().isdigit():
            row = int(row)
        if not isinstance(row, int) or isinstance(row, bool) or row < 1:
            found = "no `row`" if "row" not in record else f"row {json.dumps(row)[:40]}"
            raise _bad(path, line, f"not a report line: expected a row number (found {found})")
        if row <= previous:
            raise _bad(
                path, line, f"rows out of order: row {row} after row {previous} (not a report?)"
            )
        status = record.get("status")
        if not isinstance(status, str):
            raise _bad(path, line, "not a report line: expected a `status`")
        previous = row
        source.rows += 1
        yield row, record


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise _bad(path, None, f"cannot read the report: {exc.strerror}") from None
    with handle:
        try:
            if path.suffix.lower() == ".csv":
                reader = csv.DictReader(handle)
                for record in reader:
                    yield reader.line_num, {k: _csv_value(k, v) for k, v in record.items()}
                return
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError as exc:
                    if not text.endswith("\n"):  # the last line, cut off mid-way
                        raise _bad(
                            path,
                            number,
                            "the report is cut short: its last line stops mid-way (no summary "
                            "line after it): a run killed while writing it, or a file copied "
                            "in part; `linepress journal report` writes it again",
                        ) from None
                    raise _bad(path, number, f"not a report line: {exc}") from None
                if not isinstance(record, dict):
                    raise _bad(path, number, "not a report line: expected a JSON object")
                yield number, record
        except UnicodeDecodeError as exc:
            raise _bad(path, None, f"not a report: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise _bad(path, None, f"not a CSV report: {exc}") from None


def read_report(path: Path) -> Iterator[dict[str, Any]]:
    """The recipient rows of a report written by `write_report` (summary lines skipped)."""
    for _, record in _read(_Source(path)):
        yield record


def _csv_value(key: str | None, value: str | None) -> Any:
    if value is None or value == "":
        return None
    if key in ("row", "http_status", "attempts") and value.isdigit():
        return int(value)
    return value


def _tagged(index: int, source: _Source) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(row, which report, record) for each record of `source`."""
    for row, record in _read(source):
        yield row, index, record


def merge_reports(paths: Sequence[Path], out: Path) -> dict[str, int]:
    """Merge shard reports into one, in row order, streaming (a k-way merge keeps memory flat).

    Raises `DataError` for a row in two reports, a report that is not one,
    rows out of order, and (for JSONL reports, which carry `shard K/N` and
    their totals) a missing or repeated shard or a report cut short.
    """
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    # First each report on its own (a streaming pass): empty, cut short, of another
    # split; so a report of 3 shards among reports of 2 is named as such, not as an overlap.
    _check_shards([_prescan(path) for path in paths])
    sources = [_Source(path) for path in paths]

    def merged() -> Iterator[dict[str, Any]]:
        # One generator per report, each tagged with its own index: an inline generator
        # would read `index` late, when the comprehension has moved on to the last one.
        streams = [_tagged(index, source) for index, source in enumerate(sources)]
        previous: tuple[int, int] | None = None
        for row, index, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            if previous is not None and previous[0] == row:
                raise _bad(
                    paths[index],
                    None,
                    f"row {row} is in two reports (also {paths[previous[1]]}): the shards overlap",
                )
            previous = (row, index)
            status = str(record["status"])
            counts[status] = counts.get(status, 0) + 1
            yield record

    closing: dict[str, Any] = {"summary": {}}
    write_report(out, _checked(merged(), sources, closing, counts), closing, inputs=paths)
    return counts


def _checked(
    rows: Iterator[dict[str, Any]],
    sources: list[_Source],
    closing: dict[str, Any],
    counts: dict[str, int],
) -> Iterator[dict[str, Any]]:
    """Pass the rows on, then check the reports' shards and totals (before anything is kept)
    and fill in the merged report's summary."""
    yield from rows
    _check_shards(sources)
    closing["summary"] = {
        "total": sum(counts.values()),
        **counts,
        "merged_from": len(sources),
    }


def _prescan(path: Path) -> _Source:
    """Read one report through (rows checked in order); raise `DataError` when it is empty
    or ends without its summary line."""
    source = _Source(path)
    last = 0
    for row, _ in _read(source):
        last = row
    if source.summary is not None:
        return source
    if source.rows == 0:
        size = path.stat().st_size if path.exists() else 0
        found = "empty (0 bytes)" if size == 0 else "without a single row or summary"
        raise _bad(
            path,
            None,
            f"not a report: the file is {found}; a linepress report ends with a summary line "
            "(its totals and shard) even when it has no rows",
        )
    raise _bad(
        path,
        None,
        f"the report is cut short: it ends after row {last} ({source.rows} rows) with no "
        "summary line (every linepress report ends with one): a run killed while writing "
        "it, or a file copied in part; `linepress journal report` writes it again",
    )


def _check_shards(sources: list[_Source]) -> None:
    """Shards of one split, each once, none missing; each report's rows agree with its total."""
    shards: dict[int, Path] = {}
    count: int | None = None
    first: tuple[str, Path] | None = None
    for source in sources:
        summary = source.summary
        if summary is None:
            continue
        total = summary.get("total")
        if isinstance(total, int) and total != source.rows:
            raise _bad(
                source.path,
                None,
                f"the report is cut short: {source.rows} rows, its summary says {total}",
            )
        shard = summary.get("shard")
        if not isinstance(shard, str) or "/" not in shard:
            continue
        index, _, of = shard.partition("/")
        if not (index.isdigit() and of.isdigit()):
            continue
        if count is not None and first is not None and int(of) != count:
            raise _bad(
                source.path,
                None,
                f"shard {shard} is of a split into {of}, but {first[1]} is shard {first[0]} "
                f"of a split into {count}: reports of two different splits do not merge "
                "(send every shard with the same --shard K/N)",
            )
        count = int(of)
        first = first or (shard, source.path)
        if int(index) in shards:
            raise _bad(source.path, None, f"shard {shard} is also {shards[int(index)]}")
        shards[int(index)] = source.path
    if count is not None:
        missing = sorted(set(range(1, count + 1)) - set(shards))
        if missing:
            raise DataError(
                Problem(
                    f"missing the report of shard {', '.join(f'{m}/{count}' for m in missing)}: "
                    f"merged {len(shards)} of {count} shards",
                    code="report",
                )
            )

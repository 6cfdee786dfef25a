"""The send report: one row per recipient, then a summary; and merging shard reports."""

from __future__ import annotations

import csv
import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linepress.errors import DataError, Location, Problem
from linepress.send.journal import STATUSES, Entry

COLUMNS = ("row", "to", "status", "http_status", "attempts", "message_id", "error")


@dataclass(frozen=True, slots=True)
class Summary:
    counts: dict[str, int]
    elapsed: float
    #: Requests that reached a verdict this run, per second of sending.
    rate: float
    dry_run: bool = False
    stopped: str | None = None
    #: 429 answers this run (each retried, so not a status of its own).
    throttled: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """Every recipient sent or skipped, and the run was not stopped."""
        settled = self.counts.get("sent", 0) + self.counts.get("skipped", 0)
        return settled == self.total and self.stopped is None

    def line(self) -> str:
        parts = [
            f"{status} {self.counts.get(status, 0)}"
            for status in STATUSES
            if self.counts.get(status, 0)
        ]
        head = "linepress send (dry run, nothing sent)" if self.dry_run else "linepress send"
        text = f"{head}: {self.total} recipients: {', '.join(parts) or 'none'}; "
        text += f"{self.elapsed:.1f} s, {self.rate:,.0f} messages/s"
        if self.throttled:
            text += f"; {self.throttled} throttled answers (429)"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": {
                "total": self.total,
                **{status: self.counts.get(status, 0) for status in STATUSES},
                "elapsed_seconds": round(self.elapsed, 3),
                "messages_per_second": round(self.rate, 1),
                "throttled": self.throttled,
                "dry_run": self.dry_run,
                "stopped": self.stopped,
            }
        }


def entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "row": entry.row,
        "to": entry.recipient,
        "status": entry.status,
        "http_status": entry.http_status,
        "attempts": entry.attempts,
        "message_id": entry.message_id,
        "error": entry.error,
    }


def write_report(path: Path, rows: Iterable[dict[str, Any]], summary: Summary | None) -> None:
    """`.csv`: a header and one line per recipient; otherwise JSONL ending with a summary line."""
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
        return
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        if summary is not None:
            handle.write(json.dumps(summary.as_dict(), ensure_ascii=False) + "\n")


def read_report(path: Path) -> Iterator[dict[str, Any]]:
    """The recipient rows of a report written by `write_report` (summary lines skipped)."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise DataError(
            Problem(f"cannot read the report: {exc.strerror}", Location(str(path)))
        ) from None
    with handle:
        if path.suffix.lower() == ".csv":
            for record in csv.DictReader(handle):
                yield {k: _csv_value(k, v) for k, v in record.items()}
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(
                    Problem(f"not a report line: {exc}", Location(str(path), number))
                ) from None
            if "summary" not in record:
                yield record


def _csv_value(key: str, value: str) -> Any:
    if value == "":
        return None
    if key in ("row", "http_status", "attempts"):
        return int(value)
    return value


def merge_reports(paths: Sequence[Path], out: Path) -> dict[str, int]:
    """Merge shard reports into one, in row order, streaming; a row in two shards is an error.

    Each report is already in row order, so a k-way merge keeps memory flat.
    """
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)

    def merged() -> Iterator[dict[str, Any]]:
        streams = [
            ((int(r["row"]), index, r) for r in read_report(path))
            for index, path in enumerate(paths)
        ]
        previous: tuple[int, int] | None = None
        for row, index, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            if previous is not None and previous[0] == row:
                raise DataError(
                    Problem(
                        f"row {row} is in two reports (also {paths[previous[1]]}): the shards overlap",
                        Location(str(paths[index])),
                    )
                )
            previous = (row, index)
            counts[record["status"]] = counts.get(record["status"], 0) + 1
            yield record

    temporary = out.with_name(f".{out.name}.tmp")
    try:
        write_report(temporary, merged(), None)
        if out.suffix.lower() != ".csv":
            with temporary.open("a", encoding="utf-8") as handle:
                handle.write(
                    json.dumps(
                        {
                            "summary": {
                                "total": sum(counts.values()),
                                **counts,
                                "merged_from": len(paths),
                            }
                        }
                    )
                    + "\n"
                )
        temporary.replace(out)
    finally:
        temporary.unlink(missing_ok=True)
    return counts

"""Reporters: print a run's problems once, at the end, in the format asked for.

A `ProblemLog` collects problems as a run goes, keeping the first `limit` and
counting the rest, so a million failing rows cost a counter, not memory.
Reporters are chosen by name from `REPORTERS`, which also feeds the CLI's
`--error-format` choices.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from linepress.errors import Problem

DEFAULT_LIMIT = 100


#: Rows listed for a problem that repeats across recipients.
SAMPLE_ROWS = 5


@dataclass(slots=True)
class Repeated:
    """One distinct problem and the recipients it happened for."""

    problem: Problem
    count: int = 1
    rows: list[int] = field(default_factory=list)

    def also(self) -> str:
        """`(also in 3 more rows: 4, 9, 12)`, or nothing for a one-off."""
        if self.count == 1:
            return ""
        more = self.count - 1
        listed = ", ".join(map(str, self.rows[1:]))
        tail = ", …" if more > len(self.rows) - 1 else ""
        return f"  (also in {more} more row{'s' if more > 1 else ''}: {listed}{tail})"


@dataclass(slots=True)
class ProblemLog:
    """Problems of one run, grouped: the same mistake in a million rows is one entry.

    Up to `limit` distinct problems are kept (0: no limit); the rest are counted.
    """

    limit: int = DEFAULT_LIMIT
    groups: dict[tuple[object, ...], Repeated] = field(default_factory=dict)
    errors: int = 0
    warnings: int = 0
    dropped: int = 0
    failed_rows: int = 0
    rows: int = 0
    #: Data rows read (`check` of several definitions reads each row once per definition).
    recipients: int = 0
    #: Data rows skipped because every cell was blank (not recipients).
    blank_rows: int = 0

    def add(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            if problem.severity == "error":
                self.errors += 1
            else:
                self.warnings += 1
            key = (problem.location, problem.path, problem.message, problem.found, problem.severity)
            group = self.groups.get(key)
            if group is not None:
                group.count += 1
                if problem.row is not None and len(group.rows) < SAMPLE_ROWS:
                    group.rows.append(problem.row)
            elif not self.limit or len(self.groups) < self.limit:
                self.groups[key] = Repeated(
                    problem, rows=[problem.row] if problem.row is not None else []
                )
            else:
                self.dropped += 1

    @property
    def kept(self) -> list[Problem]:
        return [group.problem for group in self.groups.values()]

    @property
    def ok(self) -> bool:
        return self.errors == 0


Reporter = Callable[[ProblemLog, IO[str], str], None]
#: Colours a piece of the text report by its role ("error", "warning", "caret",
#: "gutter"); the CLI passes one on a terminal, everything else prints plain text.
Paint = Callable[[str, str], str]


def _plain(text: str, role: str) -> str:
    return text


def text_reporter(
    log: ProblemLog,
    out: IO[str],
    summary: str,
    *,
    paint: Paint = _plain,
    every_source: bool = False,
) -> None:
    """One line per problem; for `show_source` ones (all, with `every_source`) the
    file's line and a caret under it."""
    for group in log.groups.values():
        problem = group.problem
        print(paint(problem.format() + group.also(), problem.severity), file=out)
        if problem.show_source or every_source:
            for line in source_excerpt(problem, paint):
                print(line, file=out)
    if log.dropped:
        print(
            f"… and {log.dropped} more (showing {log.limit} distinct problems; see --max-errors)",
            file=out,
        )
    if summary:
        print(summary, file=out)


def source_excerpt(problem: Problem, paint: Paint = _plain) -> list[str]:
    """The line a problem points at and a caret under its column, as compilers print:

    ```
        5 | text: Sale: 20% off
          |           ^
    ```

    A tab shows as `→` (it is often the mistake). Nothing when the line cannot be read.
    """
    where = problem.location
    if where is None or where.line is None:
        return []
    try:
        with open(where.file, encoding="utf-8-sig", errors="replace") as file:
            text = next((t for n, t in enumerate(file, 1) if n == where.line), None)
    except OSError:
        return []
    if text is None:
        return []
    text = text.rstrip("\r\n").replace("\t", "→")
    number = str(where.line)
    gutter = " " * len(number)
    lines = [paint(f"  {number} | ", "gutter") + text]
    if where.column is not None:
        # Pad by terminal cells, not characters: 日 takes two, a Thai vowel mark none.
        caret = " " * display_cells(text[: where.column - 1]) + "^"
        lines.append(paint(f"  {gutter} | ", "gutter") + paint(caret, "caret"))
    return lines


def display_cells(text: str) -> int:
    """How many terminal columns `text` takes: East Asian Wide/Fullwidth 2, combining 0.

    What wcwidth computes, from the standard library's Unicode tables (enough to
    place a caret; emoji sequences may be off by a cell).
    """
    cells = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        cells += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cells


def json_reporter(log: ProblemLog, out: IO[str], summary: str) -> None:
    document = {
        "ok": log.ok,
        "errors": log.errors,
        "warnings": log.warnings,
        "failed_rows": log.failed_rows,
        "rows": log.rows,
        "blank_rows": log.blank_rows,
        "not_shown": log.dropped,
        "summary": summary,
        "problems": [
            {**problem_dict(g.problem), "count": g.count, "rows": g.rows}
            for g in log.groups.values()
        ],
    }
    out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def github_reporter(log: ProblemLog, out: IO[str], summary: str) -> None:
    """GitHub Actions workflow commands: each problem shows inline in a pull request."""
    for group in log.groups.values():
        problem = group.problem
        properties = []
        if problem.location is not None:
            properties.append(f"file={_property(problem.location.file)}")
            if problem.location.line is not None:
                properties.append(f"line={problem.location.line}")
            if problem.location.column is not None:
                properties.append(f"col={problem.location.column}")
        properties.append("title=" + _property(f"linepress {problem.code}"))
        kind = "error" if problem.severity == "error" else "warning"
        message = problem.format() + group.also()
        print(f"::{kind} {','.join(properties)}::{_data(message)}", file=out)
    if log.dropped:
        print(f"::notice::{_data(f'{log.dropped} more problems not shown')}", file=out)
    if summary:
        print(summary, file=out)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


REPORTERS: dict[str, Reporter] = {
    "text": text_reporter,
    "json": json_reporter,
    "github": github_reporter,
}


def problem_dict(problem: Problem) -> dict[str, object]:
    """A problem as plain JSON-able data (for `--error-format json` and rejects files)."""
    location = problem.location
    data = problem.data_location
    return {
        "severity": problem.severity,
        "code": problem.code,
        "file": location.file if location else None,
        "line": location.line if location else None,
        "column": location.column if location else None,
        "row": problem.row,
        "data_file": data.file if data else None,
        "data_line": data.line if data else None,
        "path": problem.path or None,
        "message": problem.message,
        "found": problem.found,
        "text": problem.format(),
    }

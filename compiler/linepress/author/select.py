"""Which recipients a preview shows: picked rows, a sample, or the edge cases.

Every mode reads the records once, as a stream, keeping only what it may show:
`--rows` the asked-for records, `--sample N` a reservoir of N, `--edge-cases` a
few records per column. A million-row file costs no more memory than a short one.
Rows are numbered as in error messages: data records from 1.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from linepress.author.rownumbers import RowNumbers
from linepress.author.rownumbers import parse_rows as parse_rows
from linepress.errors import DataError, Location, Problem, UsageError
from linepress.limits import grapheme_length
from linepress.recipients.records import BadRecord, Record

Item = Record | BadRecord
#: Unreadable records named when rows asked for are missing (the first ones explain it).
MAX_UNREADABLE_SHOWN = 5

#: Rows shown when no selection is asked for.
FIRST_ROWS = 10
#: Fixed seed: the same file gives the same sample every time.
SAMPLE_SEED = 0
#: A column with at most this many distinct values is a variant column.
MAX_VARIANTS = 12
#: Columns watched at most: JSON records could each bring new keys.
MAX_COLUMNS = 200
#: Unreadable records shown as edge cases (more would only repeat the lesson).
MAX_BAD_RECORDS = 3
#: Column names that mean "which variant of the message", however many rows.
_LOCALE_NAME = re.compile(r"(^|[_ -])(lang|language|locale|variant)$", re.IGNORECASE)


@dataclass(slots=True)
class Selected:
    """One recipient to preview and why it was picked.

    `record` is None for the single body of a definition compiled without data.
    """

    record: Record | BadRecord | None
    reasons: list[str] = field(default_factory=list)
    #: Data columns the reasons are about (the preview highlights them).
    columns: list[str] = field(default_factory=list)

    @property
    def row(self) -> int | None:
        return None if self.record is None else self.record.number

    def because(self, reason: str, column: str | None = None) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        if column is not None and column not in self.columns:
            self.columns.append(column)


def without_data() -> list[Selected]:
    """The selection of a definition previewed without recipient data."""
    return [Selected(None, ["no data: the one body compiled from the definition alone"])]


def select_rows(
    source: Iterable[Item],
    rows: Iterable[int] | None = None,
    sample: int | None = None,
    edge_cases: bool = False,
) -> list[Selected]:
    """The records to preview, in row order, each with the reasons it was picked.

    At most one mode: `rows` (record numbers from 1), `sample` (N records spread by
    reservoir sampling with a fixed seed) or `edge_cases`; none means the first
    `FIRST_ROWS` records. Raises `UsageError` for bad arguments or rows that do
    not exist; `DataError` from the source when the data cannot be read.
    """
    modes = sum(x for x in (rows is not None, sample is not None, edge_cases))
    if modes > 1:
        raise UsageError(Problem("choose one of --rows, --sample and --edge-cases", code="usage"))
    name = getattr(source, "name", None)
    if rows is not None:
        return _pick_rows(source, RowNumbers.of(rows), name)
    if sample is not None:
        return _sample(source, sample)
    if edge_cases:
        return EdgeCases().scan(source)
    return _first_rows(source, FIRST_ROWS)


# --------------------------------------------------------------------------- #
# --rows, --sample and the default


def _first(source: Iterable[Item], count: int) -> Iterator[Item]:
    for item in source:
        if count <= 0:
            return
        count -= 1
        yield item


def _first_rows(source: Iterable[Item], count: int) -> list[Selected]:
    """The first `count` records, labelled by whether that is the whole file.

    One record past `count` is read to tell "all 3 rows" from "first 10 rows".
    """
    items = list(_first(source, count + 1))
    if len(items) <= count:
        reason = "the only row" if len(items) == 1 else f"all {len(items)} rows"
    else:
        reason = f"first {count} rows (--rows, --sample or --edge-cases for others)"
    return [Selected(item, [reason]) for item in items[:count]]


def _pick_rows(source: Iterable[Item], wanted: RowNumbers, name: str | None) -> list[Selected]:
    if wanted and wanted[0] < 1:
        raise UsageError(
            Problem("row numbers count from 1 (a CSV header is not a row)", code="usage")
        )
    if not wanted:
        raise UsageError(Problem("--rows needs at least one row number", code="usage"))
    found: list[Selected] = []
    unreadable: list[Problem] = []  # a CSV quote never closed can swallow the rows asked for
    seen = 0
    for item in source:
        seen = item.number
        if isinstance(item, BadRecord) and len(unreadable) < MAX_UNREADABLE_SHOWN:
            unreadable.append(item.problem)
        if item.number in wanted:
            found.append(Selected(item, ["asked for"]))
            if len(found) == len(wanted):  # everything asked for is here: read no more
                return found
    # Missing: the few asked for within the data that it skipped, then all past its end
    # (as ranges: `--rows 1-300000000` on a short file names one range, not millions).
    numbers = {s.row for s in found}
    within = [
        n for low, high in wanted.ranges if low <= seen for n in range(low, min(high, seen) + 1)
    ]
    missing = [(n, n) for n in within if n not in numbers] + wanted.above(seen)
    count = sum(high - low + 1 for low, high in missing)
    shown = ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in missing[:20])
    if len(missing) > 20:
        shown += ", ..."
    noun = "row" if count == 1 else "rows"
    verb = "does" if count == 1 else "do"
    message = f"{noun} {shown} {verb} not exist: the data has {seen} row{'s' if seen != 1 else ''}"
    if unreadable:  # the data's own error is the one to fix: a content error (exit 1)
        message += "; the data's error above may have swallowed the rest"
        raise DataError(
            [*unreadable, Problem(message, Location(name) if name else None, code="row-missing")]
        )
    raise UsageError(Problem(message, Location(name) if name else None, code="row-missing"))


def _sample(source: Iterable[Item], size: int) -> list[Selected]:
    """Algorithm R: every record equally likely, N kept at a time, same seed same pick."""
    if size < 1:
        raise UsageError(Problem("--sample needs a number of rows, 1 or more", code="usage"))
    chooser = random.Random(SAMPLE_SEED)
    reservoir: list[Item] = []
    total = 0
    for total, item in enumerate(source, start=1):
        if len(reservoir) < size:
            reservoir.append(item)
        else:
            slot = chooser.randrange(total)
            if slot < size:
                reservoir[slot] = item
    reason = f"sample: {len(reservoir)} of {total} rows"
    return [Selected(item, [reason]) for item in sorted(reservoir, key=lambda r: r.number)]


# --------------------------------------------------------------------------- #
# --edge-cases


def value_text(value: object) -> str | None:
    """A field as the text a message would show; None when there is nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


@dataclass(slots=True)
class _Column:
    """What one column has shown so far: only a handful of records per column."""

    name: str
    longest: tuple[int, Record] | None = None
    shortest: int | None = None
    empty: Record | None = None
    #: The value with the most lines (LINE keeps line breaks): (lines, record).
    most_lines: tuple[int, Record] | None = None
    #: Distinct value -> first record with it; None once there are too many.
    variants: dict[str, Record] | None = field(default_factory=dict)
    filled: int = 0

    def see(self, record: Record) -> None:
        value = record.fields.get(self.name)
        if is_empty(value):
            if self.empty is None:
                self.empty = record
            return
        self.filled += 1
        text = value_text(value) or ""
        length = grapheme_length(text)
        if self.longest is None or length > self.longest[0]:
            self.longest = (length, record)
        self.shortest = length if self.shortest is None else min(self.shortest, length)
        lines = text.count("\n") + 1 if "\n" in text else 1
        if lines > 1 and (self.most_lines is None or lines > self.most_lines[0]):
            self.most_lines = (lines, record)
        if self.variants is not None and text not in self.variants:
            if len(self.variants) >= MAX_VARIANTS:
                self.variants = None  # high cardinality: stop collecting
            else:
                self.variants[text] = record

    def varies_in_length(self) -> bool:
        """False for ID-like columns, where every value is as long as the others."""
        return self.longest is not None and self.longest[0] != self.shortest

    def is_variant_column(self) -> bool:
        """A locale-like column, or few distinct values that each come back."""
        if not self.variants or len(self.variants) < 2:
            return False
        if _LOCALE_NAME.search(self.name):
            return True
        # Values must repeat: in a short file every column has "few" values.
        return self.filled >= 2 * len(self.variants)


class EdgeCases:
    """One pass over the records, keeping the few most likely to break a layout."""

    def __init__(self) -> None:
        self.columns: dict[str, _Column] = {}
        self.bad: list[BadRecord] = []
        self.first: Record | None = None

    def scan(self, source: Iterable[Item]) -> list[Selected]:
        for item in source:
            if isinstance(item, BadRecord):
                if len(self.bad) < MAX_BAD_RECORDS:
                    self.bad.append(item)
                continue
            if self.first is None:
                self.first = item
            for name in item.fields:
                # JSON records may add keys as they go; memory stays bounded all the same.
                if name not in self.columns and len(self.columns) < MAX_COLUMNS:
                    self.columns[name] = _Column(name)
            for column in self.columns.values():
                column.see(item)
        return self.picks()

    def picks(self) -> list[Selected]:
        chosen: dict[int, Selected] = {}

        def pick(record: Item, reason: str, column: str | None = None) -> None:
            chosen.setdefault(record.number, Selected(record)).because(reason, column)

        columns = list(self.columns.values())
        for column in columns:
            if column.longest is not None and column.varies_in_length():
                length, record = column.longest
                pick(record, f"longest {column.name} ({_chars(length)})", column.name)
        for column in columns:
            if column.most_lines is not None:
                lines, record = column.most_lines
                pick(record, f"{column.name} has line breaks ({lines} lines)", column.name)
        for column in columns:
            if column.empty is not None:
                pick(column.empty, f"empty {column.name}", column.name)
        for column in columns:
            if column.is_variant_column():
                assert column.variants is not None
                for text, first in column.variants.items():
                    # A row already shown with this value covers it: fewer cards.
                    record = _already(chosen, column.name, text) or first
                    pick(record, f"{column.name} = {_short(text)}", column.name)
        if self.first is not None and not any(
            isinstance(s.record, Record) for s in chosen.values()
        ):
            # Every row alike: still show what a typical recipient gets.
            pick(self.first, "first row (no row stands out)")
        for bad in self.bad:
            pick(bad, "cannot be read")
        return [chosen[number] for number in sorted(chosen)]


def _already(chosen: dict[int, Selected], column: str, text: str) -> Record | None:
    for number in sorted(chosen):
        record = chosen[number].record
        if isinstance(record, Record) and value_text(record.fields.get(column)) == text:
            return record
    return None


def _chars(length: int) -> str:
    return f"{length} char{'s' if length != 1 else ''}"


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

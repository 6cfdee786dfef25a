"""The CSV / TSV reader: a header row, then one `Row` (or `BadRecord`) per record.

The delimiter rule (README "Recipient data"): `--delimiter` always wins; a first
line `sep=X` (Excel's own hint) names it; otherwise the default (`,`, or tab
for .tsv) unless the header is not clean column names under it but is under
exactly one of `;`, tab, `|`, `,`. Clean (see `_names`): two or more non-empty,
distinct names, each cell plain or wholly quoted, trailing empty cells allowed;
so a plain comma header is never re-read, and `to;"last, first"` or `to;name;`
are `;`-separated. Then, when the file's name declares its delimiter (.csv, .tsv),
the file is refused with the flag to pass (realworld case 17: a guess would be
silent about a list that is not what its name says); when nothing declares it
(.txt exports, standard input), that delimiter is used and the choice is announced
as a warning. A header that is clean on two of them is refused, naming the flags.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import partial
from itertools import chain

from linepress.errors import DataError, Location, Problem, describe
from linepress.recipients.encoding import RecordWatch
from linepress.recipients.source import BadRecord, Reader, Ready, Tally, bad_record

#: Delimiters a header is tried with when the default does not split it.
CANDIDATES = (",", ";", "\t", "|")


def read_csv(
    lines: Iterator[str],
    name: str,
    *,
    delimiter: str | None,
    default: str = ",",
    declared: bool = False,
    limit: int,
    tally: Tally,
    watch: RecordWatch | None = None,
) -> Reader:
    """Rows of the CSV text `lines` (named `name` in errors).

    `delimiter` None applies the rule above (from `default`). Yields
    `Ready(columns)` once the header is read (errors about the file as a whole,
    such as a bad header, raise `DataError` before or instead), then a `Row`
    per good record and a `BadRecord` per ragged, malformed or oversized
    (`limit` characters) one. Blank rows are counted in `tally`, not yielded.
    `watch` is told where each record starts, so that `lines` (see `text_lines`)
    stops a record over several lines at `limit` while it is read.
    """
    skipped: list[str] = []  # blank lines before the header
    first = ""
    for first in lines:
        if first.strip():
            break
        skipped.append(first)
    else:
        first = ""
    header_line = len(skipped) + 1
    if delimiter is None and first.startswith("sep=") and len(first.rstrip("\r\n")) == 5:
        delimiter = first[4]  # Excel's "sep=;" line: not data, but it keeps its line number
        skipped.append("\n")
        first = ""
        for line in lines:
            if line.strip():
                first = line
                break
            skipped.append(line)
        header_line = len(skipped) + 1
    if delimiter is None:
        delimiter = _choose(first, default, name, header_line, tally, declared=declared)
    # Fields may be as long as a record may be (Python's default is 131,072). The
    # limit is process-wide: set for each reading, so a smaller cap after a larger
    # one (a library user, a test run) still holds.
    csv.field_size_limit(limit)
    reader = csv.reader(chain(skipped, (first,), lines), delimiter=delimiter, strict=True)
    prev = header_line - 1  # the last line of the last whole record (the hot loop sets it)

    def since() -> int:
        return prev

    if watch is not None:
        watch.since = since

    header: list[str] | None = None
    try:
        for row in reader:
            if row and (len(row) > 1 or row[0].strip()):
                header = row
                break
            header_line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(
            Problem(
                f"the header row is not valid CSV: {exc}",
                Location(name, header_line),
                code="data-csv",
            )
        ) from None
    if header is None:
        raise DataError(
            Problem("is empty: expected a header row", Location(name), code="data-empty")
        )
    unnamed = len(header)
    while unnamed > 1 and not header[unnamed - 1].strip():
        unnamed -= 1  # a delimiter ending every line (`to;name;`): no column after it
    columns = check_header(header[:unnamed], Location(name, header_line))
    yield Ready(columns)

    ncols = len(columns)
    rows: Iterator[list[str]] = reader
    if unnamed < len(header):
        rows = map(partial(_trim, ncols), reader)  # a map, not a generator: it outlives errors
    number = 0
    prev = reader.line_num
    while True:
        try:
            # The hot loop: keep it to csv.reader and one tuple per row. A row
            # on one line whose first cell has text is the common case; the
            # rest (blank, ragged, multi-line) goes through _other.
            for row in rows:
                start = prev + 1
                prev = reader.line_num
                if len(row) == ncols and prev == start and row[0] and not row[0].isspace():
                    number += 1
                    yield number, start, row  # a Row: see RecordSource.rows()
                    continue
                if not row:
                    continue  # an empty line
                if _blank(row):
                    tally.blank_rows += 1
                    continue
                number += 1
                yield _other(name, number, start, row, columns, delimiter, limit)
            break
        except csv.Error as exc:
            start = prev + 1
            if "field larger than field limit" in str(exc):
                # The reader stopped inside a quoted cell: going on would read the
                # rest of that cell as rows (and maybe recipients). Stop the file.
                raise DataError(
                    Problem(_csv_message(exc, start, limit), Location(name, start), code="data-csv")
                ) from None
            if reader.line_num < start:  # no progress: never loop on one error
                raise DataError(
                    Problem(f"is not valid CSV: {exc}", Location(name, start), code="data-csv")
                ) from None
            prev = reader.line_num
            number += 1
            yield bad_record(name, number, start, _csv_message(exc, start, limit), "data-csv")


def _trim(ncols: int, row: list[str]) -> list[str]:
    """`row` without the empty cells the trailing delimiter leaves (cells with text stay)."""
    if len(row) > ncols and not "".join(row[ncols:]).strip():
        return row[:ncols]
    return row


def _blank(row: list[str]) -> bool:
    return not "".join(row).strip()


def _other(
    name: str,
    number: int,
    start: int,
    row: list[str],
    columns: tuple[str, ...],
    delimiter: str,
    limit: int,
) -> tuple[int, int, list[str]] | BadRecord:
    """A row off the fast path: good, ragged, or (over several lines) too large."""
    if len(row) != len(columns):
        return _ragged(name, number, start, row, columns, delimiter)
    size = sum(map(len, row))
    if size > limit:
        return bad_record(
            name,
            number,
            start,
            f"the record is larger than the cap on one record ({limit:,} characters; "
            "--max-record-size raises it)",
            "data-too-large",
            found=f"{size:,} characters",
        )
    return number, start, row


def _choose(first: str, default: str, name: str, line: int, tally: Tally, *, declared: bool) -> str:
    """The delimiter for a header line `first`, by the rule in the module docstring."""
    cells = _strict_split(first.rstrip("\r\n"), default)
    if cells is not None and len([c for c in cells if c.strip()]) >= 2:
        return default  # columns under the default (plain comma CSV): never re-read
    fits = []
    for candidate in CANDIDATES:
        if candidate == default:
            continue
        names = _names(first, candidate)
        if names is not None:
            fits.append((candidate, len(names)))
    if not fits:
        return default
    if len(fits) > 1:
        named = " and ".join(f"--delimiter {_flag(d)}" for d, _ in fits)
        raise DataError(
            Problem(
                f"the header row is one name under {describe(default)} but splits into "
                f"column names on {' and on '.join(describe(d) for d, _ in fits)}: pass one of "
                f"{named}",
                Location(name, line),
                code="data-delimiter",
            )
        )
    chosen, count = fits[0]
    # Why not the default: it is nowhere in the header, or only inside quoted names.
    why = f"no {_spelled(default)}" if default not in first else f"{_spelled(default)} only quoted"
    if declared:
        raise DataError(
            Problem(
                f"the header row looks {_spelled(chosen)}-separated ({count} column names "
                f"separated by {_spelled(chosen)}, {why}): use --delimiter {_flag(chosen)}",
                Location(name, line),
                code="data-delimiter",
            )
        )
    tally.notes.append(
        Problem(
            f"read as {_spelled(chosen)}-separated: the header row has {why} but {count} "
            f"column names separated by {_spelled(chosen)} "
            f"(pass --delimiter {_flag(chosen)} to say so, or --delimiter {_flag(default)} for "
            "one column)",
            Location(name, line),
            severity="warning",
            code="data-delimiter",
        )
    )
    return chosen


def _names(line: str, delimiter: str) -> list[str] | None:
    """The column names of header `line` split on `delimiter`, when that split is clean.

    Clean: every cell is plain text or wholly quoted (RFC 4180: a quote only opens a
    cell and, doubled, stands for itself inside one), there are two or more names,
    each non-empty and distinct; empty cells at the end (a trailing delimiter) do not
    count. None otherwise: `to;"last, first"` is clean on `;`, not on `,`.
    """
    cells = _strict_split(line.rstrip("\r\n"), delimiter)
    if cells is None:
        return None
    while cells and not cells[-1].strip():
        cells.pop()
    names = [cell.strip() for cell in cells]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        return None
    return names


def _strict_split(line: str, delimiter: str) -> list[str] | None:
    """`line` split on `delimiter` by RFC 4180, or None where a quote is out of place."""
    cells: list[str] = []
    at, end = 0, len(line)
    while True:
        start = at
        while start < end and line[start] == " ":  # spaces before an opening quote
            start += 1
        if start < end and line[start] == '"':
            text, at = [], start + 1
            while True:
                close = line.find('"', at)
                if close < 0:
                    return None  # never closed (on this line)
                text.append(line[at:close])
                if line.startswith('""', close):
                    text.append('"')
                    at = close + 2
                    continue
                at = close + 1
                break
            while at < end and line[at] == " ":
                at += 1
            if at < end and line[at] != delimiter:
                return None  # text after the closing quote
            cells.append("".join(text))
        else:
            stop = line.find(delimiter, at)
            stop = end if stop < 0 else stop
            cell = line[at:stop]
            if '"' in cell:
                return None  # a quote inside a plain cell: quoting does not fit this delimiter
            cells.append(cell)
            at = stop
        if at >= end:
            return cells
        at += 1  # past the delimiter
        if at == end:
            cells.append("")
            return cells


def _spelled(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _flag(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else f"'{delimiter}'"


def check_header(row: list[str], where: Location) -> tuple[str, ...]:
    """Header names, stripped; every one named and unique, or DataError."""
    names = tuple(cell.strip() for cell in row)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, column in enumerate(names, 1):
        if not column:
            problems.append(
                Problem(
                    f"column {index} of the header row has no name: every column needs one "
                    "(delete empty columns)",
                    where,
                    code="data-header",
                )
            )
        elif column in seen:
            problems.append(
                Problem(
                    f"column {index} of the header row, {describe(column)}, repeats column "
                    f"{seen[column]}: column names must be unique",
                    where,
                    code="data-header",
                )
            )
        else:
            seen[column] = index
    if problems:
        raise DataError(problems)
    return names


def _ragged(
    name: str, number: int, line: int, row: list[str], columns: tuple[str, ...], delimiter: str
) -> BadRecord:
    found = f"{len(row)} field{'' if len(row) == 1 else 's'}"
    message = f"has {found} but the header has {len(columns)}"
    if len(row) > len(columns):
        message += f" (a value containing {delimiter!r} must be in double quotes)"
    return bad_record(name, number, line, message, "data-ragged-row")


def _csv_message(exc: csv.Error, start: int, limit: int) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return f"a quoted field starting on or after line {start} is never closed"
    if "expected after '\"'" in text:
        return f"is not valid CSV: {text} (a closing quote must end its field)"
    if "field larger than field limit" in text:
        return (
            f"a field is larger than the cap on one record ({limit:,} characters; "
            "--max-record-size raises it)"
        )
    return f"is not valid CSV: {text}"

"""The CSV / TSV reader: a header row, then one `Row` (or `BadRecord`) per record.

The delimiter rule (README "Recipient data"): `--delimiter` always wins; a first
line `sep=X` (Excel's own hint) names it; otherwise the default (`,`, or tab
for .tsv) unless the header is a single name under it but splits cleanly, into
two or more non-empty, distinct names, on exactly one of `;`, tab, `|`, `,`.
Then, when the file's name declares its delimiter (.csv, .tsv), the file is refused
with the flag to pass (realworld case 17: a guess would be silent about a list that
is not what its name says); when nothing declares it (.txt exports, standard input),
that delimiter is used and the choice is announced as a warning. A header that
splits cleanly on two of them is refused, naming the flags to pass.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from itertools import chain

from linepress.errors import DataError, Location, Problem, describe
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
) -> Reader:
    """Rows of the CSV text `lines` (named `name` in errors).

    `delimiter` None applies the rule above (from `default`). Yields
    `Ready(columns)` once the header is read (errors about the file as a whole,
    such as a bad header, raise `DataError` before or instead), then a `Row`
    per good record and a `BadRecord` per ragged, malformed or oversized
    (`limit` characters) one. Blank rows are counted in `tally`, not yielded.
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
    columns = check_header(header, Location(name, header_line))
    yield Ready(columns)

    ncols = len(columns)
    number = 0
    prev = reader.line_num
    while True:
        try:
            # The hot loop: keep it to csv.reader and one tuple per row. A row
            # on one line whose first cell has text is the common case; the
            # rest (blank, ragged, multi-line) goes through _other.
            for row in reader:
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
    base = _split(first, default)
    if base is None or len(base) != 1:
        return default
    fits = []
    for candidate in CANDIDATES:
        if candidate == default:
            continue
        cells = _split(first, candidate)
        if cells is None or len(cells) < 2:
            continue
        names = [cell.strip() for cell in cells]
        if all(names) and len(set(names)) == len(names):
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
    if declared:
        raise DataError(
            Problem(
                f"the header row looks {_spelled(chosen)}-separated ({count} column names "
                f"separated by {_spelled(chosen)}, no {_spelled(default)}): use --delimiter "
                f"{_flag(chosen)}",
                Location(name, line),
                code="data-delimiter",
            )
        )
    tally.notes.append(
        Problem(
            f"read as {_spelled(chosen)}-separated: the header row has no {_spelled(default)} "
            f"but {count} column names separated by {_spelled(chosen)} (pass --delimiter "
            f"{_flag(chosen)} to say so, or --delimiter {_flag(default)} for one column)",
            Location(name, line),
            severity="warning",
            code="data-delimiter",
        )
    )
    return chosen


def _split(line: str, delimiter: str) -> list[str] | None:
    try:
        return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


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

"""The CSV / TSV reader: a header row, then one `Row` (or `BadRecord`) per record."""

from __future__ import annotations

import csv
from itertools import chain
from typing import IO

from linepress.errors import DataError, Location, Problem, describe
from linepress.recipients.encoding import check_bom, not_utf8, tell
from linepress.recipients.source import BadRecord, Reader, Ready, bad_record


def read_csv(raw: IO[bytes], name: str, delimiter: str) -> Reader:
    """Rows of the CSV `raw` (named `name` in errors), split on `delimiter`.

    Yields `Ready(columns)` once the header is read (errors about the file as a
    whole, such as a bad header or bytes that are not UTF-8, raise `DataError`
    before or instead), then a `Row` per good record and a `BadRecord` per
    ragged or malformed one. Blank lines are skipped and not counted.
    """
    first = raw.readline()
    bom = check_bom(first, name)
    try:
        first_text = first[bom:].decode()
    except UnicodeDecodeError as exc:
        raise not_utf8(name, exc, line=1, offset=bom) from None
    # Bytes split on b"\n" and decoded line by line: faster than a
    # TextIOWrapper, and a decoding error names its exact line.
    reader = csv.reader(
        chain((first_text,), map(bytes.decode, raw)), delimiter=delimiter, strict=True
    )

    header: list[str] | None = None
    header_line = 1
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
    except UnicodeDecodeError as exc:
        raise not_utf8(name, exc, line=reader.line_num + 1, offset=tell(raw, exc)) from None
    if header is None:
        raise DataError(
            Problem("is empty: expected a header row", Location(name), code="data-empty")
        )
    columns = check_header(header, Location(name, header_line))
    yield Ready(columns)

    ncols = len(columns)
    wide = ncols > 1  # with one column, a blank line is not an empty value
    number = 0
    prev = reader.line_num
    while True:
        try:
            # The hot loop: keep it to csv.reader and one tuple per row.
            for row in reader:
                start = prev + 1
                prev = reader.line_num
                if len(row) == ncols and (wide or row[0].strip()):
                    number += 1
                    yield number, start, row  # a Row: see RecordSource.rows()
                elif row and (len(row) > 1 or row[0].strip()):
                    number += 1
                    yield _ragged(name, number, start, row, columns, delimiter)
            break
        except csv.Error as exc:
            start = prev + 1
            if reader.line_num < start:  # no progress: never loop on one error
                raise DataError(
                    Problem(f"is not valid CSV: {exc}", Location(name, start), code="data-csv")
                ) from None
            prev = reader.line_num
            number += 1
            yield bad_record(name, number, start, _csv_message(exc, start), "data-csv")
        except UnicodeDecodeError as exc:
            raise not_utf8(name, exc, line=reader.line_num + 1, offset=tell(raw, exc)) from None


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


def _csv_message(exc: csv.Error, start: int) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return f"a quoted field starting on or after line {start} is never closed"
    if "expected after '\"'" in text:
        return f"is not valid CSV: {text} (a closing quote must end its field)"
    return f"is not valid CSV: {text}"

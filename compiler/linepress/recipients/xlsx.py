"""The .xlsx reader: the first (or a named) worksheet, a header row, one `Row` per record.

Read as a stream: openpyxl opens the workbook (sheets, styles, dates) and parses
each cell, driven row by row by `_sheet_rows` so that a parsed row is dropped at
once; the shared strings wait on disk (`xlsx_strings`). python-calamine reads
faster but loads the whole sheet (bench/compile.py compares them). Cells
become text as a person sees them in Excel: numbers by their number format
(`xlsx_cells`), booleans as `true`/`false`. An error cell (`#N/A`) is a located
error naming the cell (`Sheet1!A7`, `'My Sheet'!A7`); so is a number in a `to`
or `from` column, or in any column the caller says makes a key (`key_columns`):
it is an ID or phone number Excel converted, and may already be rounded.
"""

from __future__ import annotations

import datetime
import os
import re
import warnings
import zipfile
from collections.abc import Collection, Iterator
from contextlib import nullcontext
from typing import Any

from linepress.errors import DataError, Location, Problem, describe
from linepress.recipients.delimited import check_header
from linepress.recipients.source import Reader, Ready, Tally, bad_record
from linepress.recipients.xlsx_cells import CellError, NumberFormats
from linepress.recipients.xlsx_strings import SpilledStrings

#: Columns whose values are keys: a number there is a damaged ID, not a value.
KEY_COLUMNS = ("to", "from")


def read_xlsx(
    path: Any, name: str, *, sheet: str | None, tally: Tally, watched: Collection[str] = ()
) -> Reader:
    """Rows of worksheet `sheet` (None: the first) of the workbook at `path` (or a binary file).

    Yields `Ready(columns)` after the header row (the first non-blank row), then
    per data row a `Row` (number, the Excel row number, the cells as text) or a
    `BadRecord`. Blank rows are counted in `tally`. A file that is not an .xlsx
    workbook, or a missing sheet, raises `DataError`. `watched`: columns whose
    values become recipient keys (besides `to` and `from`); read when the first
    data row is, so it may be filled after the columns are known.
    """
    excel_reader = _excel_reader()
    # Opened here, not by name: openpyxl refuses names that do not end in .xlsx.
    handle = open(path, "rb") if isinstance(path, str | os.PathLike) else nullcontext(path)  # noqa: SIM115
    with handle as workbook_file:
        yield from _read_book(excel_reader, workbook_file, name, sheet, tally, watched)


def _read_book(
    excel_reader: type,
    workbook_file: Any,
    name: str,
    sheet: str | None,
    tally: Tally,
    watched: Collection[str],
) -> Reader:
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it skips: nothing a user can act on.
            warnings.simplefilter("ignore", UserWarning)
            reader = excel_reader(workbook_file, read_only=True, data_only=True)
            reader.read()
            book = reader.wb
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
            raise
        raise DataError(
            Problem(
                "is not an .xlsx workbook that can be read "
                f"({type(exc).__name__}: {exc}); save it from Excel as .xlsx, or as CSV UTF-8",
                Location(name),
                code="data-xlsx",
            )
        ) from None
    try:
        worksheet = _choose_sheet(book, reader.chart_sheets, name, sheet, tally)
        yield from _rows(_sheet_rows(worksheet, book), worksheet.title, name, tally, watched)
    finally:
        book.close()
        reader.close_strings()


def _choose_sheet(
    book: Any, chart_sheets: list[str], name: str, sheet: str | None, tally: Tally
) -> Any:
    """The worksheet to read: `sheet` by name, else the first visible one.

    A hidden sheet is usually lookup data, not the list, so it is never read by
    default; when the workbook has several sheets a note says which one was read.
    Raises `DataError` for a missing sheet, a chart sheet, or no visible worksheet.
    """
    names = [ws.title for ws in book.worksheets]
    listed = ", ".join(describe(s) for s in names) or "none"
    if sheet is not None:
        if sheet in names:
            return book[sheet]
        why = (
            f"{describe(sheet)} is a chart sheet, not a worksheet"
            if sheet in chart_sheets
            else f"has no worksheet {describe(sheet)}"
        )
        raise DataError(
            Problem(f"{why}: its sheets are {listed}", Location(name), code="data-xlsx")
        )
    visible = [ws for ws in book.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
    if not visible:
        raise DataError(
            Problem(
                f"has no visible worksheet (its sheets are {listed}): "
                "pass --sheet NAME to read a hidden one",
                Location(name),
                code="data-xlsx",
            )
        )
    chosen = visible[0]
    if len(names) > 1:
        hidden = [ws.title for ws in book.worksheets if ws not in visible]
        skipped = (
            f"; hidden sheets are not read by default ({', '.join(map(describe, hidden))})"
            if hidden
            else ""
        )
        tally.notes.append(
            Problem(
                f"read worksheet {describe(chosen.title)}, the first visible of {listed}"
                f"{skipped}: pass --sheet NAME to read another",
                Location(name),
                severity="warning",
                code="data-sheet",
            )
        )
    return chosen


def _excel_reader() -> type:
    """openpyxl's workbook reader with the shared strings on disk (see `xlsx_strings`)."""
    from openpyxl.reader.excel import ExcelReader  # loaded only for workbooks (about 0.1 s)
    from openpyxl.xml.constants import SHARED_STRINGS

    class Reader(ExcelReader):  # type: ignore[misc]  # openpyxl has no type hints
        chart_sheets: list[str]

        def read_chartsheet(self, sheet: Any, rel: Any) -> None:
            # A chart holds no rows; openpyxl's own chart reader crashes on some files.
            self.chart_sheets.append(sheet.name)

        def read(self) -> None:
            self.chart_sheets = []
            super().read()

        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings = SpilledStrings(source)

        def close_strings(self) -> None:
            if isinstance(self.shared_strings, SpilledStrings):
                self.shared_strings.close()

    return Reader


#: What a parsed row gives `_rows`: (Excel row number, cell texts, the special cells).
#: A special cell is (column index, kind, raw value, message): kind "number" for a
#: numeric cell (a key must not be one), "error" for an error value or a value Excel
#: cannot show (the message says which), "formula" for a formula with no saved value.
SheetRow = tuple[int, list[str], list[tuple[int, str, object, str]] | None]


def _sheet_rows(worksheet: Any, book: Any) -> Iterator[SheetRow]:
    """Each row the sheet holds, its cells as text as Excel shows them, in constant memory.

    openpyxl's read-only rows keep every parsed `<row>` element (emptied) under
    `<sheetData>` and every row's height and style in a dict: about 100 bytes a
    row, 100 MB at a million rows. Its own cell parser is used here, by a loop
    that also drops the emptied rows and ignores row formatting. Dates are left
    to `NumberFormats` (openpyxl would warn on stderr about a serial out of range).
    """
    # Not public API: pyproject holds openpyxl to 3.1.x, where the tests prove it.
    from openpyxl.worksheet._reader import ROW_TAG, WorkSheetParser
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    formats = NumberFormats(book)
    sheet_data = "{%s}sheetData" % SHEET_MAIN_NS  # noqa: UP031 - openpyxl's own spelling
    with worksheet._get_source() as source:
        parser = WorkSheetParser(
            source,
            worksheet._shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=set(),
            timedelta_formats=set(),
        )
        parse = parser.parse_cell
        parent = None
        number = 0
        for event, element in iterparse(source, events=("start", "end")):
            if event == "start":
                if element.tag == sheet_data:
                    parent = element
                continue
            if element.tag != ROW_TAG:
                continue
            given = element.get("r")
            number = int(float(given)) if given else number + 1
            parser.row_counter, parser.col_counter = number, 0
            try:
                cells = [parse(cell) for cell in element]
            except ValueError:  # a date cell (t="d") whose text is no date: find which
                cells = [_parse_one(parse, cell) for cell in element]
            unsaved = _unsaved_formulas(element, cells)
            (parent if parent is not None else element).clear()
            texts = [""] * max((c["column"] for c in cells), default=0)
            special: list[tuple[int, str, object, str]] | None = unsaved
            for cell in cells:
                value, index = cell["value"], cell["column"] - 1
                if value is None:
                    continue
                kind = cell["data_type"]
                if kind == "s":
                    texts[index] = value
                    continue
                if kind == "n":
                    try:
                        texts[index] = formats.text(value, cell["style_id"])
                    except CellError as exc:
                        special = special or []
                        special.append((index, "error", value, str(exc)))
                        continue
                    special = special or []
                    special.append((index, "number", value, ""))
                elif kind == "e":
                    special = special or []
                    special.append((index, "error", value, f"holds the error {value}"))
                elif kind == "not a date":
                    special = special or []
                    why = f"is stored as a date but holds {value!r}, which is no date"
                    special.append((index, "error", value, why))
                else:
                    texts[index] = cell_text(value)
            yield number, texts, special


#: Tags of a cell's formula and saved value.
_FORMULA = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}f"
_VALUE = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}v"


def _unsaved_formulas(
    row: Any, cells: list[dict[str, Any]]
) -> list[tuple[int, str, object, str]] | None:
    """Special "error" cells for formulas with no saved value in `row`, or None.

    Excel saves each formula's last result next to it; files written by programs
    (openpyxl, pandas, many CRMs) hold only the formula. Its value is unknown
    here, so reading it as empty would send wrong text silently.
    """
    found: list[tuple[int, str, object, str]] | None = None
    for element, cell in zip(row, cells, strict=False):
        if cell["value"] is not None or len(element) == 0:
            continue  # only a cell with children can hold a formula
        formula = element.find(_FORMULA)
        if formula is None:
            continue
        saved = element.find(_VALUE)
        # Excel saves an empty text result as t="str" with an empty <v>; openpyxl
        # writes an empty <v/> with no type for every formula.
        if saved is not None and (saved.text or element.get("t") == "str"):
            continue
        found = found or []
        text = "=" + (formula.text or "")
        found.append(
            (
                cell["column"] - 1,
                "formula",
                text,
                f"holds the formula {describe(text)} with no saved value (the file was "
                "written by a program, not saved by Excel); open and save it in Excel, "
                "or export the values",
            )
        )
    return found


def _parse_one(parse: Any, cell: Any) -> dict[str, Any]:
    try:
        return parse(cell)  # type: ignore[no-any-return]  # openpyxl has no type hints
    except ValueError:
        parsed = parse(_without_value(cell))
        parsed.update(value=cell.findtext("{*}v"), data_type="not a date")
        return parsed  # type: ignore[no-any-return]


def _without_value(cell: Any) -> Any:
    from copy import copy

    empty = copy(cell)
    for child in list(empty):
        empty.remove(child)
    return empty


def _rows(
    cells: Iterator[SheetRow], title: str, name: str, tally: Tally, watched: Collection[str]
) -> Reader:
    header_row = 0
    header: list[str] | None = None
    for number, texts, _special in cells:
        if any(t.strip() for t in texts):
            header, header_row = list(texts), number
            break
    if header is None:
        raise DataError(
            Problem(
                f"worksheet {describe(title)} is empty: expected a header row",
                Location(name),
                code="data-empty",
            )
        )
    while header and not header[-1].strip():  # Excel's used range may run past the header
        header.pop()
    columns = check_header(header, Location(name, header_row))
    yield Ready(columns)

    ncols = len(columns)
    keys: dict[int, str] | None = None  # known once the first row is asked for
    number = 0
    for excel_row, texts, special in cells:
        row = texts[:ncols]
        extra = [i for i, t in enumerate(texts[ncols:], ncols) if t.strip()]
        if special is not None:
            extra += [i for i, _, _, _ in special if i >= ncols]
        if not extra and not any(t.strip() for t in row) and special is None:
            tally.blank_rows += 1
            continue
        number += 1
        if extra:
            first = min(extra)
            yield bad_record(
                name,
                number,
                excel_row,
                f"has a value in cell {cell_reference(title, first, excel_row)}, right of the "
                f"last named column ({column_letter(ncols - 1)}): give the column a name in "
                "the header row",
                "data-ragged-row",
                column=first + 1,
                found=describe(texts[first]) if first < len(texts) and texts[first] else None,
            )
            continue
        if special is not None:
            if keys is None:
                keys = {i: c for i, c in enumerate(columns) if c in KEY_COLUMNS or c in watched}
            bad = _special_cell(special, keys, columns, title, excel_row)
            if bad is not None:
                index, message, code, found = bad
                yield bad_record(
                    name, number, excel_row, message, code, column=index + 1, found=found
                )
                continue
        if len(row) < ncols:
            row.extend([""] * (ncols - len(row)))
        yield number, excel_row, row


def _special_cell(
    special: list[tuple[int, str, object, str]],
    keys: dict[int, str],
    columns: tuple[str, ...],
    title: str,
    excel_row: int,
) -> tuple[int, str, str, str | None] | None:
    """(column index, message, code, found) for the first cell that makes the row unusable."""
    for index, kind, value, why in sorted(special, key=lambda s: s[0]):
        ref = cell_reference(title, index, excel_row)
        if kind == "error":
            return (
                index,
                f"cell {ref} ({columns[index]}) {why}: fix the cell (or its formula) in Excel",
                "data-cell-error",
                describe(value),
            )
        if kind == "formula":
            return index, f"cell {ref} ({columns[index]}) {why}", "data-formula", None
        if index in keys:
            used = (
                ""
                if keys[index] in KEY_COLUMNS
                else f", and `{keys[index]}` makes a recipient key (to/from)"
            )
            return (
                index,
                f"cell {ref} ({columns[index]}) holds a number, not text{used}: Excel turns IDs "
                "and phone numbers into numbers (and may round them or drop a leading 0); "
                "format the column as Text and enter the values again",
                "data-number-key",
                describe(value),
            )
    return None


def cell_text(value: object) -> str:
    """A cell's value as text, as a person sees it: 12 (not 12.0), 2024-03-31, true."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


#: Sheet names Excel writes bare in a reference: a letter or _ then letters, digits, _ or .
_BARE_SHEET = re.compile(r"[^\W\d][\w.]*")
#: ...unless the name reads as a cell reference itself (A1 or R1C1 style).
_LOOKS_LIKE_CELL = re.compile(r"[A-Za-z]{1,3}\d+|[Rr]\d*[Cc]?\d*", re.ASCII)


def cell_reference(sheet: str, index: int, row: int) -> str:
    """('Sheet1', 2, 7) -> Sheet1!C7; ('My Sheet', 0, 7) -> 'My Sheet'!A7; It's -> 'It''s'!A7.

    Quoted the way Excel writes a reference to another sheet: a name with spaces,
    punctuation, a leading digit, or one that reads as a cell reference is put in
    single quotes, and a quote inside it doubled. `index` counts columns from 0.
    """
    if not _BARE_SHEET.fullmatch(sheet) or _LOOKS_LIKE_CELL.fullmatch(sheet):
        sheet = "'" + sheet.replace("'", "''") + "'"
    return f"{sheet}!{column_letter(index)}{row}"


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: columns named the way Excel shows them."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters

"""What a recipient reader yields: `Record`s, `BadRecord`s and the `RecordSource` they come from.

Also the fast builders the readers use on their hot paths (`make_record`) and the
`bad_record` constructor every reader reports an unusable record with.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from linepress.errors import Location, Problem, describe, type_name

Format = Literal["csv", "json", "jsonl", "xlsx"]


@dataclass(frozen=True, slots=True)
class Record:
    """One recipient's data."""

    #: Data record number, counting from 1 (a CSV header is not a record).
    number: int
    #: The data file and the line where the record starts; column None.
    location: Location
    #: Field name -> value (CSV: str; JSON: any JSON value).
    fields: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that cannot be used; the problem says why."""

    number: int
    location: Location
    #: Already stamped with row=number and data_location=location.
    problem: Problem


Item = Record | BadRecord
#: A good CSV record as `RecordSource.rows()` gives it: (number, line, values).
Row = tuple[int, int, list[str]]


class RecordSource(ABC):
    """Where records come from: iterate it for `Record`s and `BadRecord`s.

    Use it as a context manager (or call `close()`) to release the file early
    when iteration stops before the end.
    """

    #: Display name: the path as given, or "<stdin>".
    name: str

    @property
    @abstractmethod
    def columns(self) -> tuple[str, ...] | None:
        """The CSV header, known before the first record; None for JSON."""

    @abstractmethod
    def __iter__(self) -> Iterator[Item]: ...

    def rows(self) -> Iterator[Row | BadRecord] | None:
        """The records as plain rows, for consumers that index by column: or None.

        CSV only: each good record is a `Row` (number, the line it starts on, its
        values in `columns` order); bad records come as usual. It skips making a
        dict and a `Record` per row. Like iterating, it reads the data once.
        """
        return None

    @property
    def blank_rows(self) -> int:
        """Blank rows skipped so far (all cells empty or whitespace); complete after reading."""
        return 0

    @property
    def notes(self) -> list[Problem]:
        """Warnings about how the data was read, known once the columns are."""
        return []

    def key_columns(self, names: Iterable[str]) -> None:  # noqa: B027 - optional hook
        """Say which columns' values become recipient keys (`to`/`from`) once rendered.

        Call it before reading records. An .xlsx cell holding a number in such a column
        is then a bad record naming the cell (as one in a `to` or `from` column always
        is): Excel turns IDs and phone numbers into numbers and may have rounded them.
        Text formats have no numbers to tell apart, so other readers ignore it.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release any open file."""

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(slots=True)
class Tally:
    """What a reader noticed besides records: blank rows skipped, choices it announces."""

    #: Rows whose cells are all empty or whitespace (Excel leaves `,,` rows): not recipients.
    blank_rows: int = 0
    #: Warnings about how the file was read (a delimiter chosen from the header).
    notes: list[Problem] = field(default_factory=list)


class Ready:
    """Yielded once by a reader when the file is open and any header read.

    `columns` is the header of a tabular file (None for JSON), so opening
    errors surface before the first record is asked for.
    """

    __slots__ = ("columns",)

    def __init__(self, columns: tuple[str, ...] | None = None) -> None:
        self.columns = columns


#: What a reader generator yields: one `Ready`, then items (or, for CSV, rows).
Reader = Generator[Item | Row | Ready, None, None]


# --------------------------------------------------------------------------- #
# Building records fast

# A Record and its Location are made once per data row. The frozen
# dataclasses' __init__ (object.__setattr__ per field, defaults handling)
# costs as much as csv.reader parsing a 10-field row, so the hot paths fill
# the slots directly. The result is an ordinary, equal instance.
_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    return vars(cls)[name].__set__  # type: ignore[no-any-return]  # the slot's descriptor


_set_file = _slot_setter(Location, "file")
_set_line = _slot_setter(Location, "line")
_set_column = _slot_setter(Location, "column")
_set_number = _slot_setter(Record, "number")
_set_location = _slot_setter(Record, "location")
_set_fields = _slot_setter(Record, "fields")


def make_record(number: int, file: str, line: int, fields: Mapping[str, object]) -> Record:
    """Record(number, Location(file, line), fields), at half the cost."""
    loc = _new(Location)
    _set_file(loc, file)
    _set_line(loc, line)
    _set_column(loc, None)
    rec = _new(Record)
    _set_number(rec, number)
    _set_location(rec, loc)
    _set_fields(rec, fields)
    return rec


def object_record(
    number: int, file: str, line: int, value: object, *, column: int | None = None
) -> Record | BadRecord:
    """A JSON value as a record: an object is one, anything else is a bad record."""
    if type(value) is dict:
        return make_record(number, file, line, value)
    return bad_record(
        file,
        number,
        line,
        f"is a JSON {type_name(value)}, expected an object",
        "data-not-object",
        column=column,
        found=describe(value),
    )


def bad_record(
    file: str,
    number: int,
    line: int,
    message: str,
    code: str,
    *,
    column: int | None = None,
    found: str | None = None,
    path: str = "",
    problem_line: int | None = None,
) -> BadRecord:
    """A `BadRecord` for record `number` starting on `line`, its problem located there.

    `problem_line` places the problem on a later line of the record (with `column`);
    `path` is the field it concerns (`address.city`).
    """
    where = Location(file, line)
    problem = Problem(
        message,
        Location(file, problem_line or line, column),
        path=path,
        found=found,
        row=number,
        data_location=where,
        code=code,
    )
    return BadRecord(number, where, problem)

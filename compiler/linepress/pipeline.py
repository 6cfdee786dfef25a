"""Definition + recipients -> checked request bodies: the compile step as a library.

`Compiler` is built once per definition. Building it proves everything that does
not depend on recipients (YAML, keys, Jinja syntax, imports, and the schema
verdict on the static part of the body); `compile_records` then renders and
checks one recipient at a time, as a stream, stamping each problem with its row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson

from linepress.definition import Definition, FieldPath, load_definition, paths_of
from linepress.errors import DefinitionError, Location, Problem, describe, format_path
from linepress.recipients.records import (
    BadRecord,
    ReadOptions,
    Record,
    RecordSource,
    open_records,
)
from linepress.render.builders import DYNAMIC, FAILED, Remap, Renderer
from linepress.render.fastpath import BodyFunction, RowFunction, body_function, row_function
from linepress.render.link_fix import encoded_link
from linepress.render.reads import names_read
from linepress.render.var_links import var_link_problems
from linepress.validate import verdicts
from linepress.validate.fastcheck import LeafChecks
from linepress.validate.schema import NUMERIC_FIELDS, text_field_names
from linepress.validate.values import KeyForms, encode_url, is_link, is_url_part
from linepress.yaml_errors import number_hint

if TYPE_CHECKING:
    from linepress.validate.body import BodyValidator, SchemaIssue


@dataclass(slots=True)
class Result:
    """One recipient's outcome: a checked body, or the problems that stopped it."""

    #: Data record number counting from 1; None when compiled without data.
    row: int | None
    data_location: Location | None = None
    fields: Mapping[str, Any] | None = None
    body: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.body is not None and not self.problems

    def json(self) -> bytes:
        """The body as compact JSON bytes, keys in definition order."""
        return orjson.dumps(self.body)


class Compiler:
    """A definition made ready to compile recipients."""

    def __init__(
        self, definition: Definition | str | Path, *, fast: bool = True, remember: bool = False
    ) -> None:
        """`fast=False` validates every body in full (for comparing verdicts).

        `remember=True` keeps the proven schema verdict on disk for the next run
        (see `linepress.validate.verdicts`), as the CLI does: start-up without jsonschema.
        """
        if not isinstance(definition, Definition):
            definition = load_definition(definition)
        self.definition = definition
        self.renderer = Renderer(definition, NUMERIC_FIELDS, text_field_names())
        # A link made of `vars` only is the same bad link for everyone: the var's.
        bad_var_links = var_link_problems(self.renderer)
        if bad_var_links:
            raise DefinitionError(bad_var_links)
        self._validator: BodyValidator | None = None
        #: Per variant: checks of the per-recipient leaves only (None: full validation).
        self.leaf_checks: dict[str | None, LeafChecks | None] = {}
        skeletons = {s.variant: s.body for s in self.renderer.skeletons()}
        remembered = verdicts.recall(skeletons, DYNAMIC) if fast and remember else None
        if remembered is not None:
            # Proven by an earlier run (static part valid, these rules at the leaves).
            self.leaf_checks.update(remembered)
        else:
            problems = self.static_problems()
            if problems:
                raise DefinitionError(problems)
            if fast:
                for variant, skeleton in skeletons.items():
                    self.leaf_checks[variant] = LeafChecks.build(skeleton, DYNAMIC)
                proven = {v: c for v, c in self.leaf_checks.items() if c is not None}
                if remember and len(proven) == len(skeletons):
                    verdicts.remember(skeletons, DYNAMIC, proven)
        #: Generated code for ordinary recipients (None: every body goes the careful way).
        self.fast_body: BodyFunction | None = (
            body_function(self.renderer, self.leaf_checks) if fast else None
        )
        self._row_functions: dict[tuple[str, ...], RowFunction | None] = {}
        #: The row functions' `to`s of no known form, each taken off by the caller
        #: (`BodyRun`) right after the row that put it there.
        self.odd_keys: list[str] = []
        #: The data names whose values can end up in `to`/`from` (see `key_names`).
        self.key_names = key_names(definition, self.renderer.env)

    @property
    def validator(self) -> BodyValidator:
        """The full validator, loaded on first need (a remembered definition whose
        recipients all pass never needs it)."""
        if self._validator is None:
            from linepress.validate.body import body_validator

            self._validator = body_validator()
        return self._validator

    @property
    def name(self) -> str:
        return self.definition.name

    def static_problems(self) -> list[Problem]:
        """Schema problems of the body's static part, found without any data.

        Values known only per recipient stand in as placeholders; what the schema
        says about them (and anything inside them) waits for the recipients.
        Each variant is checked on its own.
        """
        problems: list[Problem] = []
        for skeleton in self.renderer.skeletons():
            unknown = set(paths_of(skeleton.body, DYNAMIC)) | set(paths_of(skeleton.body, FAILED))
            issues = [
                issue
                for issue in self.validator.issues(skeleton.body)
                # An unknown key is wrong whatever its value; other rules wait for the value.
                if issue.keyword == "additionalProperties"
                or not any(issue.path[: len(p)] == p for p in unknown)
            ]
            problems += self._problems(issues, skeleton.remaps)
        return [_number_as_text(p) for p in problems]

    def compile(self, fields: Mapping[str, Any] | None = None) -> Result:
        """One body from one set of fields (no data file: constants only)."""
        return self._compile(fields or {}, None, None)

    def compile_record(self, record: Record | BadRecord) -> Result:
        if isinstance(record, BadRecord):
            return Result(record.number, record.location, None, None, [record.problem])
        return self._compile(record.fields, record.number, record.location)

    def compile_records(self, records: Iterable[Record | BadRecord]) -> Iterator[Result]:
        """Results in input order, one per record, streamed."""
        fast = self.fast_body
        if isinstance(records, RecordSource):
            records.key_columns(self.key_names)  # a numeric .xlsx cell there: a bad record
        for record in records:
            if fast is not None and record.__class__ is Record:
                # `_compile`'s first step, inlined: this loop runs per recipient.
                fields = record.fields  # type: ignore[union-attr]
                body = fast(fields)
                if body is not None:
                    yield Result(record.number, record.location, fields, body, [])
                else:
                    yield self.careful(fields, record.number, record.location)  # type: ignore[union-attr]
                continue
            yield self.compile_record(record)

    def write_bodies(
        self,
        records: Iterable[Record | BadRecord],
        write_line: Callable[[bytes], object],
        recipients: RecipientSink | None = None,
    ) -> BodyRun:
        """Compile every record, for writers: each good body goes to `write_line` as one
        JSON line, in input order; iterating the run yields the failed recipients' Results.

        The same bodies as `compile_records`, but a good CSV row never becomes a dict,
        a `Record` or a `Result`: what `linepress compile` spends per recipient.
        `recipients` hears of each good body's recipient (to find repeats).
        """
        return BodyRun(self, records, write_line, recipients)

    def row_function(self, columns: Sequence[str]) -> RowFunction | None:
        """The generated fast path reading CSV rows with these columns (cached).

        Its argument is one row as a list of `str` decoded from UTF-8, in `columns`
        order: what `RecordSource.rows()` gives. It returns None for rows that need
        the careful way (`careful(dict(zip(columns, row)), ...)`).
        """
        key = tuple(columns)
        if key not in self._row_functions:
            self._row_functions[key] = (
                row_function(self.renderer, self.leaf_checks, key, self.odd_keys)
                if self.fast_body is not None
                else None
            )
        return self._row_functions[key]

    def _compile(
        self, fields: Mapping[str, Any], row: int | None, where: Location | None
    ) -> Result:
        if self.fast_body is not None:
            body = self.fast_body(fields)
            if body is not None:
                return Result(row, where, fields, body, [])
        return self.careful(fields, row, where)

    def careful(self, fields: Mapping[str, Any], row: int | None, where: Location | None) -> Result:
        """Render and check one recipient the general way, wording every problem."""
        rendered = self.renderer.render(fields)
        body, problems = rendered.body, rendered.problems
        if not problems:
            checks = self.leaf_checks.get(rendered.variant)
            # The leaf checks only ever accept; the full validator words every problem.
            if checks is None or not checks.accepts(body):
                problems = self._problems(self.validator.issues(body), rendered.remaps, fields)
        if row is not None:
            problems = [p.at_row(row, where) for p in problems]
        if problems:
            return Result(row, where, fields, None, problems)
        return Result(row, where, fields, body, [])

    def _problems(
        self,
        issues: Iterable[SchemaIssue],
        remaps: Sequence[Remap] = (),
        fields: Mapping[str, Any] | None = None,
    ) -> list[Problem]:
        """Schema issues as located problems, in the order of the file.

        With the recipient's `fields`, a bad link also names the expression that
        brought in the bad part.
        """
        problems = [
            Problem(
                issue.message
                if fields is None or issue.keyword != "x-url"
                else self._url_message(issue.message, issue.path, remaps, fields),
                # An unknown key is best shown at the key itself.
                self.renderer.location(
                    issue.path, remaps, key=issue.keyword == "additionalProperties"
                ),
                path=format_path(issue.path),
                found=issue.found,
                code=issue.code,
            )
            for issue in issues
        ]
        return sorted(problems, key=_file_order)

    def _url_message(
        self, message: str, path: FieldPath, remaps: Sequence[Remap], fields: Mapping[str, Any]
    ) -> str:
        """A bad link's message with its culprits named; where a recipient value needs
        `| urlencode`, the link to write is the one that filter gives (`&` in the
        value as `%26`), not the rendered link encoded as it stands."""
        hints, fixed = self._url_culprits(path, remaps, fields)
        if fixed is not None:
            message, found = _WRITE.subn(lambda m: m.group(1) + fixed, message, count=1)
            if not found:  # e.g. a cut escape: no link to write was known without the value
                message = f"{message}: write {fixed}"
        return message + hints

    def _url_culprits(
        self, path: FieldPath, remaps: Sequence[Remap], fields: Mapping[str, Any]
    ) -> tuple[str, str | None]:
        """`; `{{ keyword }}` brought in '抹茶 ケーキ': end it with `| urlencode``, or ""."""
        hints = []
        encode: list[str] = []
        variables = self.definition.vars
        for text, value in self.renderer.inserted_values(path, remaps, fields):
            value = str(value)
            if _URLENCODED.search(text) or is_url_part(value):
                continue
            if text in variables and text not in fields:  # made by a var: blame the var
                leaf = self.definition.values.get(("vars", text))
                where = f" ({leaf.location})" if leaf is not None else ""
                hints.append(
                    f"`{{{{ {text} }}}}` is the var `{text}`{where}, which made "
                    f"{describe(value)}: fix it there (a recipient value inside it needs "
                    "`| urlencode`)"
                )
            elif is_link(value):  # the whole link comes from the data: encoding it would break it
                hints.append(f"`{{{{ {text} }}}}` brought in {describe(value)}: fix it in the data")
            else:
                encode.append(text)
                hints.append(
                    f"`{{{{ {text} }}}}` brought in {describe(value)}: "
                    "end that expression with `| urlencode`"
                )
        return "".join("; " + hint for hint in hints), self._encoded(path, remaps, fields, encode)

    def _encoded(
        self, path: FieldPath, remaps: Sequence[Remap], fields: Mapping[str, Any], texts: list[str]
    ) -> str | None:
        """The link with `texts` urlencoded, as LINE wants it (None: no such fix)."""
        leaf = self.renderer.leaf_at(self.renderer.source_path(path, remaps))
        if leaf is None or not texts:
            return None
        try:
            ctx = self.renderer.context(fields)
        except Exception:  # only a hint: the var's failure is worded elsewhere
            return None
        link = encoded_link(leaf, ctx, texts)
        return None if link is None else encode_url(link)


_URLENCODED = re.compile(r"\|\s*urlencode\s*$")
#: The whole link a bad link's message says to write (`url_problem`).
_WRITE = re.compile(r"(: write |; without it: )\S+")


def key_names(definition: Definition, env: Any) -> frozenset[str]:
    """The names a recipient can supply that `to` or `from` reads, through `vars` too.

    `to: "{{ phone }}"` reads `phone`; `to: "{{ key }}"` with `vars: {key: "+{{ tel }}"}`
    reads `key` (a column of that name overrides the var) and `tel`. Always `to` and
    `from` (what a body without them takes from the record). Static: a recipient's
    values never change the set, so a reader can check those columns as it reads.
    """
    names = {"to", "from"}
    todo: list[str] = []
    for key in ("to", "from"):
        for value in (definition.body.get(key), definition.defaults.get(key)):
            todo += names_read(env, value)
    while todo:
        name = todo.pop()
        if name in names:
            continue
        names.add(name)
        if name in definition.vars:
            todo += names_read(env, definition.vars[name])
    return frozenset(names)


def _number_as_text(problem: Problem) -> Problem:
    """A number written where text is wanted (`to: 0812345678`): say how to keep it text.

    Only for the definition's static values, read back from the file's line:
    the parsed number no longer shows a leading 0.
    """
    where = problem.location
    if (
        not problem.message.startswith("expected a string")
        or where is None
        or where.line is None
        or where.column is None
    ):
        return problem
    try:
        with open(where.file, encoding="utf-8-sig") as file:
            line = next((text for number, text in enumerate(file, 1) if number == where.line), "")
    except (OSError, UnicodeDecodeError):
        return problem
    hint = number_hint(line, where.column)
    if hint is None:
        return problem
    return replace(problem, message=f"{problem.message}: {hint}", show_source=True)


#: `note(row, line, to)`: one good body's recipient, its data row and the file line it starts on.
NoteRecipient = Callable[[int, int | None, Any], None]


class RecipientSink(Protocol):
    """Where `write_bodies` puts each good body's recipient.

    The fast CSV lane appends `(row, line, to)` to `queue` (no Python call per
    row) and calls `pack()` once it holds `batch`; the other lanes call `note`.
    """

    queue: list[tuple[int, int, Any]]
    batch: int

    def note(self, row: int, line: int | None, to: object) -> None: ...

    def pack(self) -> None: ...


class BodyRun:
    """One pass of `Compiler.write_bodies`: iterate it for the failed recipients."""

    def __init__(
        self,
        compiler: Compiler,
        records: Iterable[Record | BadRecord],
        write_line: Callable[[bytes], object],
        recipients: RecipientSink | None = None,
    ) -> None:
        self._compiler = compiler
        self._records = records
        self._write_line = write_line
        self._recipients = recipients
        #: Records read (complete once iteration ends, however it ends).
        self.rows = 0
        #: Set False to stop writing bodies (e.g. once a failure voids the output);
        #: the failed recipients still come out.
        self.writing = True
        #: The written bodies whose `to` has no known form (for a warning).
        self.key_forms = KeyForms()

    def __iter__(self) -> Iterator[Result]:
        records, compiler = self._records, self._compiler
        if isinstance(records, RecordSource):
            records.key_columns(compiler.key_names)  # a numeric .xlsx cell there: a bad record
        columns = records.columns if isinstance(records, RecordSource) else None
        row_body = compiler.row_function(columns) if columns is not None else None
        lane = records.rows() if row_body is not None else None  # type: ignore[attr-defined]
        if lane is None:
            yield from self._results()
            return
        assert row_body is not None and columns is not None
        write, dumps, newline = self._write_line, orjson.dumps, orjson.OPT_APPEND_NEWLINE
        sink = self._recipients
        queue = sink.queue if sink is not None else None
        enqueue = queue.append if queue is not None else None
        batch = sink.batch if sink is not None else 0
        name = records.name  # type: ignore[attr-defined]
        number = 0
        note_key, key_form = self.key_forms.note, KeyForms.plain
        odd_keys, note_taken = compiler.odd_keys, self.key_forms.note_taken
        odd_keys.clear()
        try:
            for item in lane:
                if isinstance(item, BadRecord):
                    number = item.number
                    yield compiler.compile_record(item)
                    continue
                number, line, row = item
                body = row_body(row)
                if odd_keys:  # the fast way took a `to` of no known form
                    odd = odd_keys.pop()
                    if body is not None:  # else the careful way below notes it, if it passes
                        note_taken(odd, number, name, line)
                if body is None:
                    result = compiler.careful(
                        dict(zip(columns, row, strict=True)), number, Location(name, line)
                    )
                    if not result.ok:
                        yield result
                        continue
                    body = result.body
                    assert body is not None
                    # A key the fast way did not take (e.g. with a failing field) is noted here.
                    to = body.get("to")
                    if to.__class__ is not str or key_form(to) is None:
                        note_key(to, number, Location(name, line))
                if enqueue is not None:
                    enqueue((number, line, body["to"]))
                    if len(queue) >= batch:  # type: ignore[arg-type]
                        sink.pack()  # type: ignore[union-attr]
                if self.writing:
                    write(dumps(body, option=newline))
        finally:
            self.rows = number

    def _results(self) -> Iterator[Result]:
        write, dumps, newline = self._write_line, orjson.dumps, orjson.OPT_APPEND_NEWLINE
        for result in self._compiler.compile_records(self._records):
            self.rows += 1
            if not result.ok:
                yield result
                continue
            assert result.body is not None
            self.key_forms.note(result.body.get("to"), result.row, result.data_location)
            if self._recipients is not None:
                where = result.data_location
                self._recipients.note(
                    result.row or self.rows, where.line if where else None, result.body["to"]
                )
            if self.writing:
                write(dumps(result.body, option=newline))


def _file_order(problem: Problem) -> tuple[int, int]:
    location = problem.location
    if location is None:
        return (0, 0)
    return (location.line or 0, location.column or 0)


def compile_file(
    definition: str | Path,
    data: str | Path | None = None,
    *,
    data_format: str | None = None,
    delimiter: str | None = None,
) -> Iterator[Result]:
    """Compile a definition file for every record of a data file (or once, without data).

    Raises `DefinitionError` for problems of the definition itself and `DataError`
    when the data cannot be read; per-recipient problems are in the results.
    """
    compiler = Compiler(definition)
    if data is None:
        yield compiler.compile()
        return
    with open_data(data, data_format, delimiter) as source:
        yield from compiler.compile_records(source)


def open_data(
    data: str | Path,
    data_format: str | None,
    delimiter: str | None,
    *,
    stdin: IO[bytes] | None = None,
    reading: ReadOptions | None = None,
) -> RecordSource:
    """The records of `data` ("-": standard input, or `stdin` when given).

    `reading`: encoding, worksheet and record size cap (defaults when None).
    """
    reading = reading or ReadOptions()
    kwargs: dict[str, Any] = {
        "format": data_format,
        "stdin": stdin,
        "encoding": reading.encoding,
        "sheet": reading.sheet,
        "max_record_size": reading.max_record_size,
    }
    if delimiter is not None:
        kwargs["delimiter"] = delimiter
    return open_records(data, **kwargs)

"""Sandboxed Jinja rendering of a definition's body, one recipient at a time.

Every string leaf is looked at once, when the `Renderer` is built:

- no Jinja markers: a constant;
- exactly `{{ name }}`: a dictionary lookup, no Jinja at all (the common case);
- exactly one `{{ expression }}`: a compiled expression that keeps its value's type;
- anything else: a compiled template that renders to text.

Recipient values only ever reach Jinja as *data*, never as template source, so a
name holding `{{ }}`, quotes, colons or newlines comes out literally.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, nodes
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from compiler.definition import BODY_KEYS, Definition, FieldPath, Leaf
from compiler.errors import DefinitionError, Location, Problem, describe, type_name
from compiler.resources import resource_dir

#: Variable name under which a template sees the whole recipient record.
ROW = "row"

_MARKERS = ("{{", "{%", "{#")
_INTEGER = re.compile(r"[+-]?\d+")
_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")

Context = dict[str, Any]
Problems = list[Problem]
#: Builds one part of the body for one recipient, appending to the problems list.
Builder = Callable[[Context, Problems], Any]


class _Failed:
    """Stands in for a leaf that could not be rendered for this recipient."""

    def __repr__(self) -> str:
        return "<failed>"


FAILED = _Failed()


class _Dynamic:
    """Stands in for a leaf whose value is only known per recipient."""

    def __repr__(self) -> str:
        return "<per recipient>"


#: The value of every per-recipient leaf in `Renderer.skeleton()`.
DYNAMIC = _Dynamic()


def make_environment(search_path: list[Path]) -> ImmutableSandboxedEnvironment:
    """The one Jinja environment factory.

    Sandboxed and immutable because definitions are shared between teams and the
    data is untrusted; StrictUndefined because a misspelt column must be an error,
    not an empty string in a customer's message; no autoescape because the output
    is JSON text, not HTML (JSON escaping happens at serialization).
    """
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader([str(p) for p in search_path]),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True, slots=True)
class LeafRenderer:
    """How one dynamic string leaf becomes a value."""

    path: FieldPath
    location: Location
    source: str
    run: Callable[[Context], Any]
    #: "integer" or "number" when the API wants a number here.
    numeric: str | None


class Renderer:
    """Renders a definition's body for one recipient's fields."""

    def __init__(self, definition: Definition, numeric_fields: Mapping[str, str]) -> None:
        self.definition = definition
        self._numeric = numeric_fields
        self.env = make_environment([definition.path.parent, resource_dir("templates")])
        self.constants: dict[str, Any] = dict(definition.vars)
        #: Positions of values that do not come from the body's own text.
        self._locations: dict[FieldPath, Location] = {}
        self.leaves: list[LeafRenderer] = []
        problems: Problems = []
        self._load_imports(problems)
        body = dict(definition.body)
        self._fallbacks: dict[str, Any] = {}
        for key in ("from", "to"):
            if key not in body:
                self._fallbacks[key] = self._fallback(key, problems)
        self._build = self._compile(body, (), problems)
        if problems:
            raise DefinitionError(problems)

    # -- building ---------------------------------------------------------

    def _load_imports(self, problems: Problems) -> None:
        for alias, target in self.definition.imports.items():
            where = self.definition.values[("imports", alias)].location
            try:
                template = self.env.get_template(target)
                self.env.globals[alias] = template.make_module(vars=self.constants)
            except TemplateNotFound:
                searched = ", ".join(self.env.loader.searchpath)  # type: ignore[union-attr]
                problems.append(
                    Problem(
                        f"template file not found (searched {searched})",
                        where,
                        path=f"imports.{alias}",
                        found=repr(target),
                        code="import",
                    )
                )
            except JinjaSyntaxError as exc:
                problems.append(
                    Problem(
                        f"Jinja syntax error: {exc.message}",
                        Location(exc.filename or target, exc.lineno, None),
                        path=f"imports.{alias}",
                        code="jinja-syntax",
                    )
                )
            except TemplateError as exc:
                problems.append(
                    Problem(
                        f"template failed: {exc}", where, path=f"imports.{alias}", code="render"
                    )
                )

    def _fallback(self, key: str, problems: Problems) -> Any:
        """`from`/`to` left out of the body: the record's column, then `defaults`."""
        default = self.definition.defaults.get(key)
        path: FieldPath = ("defaults", key)
        if path in self.definition.values:
            self._locations[(key,)] = self.definition.values[path].location
        if isinstance(default, str) and _has_markers(default):
            return self._leaf(default, (key,), problems, self.definition.values[path])
        return default

    def _compile(self, value: Any, path: FieldPath, problems: Problems) -> Builder:
        """A function that builds `value` for one recipient."""
        if isinstance(value, dict):
            built = [
                (key, self._compile(child, (*path, key), problems)) for key, child in value.items()
            ]
            if path == ():
                built = self._with_fallbacks(built)
            if all(getattr(b, "static", False) for _, b in built):
                return _static({k: b(None, None) for k, b in built})  # type: ignore[arg-type]

            def build_dict(ctx: Context, problems: Problems) -> dict[str, Any]:
                return {key: build(ctx, problems) for key, build in built}

            return build_dict
        if isinstance(value, list):
            items = [self._compile(child, (*path, i), problems) for i, child in enumerate(value)]
            if all(getattr(b, "static", False) for b in items):
                return _static([b(None, None) for b in items])  # type: ignore[arg-type]

            def build_list(ctx: Context, problems: Problems) -> list[Any]:
                return [build(ctx, problems) for build in items]

            return build_list
        if isinstance(value, str) and _has_markers(value):
            leaf = self._leaf(value, path, problems, self.definition.values.get(path))
            return self._leaf_builder(leaf) if leaf is not None else _static(FAILED)
        return _static(value)

    def _with_fallbacks(self, built: list[tuple[str, Builder]]) -> list[tuple[str, Builder]]:
        """The body's keys in the API's order (`from`, `to`, `message`), fallbacks included."""
        by_key = dict(built)
        for key, default in self._fallbacks.items():
            by_key[key] = self._fallback_builder(key, default)
        return [(key, by_key[key]) for key in BODY_KEYS if key in by_key]

    def _fallback_builder(self, key: str, default: Any) -> Builder:
        location = self._locations.get((key,), Location(self.definition.name, 1, 1))
        default_leaf = default if isinstance(default, LeafRenderer) else None
        # The record's column is read like `{{ key }}`, so its value gets the same checks.
        column = LeafRenderer((key,), location, f"{{{{ {key} }}}}", _lookup(key), None)

        def build(ctx: Context, problems: Problems) -> Any:
            row = ctx[ROW]
            if isinstance(row, _Skeleton):
                return DYNAMIC  # a recipient column may supply it
            if row.get(key) not in (None, ""):
                return self._run_leaf(column, ctx, problems)
            if default_leaf is not None:
                return self._run_leaf(default_leaf, ctx, problems)
            if default is not None:
                return default
            problems.append(
                Problem(
                    f"no `{key}` for this recipient: add `{key}:` to the definition, "
                    f"a `{key}` column to the data, or `defaults.{key}`",
                    location,
                    path=key,
                    code="required",
                )
            )
            return FAILED

        return build

    def _leaf(
        self, source: str, path: FieldPath, problems: Problems, leaf: Leaf | None
    ) -> LeafRenderer | None:
        location = leaf.location if leaf else Location(self.definition.name, 1, 1)
        try:
            tree = self.env.parse(source)
        except JinjaSyntaxError as exc:
            problems.append(_syntax_problem(exc, leaf, location, path))
            return None
        numeric = self._numeric.get(path[-1]) if path and isinstance(path[-1], str) else None
        expression = _single_expression(tree, source)
        if expression is None:
            template = self.env.from_string(tree)
            run: Callable[[Context], Any] = template.render
        elif isinstance(expression, str):
            run = _lookup(expression)
        else:
            run = _expression(self.env.compile_expression(expression[0], undefined_to_none=False))
        return LeafRenderer(path, location, source, run, numeric)

    def _leaf_builder(self, leaf: LeafRenderer) -> Builder:
        self.leaves.append(leaf)

        def build(ctx: Context, problems: Problems) -> Any:
            return self._run_leaf(leaf, ctx, problems)

        return build

    # -- rendering --------------------------------------------------------

    def context(self, fields: Mapping[str, Any]) -> Context:
        """The variables templates see for one recipient."""
        ctx = {**self.constants, **fields}
        ctx[ROW] = fields
        return ctx

    def render(self, fields: Mapping[str, Any]) -> tuple[Any, Problems]:
        """The body for one recipient, and what went wrong (empty when it worked)."""
        problems: Problems = []
        body = self._build(self.context(fields), problems)
        return body, problems

    def skeleton(self) -> Any:
        """The body with every per-recipient value replaced by `DYNAMIC`."""
        return self._build({ROW: _Skeleton()}, _Discard())

    def location(self, path: FieldPath) -> Location:
        """Where the value at `path` comes from in the definition (or its defaults)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self._locations:
                return self._locations[path[:end]]
            if path[:end] in self.definition.values:
                return self.definition.values[path[:end]].location
        return Location(self.definition.name, 1, 1)

    def _run_leaf(self, leaf: LeafRenderer, ctx: Context, problems: Problems) -> Any:
        if isinstance(ctx.get(ROW), _Skeleton):
            return DYNAMIC
        try:
            value = leaf.run(ctx)
            if isinstance(value, Undefined):
                value._fail_with_undefined_error()
            value = to_json_value(value)
            if leaf.numeric is not None and isinstance(value, str):
                value = to_number(value, leaf.numeric)
            return value
        except UndefinedError as exc:
            problems.append(self._undefined_problem(exc, leaf, ctx))
        except _NotANumber as exc:
            problems.append(
                Problem(
                    f"expected {'a whole number' if leaf.numeric == 'integer' else 'a number'}",
                    leaf.location,
                    path=_dotted(leaf.path),
                    found=describe(exc.text),
                    code="type",
                )
            )
        except _NotJson as exc:
            problems.append(
                Problem(
                    "the value cannot be written as JSON",
                    leaf.location,
                    path=_dotted(leaf.path),
                    found=exc.what,
                    code="type",
                )
            )
        except Exception as exc:
            problems.append(
                Problem(
                    f"template failed: {_exception_text(exc)}",
                    leaf.location,
                    path=_dotted(leaf.path),
                    code="render",
                )
            )
        return FAILED

    def _undefined_problem(self, exc: UndefinedError, leaf: LeafRenderer, ctx: Context) -> Problem:
        match = _UNDEFINED_NAME.match(str(exc.message))
        row = ctx.get(ROW) or {}
        available = [name for name in (*self.constants, *row) if name != ROW]
        if match is None:
            return Problem(
                f"undefined value: {exc.message}",
                leaf.location,
                path=_dotted(leaf.path),
                code="undefined",
            )
        name = match.group(1)
        close = difflib.get_close_matches(name, available, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        listing = ", ".join(available) if available else "none: no data was given"
        return Problem(
            f"undefined variable `{name}`{hint} (available: {listing})",
            leaf.location,
            path=_dotted(leaf.path),
            code="undefined",
        )


class _Skeleton(dict):  # type: ignore[type-arg]
    """Marks a skeleton build: every dynamic leaf yields DYNAMIC."""


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        pass


def _static(value: Any) -> Builder:
    def build(ctx: Context, problems: Problems) -> Any:
        return value

    build.static = True  # type: ignore[attr-defined]
    return build


def _lookup(name: str) -> Callable[[Context], Any]:
    """`{{ name }}` without Jinja: a missing name raises like StrictUndefined would."""

    def run(ctx: Context) -> Any:
        try:
            return ctx[name]
        except KeyError:
            raise UndefinedError(f"'{name}' is undefined") from None

    return run


def _expression(compiled: Callable[..., Any]) -> Callable[[Context], Any]:
    def run(ctx: Context) -> Any:
        return compiled(**ctx)

    return run


def _has_markers(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def _single_expression(tree: nodes.Template, source: str) -> str | tuple[str] | None:
    """For a leaf that is one `{{ ... }}` and nothing else: the variable name
    (a plain lookup) or a 1-tuple with the expression source; otherwise None."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    output = tree.body[0].nodes
    if len(output) != 1 or isinstance(output[0], nodes.TemplateData):
        return None
    text = source.strip()
    if not (text.startswith("{{") and text.endswith("}}")) or text.count("{{") != 1:
        return None
    inner = text[2:-2].strip("-+").strip()
    if isinstance(output[0], nodes.Name) and inner == output[0].name:
        return inner
    return (inner,)


def _syntax_problem(
    exc: JinjaSyntaxError, leaf: Leaf | None, location: Location, path: FieldPath
) -> Problem:
    # Jinja counts lines inside the string; the file position is the leaf's
    # start plus that offset (a block scalar's text starts on the next line).
    line = location.line
    column = location.column
    if line is not None and exc.lineno:
        offset = exc.lineno - 1 + (1 if leaf is not None and leaf.block else 0)
        if offset:
            line += offset
            column = None
    return Problem(
        f"Jinja syntax error: {exc.message}",
        Location(location.file, line, column),
        path=_dotted(path),
        code="jinja-syntax",
    )


class _NotANumber(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


class _NotJson(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


def to_number(text: str, kind: str) -> int | float:
    """A numeric string (as CSV gives every value) as the number the API wants."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if kind == "number":
        try:
            number = float(stripped)
        except ValueError:
            raise _NotANumber(text) from None
        if math.isfinite(number):
            return number
    raise _NotANumber(text)


def to_json_value(value: Any) -> Any:
    """Plain JSON values from what an expression returned (Markup, tuples, …)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if not value.isascii():
            _check_encodable(value)
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson(repr(value))
        return value
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    raise _NotJson(type_name(value))


def _check_encodable(text: str) -> None:
    # JSON input may spell a lone UTF-16 surrogate ("\\ud800"); no UTF-8 body can carry it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _NotJson(
            f"an unpaired surrogate {text[exc.start]!a} at character {exc.start + 1}"
        ) from None


def _exception_text(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out

"""A leaf's failure for one recipient (`LeafFailed`), in the author's words.

Jinja's own messages name Python (`'dict object' has no attribute 'x'`,
`TypeError: ...`); these say which column, field, filter or expression, what it
was given and what to write instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Undefined

from linepress.definition import FieldPath, Leaf
from linepress.errors import Location, Problem, describe, format_path
from linepress.render.jsontext import FilterFailed, describe_kind, plain_reason
from linepress.render.reach import OutsideReach
from linepress.render.runners import ROW, Context, LeafRenderer, expression_runner

RECURSION = "the template nests too deeply: a macro that calls itself without end?"


_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")


class LeafFailed(Exception):
    """A leaf could not be evaluated for this recipient; carries the message."""

    def __init__(self, message: str, found: str | None = None, code: str = "render") -> None:
        super().__init__(message)
        self.message = message
        self.found = found
        self.code = code


#: `{{ expression }}` in a leaf's source: group 1 is the expression.
EXPRESSION = re.compile(r"\{\{[-+]?\s*(.*?)\s*[-+]?\}\}", re.DOTALL)


#: A name and its attributes or items inside an expression (`name.first`, `row["a b"]`).
_OPERAND = re.compile(r"""[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[[^\]]*\])*""")


def _culprit(leaf: LeafRenderer, ctx: Context, value: Any) -> str | None:
    """The expression in the leaf that gives `value`: a whole `{{ … }}`, else a name in one."""
    if leaf.env is None:
        return None
    for match in EXPRESSION.finditer(leaf.source):
        candidates = [match.group(1), *dict.fromkeys(_OPERAND.findall(match.group(1)))]
        for candidate in candidates:
            try:
                found = expression_runner(leaf.env, leaf.env.compile_expression(candidate))(ctx)
            except Exception:  # only for wording: an expression that fails is not the one
                continue
            if found is value or (found.__class__ is value.__class__ and found == value):
                return str(candidate)
    return None


def not_text_failure(leaf: LeafRenderer, ctx: Context, value: Any) -> LeafFailed:
    """An object, a list or another non-text value where text is wanted, worded with
    the expression that gave it."""
    expression = _culprit(leaf, ctx, value)
    shown = "the value" if expression is None else f"`{{{{ {expression} }}}}`"
    if isinstance(value, Mapping):
        names = [str(key) for key in value]
        hint = (
            f"; print one of them, e.g. `{{{{ {expression}.{names[0]} }}}}`"
            if expression is not None and names
            else ""
        )
        return LeafFailed(
            f"{shown} is an object, not text (it has the fields {', '.join(names[:8]) or 'none'})"
            + hint,
            found=describe(value),
            code="type",
        )
    kind = describe_kind(value)
    if kind != "a list":
        return LeafFailed(f"{shown} is {kind}, not text", code="type")
    example = expression or "items"
    return LeafFailed(
        f"{shown} is a list, not text: print one item (`{{{{ {example}[0] }}}}`) or join "
        f"them (`{{{{ {example} | join(', ') }}}}`)",
        found=describe(value),
        code="type",
    )


def filter_failure(exc: FilterFailed) -> LeafFailed:
    """A filter or test that raised, named, with what it was given."""
    if exc.reason.startswith("unknown "):  # a filter named in `map('uppr')`: that is all
        return LeafFailed(exc.reason)
    found = None if isinstance(exc.value, Undefined) else describe(exc.value)
    return LeafFailed(f"the {exc.kind} `{exc.name}` failed: {exc.reason}", found=found)


def undefined_message(exc: UndefinedError, ctx: Context) -> str:
    row = ctx.get(ROW)
    row = row if isinstance(row, Mapping) else {}
    match = _UNDEFINED_NAME.match(str(exc.message))
    if match is None:
        return _missing_member(str(exc.message), ctx, row)
    name = match.group(1)
    # `{{ member-tier }}` is `member` minus `tier`: the column needs row["..."].
    dashed = [c for c in map(str, row) if "-" in c and c.split("-", 1)[0] == name]
    if dashed:
        return (
            f"undefined variable `{name}`: `{{{{ {dashed[0]} }}}}` reads as `{name}` minus "
            f'`{dashed[0].split("-", 1)[1]}`; write {{{{ row["{dashed[0]}"] }}}}'
        )
    available = _available(ctx, row)
    close = difflib.get_close_matches(name, available, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    listing = ", ".join(available) if available else "none: no data was given"
    return f"undefined variable `{name}`{hint} (available: {listing})"


#: Jinja's words for a missing attribute or item of an object.
_NO_MEMBER = re.compile(r"^'(?P<owner>[^']+)' has no (?:attribute|element) '(?P<name>.*)'$")


def _missing_member(message: str, ctx: Context, row: Mapping[str, Any]) -> str:
    """`x.y` / `x["y"]` where x has no y: said in the author's terms."""
    match = _NO_MEMBER.match(message)
    if match is None:
        return f"undefined value: {message}"
    owner, name = match["owner"], match["name"]
    if owner.endswith("TemplateModule object"):
        # An imported macro file reached in a way the static check cannot see.
        return f"no macro `{name}` in the imported file"
    if owner == "dict object":
        columns = [str(c) for c in row]
        if row and name not in row:
            close = difflib.get_close_matches(name, columns, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            return f"no column or key `{name}`{hint} (the data's columns: {', '.join(columns)})"
        return f"no key `{name}` in this value"
    return f"undefined value: `{name}` is missing ({message})"


def _available(ctx: Context, row: Mapping[str, Any]) -> list[str]:
    # Columns in file order first, then constants and loop variables.
    names = [str(name) for name in row]
    names += [name for name in ctx if name not in row and name != ROW]
    return names


def syntax_problem(
    exc: JinjaSyntaxError,
    leaf: Leaf | None,
    location: Location,
    path: FieldPath,
    prefix: str = "Jinja syntax error: ",
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
        f"{prefix}{exc.message}",
        Location(location.file, line, column),
        path=format_path(path),
        code="jinja-syntax",
    )


def exception_text(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, OutsideReach):  # already a sentence for the author
        return text
    if isinstance(exc, SecurityError):  # the sandbox's own words say what was refused
        return f"SecurityError: {text}"
    return plain_reason(exc)

"""A leaf's failure for one recipient (`LeafFailed`), in the author's words.

Jinja's own messages name Python (`'dict object' has no attribute 'x'`,
`TypeError: ...`); these say which column, field, filter or expression, what it
was given and what to write instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.runtime import Undefined
from jinja2.tests import TESTS as DEFAULT_TESTS

from linepress.definition import FieldPath, Leaf
from linepress.errors import Location, Problem, describe, format_path
from linepress.render.jsontext import FilterFailed, describe_kind, plain_reason
from linepress.render.pyforms import OperandError
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
#: A call of a name (`range(3)`): needs no brackets around it in a hint.
_CALL = re.compile(r"[A-Za-z_]\w*\([^()]*\)")
#: `{% set x = expression %}` and `{% for x in expression %}` in a leaf's source.
_SET = re.compile(r"\{%[-+]?\s*set\s+([A-Za-z_]\w*)\s*=\s*(.*?)\s*[-+]?%\}", re.DOTALL)
_FOR = re.compile(r"\{%[-+]?\s*for\s+([A-Za-z_]\w*)\s+in\s+(.*?)\s*[-+]?%\}", re.DOTALL)


def _plain(value: Any) -> Any:
    """A value compared by content: tuples and generators as lists (a few items)."""
    if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
        return value
    if isinstance(value, Undefined):
        return None
    return [_plain(item) for item in islice(value, 50)]


def _same(found: Any, value: Any) -> bool:
    if found is value:
        return True
    try:
        return bool(found.__class__ is value.__class__ and found == value) or bool(
            not isinstance(found, str | int | float | Mapping)
            and found is not None
            and _plain(found) == _plain(value)
        )
    except Exception:  # only for wording
        return False


def _evaluate(leaf: LeafRenderer, source: str, ctx: Context) -> Any:
    assert leaf.env is not None
    return expression_runner(leaf.env, leaf.env.compile_expression(source))(ctx)


def _scope(leaf: LeafRenderer, ctx: Context) -> tuple[Context, dict[str, str]]:
    """The context with the leaf's `{% set %}` names evaluated in order (for wording),
    and where each name came from: its `set` expression, or "an item of `xs`"."""
    origins: dict[str, str] = {}
    scope = dict(ctx)
    for match in _FOR.finditer(leaf.source):
        origins.setdefault(match.group(1), f"an item of `{match.group(2)}`")
    for match in _SET.finditer(leaf.source):
        name, source = match.groups()
        try:
            scope[name] = _evaluate(leaf, source, scope)
        except Exception:  # only for wording: a set that fails here is not named
            continue
        origins[name] = f"set from `{source}`"
    return scope, origins


def _culprit(leaf: LeafRenderer, ctx: Context, value: Any) -> tuple[str, str] | None:
    """Names the expression in the leaf that gives `value`: a whole `{{ … }}`, else a
    name in one, else a loop variable holding it; with where a `set` name came from
    and the recipient's field it reads (`x`, set from `v.a`, the field `v`)."""
    if leaf.env is None:
        return None
    scope, origins = _scope(leaf, ctx)
    for match in EXPRESSION.finditer(leaf.source):
        candidates = [match.group(1), *dict.fromkeys(_OPERAND.findall(match.group(1)))]
        for candidate in candidates:
            try:
                found = _evaluate(leaf, candidate, scope)
            except Exception:  # only for wording: an expression that fails is not the one
                continue
            if _same(found, value):
                return str(candidate), _origin(candidate, origins, ctx)
    for match in _FOR.finditer(leaf.source):  # `{% for x in xs %}{{ x }}`: an item
        name, source = match.groups()
        try:
            items = _plain(_evaluate(leaf, source, scope))
        except Exception:
            continue
        if isinstance(items, list) and any(_same(item, value) for item in items):
            return name, _origin(name, origins, ctx)
    return None


def _origin(expression: str, origins: Mapping[str, str], ctx: Context) -> str:
    """`` (set from `v.a`, the recipient's field `v`)`` for a name the leaf set."""
    root = re.match(r"[A-Za-z_]\w*", expression)
    if root is None:
        return ""
    name = root.group(0)
    row = ctx.get(ROW)
    fields = row if isinstance(row, Mapping) else {}
    origin = origins.get(name)
    if origin is None:
        return ""  # the expression names the field itself
    source = origin.split("`")[1] if "`" in origin else ""
    field = re.match(r"[A-Za-z_]\w*", source)
    read = (
        f", the recipient's field `{field.group(0)}`" if field and field.group(0) in fields else ""
    )
    return f" ({origin}{read})"


def _shown(culprit: tuple[str, str] | None) -> str:
    if culprit is None:
        return "the value"
    return f"`{{{{ {culprit[0]} }}}}`{culprit[1]}"


def _bare(culprit: tuple[str, str] | None) -> str | None:
    """The expression alone, parenthesised unless a plain name (for `…[0]`, `… | join`)."""
    if culprit is None:
        return None
    name = culprit[0]
    return name if _OPERAND.fullmatch(name) or _CALL.fullmatch(name) else f"({name})"


def not_text_failure(leaf: LeafRenderer, ctx: Context, value: Any) -> LeafFailed:
    """An object, a list or another non-text value where text is wanted, worded with
    the expression that gave it."""
    culprit = _culprit(leaf, ctx, value)
    shown, expression = _shown(culprit), _bare(culprit)
    if isinstance(value, Mapping):
        names = [str(key) for key in value]
        hint = (
            f"; print one of them, e.g. `{{{{ {expression}.{names[0]} }}}}`"
            if expression is not None and names and names[0].isidentifier()
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
        found=describe(_plain(value)),
        code="type",
    )


def operand_failure(leaf: LeafRenderer, ctx: Context, exc: OperandError) -> LeafFailed:
    """`nickname + 'x'` with `nickname: null`: which value, what it is, what to write."""
    operands = [exc.left] if exc.unary else [exc.left, exc.right]
    odd = [v for v in operands if _not_plain(v)]
    op = exc.operator
    if not odd and exc.unary:
        return LeafFailed(f"`{op}` needs a number, and found {_kind(exc.left)}", code="type")
    if not odd:  # text with a number: `+` adds or joins, never both
        kinds = " and ".join(_kind(v) for v in operands)
        fix = "; join them as text with `~`" if op == "+" else ""
        return LeafFailed(f"`{op}` cannot combine {kinds}{fix}", code="type")
    bad = odd[0]
    culprit = _culprit(leaf, ctx, bad)
    shown, expression = _shown(culprit), _bare(culprit) or "value"
    needs = "text or a number" if op in ("+", "*") else "a number"
    fix = ""
    if bad is None:
        what = "null (empty in this row)"
        fix = (
            f"; to print nothing for it, join with `~` (`{expression} ~ '…'`)"
            if op == "+"
            else f"; guard it: `{{% if {expression} is not none %}}…{{% endif %}}`"
        )
    elif bad.__class__ is bool:
        what = "true" if bad else "false"
    elif isinstance(bad, Mapping):
        what = f"an object (it has the fields {', '.join(map(str, list(bad)[:8])) or 'none'})"
    else:
        what, fix = "a list", f"; use one item (`{expression}[0]`)"
    return LeafFailed(
        f"{shown} is {what}, and `{op}` needs {needs}{fix}",
        found=describe(_plain(bad)),
        code="type",
    )


def _not_plain(value: Any) -> bool:
    return value is None or value.__class__ is bool or not isinstance(value, int | float | str)


def _kind(value: Any) -> str:
    return "text" if isinstance(value, str) else "a number"


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


#: Jinja's words for an unknown filter or test.
_NO_SUCH = re.compile(r"^No (filter|test) named '(.*)'\.?$")


def _late_syntax(exc: JinjaSyntaxError) -> str:
    """A file loaded while rendering (`{% import %}`, `{% include %}`) that does not
    compile: its name and line, and an unknown filter or test with the closest name."""
    where = f"{exc.name or exc.filename or 'the imported file'}, line {exc.lineno}"
    match = _NO_SUCH.match(str(exc.message))
    if match is None:
        return f"{where}: {exc.message}"
    kind, name = match.groups()
    known = list(DEFAULT_FILTERS if kind == "filter" else DEFAULT_TESTS)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"{where}: unknown {kind} `{name}`{hint}"


#: Jinja's words for a missing attribute or item of an object.
_NO_MEMBER = re.compile(
    r"^'?(?P<owner>[^']+?)'? has no (?P<what>attribute|element) (?P<name>'.*'|[^']*)$"
)
#: Jinja's name of the value that lacks the member, in the author's words.
_OWNERS = {
    "None": "null (empty in this row)",
    "bool object": "true/false",
    "int object": "a whole number",
    "float object": "a number",
    "str object": "text",
    "list object": "a list",
    "tuple object": "a list",
    "dict object": "an object",
}


def _missing_member(message: str, ctx: Context, row: Mapping[str, Any]) -> str:
    """`x.y` / `x["y"]` where x has no y: said in the author's terms."""
    match = _NO_MEMBER.match(message)
    if match is None:
        return f"undefined value: {message}"
    owner, what, name = match["owner"], match["what"], match["name"]
    if name.startswith("'") and name.endswith("'"):
        name = name[1:-1]
    if owner.endswith("TemplateModule object"):
        # An imported macro file reached in a way the static check cannot see.
        return f"no macro `{name}` in the imported file"
    if owner == "dict object" and what == "attribute":
        columns = [str(c) for c in row]
        if row and name not in row:
            close = difflib.get_close_matches(name, columns, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            return f"no column or key `{name}`{hint} (the data's columns: {', '.join(columns)})"
        return f"no key `{name}` in this value"
    member = f"field `{name}`" if what == "attribute" else f"item {name}"
    kind = _OWNERS.get(owner, owner)
    if owner == "list object" and what == "element":
        return f"no {member}: the list is shorter"
    if owner == "None":
        return (
            f"no {member} in null: the value it is read from is empty in this row "
            "(guard it with `{% if … %}`)"
        )
    return f"no {member} in {kind}"


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
    if isinstance(exc, JinjaSyntaxError):  # an imported or included file, compiled late
        return _late_syntax(exc)
    if isinstance(exc, OutsideReach):  # already a sentence for the author
        return text
    if isinstance(exc, SecurityError):  # the sandbox's own words say what was refused
        return f"SecurityError: {text}"
    return plain_reason(exc)

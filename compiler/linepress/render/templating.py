"""Jinja for one string leaf: compiled once, evaluated per recipient, failures located.

Every string leaf is looked at once, when a definition is loaded:

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
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Undefined

from linepress.definition import FieldPath, Leaf, describe_integer, in_json_range
from linepress.errors import Location, Problem, describe, format_path, type_name
from linepress.render.jsontext import (
    FilterFailed,
    NotText,
    describe_kind,
    plain_reason,
    printable,
    text_of,
)
from linepress.render.limits import MAX_TEXT, LimitedEnvironment, RenderLimit
from linepress.render.reach import OutsideReach, ReachLoader, unknown_names

#: Variable name under which a template sees the whole recipient record.
ROW = "row"

_MARKERS = ("{{", "{%", "{#")
# ASCII only: `int()`/`float()` would also take Arabic-Indic or full-width digits and `1_0`.
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")

Context = dict[str, Any]

_RECURSION = "the template nests too deeply: a macro that calls itself without end?"


def make_environment(search_path: list[Path]) -> LimitedEnvironment:
    """The one Jinja environment factory.

    Sandboxed and immutable because definitions are shared between teams and the
    data is untrusted; with limits per render (`linepress.render.limits`) because a
    template can still run away; StrictUndefined because a misspelt column must be
    an error, not an empty string in a customer's message; no autoescape because
    the output is JSON text, not HTML (JSON escaping happens at serialization).
    Templates are loaded only from `search_path`, never through a symlink leading
    out of it (`ReachLoader`).
    """
    return LimitedEnvironment(
        loader=ReachLoader([str(p) for p in search_path]),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        # JSON values print as a CSV cell would hold them, never as Python (`None`, `True`).
        finalize=printable,
    )


def has_markers(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


@dataclass(frozen=True, slots=True)
class LeafRenderer:
    """How one dynamic string leaf becomes a value."""

    #: Where the leaf sits in the definition file (its YAML path).
    path: FieldPath
    location: Location
    source: str
    run: Callable[[Context], Any]
    #: "integer" or "number" when the API wants a number here.
    numeric: str | None
    #: A general Jinja template that renders to text: such leaves can share one render.
    batchable: bool = False
    #: `{{ name }}`: the name looked up (what `run` does, for generated code).
    lookup: str | None = None
    #: Plain text and names (`Hello {{ name }}`): what `run` joins, for generated code.
    parts: tuple[tuple[bool, str], ...] | None = None
    #: The API wants a string here: a number, boolean or null becomes its text.
    text: bool = False
    #: The environment it was compiled in (to word failures with its expressions).
    env: LimitedEnvironment | None = None


class LeafFailed(Exception):
    """A leaf could not be evaluated for this recipient; carries the message."""

    def __init__(self, message: str, found: str | None = None, code: str = "render") -> None:
        super().__init__(message)
        self.message = message
        self.found = found
        self.code = code


def compile_leaf(
    env: LimitedEnvironment,
    source: str,
    path: FieldPath,
    leaf: Leaf | None,
    fallback_location: Location,
    numeric: str | None,
    *,
    text: bool = False,
) -> LeafRenderer | Problem:
    """Compile a string leaf, or the located syntax problem.

    `numeric` ("integer"/"number"): numeric text is converted; `text`: the API wants
    a string, so a single expression's number, boolean or null is written as text.
    """
    location = leaf.location if leaf else fallback_location
    try:
        tree = env.parse(source)
    except JinjaSyntaxError as exc:
        return _syntax_problem(exc, leaf, location, path)
    except RecursionError:  # thousands of nested brackets: Jinja's parser recurses
        return Problem(
            "the template is nested too deeply",
            location,
            path=format_path(path),
            code="jinja-syntax",
        )
    unknown = unknown_names(env, tree)
    if unknown is not None:
        message, lineno = unknown
        return _syntax_problem(JinjaSyntaxError(message, lineno), leaf, location, path, prefix="")
    expression = _single_expression(tree, source, env.globals)
    run: Callable[[Context], Any]
    parts = _plain_parts(tree, env.globals)
    try:
        if expression is None and parts is not None:
            run = _concatenation(parts)
        elif expression is None:
            run = limited_render(env, env.from_string(tree))
        elif isinstance(expression, str):
            run = _lookup(expression)
        else:
            run = _expression(env, env.compile_expression(expression[0], undefined_to_none=False))
    except JinjaSyntaxError as exc:
        return _syntax_problem(exc, leaf, location, path)
    except Exception as exc:  # compiling failed in Jinja's own way (e.g. nested too deeply)
        return Problem(
            f"the template cannot be compiled: {_exception_text(exc)}",
            location,
            path=format_path(path),
            code="jinja-syntax",
        )
    batchable = expression is None and parts is None
    return LeafRenderer(
        path,
        location,
        source,
        run,
        numeric,
        batchable,
        lookup=expression if isinstance(expression, str) else None,
        parts=tuple(parts) if expression is None and parts is not None else None,
        text=text,
        env=env,
    )


def compile_expression(
    env: LimitedEnvironment,
    source: str,
    path: FieldPath,
    leaf: Leaf | None,
    fallback: Location,
) -> LeafRenderer | Problem:
    """A bare expression (`$if: coupon`), or `{{ coupon }}` written out in full."""
    text = source.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        text = "{{ " + text + " }}"
    return compile_leaf(env, text, path, leaf, fallback, None)


def evaluate(leaf: LeafRenderer, ctx: Context, rendered: str | None = None) -> Any:
    """The leaf's value for one recipient, as a plain JSON value; raises `LeafFailed`.

    `rendered` is the leaf's text when a `LeafBatch` already rendered it.
    """
    try:
        value = leaf.run(ctx) if rendered is None else rendered
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        value = to_json_value(value)
    except UndefinedError as exc:
        raise LeafFailed(_undefined_message(exc, ctx), code="undefined") from None
    except NotText as exc:
        raise _not_text(leaf, ctx, exc.value) from None
    except FilterFailed as exc:
        raise _filter_failed(exc) from None
    except LeafFailed:
        raise
    except RenderLimit as exc:
        raise LeafFailed(str(exc), code="render-limit") from None
    except RecursionError:
        raise LeafFailed(_RECURSION, code="render-limit") from None
    except Exception as exc:  # the author's template code failed: report, never crash
        raise LeafFailed(f"template failed: {_exception_text(exc)}") from None
    if value.__class__ is str:
        if leaf.numeric is not None:
            return to_number(value, leaf.numeric)
    elif leaf.text:
        # The mirror of numeric text becoming a number: JSON's 42, true, null as text.
        if isinstance(value, list | dict):
            raise _not_text(leaf, ctx, value)
        value = printable(value)
        if value.__class__ is not str:
            value = str(value)
    return value


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
                found = _expression(leaf.env, leaf.env.compile_expression(candidate))(ctx)
            except Exception:  # only for wording: an expression that fails is not the one
                continue
            if found is value or (found.__class__ is value.__class__ and found == value):
                return str(candidate)
    return None


def _not_text(leaf: LeafRenderer, ctx: Context, value: Any) -> LeafFailed:
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


def _filter_failed(exc: FilterFailed) -> LeafFailed:
    """A filter or test that raised, named, with what it was given."""
    if exc.reason.startswith("unknown "):  # a filter named in `map('uppr')`: that is all
        return LeafFailed(exc.reason)
    found = None if isinstance(exc.value, Undefined) else describe(exc.value)
    return LeafFailed(f"the {exc.kind} `{exc.name}` failed: {exc.reason}", found=found)


def evaluate_raw(leaf: LeafRenderer, ctx: Context) -> Any:
    """The leaf's Python value (for `$if`/`$for`), failures as `LeafFailed`."""
    try:
        value = leaf.run(ctx)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return value
    except UndefinedError as exc:
        raise LeafFailed(_undefined_message(exc, ctx), code="undefined") from None
    except NotText as exc:
        raise _not_text(leaf, ctx, exc.value) from None
    except FilterFailed as exc:
        raise _filter_failed(exc) from None
    except RenderLimit as exc:
        raise LeafFailed(str(exc), code="render-limit") from None
    except RecursionError:
        raise LeafFailed(_RECURSION, code="render-limit") from None
    except Exception as exc:  # the author's expression failed: report, never crash
        raise LeafFailed(f"expression failed: {_exception_text(exc)}") from None


def _undefined_message(exc: UndefinedError, ctx: Context) -> str:
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


class LeafBatch:
    """Several text templates rendered by one Jinja call per recipient.

    A Jinja render has a fixed cost (context set-up, the sandbox) several times
    that of a short template's own work, so the leaves evaluated in one context
    are joined into one template, each in its own `{% with %}` scope, separated
    by a random marker. Anything unexpected (an error in any leaf, a marker
    count that does not match because the data happens to contain it) returns
    None and the caller renders leaf by leaf, which words errors exactly.
    """

    def __init__(self, env: LimitedEnvironment, leaves: list[LeafRenderer]) -> None:
        self.leaves = leaves
        self._marker = f"\x00{secrets.token_hex(8)}\x00"
        source = self._marker.join("{% with %}" + leaf.source + "{% endwith %}" for leaf in leaves)
        try:
            self._render: Callable[[Context], str] | None = limited_render(
                env, env.from_string(source)
            )
        except Exception:
            self._render = None  # e.g. a leaf with a block that cannot nest: no batching

    def render(self, ctx: Context) -> list[str] | None:
        if self._render is None:
            return None
        try:
            texts = self._render(ctx).split(self._marker)
        except Exception:  # rendered again leaf by leaf, which reports it
            return None
        return texts if len(texts) == len(self.leaves) else None


def _plain_parts(
    tree: nodes.Template, globals_: Mapping[str, Any]
) -> list[tuple[bool, str]] | None:
    """`Hello {{ name }}!` as [(False, "Hello "), (True, "name"), (False, "!")]; None if not that simple.

    Names of Jinja globals (imports, `range`, ...) are left to Jinja, which looks them up there.
    """
    parts: list[tuple[bool, str]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif (
                isinstance(child, nodes.Name) and child.ctx == "load" and child.name not in globals_
            ):
                parts.append((True, child.name))
            else:
                return None
    return parts


def _concatenation(parts: list[tuple[bool, str]]) -> Callable[[Context], str]:
    """The same text Jinja would render, without Jinja: `str()` of each value, strict about missing names.

    Compiled to one Python expression (`"Hello " + str(ctx["name"]) + "!"`): every
    literal and name is written with `repr`, so no text of the template or the
    data can become code.
    """
    terms = [f"_str(ctx[{text!r}])" if is_name else repr(text) for is_name, text in parts]
    source = (
        "def run(ctx):\n"
        "    try:\n"
        f"        return {' + '.join(terms) or repr('')}\n"
        "    except KeyError as exc:\n"
        "        raise _undefined(exc) from None\n"
    )
    namespace: dict[str, Any] = {"_str": text_of, "_undefined": _undefined_error}
    exec(compile(source, "<linepress text>", "exec"), namespace)  # built from repr() only
    run: Callable[[Context], str] = namespace["run"]
    return run


def _undefined_error(exc: KeyError) -> UndefinedError:
    return UndefinedError(f"'{exc.args[0]}' is undefined")


def _lookup(name: str) -> Callable[[Context], Any]:
    """`{{ name }}` without Jinja: a missing name raises like StrictUndefined would."""

    def run(ctx: Context) -> Any:
        try:
            return ctx[name]
        except KeyError:
            raise UndefinedError(f"'{name}' is undefined") from None

    return run


def _expression(env: LimitedEnvironment, compiled: Callable[..., Any]) -> Callable[[Context], Any]:
    start = env.start

    def run(ctx: Context) -> Any:
        start()
        # Positionally: as keywords, a column named `self` would collide with
        # `TemplateExpression.__call__(self, ...)`.
        return compiled(ctx)

    return run


def limited_render(env: LimitedEnvironment, template: Template) -> Callable[[Context], str]:
    """`template.render`, with a fresh step budget and at most `MAX_TEXT` characters out.

    The output is counted as it comes, so a loop that prints stops at the limit
    instead of after filling memory.
    """
    root, new_context, start = template.root_render_func, template.new_context, env.start

    def render(ctx: Context) -> str:
        start()
        chunks = root(new_context(ctx))
        # Most templates write a few dozen pieces: taken at C speed, then measured.
        parts = list(islice(chunks, _FIRST_PARTS))
        size = sum(map(len, parts))
        if len(parts) == _FIRST_PARTS:  # a long output (a loop): measured as it comes
            for part in chunks:
                size += len(part)
                if size > MAX_TEXT:
                    break
                parts.append(part)
        if size > MAX_TEXT:
            raise RenderLimit(
                f"the template writes more than {MAX_TEXT:,} characters for one recipient"
            )
        return "".join(parts)

    return render


_FIRST_PARTS = 64


def _single_expression(
    tree: nodes.Template, source: str, globals_: Mapping[str, Any]
) -> str | tuple[str] | None:
    """For a leaf that is one `{{ ... }}` and nothing else: the variable name
    (a plain lookup) or a 1-tuple with the expression source; otherwise None."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    if source != source.strip():
        return None  # `  {{- x -}}  ` or a block scalar's `{{ x }}\n`: Jinja renders text
    output = tree.body[0].nodes
    if len(output) != 1 or isinstance(output[0], nodes.TemplateData):
        return None
    if not (source.startswith("{{") and source.endswith("}}")) or source.count("{{") != 1:
        return None
    inner = source[2:-2].strip("-+").strip()
    if isinstance(output[0], nodes.Name) and inner == output[0].name and inner not in globals_:
        return inner
    return (inner,)


def _syntax_problem(
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


def to_number(text: str, kind: str) -> int | float:
    """A numeric string (as CSV gives every value) as the number the API wants."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        try:
            whole = int(stripped)
        except ValueError:  # more digits than Python converts (4300): far out of range
            raise _out_of_range(describe(text)) from None
        if not in_json_range(whole):
            raise _out_of_range(describe(text))
        return whole
    if kind == "number" and _NUMBER.fullmatch(stripped):
        number = float(stripped)
        if not math.isfinite(number):  # `1e400`
            raise _out_of_range(describe(text))
        return number
    expected = "a whole number" if kind == "integer" else "a number"
    raise LeafFailed(f"expected {expected}", found=describe(text), code="type")


#: How deeply a value from an expression may nest: orjson writes 254 levels at most,
#: and no LINE body needs more than ten.
MAX_VALUE_DEPTH = 64


def to_json_value(value: Any, depth: int = 0) -> Any:
    """Plain JSON values from what an expression returned (Markup, tuples, …)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # orjson writes 64-bit integers only; a bigger one would crash serialization.
        if not in_json_range(value):
            raise _out_of_range(describe_integer(value))
        return value
    if isinstance(value, str):
        if not value.isascii():
            _check_encodable(value)
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LeafFailed("the value cannot be written as JSON", found=repr(value), code="type")
        return value
    if isinstance(value, list | tuple | Mapping) and depth >= MAX_VALUE_DEPTH:
        raise LeafFailed(
            f"the value is nested too deeply (more than {MAX_VALUE_DEPTH} levels)", code="type"
        )
    if isinstance(value, list | tuple):
        return [to_json_value(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    raise LeafFailed("the value cannot be written as JSON", found=type_name(value), code="type")


def _out_of_range(found: str) -> LeafFailed:
    return LeafFailed("the number is out of range", found=found, code="type")


def is_encodable(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (no unpaired surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_encodable(text: str) -> None:
    # JSON input may spell a lone UTF-16 surrogate ("\\ud800"); no UTF-8 body can carry it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        found = f"an unpaired surrogate {text[exc.start]!a} at character {exc.start + 1}"
        raise LeafFailed("the value cannot be written as JSON", found=found, code="type") from None


def _exception_text(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, OutsideReach):  # already a sentence for the author
        return text
    if isinstance(exc, SecurityError):  # the sandbox's own words say what was refused
        return f"SecurityError: {text}"
    return plain_reason(exc)

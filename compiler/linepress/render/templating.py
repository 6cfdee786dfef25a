"""Jinja for one string leaf: compiled once, evaluated per recipient, failures located.

Every string leaf is looked at once, when a definition is loaded:

- exactly `{{ name }}`: a dictionary lookup, no Jinja at all (the common case);
- exactly one `{{ expression }}`: a compiled expression that keeps its value's type;
- anything else: a compiled template that renders to text.

Recipient values only ever reach Jinja as *data*, never as template source, so a
name holding `{{ }}`, quotes, colons or newlines comes out literally.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Undefined

from linepress.definition import FieldPath, Leaf
from linepress.errors import Location, Problem, format_path
from linepress.render.failures import EXPRESSION as EXPRESSION
from linepress.render.failures import (
    RECURSION,
    LeafFailed,
    exception_text,
    filter_failure,
    not_text_failure,
    operand_failure,
    syntax_problem,
    undefined_message,
)
from linepress.render.jsontext import FilterFailed, NotText, printable
from linepress.render.leaf_values import MAX_VALUE_DEPTH as MAX_VALUE_DEPTH
from linepress.render.leaf_values import is_encodable as is_encodable
from linepress.render.leaf_values import to_json_value, to_number
from linepress.render.limits import LimitedEnvironment, RenderLimit
from linepress.render.pyforms import OperandError, Refused
from linepress.render.reach import ReachLoader, unknown_names
from linepress.render.runners import ROW as ROW
from linepress.render.runners import Context as Context
from linepress.render.runners import LeafBatch as LeafBatch
from linepress.render.runners import LeafRenderer as LeafRenderer
from linepress.render.runners import (
    concatenation_runner,
    expression_runner,
    limited_render,
    lookup_runner,
    plain_parts,
    single_expression,
)

__all__ = [
    "EXPRESSION",
    "MAX_VALUE_DEPTH",
    "ROW",
    "Context",
    "LeafBatch",
    "LeafFailed",
    "LeafRenderer",
    "NotText",
    "compile_expression",
    "compile_leaf",
    "evaluate",
    "evaluate_raw",
    "has_markers",
    "is_encodable",
    "limited_render",
    "make_environment",
    "to_json_value",
    "to_number",
]

_MARKERS = ("{{", "{%", "{#")


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


#: How deep a template's tree may nest (operators, attributes, blocks): far beyond
#: what anyone writes, and well inside Python's recursion limit for Jinja's compiler.
MAX_TEMPLATE_DEPTH = 120


def _depth_over(tree: nodes.Node, limit: int) -> bool:
    """Whether `tree` nests deeper than `limit` nodes, walked without recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return False


def _literal_markers(tree: nodes.Node) -> str | None:
    """The template marker (`{{`, `{%`, `{#`) that the template's own text or string
    constants spell out, if any: it would reach a body as is."""
    for node in tree.find_all((nodes.TemplateData, nodes.Const)):
        text = node.data if isinstance(node, nodes.TemplateData) else getattr(node, "value", None)
        if isinstance(text, str):
            for marker in _MARKERS:
                if marker in text:
                    return marker
    return None


def has_markers(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


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
        return syntax_problem(exc, leaf, location, path)
    except RecursionError:  # thousands of nested brackets: Jinja's parser recurses
        return Problem(
            "the template is nested too deeply",
            location,
            path=format_path(path),
            code="jinja-syntax",
        )
    if _depth_over(tree, MAX_TEMPLATE_DEPTH):
        # `1+1+...+1` 20,000 times or `x.a.a...` parse in a loop, but every later walk
        # of the tree (names read, compiling) recurses once per level.
        return Problem(
            f"the template is nested too deeply: an expression more than "
            f"{MAX_TEMPLATE_DEPTH} levels deep (operators, `.` and `[]` chained)",
            location,
            path=format_path(path),
            code="jinja-syntax",
        )
    literal = _literal_markers(tree)
    if literal is not None:
        return Problem(
            f"the template writes `{literal}` itself (through `{{% raw %}}` or a quoted "
            f"'{literal}'): a customer would see template syntax, not a value; "
            "reword the text, or name the value that should go there",
            location,
            path=format_path(path),
            code="unrendered",
        )
    unknown = unknown_names(env, tree)
    if unknown is not None:
        message, lineno = unknown
        return syntax_problem(JinjaSyntaxError(message, lineno), leaf, location, path, prefix="")
    expression = single_expression(tree, source, env.globals)
    run: Callable[[Context], Any]
    parts = plain_parts(tree, env.globals)
    try:
        if expression is None and parts is not None:
            run = concatenation_runner(parts)
        elif expression is None:
            run = limited_render(env, env.from_string(tree))
        elif isinstance(expression, str):
            run = lookup_runner(expression)
        else:
            run = expression_runner(
                env, env.compile_expression(expression[0], undefined_to_none=False)
            )
    except JinjaSyntaxError as exc:
        return syntax_problem(exc, leaf, location, path)
    except Exception as exc:  # compiling failed in Jinja's own way (e.g. nested too deeply)
        return Problem(
            f"the template cannot be compiled: {exception_text(exc)}",
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
    except LeafFailed:
        raise
    except Exception as exc:  # the author's template code failed: report, never crash
        raise _failure(leaf, ctx, exc, "template") from None
    if value.__class__ is str:
        if leaf.numeric is not None:
            return to_number(value, leaf.numeric)
    elif leaf.text:
        # The mirror of numeric text becoming a number: JSON's 42, true, null as text.
        if isinstance(value, list | dict):
            raise not_text_failure(leaf, ctx, value)
        value = printable(value)
        if value.__class__ is not str:
            value = str(value)
    return value


def evaluate_raw(leaf: LeafRenderer, ctx: Context) -> Any:
    """The leaf's Python value (for `$if`/`$for`), failures as `LeafFailed`."""
    try:
        value = leaf.run(ctx)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return value
    except Exception as exc:  # the author's expression failed: report, never crash
        raise _failure(leaf, ctx, exc, "expression") from None


def _failure(leaf: LeafRenderer, ctx: Context, exc: Exception, what: str) -> LeafFailed:
    """The `LeafFailed` for what a leaf's run raised, in the author's words.

    `what` ("template", "expression") names the leaf in the catch-all message.
    """
    if isinstance(exc, UndefinedError):
        return LeafFailed(undefined_message(exc, ctx), code="undefined")
    if isinstance(exc, NotText):
        return not_text_failure(leaf, ctx, exc.value)
    if isinstance(exc, FilterFailed):
        return filter_failure(exc)
    if isinstance(exc, OperandError):
        return operand_failure(leaf, ctx, exc)
    if isinstance(exc, Refused):
        return LeafFailed(str(exc), code="type")
    if isinstance(exc, RenderLimit):
        return LeafFailed(str(exc), code="render-limit")
    if isinstance(exc, RecursionError):
        return LeafFailed(RECURSION, code="render-limit")
    return LeafFailed(f"{what} failed: {exception_text(exc)}")

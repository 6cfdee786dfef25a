"""lint-empty-value: a column empty for some recipients, used as if it were always there.

`Hi {{ name }}, your coupon {{ coupon }} is ready` with an empty `coupon` cell sends
"your coupon  is ready"; `https://shop.example/c/{{ coupon }}` sends a link to
nothing. LINE accepts both, so only we can notice. A template reads a column
*unconditionally* when the column's value is printed outside any `{% if %}` (or
`{% for %}`), not behind `| default(...)` or inside an `x if c else y`, in a leaf
that is a sentence (text around the expression) or a link. A single `{{ coupon }}`
leaf is left to the schemas (an empty required text is an error already).

`EmptyValues.see()` looks at one recipient's fields (a few dictionary lookups per
watched column); `summaries()` gives one warning per template and column: the
column, the template's line, the first rows and how many.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes

from linepress.errors import Problem, format_path
from linepress.render.builders import ROW, LeafRenderer, Renderer
from linepress.render.building import VarFailed
from linepress.render.items import FOR_SPEC
from linepress.render.templating import LeafFailed, evaluate_raw
from linepress.report import SAMPLE_ROWS

#: Fields that hold a link.
URL_FIELDS = frozenset({"uri", "linkUri", "url", "thumbnailUrl", "thumbnailImageUrl", "baseUrl"})
#: Filters that give a value for an empty one (`| default('friend', true)`).
_FILLING_FILTERS = frozenset({"default", "d"})


@dataclass(slots=True)
class _Scope:
    """A list item a leaf sits in that has `$for` and/or `$if`: they decide, per
    recipient, in which contexts (if any) the leaf is rendered."""

    #: (loop variable, the compiled `$for` expression) or None.
    repeat: tuple[str, LeafRenderer] | None
    #: The compiled `$if` expression or None.
    condition: LeafRenderer | None


@dataclass(slots=True)
class _Watch:
    """One template leaf and what it prints unconditionally: columns, or a loop
    variable and its attributes (`product`, `product.note`)."""

    leaf: LeafRenderer
    columns: tuple[str, ...]
    #: The variant whose message holds the leaf (None: every recipient's).
    variant: str | None
    #: Enclosing `$for`/`$if` items, outermost first (empty: rendered once per recipient).
    scopes: tuple[_Scope, ...] = ()
    #: column -> (recipients with it empty, the first few rows)
    empty: dict[str, tuple[int, list[int]]] = field(default_factory=dict)


class EmptyValues:
    """Counts, per template and column, the recipients whose value is empty."""

    def __init__(self, renderer: Renderer, columns: Sequence[str] | None) -> None:
        self._renderer = renderer
        constants = set(renderer.constants) | set(renderer.env.globals)
        known = set(columns) if columns is not None else None
        expressions = {leaf.path: leaf for leaf in renderer.leaves}
        self._watches: list[_Watch] = []
        for leaf in renderer.leaves:
            path = leaf.path
            if not path or path[0] in ("vars", "defaults") or path[-1] in ("$if", "$for"):
                continue
            scopes = _scopes(renderer, path, expressions)
            if scopes is None:
                continue  # an item whose `$for`/`$if` did not compile: reported already
            loop_names = {scope.repeat[0] for scope in scopes if scope.repeat is not None}
            tree = renderer.env.parse(leaf.source)
            single = _single_output(tree)
            if single and path[-1] not in URL_FIELDS:
                continue  # `{{ coupon }}` alone: an empty text is a schema error already
            printed = [
                name
                for name in unconditional_columns(tree, loop_names)
                if name.split(".")[0] in loop_names
                or (name not in constants and (known is None or name in known))
            ]
            if printed:
                variant = str(path[2]) if path[:2] == ("variants", "messages") else None
                self._watches.append(
                    _Watch(leaf, tuple(dict.fromkeys(printed)), variant, tuple(scopes))
                )
        self.rows = 0

    def see(self, fields: Mapping[str, Any], row: int | None, variant: str | None) -> None:
        """Count one recipient (`variant`: the message it got)."""
        self.rows += 1
        for watch in self._watches:
            if watch.variant is not None and watch.variant != variant:
                continue
            if watch.scopes:
                empty = self._empty_in_items(watch, fields)
            else:
                empty = [c for c in watch.columns if _is_empty(fields.get(c))]
            for column in empty:
                count, rows = watch.empty.get(column, (0, []))
                if row is not None and len(rows) < SAMPLE_ROWS:
                    rows.append(row)
                watch.empty[column] = (count + 1, rows)

    def _empty_in_items(self, watch: _Watch, fields: Mapping[str, Any]) -> list[str]:
        """What is empty in any context the leaf is rendered in for this recipient
        (each `$for` element that passes the `$if`s); nothing when it is not rendered."""
        try:
            contexts = [self._renderer.context(fields)]
            for scope in watch.scopes:
                if scope.repeat is not None:
                    name, leaf = scope.repeat
                    contexts = [
                        {**ctx, name: element}
                        for ctx in contexts
                        for element in _elements(evaluate_raw(leaf, ctx))
                    ]
                if scope.condition is not None:
                    condition = scope.condition
                    contexts = [ctx for ctx in contexts if evaluate_raw(condition, ctx)]
        except (LeafFailed, VarFailed):
            return []  # the recipient fails: an error says why
        return [
            printed
            for printed in watch.columns
            if any(_is_empty(_value_at(ctx, printed)) for ctx in contexts)
        ]

    def summaries(self) -> Iterator[Problem]:
        """One warning per template and column that was empty for someone."""
        for watch in self._watches:
            for column, (count, rows) in watch.empty.items():
                listed = ", ".join(map(str, rows)) + (", …" if count > len(rows) else "")
                noun = "row" if count == 1 else "rows"
                where = "a link" if watch.leaf.path[-1] in URL_FIELDS else "a sentence"
                loop = next(
                    (
                        s.repeat[0]
                        for s in watch.scopes
                        if s.repeat and s.repeat[0] == column.split(".")[0]
                    ),
                    None,
                )
                what = (
                    f"`{column}` (an element of `$for: {loop} in …`) is empty for"
                    if loop is not None
                    else f"column `{column}` is empty in"
                )
                yield Problem(
                    f"{what} {count:,} of {self.rows:,} recipients "
                    f"({noun} {listed}) where it is used in {where} outside an `{{% if %}}`: "
                    f"they would get the text without it; wrap that part in "
                    f"`{{% if {column} %}}…{{% endif %}}` or fill the "
                    + ("data" if loop is not None else "column"),
                    watch.leaf.location,
                    path=format_path(watch.leaf.path),
                    severity="warning",
                    code="lint-empty-value",
                )


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _elements(values: Any) -> list[Any]:
    if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__iter__"):
        return []  # not a list: the render says so
    return list(values)


def _value_at(ctx: Mapping[str, Any], dotted: str) -> Any:
    """`product.note` in a context: None when any step is missing."""
    value: Any = ctx
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _scopes(
    renderer: Renderer,
    path: tuple[str | int, ...],
    expressions: Mapping[tuple[str | int, ...], LeafRenderer],
) -> list[_Scope] | None:
    """The `$for`/`$if` items holding `path`, outermost first; None if one did not compile."""
    definition = renderer.definition
    node: Any = {
        **definition.body,
        "variants": {"messages": definition.variants.messages if definition.variants else {}},
    }
    scopes = []
    for depth, part in enumerate(path):
        if isinstance(node, dict) and ("$if" in node or "$for" in node):
            here = path[:depth]
            repeat = None
            if "$for" in node:
                match = FOR_SPEC.match(node["$for"]) if isinstance(node["$for"], str) else None
                leaf = expressions.get((*here, "$for"))
                if match is None or leaf is None:
                    return None
                repeat = (match.group(1), leaf)
            condition = expressions.get((*here, "$if"))
            if "$if" in node and condition is None:
                return None
            scopes.append(_Scope(repeat, condition))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return scopes


def _single_output(tree: nodes.Template) -> bool:
    """A template that is one `{{ expression }}` and no text."""
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return False
    parts = [
        n for n in body[0].nodes if not (isinstance(n, nodes.TemplateData) and not n.data.strip())
    ]
    return len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)


def unconditional_columns(tree: nodes.Template, loop_names: Collection[str] = ()) -> list[str]:
    """The names a template prints outside any `{% if %}`/`{% for %}`, not behind a
    `default` filter or a conditional expression (`row["x"]` counts as `x`); for the
    `loop_names` of enclosing `$for` items, `product.note` as that dotted name."""
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    found += _printed(child, loop_names)
    return found


def _printed(expr: nodes.Node, loops: Collection[str] = ()) -> list[str]:
    if isinstance(expr, nodes.Name) and expr.ctx == "load" and expr.name != ROW:
        return [expr.name]
    if loops and isinstance(expr, nodes.Getattr):
        dotted = _dotted(expr)
        if dotted is not None and dotted.split(".")[0] in loops:
            return [dotted]
        return []
    if (
        isinstance(expr, nodes.Getitem)
        and isinstance(expr.node, nodes.Name)
        and expr.node.name == ROW
        and isinstance(expr.arg, nodes.Const)
        and isinstance(expr.arg.value, str)
    ):
        return [expr.arg.value]
    if isinstance(expr, nodes.Filter):
        if expr.name in _FILLING_FILTERS:
            return []
        return _printed(expr.node, loops) if expr.node is not None else []
    if isinstance(expr, nodes.Concat):
        return [name for child in expr.nodes for name in _printed(child, loops)]
    if isinstance(expr, nodes.Add):
        return _printed(expr.left, loops) + _printed(expr.right, loops)
    return []  # calls, conditionals, tests, attribute reads: not a plain printed column


def _dotted(expr: nodes.Node) -> str | None:
    """`product.note` for Getattr(Name('product'), 'note'); None for anything else."""
    if isinstance(expr, nodes.Name) and expr.ctx == "load":
        return expr.name
    if isinstance(expr, nodes.Getattr):
        inner = _dotted(expr.node)
        return f"{inner}.{expr.attr}" if inner is not None else None
    return None

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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes

from linepress.errors import Problem, format_path
from linepress.render.builders import ROW, LeafRenderer, Renderer
from linepress.report import SAMPLE_ROWS

#: Fields that hold a link.
URL_FIELDS = frozenset({"uri", "linkUri", "url", "thumbnailUrl", "thumbnailImageUrl", "baseUrl"})
#: Filters that give a value for an empty one (`| default('friend', true)`).
_FILLING_FILTERS = frozenset({"default", "d"})


@dataclass(slots=True)
class _Watch:
    """One template leaf and the columns it prints unconditionally."""

    leaf: LeafRenderer
    columns: tuple[str, ...]
    #: The variant whose message holds the leaf (None: every recipient's).
    variant: str | None
    #: column -> (recipients with it empty, the first few rows)
    empty: dict[str, tuple[int, list[int]]] = field(default_factory=dict)


class EmptyValues:
    """Counts, per template and column, the recipients whose value is empty."""

    def __init__(self, renderer: Renderer, columns: Sequence[str] | None) -> None:
        constants = set(renderer.constants) | set(renderer.env.globals)
        known = set(columns) if columns is not None else None
        self._watches: list[_Watch] = []
        for leaf in renderer.leaves:
            path = leaf.path
            if not path or path[0] in ("vars", "defaults") or path[-1] in ("$if", "$for"):
                continue
            if _guarded(renderer, path):
                continue
            tree = renderer.env.parse(leaf.source)
            single = _single_output(tree)
            if single and path[-1] not in URL_FIELDS:
                continue  # `{{ coupon }}` alone: an empty text is a schema error already
            printed = [
                name
                for name in unconditional_columns(tree)
                if name not in constants and (known is None or name in known)
            ]
            if printed:
                variant = str(path[2]) if path[:2] == ("variants", "messages") else None
                self._watches.append(_Watch(leaf, tuple(dict.fromkeys(printed)), variant))
        self.rows = 0

    def see(self, fields: Mapping[str, Any], row: int | None, variant: str | None) -> None:
        """Count one recipient (`variant`: the message it got)."""
        self.rows += 1
        for watch in self._watches:
            if watch.variant is not None and watch.variant != variant:
                continue
            for column in watch.columns:
                value = fields.get(column)
                if value is None or (isinstance(value, str) and not value.strip()):
                    count, rows = watch.empty.get(column, (0, []))
                    if row is not None and len(rows) < SAMPLE_ROWS:
                        rows.append(row)
                    watch.empty[column] = (count + 1, rows)

    def summaries(self) -> Iterator[Problem]:
        """One warning per template and column that was empty for someone."""
        for watch in self._watches:
            for column, (count, rows) in watch.empty.items():
                listed = ", ".join(map(str, rows)) + (", …" if count > len(rows) else "")
                noun = "row" if count == 1 else "rows"
                where = "a link" if watch.leaf.path[-1] in URL_FIELDS else "a sentence"
                yield Problem(
                    f"column `{column}` is empty in {count:,} of {self.rows:,} recipients "
                    f"({noun} {listed}) where it is used in {where} outside an `{{% if %}}`: "
                    f"they would get the text without it; wrap that part in "
                    f"`{{% if {column} %}}…{{% endif %}}` or fill the column",
                    watch.leaf.location,
                    path=format_path(watch.leaf.path),
                    severity="warning",
                    code="lint-empty-value",
                )


def _guarded(renderer: Renderer, path: tuple[str | int, ...]) -> bool:
    """Whether a list item holding `path` has an `$if` (which may guard the value)."""
    definition = renderer.definition
    node: Any = {
        **definition.body,
        "variants": {"messages": definition.variants.messages if definition.variants else {}},
    }
    for part in path:
        if isinstance(node, dict) and "$if" in node:
            return True
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return False


def _single_output(tree: nodes.Template) -> bool:
    """A template that is one `{{ expression }}` and no text."""
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return False
    parts = [
        n for n in body[0].nodes if not (isinstance(n, nodes.TemplateData) and not n.data.strip())
    ]
    return len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)


def unconditional_columns(tree: nodes.Template) -> list[str]:
    """The names a template prints outside any `{% if %}`/`{% for %}`, not behind a
    `default` filter or a conditional expression (`row["x"]` counts as `x`)."""
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    found += _printed(child)
    return found


def _printed(expr: nodes.Node) -> list[str]:
    if isinstance(expr, nodes.Name) and expr.ctx == "load" and expr.name != ROW:
        return [expr.name]
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
        return _printed(expr.node) if expr.node is not None else []
    if isinstance(expr, nodes.Concat):
        return [name for child in expr.nodes for name in _printed(child)]
    if isinstance(expr, nodes.Add):
        return _printed(expr.left) + _printed(expr.right)
    return []  # calls, conditionals, tests, attribute reads: not a plain printed column

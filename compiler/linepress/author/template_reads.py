"""What lint reads in a template's syntax tree (Jinja's `nodes`), never rendering it.

`url_insertions()`: recipient data inserted after a link's host without `| urlencode`.
`referenced_names()`: the columns a template reads, and whether it reads `row` whole.
`uses_truncate()`: whether it calls Jinja's `truncate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from jinja2 import meta, nodes

from linepress.render.builders import ROW

#: Filters whose result is safe anywhere in a URL (encoded, or a number).
_URL_SAFE_FILTERS = frozenset({"urlencode", "int", "float", "round", "abs", "length", "count"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//)?")
#: Stands for an inserted expression in the text of a URL template.
_EXPR = "\0"


def url_insertions(tree: nodes.Template, constants: set[str]) -> list[tuple[str, str]]:
    """(recipient data reference, "path"/"query"/"fragment") of each unencoded insertion
    after the host part of a URL template.

    The template is read as one run of text: `{% if %}` branches one after the other,
    which can only make a later insertion count as past the host a little early.
    """
    found: list[tuple[str, str]] = []
    prefix = ""

    def piece(expr: nodes.Expr) -> None:
        nonlocal prefix
        if isinstance(expr, nodes.Const) and isinstance(expr.value, str):
            prefix += expr.value
        elif isinstance(expr, nodes.Concat):
            for child in expr.nodes:
                piece(child)
        elif isinstance(expr, nodes.Add):
            piece(expr.left)
            piece(expr.right)
        elif isinstance(expr, nodes.Call) and not _past_host(prefix) and expr.args:
            # A macro such as fmt.utm(url, …) builds the link around its first argument.
            piece(expr.args[0])
            prefix += _EXPR
        else:
            part = _url_part(prefix)
            if part is not None:
                found.extend((ref, part) for ref in _data_references(expr, constants))
            prefix += _EXPR

    def walk(body: Iterable[nodes.Node]) -> None:
        nonlocal prefix
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if isinstance(child, nodes.TemplateData):
                        prefix += child.data
                    else:
                        piece(child)
            elif isinstance(node, nodes.If):
                walk(node.body)
                for branch in node.elif_:
                    walk(branch.body)
                walk(node.else_)
            else:
                walk(getattr(node, "body", []))
                walk(getattr(node, "else_", []))

    walk(tree.body)
    return found


def _past_host(prefix: str) -> bool:
    return _url_part(prefix) is not None


def _url_part(prefix: str) -> str | None:
    """Which part of the link the text after `prefix` lands in (None: scheme or host).

    A link that starts with an expression takes its scheme and host from it.
    """
    if prefix.startswith(_EXPR):
        rest = prefix
    else:
        rest = _SCHEME.sub("", prefix, count=1)
        if not any(mark in rest for mark in "/?#"):
            return None
    if "#" in rest:
        return "fragment"
    return "query" if "?" in rest else "path"


def _data_references(expr: nodes.Node, constants: set[str]) -> list[str]:
    """The recipient values an expression reads, outside `| urlencode` (and numbers)."""
    if isinstance(expr, nodes.Filter) and expr.name in _URL_SAFE_FILTERS:
        return []
    if isinstance(expr, nodes.Test | nodes.Compare | nodes.Not):
        return []  # a boolean
    if isinstance(expr, nodes.CondExpr):
        branches = [expr.expr1] if expr.expr2 is None else [expr.expr1, expr.expr2]
        return [ref for branch in branches for ref in _data_references(branch, constants)]
    if isinstance(expr, nodes.Getitem | nodes.Getattr) and _is_row(expr.node):
        key = _row_key(expr)
        return [f"row[{key!r}]" if key is not None else "row"]
    if isinstance(expr, nodes.Name):
        return [] if expr.name in constants else [expr.name]
    references: list[str] = []
    for child in expr.iter_child_nodes():
        for reference in _data_references(child, constants):
            if reference not in references:
                references.append(reference)
    return references


# -- columns the templates read ---------------------------------------------


def referenced_names(tree: nodes.Template) -> tuple[set[str], bool]:
    """Variables a template reads (`row["x"]` and `row.x` as x), and whether it
    uses the record `row` as a whole (`row | tojson`, `row.items()`, `row[key]`)."""
    names = set(meta.find_undeclared_variables(tree)) - {ROW}
    whole = False

    def visit(node: nodes.Node) -> None:
        nonlocal whole
        if isinstance(node, nodes.Getitem | nodes.Getattr) and _is_row(node.node):
            key = _row_key(node)
            if key is None:
                whole = True
            else:
                names.add(key)
            if isinstance(node, nodes.Getitem):
                visit(node.arg)
            return
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and _is_row(node.node.node)
            and node.node.attr == "get"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
            for child in (*node.args[1:], *node.kwargs):
                visit(child)
            return
        if _is_row(node):
            whole = True
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return names, whole


def _is_row(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == ROW and node.ctx == "load"


def _row_key(node: nodes.Getitem | nodes.Getattr) -> str | None:
    """The column a `row["x"]` / `row.x` reads; None when it is not one constant column."""
    if isinstance(node, nodes.Getattr):
        # `row.items` is the mapping's method, not a column.
        return None if hasattr(dict, node.attr) else node.attr
    arg = node.arg
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def uses_truncate(tree: nodes.Template) -> bool:
    """Whether the template calls the `truncate` filter anywhere."""
    return any(f.name == "truncate" for f in tree.find_all(nodes.Filter))

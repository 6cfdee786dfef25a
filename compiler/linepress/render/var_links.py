"""Links built only from `vars`: checked once, when the definition is loaded.

`vars: {link: "https://x.jp/春 セール"}` used as `url: "{{ link }}"` is the same bad
link for every recipient. Found per recipient it would be blamed on the data and
missed by `check` without data; found here it is blamed on the var, at its line.
"""

from __future__ import annotations

from typing import Any

from linepress.definition import FieldPath
from linepress.errors import Location, Problem, format_path
from linepress.render.builders import Renderer
from linepress.render.reads import names_read
from linepress.render.templating import ROW, LeafFailed, LeafRenderer, evaluate
from linepress.validate.values import is_link, is_url_part, url_problem

#: The fields holding a link (the schemas' `x-url`).
LINK_FIELDS = frozenset({"url", "thumbnailUrl", "thumbnailImageUrl", "baseUrl", "uri", "linkUri"})


def var_link_problems(renderer: Renderer) -> list[Problem]:
    """A problem for each link field whose template reads only constant `vars` (and
    Jinja's globals) and renders to a bad link: at the var that holds the bad part,
    or at the field when the var is fine and the field's own text is not."""
    constants = renderer.constants
    if not constants:
        return []
    known = set(constants) | set(renderer.env.globals)
    problems: dict[tuple[Location | None, str], Problem] = {}
    for leaf in renderer.leaves:
        if not leaf.path or leaf.path[-1] not in LINK_FIELDS:
            continue
        names = names_read(renderer.env, leaf.source)
        if not names or not names <= known or not names & set(constants):
            continue  # reads a recipient's fields: checked per recipient
        try:
            value = evaluate(leaf, {**constants, ROW: {}})
        except LeafFailed:
            continue  # worded per recipient, as any failure
        if not isinstance(value, str):
            continue
        problem = url_problem(value)
        if problem is not None:
            found = _blame(renderer, leaf, sorted(names & set(constants)), problem)
            problems.setdefault((found.location, found.path or ""), found)
    return list(problems.values())


def _blame(renderer: Renderer, leaf: LeafRenderer, names: list[str], problem: str) -> Problem:
    used = f"`{format_path(leaf.path)}`" + (
        f" at line {leaf.location.line}" if leaf.location.line else ""
    )
    for name in names:
        if _bad_link_part(renderer.constants[name]):
            where = renderer.definition.values.get(("vars", name))
            path: FieldPath = ("vars", name)
            return Problem(
                f"{problem} (the var `{name}`, used by {used}: fix the link here)",
                where.location if where is not None else leaf.location,
                path=format_path(path),
                code="schema",
            )
    return Problem(problem, leaf.location, path=format_path(leaf.path), code="schema")


def _bad_link_part(value: Any) -> bool:
    """Whether a var's value is itself a bad link, or text no link may hold as it is."""
    if not isinstance(value, str):
        return False
    if is_link(value):
        return url_problem(value) is not None
    return not is_url_part(value)

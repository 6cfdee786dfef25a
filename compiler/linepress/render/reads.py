"""What a template reads: the names it looks up, and whether a recipient can supply any."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, meta

from linepress.render.templating import LeafRenderer, has_markers

__all__ = ["names_read", "reads_only_globals"]


def names_read(env: Environment, value: Any) -> set[str]:
    """The variables the templates anywhere in `value` (a definition value: text, or
    lists and mappings of it) read, i.e. their undeclared names."""
    if isinstance(value, dict):
        return set().union(*(names_read(env, child) for child in value.values()))
    if isinstance(value, list):
        return set().union(*(names_read(env, child) for child in value))
    if isinstance(value, str) and has_markers(value):
        return set(meta.find_undeclared_variables(env.parse(value)))
    return set()


def reads_only_globals(env: Environment, leaf: LeafRenderer) -> bool:
    """Whether a leaf reads nothing a recipient can supply (only Jinja's globals and
    the imports): no names, or `range`, `fmt`, ... A `vars` constant is not one: a
    recipient column of that name overrides it."""
    if leaf.lookup is not None or leaf.parts is not None:
        return False
    try:
        tree = env.parse(leaf.source)
    except Exception:
        return False
    # Jinja's own account of what is undeclared: names set, loop variables, macros,
    # imports (`{% import 'm.j2' as m %}`), `caller`, `loop` and `self` are declared.
    return all(name in env.globals for name in meta.find_undeclared_variables(tree))

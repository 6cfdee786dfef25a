"""`linepress vars DEF`: the data columns a definition reads, and where it first reads each.

A marketer preparing the recipient list asks "which columns must the file have?".
The answer comes from the templates' syntax trees (never rendering them): every
variable that is not a constant (`vars`), an imported macro file, a Jinja global
or a `$for` loop variable, plus `from`/`to` when the body leaves them to the data
and the column `variants.by` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from linepress.author.template_reads import referenced_names
from linepress.errors import Location
from linepress.pipeline import Compiler

#: `$for: name in expression`, as the renderer reads it.
_FOR = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Need:
    """One column the data must have: its name, how a template writes it, where."""

    column: str
    written: str
    location: Location
    #: Why it is needed when no template names it (`to` left to the data, `variants.by`).
    note: str = ""


def needed_columns(compiler: Compiler) -> tuple[list[Need], bool]:
    """The columns `compiler`'s definition reads, in the file's order, and whether a
    template reads the record as a whole (`row | tojson`: then any column may matter)."""
    definition = compiler.definition
    renderer = compiler.renderer
    constants = set(definition.vars) | set(renderer.env.globals)
    loops: set[str] = set()
    for leaf in renderer.leaves:
        if leaf.path and leaf.path[-1] == "$for":
            spec = raw_value(definition, leaf.path)  # `product in products`: the leaf is the list
            match = _FOR.match(spec) if isinstance(spec, str) else None
            if match:
                loops.add(match.group(1))
    found: dict[str, Need] = {}
    whole_row = False
    for leaf in sorted(renderer.leaves, key=_file_order):
        names, whole = referenced_names(renderer.env.parse(leaf.source))
        whole_row = whole_row or whole
        for name in sorted(names - constants - loops):
            if name not in found:
                written = name if name.isidentifier() else f'row["{name}"]'
                found[name] = Need(name, written, leaf.location)
    where = Location(definition.name, 1, 1)
    defaults = getattr(definition, "defaults", None) or {}
    for key in renderer.fallback_keys:
        if key not in found:
            note = (
                f"optional: `defaults.{key}` when the data has no `{key}`"
                if key in defaults
                else f"the body has no `{key}`: each recipient's"
            )
            found[key] = Need(key, key, where, note)
    if definition.variants is not None and definition.variants.by not in found:
        by = definition.variants.by
        found[by] = Need(
            by, by, definition.values[("variants", "by")].location, "picks the variant"
        )
    return list(found.values()), whole_row


def raw_value(definition: Any, path: tuple[Any, ...]) -> Any:
    """The value the definition file has at `path` (body or variants), or None."""
    variants = definition.variants
    node: Any = {
        **definition.body,
        "variants": {"messages": variants.messages if variants else {}},
    }
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _file_order(leaf: object) -> tuple[int, int]:
    location = getattr(leaf, "location", None)
    return (getattr(location, "line", 0) or 0, getattr(location, "column", 0) or 0)

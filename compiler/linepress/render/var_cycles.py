"""`vars` that read each other round: named, with their lines, when a definition is loaded.

`a: "{{ b }}"` and `b: "{{ a }}"` can never be rendered; per recipient they would
read as an undefined variable. Said once, as what it is: "vars a -> b -> a form a
cycle (a at line 4, b at line 5)".
"""

from __future__ import annotations

from jinja2 import Environment

from linepress.definition import Definition
from linepress.errors import Location, Problem, format_path
from linepress.render.reads import names_read


def var_cycles(definition: Definition, env: Environment, problems: list[Problem]) -> set[str]:
    """The vars that are part of a cycle; one problem per cycle is appended to
    `problems`, at the cycle's first var (in file order)."""
    names = list(definition.vars)
    reads: dict[str, list[str]] = {}
    for name in names:
        try:
            used = names_read(env, definition.vars[name])
        except Exception:  # a syntax error: reported when the var is compiled
            used = set()
        reads[name] = [other for other in names if other in used]
    in_cycle: set[str] = set()
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = trail[trail.index(name) :]
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                problems.append(_cycle_problem(definition, [*cycle, name]))
            in_cycle.update(cycle)
            return
        if name in done:
            return
        for other in reads[name]:
            visit(other, [*trail, name])
        done.add(name)

    for name in names:
        visit(name, [])
    return in_cycle


def _cycle_problem(definition: Definition, cycle: list[str]) -> Problem:
    lines = []
    for name in dict.fromkeys(cycle):
        leaf = definition.values.get(("vars", name))
        line = leaf.location.line if leaf is not None else None
        lines.append(f"{name} at line {line}" if line else name)
    start = definition.values.get(("vars", cycle[0]))
    return Problem(
        f"vars {' -> '.join(cycle)} form a cycle ({', '.join(lines)}): a var may use "
        "the vars above it, never itself through others",
        start.location if start is not None else Location(definition.name, 1, 1),
        path=format_path(("vars", cycle[0])),
        code="var-cycle",
    )

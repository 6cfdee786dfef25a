"""Finding the texts Jinja's `truncate` cut, for lint's `lint-cut-text`.

The environment's `truncate` filter is wrapped (same output) to count the cuts of
each ordinary render (`install_probe`). After a recipient whose render cut
something, the linter evaluates the truncating leaves again with `LISTENING` set
(`listen`), in that recipient's contexts (`ListItem.contexts` for `$for`/`$if`),
to learn which leaf cut and by how much.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, pass_environment

from linepress.render.builders import Context, LeafRenderer, Renderer
from linepress.report import SAMPLE_ROWS


@dataclass(frozen=True, slots=True)
class Cut:
    """One leaf's cut for one recipient: truncate's length, characters before and after."""

    leaf: LeafRenderer
    length: int
    before: int
    after: int


@dataclass(slots=True)
class CutCount:
    """How many recipients one leaf's truncate cut, and the first few rows."""

    leaf: LeafRenderer
    recipients: int = 0
    rows: list[int] = field(default_factory=list)

    def add(self, row: int | None) -> None:
        self.recipients += 1
        if row is not None and len(self.rows) < SAMPLE_ROWS:
            self.rows.append(row)


class _CutProbe:
    """Counts the cuts `truncate` makes in ordinary renders.

    A render only counts (one comparison per call): leaves may share one Jinja
    render, and a filter compiled into a template learns nothing of which leaf
    or recipient it serves. When the count grew during a recipient's render,
    the linter finds which leaves cut by evaluating the truncating leaves again
    with `LISTENING` set; recipients without a cut cost nothing more.
    """

    def __init__(self) -> None:
        self.cuts = 0


#: Set while the linter evaluates one leaf again: the cuts it makes, as
#: (truncate length, characters before, characters after).
LISTENING: ContextVar[list[tuple[int, int, int]] | None] = ContextVar(
    "linepress_lint_listening", default=None
)
_PROBES: weakref.WeakKeyDictionary[Renderer, _CutProbe] = weakref.WeakKeyDictionary()


def install_probe(renderer: Renderer) -> _CutProbe:
    """Wrap the environment's `truncate` filter (same output); once per renderer."""
    probe = _PROBES.get(renderer)
    if probe is None:
        probe = _PROBES[renderer] = _CutProbe()
        renderer.env.filters["truncate"] = _probed_truncate(renderer.env.filters["truncate"], probe)
    return probe


def _probed_truncate(truncate: Callable[..., Any], probe: _CutProbe) -> Callable[..., Any]:
    # Templates compiled before the wrap pass the environment: keep that signature.
    @pass_environment
    def probed(env: Environment, s: Any, *args: Any, **kwargs: Any) -> Any:
        result = truncate(env, s, *args, **kwargs)
        if result != s:
            heard = LISTENING.get()
            if heard is None:
                probe.cuts += 1
            else:
                length = args[0] if args else kwargs.get("length", 255)
                heard.append((int(length), len(str(s)), len(str(result))))
        return result

    return probed


def listen(leaf: LeafRenderer, ctx: Context) -> list[tuple[int, int, int]]:
    """The cuts `leaf` makes when evaluated in `ctx`."""
    heard: list[tuple[int, int, int]] = []
    token = LISTENING.set(heard)
    try:
        leaf.run(ctx)
    except Exception:  # the recipient compiled, so this is not expected; no cut is known
        return []
    finally:
        LISTENING.reset(token)
    return heard


@dataclass(frozen=True, slots=True)
class ListItem:
    """A list item written with `$for` and/or `$if`: the contexts it is built in."""

    name: str | None
    repeat: LeafRenderer | None
    condition: LeafRenderer | None

    def contexts(self, ctx: Context) -> list[Context]:
        try:
            contexts = [ctx]
            if self.repeat is not None and self.name is not None:
                values = self.repeat.run(ctx)
                if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__iter__"):
                    return []
                contexts = [{**ctx, self.name: value} for value in values]
            if self.condition is not None:
                contexts = [c for c in contexts if self.condition.run(c)]
            return contexts
        except Exception:  # as the renderer: such an item is left out
            return []

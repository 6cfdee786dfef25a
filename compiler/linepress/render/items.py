"""List items built per recipient: `$if: expression` keeps an item only when it is truthy,
`$for: name in expression` repeats it for each element of a list.

Written on an action or a carousel column; `builders` compiles each item and
`varying_list` builds the list for one recipient, recording where each output item
came from so problems still point at the item's YAML line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linepress.definition import FieldPath
from linepress.errors import describe, type_name
from linepress.render.building import DYNAMIC, Builder, RenderState
from linepress.render.templating import Context, LeafFailed, LeafRenderer, evaluate_raw

__all__ = ["FOR_SPEC", "ITEM_KEYS", "Item", "iterations", "varying_list"]

#: `$for`'s value: `name in expression`.
FOR_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(.+?)\s*$", re.DOTALL)
#: The keys that make a list item conditional or repeated.
ITEM_KEYS = ("$if", "$for")


@dataclass(frozen=True, slots=True)
class Item:
    """A list item: built as is, or under `$for` / `$if`."""

    source: FieldPath
    build: Builder
    repeat: tuple[str, LeafRenderer] | None = None
    condition: LeafRenderer | None = None

    @property
    def dynamic(self) -> bool:
        return self.repeat is not None or self.condition is not None


def iterations(item: Item, ctx: Context, state: RenderState) -> list[Context]:
    """The contexts an item is built in: one, several (`$for`) or none (`$if`)."""
    contexts = [ctx]
    if item.repeat is not None:
        name, leaf = item.repeat
        try:
            values = evaluate_raw(leaf, ctx)
        except LeafFailed as failure:
            state.fail(failure, leaf.path, leaf.location)
            return []
        if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__iter__"):
            # A CSV cell is a string: iterating it would repeat per character.
            if isinstance(values, str):
                # A CSV cell: the usual case. Say how to get a list.
                message = (
                    "`$for` needs a list, not text (every CSV cell is text): give a JSON "
                    "list (JSON or JSONL data), or split the text, e.g. "
                    "`$for: x in items.split(',')`"
                )
            else:
                message = "`$for` needs a list"
            shown = describe(values)
            found = shown if values is None else f"{type_name(values)} {shown}"
            state.fail(
                LeafFailed(message, found=found, code="type"),
                leaf.path,
                leaf.location,
            )
            return []
        contexts = [{**ctx, name: element} for element in values]
    if item.condition is None:
        return contexts
    kept = []
    for candidate in contexts:
        try:
            if evaluate_raw(item.condition, candidate):
                kept.append(candidate)
        except LeafFailed as failure:
            state.fail(failure, item.condition.path, item.condition.location)
    return kept


def varying_list(items: list[Item], source: FieldPath) -> Builder:
    """A builder for the list at `source` whose items are chosen or repeated per recipient."""

    def build_varying(ctx: Context, state: RenderState) -> Any:
        if state.skeleton:
            return DYNAMIC  # how many items there are is only known per recipient
        output: list[Any] = []
        target = state.output_path(source)
        for item in items:
            for item_ctx in iterations(item, ctx, state):
                state.enter(item.source, (*target, len(output)))
                try:
                    output.append(item.build(item_ctx, state))
                finally:
                    state.leave()
        return output

    return build_varying

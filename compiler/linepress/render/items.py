"""List items built per recipient: `$if: expression` keeps an item only when it is truthy,
`$for: name in expression` repeats it for each element of a list.

Written on an action or a carousel column; `builders` compiles each item and
`varying_list` builds the list for one recipient, recording where each output item
came from so problems still point at the item's YAML line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sized
from dataclasses import dataclass
from typing import Any

from linepress.definition import FieldPath
from linepress.errors import Problem, describe, format_path, type_name
from linepress.render.building import DYNAMIC, MAX_REPEATS, Builder, RenderState
from linepress.render.limits import LimitedEnvironment
from linepress.render.reads import reads_only_globals
from linepress.render.templating import Context, LeafFailed, LeafRenderer, evaluate_raw

__all__ = [
    "FOR_SPEC",
    "ITEM_KEYS",
    "Item",
    "iterations",
    "least_repeats",
    "too_many_repeats",
    "varying_list",
]

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
        if state.repeats_left < 0:
            return []  # out of items: said once, where it happened
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
        contexts = []
        for element in values:
            state.repeats_left -= 1
            if state.repeats_left < 0:
                state.fail(too_many_repeats(), leaf.path, leaf.location)
                return []
            contexts.append({**ctx, name: element})
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


def least_repeats(
    env: LimitedEnvironment,
    leaf: LeafRenderer | None,
    constants: Context,
    outer: int,
    problems: list[Problem],
) -> int:
    """How many times every recipient builds a `$for` item's contents, at least.

    `outer` is that count for the item itself. A `$for` over a constant (`range(99999)`)
    repeats the same for everyone, so passing `MAX_REPEATS` is the definition's problem,
    found by `check` without data; one over recipient data repeats at least 0 times.
    """
    if leaf is None or outer == 0 or not reads_only_globals(env, leaf):
        return 0
    try:
        values = evaluate_raw(leaf, constants)
        count = len(values) if isinstance(values, Sized) else 0
    except LeafFailed:
        return 0  # reported where it is compiled
    if isinstance(values, str | bytes | Mapping):
        return 0
    if outer * count > MAX_REPEATS:
        failure = too_many_repeats()
        problems.append(
            Problem(
                f"{failure.message}: {outer * count:,} here",
                leaf.location,
                path=format_path(leaf.path),
                code=failure.code,
            )
        )
        return 0
    return outer * count


def too_many_repeats() -> LeafFailed:
    """The failure of `$for` loops that together make more than `MAX_REPEATS` items."""
    return LeafFailed(
        f"`$for` makes more than {MAX_REPEATS:,} items for one recipient "
        "(all loops together; a loop inside a loop multiplies)",
        code="render-limit",
    )


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

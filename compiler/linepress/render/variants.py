"""`variants:`: the message chosen per recipient by the value of one column."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from linepress.definition import Variants
from linepress.errors import Location
from linepress.render.building import Builder, RenderState
from linepress.render.templating import ROW, Context, LeafFailed

__all__ = ["variant_builder"]


def variant_builder(
    variants: Variants,
    builders: Mapping[str, Builder],
    batch_ids: Mapping[str, int],
    render_batch: Callable[[int, Context, RenderState], None],
    where: Location,
) -> Builder:
    """A builder for `message` that builds the variant named by the recipient's
    `variants.by` value (or `variants.fallback` when it is empty), recording that the
    output came from `variants.messages.<name>`; a value with no variant fails there.
    `render_batch` renders a variant's batched text leaves before its builder runs.
    """
    names = ", ".join(builders)

    def build_variant(ctx: Context, state: RenderState) -> Any:
        if state.skeleton:
            chosen = state.variant
        else:
            value = ctx[ROW].get(variants.by)
            chosen = "" if value is None else str(value).strip()
            if not chosen:
                if variants.fallback is None:
                    return state.fail(
                        LeafFailed(
                            f"no `{variants.by}` value for this recipient and no `variants.fallback`",
                            code="variant",
                        ),
                        ("message",),
                        where,
                    )
                chosen = variants.fallback
            elif chosen not in builders:
                return state.fail(
                    LeafFailed(
                        f"no variant for {variants.by} = {chosen!r}"
                        f"{_close_variant(chosen, builders)}; add it to `variants.messages` "
                        f"(which has {names})",
                        code="variant",
                    ),
                    ("message",),
                    where,
                )
        assert chosen is not None
        state.variant = chosen
        render_batch(batch_ids[chosen], ctx, state)
        state.enter(("variants", "messages", chosen), ("message",))
        try:
            return builders[chosen](ctx, state)
        finally:
            state.leave()

    return build_variant


def _close_variant(value: str, names: Iterable[str]) -> str:
    """`JA` or `ja-JP` for a variant `ja`: "; did you mean `ja`?" (or nothing).

    Variant values match exactly (a fix belongs in the data or the definition),
    but a different case or a region suffix is the usual slip.
    """
    folded = value.casefold()
    for name in names:
        if name.casefold() == folded or name.casefold() == re.split(r"[-_]", folded)[0]:
            return f" (did you mean `{name}`?)"
    return ""

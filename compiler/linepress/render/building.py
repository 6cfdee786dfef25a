"""The pieces a builder tree is made of (see `builders`): one recipient's render state,
the markers for failed and per-recipient values, and the constant and mapping builders.

A builder is a function of (context, state) that returns one part of a body; the
tree of them is built once per definition and run once per recipient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from linepress.definition import FieldPath
from linepress.errors import Location, Problem, describe, format_path
from linepress.render.templating import (
    ROW,
    Context,
    LeafFailed,
    LeafRenderer,
    evaluate,
    is_encodable,
)
from linepress.validate.values import key_problem

__all__ = [
    "DYNAMIC",
    "FAILED",
    "Builder",
    "Remap",
    "RenderState",
    "Rendered",
    "VarFailed",
    "dict_builder",
    "fallback_builder",
    "plain_string",
    "run_leaf",
    "static_builder",
]


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: Stands in for a value that could not be rendered for this recipient.
FAILED = _Marker("<failed>")
#: Stands in, in a skeleton, for a value only known per recipient.
DYNAMIC = _Marker("<per recipient>")

Remap = tuple[FieldPath, FieldPath]


#: Items all of one recipient's `$for` loops may make together, `$if` or not.
MAX_REPEATS = 10_000


class RenderState:
    """What one recipient's rendering collects besides the body.

    A plain slotted class, made once per recipient: cheap to create matters here.
    """

    __slots__ = ("frames", "problems", "remaps", "repeats_left", "skeleton", "texts", "variant")

    def __init__(self, *, skeleton: bool = False, variant: str | None = None) -> None:
        self.problems: list[Problem] = []
        #: (output prefix, source prefix) of every part that moved, for locating problems.
        self.remaps: list[Remap] = []
        #: The innermost moved part being built: (source prefix, output prefix).
        self.frames: list[Remap] = []
        #: Build a skeleton: per-recipient values become DYNAMIC.
        self.skeleton = skeleton
        #: The variant built (set in a skeleton, chosen per recipient otherwise).
        self.variant = variant
        #: Texts of batched leaves, per batch (None: render those leaves one by one).
        self.texts: dict[int, list[str] | None] = {}
        #: Items `$for` may still make for this recipient, all loops together (nested
        #: loops multiply: the render budget of each template does not see them).
        self.repeats_left = MAX_REPEATS

    def output_path(self, source: FieldPath) -> FieldPath:
        if not self.frames:
            return source
        prefix, output = self.frames[-1]
        return output + source[len(prefix) :]

    def enter(self, source: FieldPath, output: FieldPath) -> None:
        self.frames.append((source, output))
        if source != output:
            self.remaps.append((output, source))

    def leave(self) -> None:
        self.frames.pop()

    def fail(self, failure: LeafFailed, source: FieldPath, location: Location) -> Any:
        self.problems.append(
            Problem(
                failure.message,
                location,
                path=format_path(self.output_path(source)),
                found=failure.found,
                code=failure.code,
            )
        )
        return FAILED


Builder = Callable[[Context, RenderState], Any]


class VarFailed(Exception):
    """A var rendered per recipient failed for this recipient; carries its problems."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("a var failed for this recipient")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Rendered:
    """One recipient's body, its problems, and where moved parts came from."""

    body: Any
    problems: list[Problem]
    remaps: list[Remap]
    #: The variant the message came from, when the definition has variants.
    variant: str | None = None


def plain_string(value: Any) -> bool:
    """A value `evaluate` would return unchanged: a `str` that UTF-8 can carry."""
    return value.__class__ is str and (value.isascii() or is_encodable(value))


def run_leaf(
    leaf: LeafRenderer, ctx: Context, state: RenderState, rendered: str | None = None
) -> Any:
    try:
        return evaluate(leaf, ctx, rendered)
    except LeafFailed as failure:
        return state.fail(failure, leaf.path, leaf.location)


def static_builder(value: Any) -> Builder:
    def build(ctx: Context, state: RenderState) -> Any:
        return value

    build.static = True  # type: ignore[attr-defined]
    return build


def dict_builder(children: list[tuple[str, Builder]]) -> Builder:
    if all(getattr(b, "static", False) for _, b in children):
        return static_builder({key: b({}, RenderState()) for key, b in children})
    # Static children are stored as values, so building calls only what varies.
    items = [
        (key, None, b({}, RenderState())) if getattr(b, "static", False) else (key, b, None)
        for key, b in children
    ]

    def build_dict(ctx: Context, state: RenderState) -> dict[str, Any]:
        return {key: value if build is None else build(ctx, state) for key, build, value in items}

    return build_dict


def default_key_problems(key: str, default: str, location: Location) -> list[Problem]:
    """`defaults.from`/`defaults.to` written as plain text: the key checks a body's
    `from`/`to` gets (a trailing space, full-width digits, ...), once, at load."""
    problem = key_problem(default)
    if problem is None:
        return []
    return [Problem(problem, location, path=f"defaults.{key}", found=describe(default), code="key")]


def fallback_builder(
    key: str,
    column: LeafRenderer,
    default: Any,
    default_leaf: LeafRenderer | None,
    location: Location,
) -> Builder:
    """A builder for `from`/`to` left out of the body: the recipient's `key` column
    (checked like `{{ key }}`, through `column`), else `defaults.<key>` (a template,
    `default_leaf`, or a plain `default`); with neither, a failure at `location`."""

    def build(ctx: Context, state: RenderState) -> Any:
        if state.skeleton:
            return DYNAMIC  # a recipient column may supply it
        value = ctx[ROW].get(key)
        if value not in (None, ""):
            if plain_string(value):
                return value  # the common case, as `run_leaf` would give it
            return run_leaf(column, ctx, state)
        if default_leaf is not None:
            return run_leaf(default_leaf, ctx, state)
        if default is not None:
            return default
        return state.fail(
            LeafFailed(
                f"no `{key}` for this recipient: add `{key}:` to the definition, "
                f"a `{key}` column to the data, or `defaults.{key}`",
                code="required",
            ),
            (key,),
            location,
        )

    return build

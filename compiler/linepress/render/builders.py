"""A definition's body as a tree of builders, run once per recipient.

The tree is built once: static parts become constants, string leaves compiled
templates (see `templating`). Per recipient it adds what is chosen or repeated:

- `variants:` picks a message by the value of one column (`variants`);
- a list item with `$if: expression` is included only when it is truthy, and one with
  `$for: name in expression` is repeated for each element (`items`).

Because those parts move values (the Japanese variant's `text` is written at
`variants.messages.ja.text` but sent at `message.text`; a repeated column's
third copy is `columns[2]`), rendering keeps a map from output paths back to
the definition's source paths, so every problem still points at its YAML line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from jinja2.runtime import Undefined

from linepress.definition import BODY_KEYS, Definition, FieldPath
from linepress.errors import DefinitionError, Location, Problem, describe, format_path
from linepress.render.building import (
    DYNAMIC,
    FAILED,
    Builder,
    Remap,
    Rendered,
    RenderState,
    VarFailed,
    default_key_problems,
    dict_builder,
    fallback_builder,
    plain_string,
    run_leaf,
    static_builder,
)
from linepress.render.imports import load_imports
from linepress.render.items import FOR_SPEC, ITEM_KEYS, Item, least_repeats, varying_list
from linepress.render.reads import names_read, reads_only_globals
from linepress.render.templating import (
    EXPRESSION,
    ROW,
    Context,
    LeafBatch,
    LeafFailed,
    LeafRenderer,
    compile_expression,
    compile_leaf,
    evaluate,
    evaluate_raw,
    has_markers,
    make_environment,
)
from linepress.render.var_cycles import var_cycles
from linepress.render.variants import variant_builder
from linepress.resources import resource_dir

__all__ = [
    "DYNAMIC",
    "FAILED",
    "ROW",
    "Context",
    "LeafRenderer",
    "Remap",
    "RenderState",
    "Rendered",
    "Renderer",
]


class Renderer:
    """Renders a definition's body for one recipient's fields."""

    def __init__(
        self,
        definition: Definition,
        numeric_fields: Mapping[str, str],
        text_fields: Collection[str] = frozenset(),
    ) -> None:
        """`numeric_fields`: field name -> "integer"/"number" where the API wants a number
        (numeric text is converted); `text_fields`: names where it wants a string (a
        number, boolean or null from JSON data is written as text)."""
        self.definition = definition
        self._numeric = numeric_fields
        self._text = text_fields
        self.env = make_environment([definition.path.parent, resource_dir("templates")])
        #: `vars` rendered once (see `_render_vars`).
        self.constants: dict[str, Any] = {}
        #: How many times every recipient builds the item being compiled, at least.
        self._repeats = 1
        #: `vars` that use recipient fields: rendered per recipient, in order.
        self._dynamic_vars: list[tuple[str, Builder]] = []
        #: Every compiled string leaf, for tools that inspect templates (lint).
        self.leaves: list[LeafRenderer] = []
        #: The body's string leaves by their path in the definition (for generated code).
        self._leaf_at: dict[FieldPath, LeafRenderer] = {}
        #: The batch scope of each variant.
        self._variant_scopes: dict[str, int] = {}
        self._skeletons: list[Rendered] | None = None
        #: Positions of values that do not come from the body's own text.
        self._locations: dict[FieldPath, Location] = {}
        problems: list[Problem] = []
        # Text leaves evaluated in one context share one Jinja render (see LeafBatch):
        # scope 0 is the body, each variant has its own; items under $if/$for have none.
        self._scopes: dict[int, list[LeafRenderer]] = {0: []}
        self._scope: list[LeafRenderer] | None = self._scopes[0]
        self._scope_id = 0
        self._render_vars(problems)
        load_imports(self.env, definition, self.constants, problems)
        self.fallback_keys = [key for key in ("from", "to") if key not in definition.body]
        built = [
            (key, self._compile(value, (key,), problems)) for key, value in definition.body.items()
        ]
        built += [(key, self._fallback(key, problems)) for key in self.fallback_keys]
        if definition.variants is not None:
            built.append(("message", self._variants(problems)))
        order = {key: index for index, key in enumerate(BODY_KEYS)}
        self._build = dict_builder(sorted(built, key=lambda kv: order[kv[0]]))
        if problems:
            raise DefinitionError(problems)
        if self._dynamic_vars:
            # A var no template reads is inert (say, a YAML anchor's home): never rendered.
            read = set().union(*(names_read(self.env, leaf.source) for leaf in self.leaves))
            self._dynamic_vars = [(n, b) for n, b in self._dynamic_vars if n in read]
        self._batches = {
            scope: LeafBatch(self.env, leaves)
            for scope, leaves in self._scopes.items()
            if len(leaves) > 1
        }

    # -- rendering --------------------------------------------------------

    def context(self, fields: Mapping[str, Any]) -> Context:
        """The variables templates see for one recipient.

        Raises `VarFailed` when a var that uses the recipient's fields fails for them.
        """
        ctx = {**self.constants, **fields}
        ctx[ROW] = fields
        for name, build in self._dynamic_vars:
            if name not in fields:  # a column of the same name wins, as over any var
                state = RenderState()
                value = build(ctx, state)
                if state.problems:
                    raise VarFailed(state.problems)
                ctx[name] = value
        return ctx

    def render(self, fields: Mapping[str, Any]) -> Rendered:
        state = RenderState()
        try:
            ctx = self.context(fields)
        except VarFailed as failure:
            return Rendered(FAILED, failure.problems, [], None)
        self._render_batch(0, ctx, state)
        body = self._build(ctx, state)
        return Rendered(body, state.problems, state.remaps, state.variant)

    def skeletons(self) -> list[Rendered]:
        """The body with every per-recipient value DYNAMIC: one per variant.

        Built once: the static check, the leaf checks, the generated code and lint
        all read them (and must not change them).
        """
        if self._skeletons is not None:
            return self._skeletons
        names = list(self.definition.variants.messages) if self.definition.variants else [None]
        result = []
        for name in names:
            state = RenderState(skeleton=True, variant=name)
            body = self._build({ROW: {}}, state)
            result.append(Rendered(body, state.problems, state.remaps, name))
        self._skeletons = result
        return result

    def source_path(self, path: FieldPath, remaps: Sequence[Remap] = ()) -> FieldPath:
        """Where the value sent at `path` is written in the definition."""
        source = path
        best = -1
        for output, origin in remaps:
            if len(output) > best and path[: len(output)] == output:
                best = len(output)
                source = origin + path[len(output) :]
        return source

    def inserted_values(
        self, path: FieldPath, remaps: Sequence[Remap], fields: Mapping[str, Any]
    ) -> list[tuple[str, Any]]:
        """Each `{{ expression }}` of the template sent at `path`, with its value for
        this recipient (source text, value); expressions that cannot be evaluated
        outside their template (a `$for` variable) are left out. For wording problems."""
        leaf = self.leaf_at(self.source_path(path, remaps))
        if leaf is None:
            return []
        try:
            ctx = self.context(fields)
        except VarFailed:
            return []
        found = []
        for match in EXPRESSION.finditer(leaf.source):
            text = match.group(1)
            try:
                self.env.start()  # a fresh render budget, as every evaluation has
                value = self.env.compile_expression(text, undefined_to_none=False)(ctx)
            except Exception:  # only a hint: a failing expression is worded elsewhere
                continue
            if not isinstance(value, Undefined):
                found.append((text, value))
        return found

    def location(
        self, path: FieldPath, remaps: Sequence[Remap] = (), *, key: bool = False
    ) -> Location:
        """Where the value sent at `path` comes from in the definition (`key`: its key)."""
        source = self.source_path(path, remaps)
        if key and source in self.definition.keys:
            return self.definition.keys[source]
        for end in range(len(source), 0, -1):
            prefix = source[:end]
            if prefix in self._locations:
                return self._locations[prefix]
            if prefix in self.definition.values:
                return self.definition.values[prefix].location
        return Location(self.definition.name, 1, 1)

    # -- for generated code (see `fastpath`) ------------------------------

    def leaf_at(self, source: FieldPath) -> LeafRenderer | None:
        """The string leaf written at `source` in the definition, if there is one."""
        return self._leaf_at.get(source)

    def batch_of(self, variant: str | None) -> LeafBatch | None:
        """The shared Jinja render of the body's text leaves (or of one variant's)."""
        return self._batches.get(0 if variant is None else self._variant_scopes[variant])

    def source_of(self, path: FieldPath, variant: str | None) -> FieldPath:
        """Where a value sent at `path` is written, when its message is `variant`."""
        if variant is not None and path[:1] == ("message",):
            return ("variants", "messages", variant, *path[1:])
        return path

    # -- building ---------------------------------------------------------

    def _compile(
        self, value: Any, source: FieldPath, problems: list[Problem], item: bool = False
    ) -> Builder:
        """A function that builds `value` (found at `source`) for one recipient."""
        if isinstance(value, dict):
            if not item:
                for key in ITEM_KEYS:
                    if key in value:
                        problems.append(
                            Problem(
                                f"`{key}` works on list items only (an action, a carousel column)",
                                self.definition.keys.get((*source, key), self._where(source)),
                                path=format_path((*source, key)),
                                code="shape",
                            )
                        )
            children = [
                (key, self._compile(child, (*source, key), problems))
                for key, child in value.items()
                if key not in ITEM_KEYS
            ]
            return dict_builder(children)
        if isinstance(value, list):
            return self._list(value, source, problems)
        if isinstance(value, str) and has_markers(value):
            leaf = self._leaf(value, source, problems)
            return self._leaf_builder(leaf) if leaf is not None else static_builder(FAILED)
        return static_builder(value)

    def _list(self, value: list[Any], source: FieldPath, problems: list[Problem]) -> Builder:
        items = [self._item(child, (*source, index), problems) for index, child in enumerate(value)]
        if not any(item.dynamic for item in items):
            builders = [item.build for item in items]
            if all(getattr(b, "static", False) for b in builders):
                return static_builder([b({}, RenderState()) for b in builders])

            def build_list(ctx: Context, state: RenderState) -> list[Any]:
                return [build(ctx, state) for build in builders]

            return build_list

        return varying_list(items, source)

    def _item(self, value: Any, source: FieldPath, problems: list[Problem]) -> Item:
        dynamic = isinstance(value, dict) and any(key in value for key in ITEM_KEYS)
        if not dynamic:
            return Item(source, self._compile(value, source, problems, item=True))
        repeat = None
        outer_repeats = self._repeats
        if "$for" in value:
            spec = value["$for"]
            match = FOR_SPEC.match(spec) if isinstance(spec, str) else None
            if match is None:
                problems.append(
                    Problem(
                        "`$for` must read `name in expression`, e.g. `$for: product in products`",
                        self._where((*source, "$for")),
                        path=format_path((*source, "$for")),
                        found=describe(spec),
                        code="shape",
                    )
                )
            else:
                leaf = self._expression(match.group(2), (*source, "$for"), problems)
                repeat = (match.group(1), leaf) if leaf is not None else None
                # What every recipient repeats at least (`check` sees what `compile` hits).
                self._repeats = least_repeats(
                    self.env, leaf, {**self.constants, ROW: {}}, self._repeats, problems
                )
        condition = None
        if "$if" in value:
            condition = self._expression(str(value["$if"]), (*source, "$if"), problems)
            self._repeats = 0  # maybe none are kept
        outer = self._scope
        self._scope = None  # built in its own contexts, or maybe not at all: no batching
        build = self._compile(value, source, problems, item=True)
        self._scope, self._repeats = outer, outer_repeats
        return Item(source, build, repeat, condition)

    def _variants(self, problems: list[Problem]) -> Builder:
        variants = self.definition.variants
        assert variants is not None
        builders: dict[str, Builder] = {}
        batch_ids: dict[str, int] = {}
        outer = (self._scope, self._scope_id)
        for name, message in variants.messages.items():
            batch_ids[name] = self._scope_id = self._variant_scopes[name] = len(self._scopes)
            self._scope = self._scopes[self._scope_id] = []
            builders[name] = self._compile(message, ("variants", "messages", name), problems)
        self._scope, self._scope_id = outer
        return variant_builder(
            variants, builders, batch_ids, self._render_batch, self.definition.keys[("variants",)]
        )

    def _render_vars(self, problems: list[Problem]) -> None:
        """`vars` in file order. A var whose templates use only the vars above it is
        rendered once, here; one that uses a recipient's fields is rendered for each
        recipient (`context`), seeing the vars above it and the fields. Either way no
        `{{` written in `vars` reaches a body."""
        outer = self._scope
        self._scope = None  # rendered in their own step: never in a body's batch
        in_cycle = var_cycles(self.definition, self.env, problems)
        for name, value in self.definition.vars.items():
            if name in in_cycle:
                continue
            path: FieldPath = ("vars", name)
            errors: list[Problem] = []
            build = self._compile(value, path, errors)
            if errors:
                problems += errors
                continue
            if getattr(build, "static", False):
                self.constants[name] = build({}, RenderState())
                continue
            known = set(self.constants) | set(self.env.globals) | {ROW}
            if names_read(self.env, value) <= known:  # only earlier constants: render it now
                state = RenderState()
                rendered = build({**self.constants, ROW: {}}, state)
                problems += state.problems
                if not state.problems:
                    self.constants[name] = rendered
                continue
            self._dynamic_vars.append((name, build))
        self._scope = outer

    def _fallback(self, key: str, problems: list[Problem]) -> Builder:
        """`from`/`to` left out of the body: the record's column, then `defaults`."""
        default = self.definition.defaults.get(key)
        path: FieldPath = ("defaults", key)
        location = (
            self.definition.values[path].location
            if path in self.definition.values
            else self._where(())
        )
        self._locations[(key,)] = location
        default_leaf = None
        if isinstance(default, str) and has_markers(default):
            default_leaf = self._leaf(default, path, problems)
        elif isinstance(default, str):  # as compile checks it for a recipient, check does now
            problems += default_key_problems(key, default, location)
        # The record's column is read like `{{ key }}`, so its value gets the same checks.
        column = compile_leaf(
            self.env, f"{{{{ {key} }}}}", (key,), None, location, None, text=key in self._text
        )
        assert isinstance(column, LeafRenderer)

        return fallback_builder(key, column, default, default_leaf, location)

    def _leaf(self, source: str, path: FieldPath, problems: list[Problem]) -> LeafRenderer | None:
        name = path[-1] if path and isinstance(path[-1], str) else None
        numeric = self._numeric.get(name) if name is not None else None
        compiled = compile_leaf(
            self.env,
            source,
            path,
            self.definition.values.get(path),
            self._where(path),
            numeric,
            text=name in self._text,
        )
        if isinstance(compiled, Problem):
            problems.append(compiled)
            return None
        # A constant leaf renders the same for every recipient: a failure (`{{ 10**5000 }}`,
        # a runaway loop) is the definition's, found by `check` without data too.
        if reads_only_globals(self.env, compiled) and self._fails_for_everyone(
            evaluate, compiled, path, problems
        ):
            return None
        self.leaves.append(compiled)
        self._leaf_at[path] = compiled
        return compiled

    def _fails_for_everyone(
        self,
        run: Callable[[LeafRenderer, Context], Any],
        leaf: LeafRenderer,
        path: FieldPath,
        problems: list[Problem],
    ) -> bool:
        """Evaluate a constant leaf once, with no recipient; a failure is the definition's.

        Not `context({})`: vars rendered per recipient need a recipient, so only the
        constant vars are given.
        """
        try:
            run(leaf, {**self.constants, ROW: {}})
        except LeafFailed as failure:
            problems.append(
                Problem(
                    failure.message,
                    leaf.location,
                    path=format_path(path),
                    found=failure.found,
                    code=failure.code,
                )
            )
            return True
        return False

    def _expression(
        self, source: str, path: FieldPath, problems: list[Problem]
    ) -> LeafRenderer | None:
        compiled = compile_expression(
            self.env, source, path, self.definition.values.get(path), self._where(path)
        )
        if isinstance(compiled, Problem):
            problems.append(compiled)
            return None
        # `$if: 10**5000`: every recipient fails alike.
        if reads_only_globals(self.env, compiled) and self._fails_for_everyone(
            evaluate_raw, compiled, path, problems
        ):
            return None
        self.leaves.append(compiled)
        return compiled

    def _leaf_builder(self, leaf: LeafRenderer) -> Builder:
        if not leaf.batchable and leaf.numeric is None:
            run = leaf.run

            def build_text(ctx: Context, state: RenderState) -> Any:
                # The common case inline: a lookup or plain text giving a string that
                # needs no conversion. Anything else goes the careful way, which also
                # words any error.
                if state.skeleton:
                    return DYNAMIC
                try:
                    value = run(ctx)
                except Exception:
                    return run_leaf(leaf, ctx, state)
                if plain_string(value):
                    return value
                return run_leaf(leaf, ctx, state)

            return build_text
        if not leaf.batchable or self._scope is None:

            def build(ctx: Context, state: RenderState) -> Any:
                if state.skeleton:
                    return DYNAMIC
                return run_leaf(leaf, ctx, state)

            return build
        batch, index = self._scope_id, len(self._scope)
        self._scope.append(leaf)

        def build_batched(ctx: Context, state: RenderState) -> Any:
            if state.skeleton:
                return DYNAMIC
            texts = state.texts.get(batch)
            return run_leaf(leaf, ctx, state, None if texts is None else texts[index])

        return build_batched

    def _render_batch(self, scope: int, ctx: Context, state: RenderState) -> None:
        batch = self._batches.get(scope)
        if batch is not None:
            state.texts[scope] = batch.render(ctx)

    def _where(self, path: FieldPath) -> Location:
        return self.location(path)

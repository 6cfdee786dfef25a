"""A definition's body as a tree of builders, run once per recipient.

The tree is built once: static parts become constants, string leaves compiled
templates (see `templating`). Per recipient it adds what is chosen or repeated:

- `variants:` picks a message by the value of one column;
- a list item with `$if: expression` is included only when it is truthy;
- a list item with `$for: name in expression` is repeated for each element.

Because those parts move values (the Japanese variant's `text` is written at
`variants.messages.ja.text` but sent at `message.text`; a repeated column's
third copy is `columns[2]`), rendering keeps a map from output paths back to
the definition's source paths, so every problem still points at its YAML line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError, TemplateNotFound, meta, nodes
from jinja2 import TemplateSyntaxError as JinjaSyntaxError
from jinja2.runtime import Undefined

from linepress.definition import BODY_KEYS, Definition, FieldPath
from linepress.errors import DefinitionError, Location, Problem, describe, format_path, type_name
from linepress.render.limits import RenderLimit
from linepress.render.reach import OutsideReach
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
    is_encodable,
    make_environment,
)
from linepress.resources import resource_dir

__all__ = ["DYNAMIC", "FAILED", "ROW", "Context", "LeafRenderer", "Remap", "Rendered", "Renderer"]

_FOR = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(.+?)\s*$", re.DOTALL)
ITEM_KEYS = ("$if", "$for")


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


class RenderState:
    """What one recipient's rendering collects besides the body.

    A plain slotted class, made once per recipient: cheap to create matters here.
    """

    __slots__ = ("frames", "problems", "remaps", "skeleton", "texts", "variant")

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


@dataclass(frozen=True, slots=True)
class _Item:
    """A list item: built as is, or under `$for` / `$if`."""

    source: FieldPath
    build: Builder
    repeat: tuple[str, LeafRenderer] | None = None
    condition: LeafRenderer | None = None

    @property
    def dynamic(self) -> bool:
        return self.repeat is not None or self.condition is not None


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
        self._load_imports(problems)
        self.fallback_keys = [key for key in ("from", "to") if key not in definition.body]
        built = [
            (key, self._compile(value, (key,), problems)) for key, value in definition.body.items()
        ]
        built += [(key, self._fallback(key, problems)) for key in self.fallback_keys]
        if definition.variants is not None:
            built.append(("message", self._variants(problems)))
        order = {key: index for index, key in enumerate(BODY_KEYS)}
        self._build = _dict_builder(sorted(built, key=lambda kv: order[kv[0]]))
        if problems:
            raise DefinitionError(problems)
        if self._dynamic_vars:
            # A var no template reads is inert (say, a YAML anchor's home): never rendered.
            read = set().union(*(self.names_in(leaf.source) for leaf in self.leaves))
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
            return _dict_builder(children)
        if isinstance(value, list):
            return self._list(value, source, problems)
        if isinstance(value, str) and has_markers(value):
            leaf = self._leaf(value, source, problems)
            return self._leaf_builder(leaf) if leaf is not None else _static(FAILED)
        return _static(value)

    def _list(self, value: list[Any], source: FieldPath, problems: list[Problem]) -> Builder:
        items = [self._item(child, (*source, index), problems) for index, child in enumerate(value)]
        if not any(item.dynamic for item in items):
            builders = [item.build for item in items]
            if all(getattr(b, "static", False) for b in builders):
                return _static([b({}, RenderState()) for b in builders])

            def build_list(ctx: Context, state: RenderState) -> list[Any]:
                return [build(ctx, state) for build in builders]

            return build_list

        def build_varying(ctx: Context, state: RenderState) -> Any:
            if state.skeleton:
                return DYNAMIC  # how many items there are is only known per recipient
            output: list[Any] = []
            target = state.output_path(source)
            for item in items:
                for item_ctx in self._iterations(item, ctx, state):
                    state.enter(item.source, (*target, len(output)))
                    try:
                        output.append(item.build(item_ctx, state))
                    finally:
                        state.leave()
            return output

        return build_varying

    def _item(self, value: Any, source: FieldPath, problems: list[Problem]) -> _Item:
        dynamic = isinstance(value, dict) and any(key in value for key in ITEM_KEYS)
        outer = self._scope
        if dynamic:
            self._scope = None  # built in its own contexts, or maybe not at all: no batching
        build = self._compile(value, source, problems, item=True)
        self._scope = outer
        if not dynamic:
            return _Item(source, build)
        repeat = None
        if "$for" in value:
            spec = value["$for"]
            match = _FOR.match(spec) if isinstance(spec, str) else None
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
        condition = None
        if "$if" in value:
            condition = self._expression(str(value["$if"]), (*source, "$if"), problems)
        return _Item(source, build, repeat, condition)

    def _iterations(self, item: _Item, ctx: Context, state: RenderState) -> list[Context]:
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
        where = self.definition.keys[("variants",)]
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
            self._render_batch(batch_ids[chosen], ctx, state)
            state.enter(("variants", "messages", chosen), ("message",))
            try:
                return builders[chosen](ctx, state)
            finally:
                state.leave()

        return build_variant

    def _render_vars(self, problems: list[Problem]) -> None:
        """`vars` in file order. A var whose templates use only the vars above it is
        rendered once, here; one that uses a recipient's fields is rendered for each
        recipient (`context`), seeing the vars above it and the fields. Either way no
        `{{` written in `vars` reaches a body."""
        outer = self._scope
        self._scope = None  # rendered in their own step: never in a body's batch
        in_cycle = self._var_cycles(problems)
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
            if self.names_in(value) <= known:  # only earlier constants: render it now
                state = RenderState()
                rendered = build({**self.constants, ROW: {}}, state)
                problems += state.problems
                if not state.problems:
                    self.constants[name] = rendered
                continue
            self._dynamic_vars.append((name, build))
        self._scope = outer

    def _var_cycles(self, problems: list[Problem]) -> set[str]:
        """Vars that read each other round (`a: "{{ b }}"`, `b: "{{ a }}"`): one problem per
        cycle, at its first var, naming the cycle and the lines; returns the vars in one."""
        names = list(self.definition.vars)
        reads: dict[str, list[str]] = {}
        for name in names:
            try:
                used = self.names_in(self.definition.vars[name])
            except Exception:  # a syntax error: reported when the var is compiled
                used = set()
            reads[name] = [other for other in names if other in used]
        in_cycle: set[str] = set()
        seen_cycles: set[frozenset[str]] = set()

        def visit(name: str, trail: list[str]) -> None:
            if name in trail:
                cycle = trail[trail.index(name) :]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    problems.append(self._cycle_problem([*cycle, name]))
                in_cycle.update(cycle)
                return
            if name in done:
                return
            for other in reads[name]:
                visit(other, [*trail, name])
            done.add(name)

        done: set[str] = set()
        for name in names:
            visit(name, [])
        return in_cycle

    def _cycle_problem(self, cycle: list[str]) -> Problem:
        lines = []
        for name in dict.fromkeys(cycle):
            leaf = self.definition.values.get(("vars", name))
            line = leaf.location.line if leaf is not None else None
            lines.append(f"{name} at line {line}" if line else name)
        start = self.definition.values.get(("vars", cycle[0]))
        return Problem(
            f"vars {' -> '.join(cycle)} form a cycle ({', '.join(lines)}): a var may use "
            "the vars above it, never itself through others",
            start.location if start is not None else self._where(("vars", cycle[0])),
            path=format_path(("vars", cycle[0])),
            code="var-cycle",
        )

    def names_in(self, value: Any) -> set[str]:
        """The variables the templates in `value` read (undeclared names)."""
        if isinstance(value, dict):
            return set().union(*(self.names_in(child) for child in value.values()))
        if isinstance(value, list):
            return set().union(*(self.names_in(child) for child in value))
        if isinstance(value, str) and has_markers(value):
            return set(meta.find_undeclared_variables(self.env.parse(value)))
        return set()

    def _load_imports(self, problems: list[Problem]) -> None:
        for alias, target in self.definition.imports.items():
            where = self.definition.values[("imports", alias)].location
            try:
                template = self.env.get_template(target)
                self.env.start()  # the file's own top level runs once, with the render limits
                self.env.globals[alias] = template.make_module(vars=self.constants)
            except OutsideReach as exc:
                problems.append(
                    Problem(str(exc.message), where, path=f"imports.{alias}", code="import")
                )
            except TemplateNotFound:
                searched = ", ".join(self.env.loader.searchpath)  # type: ignore[union-attr]
                problems.append(
                    Problem(
                        f"template file not found (searched {searched})",
                        where,
                        path=f"imports.{alias}",
                        found=repr(target),
                        code="import",
                    )
                )
            except JinjaSyntaxError as exc:
                problems.append(
                    Problem(
                        f"Jinja syntax error: {exc.message}",
                        Location(exc.filename or target, exc.lineno, None),
                        path=f"imports.{alias}",
                        code="jinja-syntax",
                    )
                )
            except RecursionError:  # it imports itself, or a file that imports it
                problems.append(
                    Problem(
                        f"{target!r} imports itself (directly or through another file)",
                        where,
                        path=f"imports.{alias}",
                        code="import",
                    )
                )
            except Exception as exc:  # its top level failed: raised, divided by zero, ...
                text = str(exc) if isinstance(exc, TemplateError | RenderLimit) else None
                problems.append(
                    Problem(
                        f"{target!r} failed to load: {text or f'{type(exc).__name__}: {exc}'}",
                        where,
                        path=f"imports.{alias}",
                        code="import",
                    )
                )

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
        # The record's column is read like `{{ key }}`, so its value gets the same checks.
        column = compile_leaf(
            self.env, f"{{{{ {key} }}}}", (key,), None, location, None, text=key in self._text
        )
        assert isinstance(column, LeafRenderer)

        def build(ctx: Context, state: RenderState) -> Any:
            if state.skeleton:
                return DYNAMIC  # a recipient column may supply it
            value = ctx[ROW].get(key)
            if value not in (None, ""):
                if _plain_string(value):
                    return value  # the common case, as `_run` would give it
                return _run(column, ctx, state)
            if default_leaf is not None:
                return _run(default_leaf, ctx, state)
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
        if self._is_constant(compiled) and self._fails_for_everyone(
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

    def _is_constant(self, leaf: LeafRenderer) -> bool:
        """Whether a leaf reads nothing a recipient can supply (only Jinja's globals and
        the imports): no names, or `range`, `fmt`, ... A `vars` constant is not one: a
        recipient column of that name overrides it."""
        if leaf.lookup is not None or leaf.parts is not None:
            return False
        try:
            tree = self.env.parse(leaf.source)
        except Exception:
            return False
        free = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
        stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        return all(name in self.env.globals or name in stored for name in free)

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
        if self._is_constant(compiled) and self._fails_for_everyone(
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
                    return _run(leaf, ctx, state)
                if _plain_string(value):
                    return value
                return _run(leaf, ctx, state)

            return build_text
        if not leaf.batchable or self._scope is None:

            def build(ctx: Context, state: RenderState) -> Any:
                if state.skeleton:
                    return DYNAMIC
                return _run(leaf, ctx, state)

            return build
        batch, index = self._scope_id, len(self._scope)
        self._scope.append(leaf)

        def build_batched(ctx: Context, state: RenderState) -> Any:
            if state.skeleton:
                return DYNAMIC
            texts = state.texts.get(batch)
            return _run(leaf, ctx, state, None if texts is None else texts[index])

        return build_batched

    def _render_batch(self, scope: int, ctx: Context, state: RenderState) -> None:
        batch = self._batches.get(scope)
        if batch is not None:
            state.texts[scope] = batch.render(ctx)

    def _where(self, path: FieldPath) -> Location:
        return self.location(path)


def _plain_string(value: Any) -> bool:
    """A value `evaluate` would return unchanged: a `str` that UTF-8 can carry."""
    return value.__class__ is str and (value.isascii() or is_encodable(value))


def _run(leaf: LeafRenderer, ctx: Context, state: RenderState, rendered: str | None = None) -> Any:
    try:
        return evaluate(leaf, ctx, rendered)
    except LeafFailed as failure:
        return state.fail(failure, leaf.path, leaf.location)


def _static(value: Any) -> Builder:
    def build(ctx: Context, state: RenderState) -> Any:
        return value

    build.static = True  # type: ignore[attr-defined]
    return build


def _dict_builder(children: list[tuple[str, Builder]]) -> Builder:
    if all(getattr(b, "static", False) for _, b in children):
        return _static({key: b({}, RenderState()) for key, b in children})
    # Static children are stored as values, so building calls only what varies.
    items = [
        (key, None, b({}, RenderState())) if getattr(b, "static", False) else (key, b, None)
        for key, b in children
    ]

    def build_dict(ctx: Context, state: RenderState) -> dict[str, Any]:
        return {key: value if build is None else build(ctx, state) for key, build, value in items}

    return build_dict

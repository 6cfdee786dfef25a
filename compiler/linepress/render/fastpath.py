"""One generated Python function per definition: the fast path of rendering.

The `Renderer`'s tree of builders handles everything: variants, `$if`/`$for`,
fallbacks, and problems located at their YAML line. For a recipient whose values
are ordinary (strings UTF-8 can carry, every leaf within its schema rules), all
of that comes down to a few dictionary lookups, string joins and comparisons.
`body_function` writes exactly those as the source of one Python function,
compiled once per definition: no builder calls, no render state, no walk of
the body to check it.

The function only ever *accepts*. On anything else (a missing column, a value
that is not a plain string, a rule that fails, any exception) it returns None
and the caller renders that recipient the careful way, which gives the same body
or words the problems. `tests/test_fastpath.py` holds the two to the same output.

Safety: the source is built from our own variable names, `repr()` of keys,
literal text and whole numbers, and nothing else; every other value (constants,
leaves, predicates) is passed in through the function's namespace, never written
into the code. Recipient values are only ever the function's argument.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from linepress.definition import FieldPath, contains
from linepress.limits import fits_graphemes, fits_utf16
from linepress.render.builders import DYNAMIC, ROW, Renderer
from linepress.render.jsontext import text_of
from linepress.render.templating import LeafRenderer, evaluate, has_markers, is_encodable
from linepress.validate.fastcheck import LeafChecks, Rule
from linepress.validate.values import (
    NUMBER_START,
    PLAIN_KEY,
    URL_FULL,
    KeyForms,
    is_recipient_key,
)

#: fields -> the checked body, or None: "render this recipient the careful way".
BodyFunction = Callable[[Mapping[str, Any]], dict[str, Any] | None]
#: The same for a CSV row: its values in column order.
RowFunction = Callable[[list[str]], dict[str, Any] | None]


class _NoGeneratedForm(Exception):
    """Some part of this definition has no generated form: every body goes the careful way."""


def body_function(
    renderer: Renderer, checks: Mapping[str | None, LeafChecks | None]
) -> BodyFunction | None:
    """The generated fast path for `renderer`'s bodies, or None when there is none."""
    return _generate(renderer, checks, None)  # type: ignore[return-value]


def row_function(
    renderer: Renderer,
    checks: Mapping[str | None, LeafChecks | None],
    columns: Sequence[str],
    odd_keys: list[str] | None = None,
) -> RowFunction | None:
    """The same, reading each CSV row (values in `columns` order) without making a dict.

    A `to` of no known form (`090-1234-5678`, `cust_17`) that shows no damage is
    taken (not sent the careful way) and appended to `odd_keys`, for the caller to
    note with the row; without `odd_keys`, such a row goes the careful way."""
    return _generate(renderer, checks, tuple(columns), odd_keys)  # type: ignore[return-value]


def _generate(
    renderer: Renderer,
    checks: Mapping[str | None, LeafChecks | None],
    columns: tuple[str, ...] | None,
    odd_keys: list[str] | None = None,
) -> Callable[[Any], dict[str, Any] | None] | None:
    functions: dict[str, Callable[[Any], dict[str, Any] | None]] = {}
    try:
        for skeleton in renderer.skeletons():
            variant_checks = checks.get(skeleton.variant)
            if variant_checks is None:
                return None  # every body needs full validation
            writer = _Writer(renderer, variant_checks, skeleton.variant, columns, odd_keys)
            function = writer.function(skeleton.body)
            if skeleton.variant is None:
                return function
            functions[skeleton.variant] = function
    except _NoGeneratedForm:
        return None
    variants = renderer.definition.variants
    assert variants is not None
    if columns is None:
        return _variant_chooser(
            operator.methodcaller("get", variants.by), variants.fallback, functions
        )
    if variants.by not in columns:
        return None  # every recipient takes the fallback: the careful way knows it
    return _variant_chooser(
        operator.itemgetter(columns.index(variants.by)), variants.fallback, functions
    )


def _variant_chooser(
    read: Callable[[Any], Any],
    fallback: str | None,
    functions: dict[str, Callable[[Any], dict[str, Any] | None]],
) -> Callable[[Any], dict[str, Any] | None]:
    def choose(fields: Any) -> dict[str, Any] | None:
        # As the renderer chooses, for the common case of a text value; anything
        # else (no value, an unknown variant) goes the careful way, which words it.
        value = read(fields)
        if value.__class__ is not str:
            return None
        chosen = value.strip() or fallback
        function = functions.get(chosen) if chosen is not None else None
        return None if function is None else function(fields)

    return choose


class _Writer:
    """Writes the source of one body function (one variant's, when there are variants)."""

    def __init__(
        self,
        renderer: Renderer,
        checks: LeafChecks,
        variant: str | None,
        columns: tuple[str, ...] | None,
        odd_keys: list[str] | None = None,
    ) -> None:
        self._renderer = renderer
        #: Where a taken `to` of no known form goes (None: such rows go the careful way).
        self._odd_keys = odd_keys
        self._checks = checks
        self._variant = variant
        #: CSV columns: the function reads a `row` list by index, not a `fields` mapping.
        self._columns = columns
        self._namespace: dict[str, Any] = {
            "_encodable": is_encodable,
            "_evaluate": evaluate,
            "_fits_utf16": fits_utf16,
            "_fits_graphemes": fits_graphemes,
            "_text": text_of,
            "_number_start": NUMBER_START,
            "_key_ok": is_recipient_key,
            "_url_full": URL_FULL,
            "_key_form": KeyForms.plain,
        }
        self._lines: list[str] = []
        self._count = 0
        self._batch = renderer.batch_of(variant)
        self._uses_context = False
        self._uses_batch = False

    def function(self, skeleton: Any) -> Callable[[Any], dict[str, Any] | None]:
        body = self._value(skeleton, ())
        prologue = []
        if self._uses_context:
            self._namespace["_context"] = self._renderer.context
            if self._columns is None:
                prologue.append("ctx = _context(fields)")
            else:
                self._namespace["_columns"] = self._columns
                prologue.append("ctx = _context(dict(zip(_columns, row)))")
        if self._uses_batch:
            assert self._batch is not None
            self._namespace["_batch"] = self._batch.render
            prologue += ["texts = _batch(ctx)", "if texts is None:", "    return None"]
        statements = [*prologue, *self._lines, f"return {body}"]
        source = (
            f"def body({'fields' if self._columns is None else 'row'}):\n"
            "    try:\n"
            + "".join(f"        {line}\n" for line in statements)
            + "    except Exception:\n"  # the careful path finds and words it
            "        return None\n"
        )
        exec(
            compile(source, f"<linepress body {self._renderer.definition.name}>", "exec"),
            self._namespace,
        )
        function: Callable[[Any], dict[str, Any] | None] = self._namespace["body"]
        function.source = source  # type: ignore[attr-defined]  # for debugging and tests
        return function

    # -- values -------------------------------------------------------------

    def _value(self, node: Any, path: FieldPath) -> str:
        """An expression building `node` (at `path` in the body)."""
        if node is DYNAMIC:
            return self._leaf(path)
        if not contains(node, DYNAMIC):
            return self._constant(node)
        if isinstance(node, dict):
            items = ", ".join(
                f"{key!r}: {self._value(child, (*path, key))}" for key, child in node.items()
            )
            return "{" + items + "}"
        if isinstance(node, list):
            return "[" + ", ".join(self._value(c, (*path, i)) for i, c in enumerate(node)) + "]"
        raise _NoGeneratedForm(f"a per-recipient value of an unexpected kind at {path}")

    def _constant(self, value: Any) -> str:
        if value.__class__ in (str, int, bool) or value is None:
            return repr(value)
        # Shared, as the renderer shares its static parts between bodies.
        return self._bind("k", value)

    def _bind(self, prefix: str, value: Any) -> str:
        """A new global name for `value` in the generated function."""
        name = self._fresh(prefix)
        self._namespace[name] = value
        return name

    def _fresh(self, prefix: str) -> str:
        """A new local variable name."""
        self._count += 1
        return f"{prefix}{self._count}"

    # -- leaves -------------------------------------------------------------

    def _leaf(self, path: FieldPath) -> str:
        var = self._fresh("v")
        if len(path) == 1 and path[0] in self._renderer.fallback_keys:
            known_str = self._fallback(var, str(path[0]))
        else:
            leaf = self._renderer.leaf_at(self._renderer.source_of(path, self._variant))
            if leaf is None:
                raise _NoGeneratedForm(f"no single leaf makes the value at {path}")
            known_str = self._render(var, leaf)
        for rule in self._checks.rules.get(path, ()):
            self._check(var, rule, known_str, path)
        return var

    def _fallback(self, var: str, key: str) -> bool:
        """`from`/`to` left out of the body: the record's column, else a constant default.

        A template default, or no default at all, goes the careful way (which words
        a missing value). Returns whether the value is known to be a `str`.
        """
        default = self._renderer.definition.defaults.get(key)
        if isinstance(default, str) and has_markers(default):
            default = None
        self._lines += [
            f"{var} = {self._column(key) or 'None'}",
            f'if {var} is None or {var} == "":',
            f"    {var} = {self._constant(default)}" if default is not None else "    return None",
            f"elif {var}.__class__ is not str or not ({_plain(var)}):",
            "    return None",
        ]
        return default is None or isinstance(default, str)

    def _render(self, var: str, leaf: LeafRenderer) -> bool:
        """Lines that set `var` to the leaf's value; whether it is known to be a `str`."""
        lines = self._lines
        plain_text = leaf.numeric is None
        if plain_text and leaf.lookup is not None and leaf.lookup != ROW:
            value, sure = self._field(leaf.lookup)
            lines.append(f"{var} = {value}")
            if not sure:
                lines += [
                    f"if {var}.__class__ is not str or not ({_plain(var)}):",
                    "    return None",
                ]
            return True
        if (
            plain_text
            and leaf.parts is not None
            and all(t != ROW for named, t in leaf.parts if named)
        ):
            terms = []
            all_sure = True
            for named, text in leaf.parts:
                if not named:
                    terms.append(repr(text))
                    all_sure = all_sure and is_encodable(text)
                    continue
                part = self._fresh("p")
                value, sure = self._field(text)
                lines.append(f"{part} = {value}")
                if not sure:
                    lines.append(f"if {part}.__class__ is not str: {part} = _text({part})")
                    all_sure = False
                terms.append(part)
            lines.append(f"{var} = {' + '.join(terms) or repr('')}")
            if not all_sure:
                lines += [f"if not ({_plain(var)}):", "    return None"]
            return True
        self._uses_context = True
        leaf_name = self._bind("leaf", leaf)
        index = self._batch_index(leaf)
        if index is None:
            lines.append(f"{var} = _evaluate({leaf_name}, ctx)")
            return False
        self._uses_batch = True
        if plain_text:
            lines.append(f"{var} = texts[{index}]")
            lines += [f"if not ({_plain(var)}):", "    return None"]
            return True
        lines.append(f"{var} = _evaluate({leaf_name}, ctx, texts[{index}])")
        return False

    def _field(self, name: str) -> tuple[str, bool]:
        """An expression reading `name` as a template would (the record, then `vars`),
        and whether its value is surely a `str` UTF-8 can carry (a CSV cell is: it was
        decoded from UTF-8)."""
        constants = self._renderer.constants
        column = self._column(name)
        if name in constants:
            constant = self._bind("k", constants[name])
            if self._columns is None:
                return f"fields.get({name!r}, {constant})", False
            return (column, True) if column else (constant, False)
        if column is None:
            raise _NoGeneratedForm(f"no column {name!r}")  # every recipient: "undefined"
        if self._columns is None:
            # A KeyError: the careful path words "undefined".
            return f"fields[{name!r}]", False
        return column, True

    def _column(self, name: str) -> str | None:
        """An expression reading the record's value of `name` (None: no such column)."""
        if self._columns is None:
            return f"fields.get({name!r})"
        if name not in self._columns:
            return None
        return f"row[{self._columns.index(name)}]"

    def _batch_index(self, leaf: LeafRenderer) -> int | None:
        if self._batch is None:
            return None
        for index, batched in enumerate(self._batch.leaves):
            if batched is leaf:
                return index
        return None

    # -- checks -------------------------------------------------------------

    def _check(self, var: str, rule: Rule, known_str: bool, path: FieldPath = ()) -> None:
        """A line rejecting values that fail `rule` (inlined when the value is a `str`)."""
        keyword, value = rule.keyword, rule.value
        test: str | None = None
        if known_str and isinstance(value, int) and not isinstance(value, bool):
            test = {
                "minLength": f"len({var}) >= {value}",
                "maxLength": f"len({var}) <= {value}",
                # The plain answers first, as fits_utf16/fits_graphemes do.
                "x-maxUtf16": f"len({var}) * 2 <= {value} or _fits_utf16({var}, {value})",
                "x-maxGraphemes": f"len({var}) <= {value} or _fits_graphemes({var}, {value})",
            }.get(keyword)
        if known_str and keyword == "type" and value == "string":
            return  # a `str` is a string
        # As `is_recipient_key` and `is_url` do, without the call.
        if known_str and value is True and keyword == "x-recipientKey" and path == ("to",):
            # A `to` of a known form (U + 32 hex, phone, UUID) costs one match. Another
            # one showing no damage is taken too, and handed to the caller to note
            # for the unknown-form warning; a damaged one goes the careful way, which
            # words the damage. (Once, every other form went the careful way: 3x slower.)
            odd = self._odd_keys
            if self._columns is None:  # a Result per body: its caller notes every `to`
                test = f"_key_form({var}) is not None or _key_ok({var})"
            elif odd is None:
                test = f"_key_form({var}) is not None"
            else:
                self._namespace["_odd_key"] = _odd_key_taker(odd)
                test = f"_key_form({var}) is not None or _odd_key({var})"
        elif known_str and value is True and keyword == "x-recipientKey":
            test = (
                f"({var}.isascii() and {var}.isprintable() and {var}[:1] != ' ' "
                f"and {var}[-1:] != ' ' and {var}[:1] not in _number_start) or _key_ok({var})"
            )
        if known_str and value is True and keyword == "x-url":
            test = f"{var}.isascii() and _url_full({var}) is not None"
        if test is None:
            test = f"{self._bind('rule', rule.predicate)}({var})"
        self._lines += [f"if not ({test}):", "    return None"]


def _odd_key_taker(odd: list[str]) -> Callable[[str], bool]:
    """`_odd_key(key)`: whether the key shows no damage; if so, it is kept in `odd`."""
    keep, plain = odd.append, PLAIN_KEY.fullmatch

    def take(key: str) -> bool:
        if plain(key) is not None or is_recipient_key(key):
            keep(key)
            return True
        return False

    return take


def _plain(var: str) -> str:
    """A `str` that UTF-8 can carry (no lone surrogate): what `evaluate` returns unchanged."""
    return f"{var}.isascii() or _encodable({var})"

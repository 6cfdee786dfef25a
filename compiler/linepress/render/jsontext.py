"""How a value prints in a message's text: as a CSV cell would hold it, never as Python.

JSON data brings `null`, `true`/`false`, objects and lists. Printed the Python way
they would read `None`, `True`, `{'first': 'A'}` in a customer's message. The rule,
however a value reaches the text (`{{ v }}`, `v ~ '!'`, `v | upper`, `'%s' % v`,
`v | join`, a macro's output):

- `null` prints nothing, like an empty CSV cell;
- booleans print `true` / `false`;
- an object, a list or any other non-text thing (`range(3)`, a `cycler()`, a
  macro not called) raises `NotText`, which the caller words at the leaf's line.

The environment applies it in `finalize` (every `{{ }}`), in `~` (see
`LimitedEnvironment.limited_concat`), in `%` and `str.format` arguments, and in the
filters that turn their input into text (`TEXT_FILTERS`). Each check is a class
test that plain text passes first, so the common path costs one comparison.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Macro, Undefined
from jinja2.utils import Cycler, Joiner, Namespace


class NotText(Exception):
    """Something that is not text (an object, a list, a macro, …) was printed as text."""

    def __init__(self, value: Any) -> None:
        super().__init__("an object or a list cannot be printed as text")
        self.value = value


class FilterFailed(Exception):
    """A filter or test raised on its input: `kind` ("filter"/"test"), its `name`,
    the `value` it was given and the exception's words for the author."""

    def __init__(self, kind: str, name: str, value: Any, reason: str) -> None:
        super().__init__(f"the {kind} `{name}` failed: {reason}")
        self.kind, self.name, self.value, self.reason = kind, name, value, reason


def printable(value: Any) -> Any:
    """What `{{ value }}` prints (Jinja's `finalize`): text and numbers as they are,
    null as nothing, booleans as JSON writes them; anything else raises `NotText`."""
    kind = value.__class__
    if kind is str or kind is int:  # the common cases, without isinstance
        return value
    if kind is float:
        return number_text(value)
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, str | int | Undefined):
        return value  # Markup; an undefined value raises its own error when printed
    raise NotText(_materialised(value))


def number_text(number: float) -> str:
    """A computed number as a person writes it: `5` (not `5.0`, from `10 / 2`), `0`
    (not `-0.0`), `100000000000000000000` (not `1e+20`), `0.00001` (not `1e-05`);
    otherwise the shortest digits that read back as the same number (`0.1`, `2.5`).
    NaN and infinity have no text a customer should see: `ValueError`."""
    if not math.isfinite(number):
        raise ValueError(
            "the calculation gives NaN or infinity (e.g. a division of 0 by 0 or a "
            "`float` of 'nan'), which no message can show"
        )
    if number.is_integer():
        return str(int(number))  # also -0.0 as 0
    text = repr(number)
    if "e" in text:
        return format(Decimal(text), "f")
    return text


def text_of(value: Any) -> str:
    """`value` as the text a message shows (strict about undefined: raises `UndefinedError`)."""
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    return str(printable(value))


def format_argument(value: Any) -> Any:
    """An argument of `%` or `str.format`: null and booleans as text, containers refused;
    numbers stay numbers so `%d` and `{:.2f}` still work."""
    kind = value.__class__
    if kind is str or kind is int or kind is float:
        return value
    return printable(value)


def percent_arguments(template: str, arguments: Any) -> Any:
    """The right side of `template % arguments`, with JSON values made printable."""
    if isinstance(arguments, tuple):
        return tuple(format_argument(item) for item in arguments)
    if isinstance(arguments, Mapping) and "%(" in template:
        return {key: format_argument(item) for key, item in arguments.items()}
    return format_argument(arguments)


def describe_kind(value: Any) -> str:
    """What a non-text value is, in the author's words ("a macro", "a list", …)."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Macro):
        return "a macro (call it: add `(…)`)"
    if isinstance(value, Cycler):
        return "a cycler (print `.next()` or `.current`)"
    if isinstance(value, Namespace):
        return "a namespace (print one of its attributes)"
    if isinstance(value, Joiner) or callable(value):
        return "a function (call it: add `()`)"
    if isinstance(value, Iterable):
        return "a list"
    return f"a {type(value).__name__} value"


def _materialised(value: Any) -> Any:
    # A generator or range would be gone after one look: keep what it held (a few).
    if isinstance(value, Iterable) and not isinstance(
        value, list | tuple | Mapping | str | Cycler | Joiner | Namespace | Macro
    ):
        items = []
        for item in value:
            items.append(item)
            if len(items) == 20:
                break
        return items
    return value


# -- filters ------------------------------------------------------------------

#: Filters that turn their input into text: their input gets the rule above.
TEXT_FILTERS = frozenset(
    {
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "indent",
        "lower",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlize",
        "wordcount",
        "wordwrap",
    }
)

#: Exceptions that already carry their own words for the author.
_OWN_WORDS = (NotText, FilterFailed, UndefinedError, SecurityError, RecursionError, MemoryError)


def guard_filters(
    filters: dict[str, Any],
    tests: dict[str, Any],
    own: tuple[type[BaseException], ...],
) -> None:
    """Wrap every filter and test in place: text filters get printable input, `join`,
    `format` and `urlencode` printable items, and any other exception becomes
    `FilterFailed` naming the filter (no raw Python text reaches the author).
    `own` adds exception classes that pass through unchanged (the render limits)."""
    passing = _OWN_WORDS + own
    known = {"filter": filters, "test": tests}
    for name, function in list(filters.items()):
        if name == "join":
            function = _join(function)
        elif name == "format":
            function = _format(function)
        elif name == "urlencode":
            function = _urlencode(function)
        filters[name] = _guarded("filter", name, function, name in TEXT_FILTERS, passing, known)
    for name, function in list(tests.items()):
        tests[name] = _guarded("test", name, function, False, passing, known)


def _guarded(
    kind: str,
    name: str,
    function: Callable[..., Any],
    text_input: bool,
    passing: tuple[type[BaseException], ...],
    known: Mapping[str, Mapping[str, Any]],
) -> Callable[..., Any]:
    passed = getattr(function, "jinja_pass_arg", None)
    first = 0 if passed is None else 1

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) > first:
            value = args[first]
            if not text_input:
                _check_input(kind, name, value)
            elif value.__class__ is not str:
                args = (*args[:first], _as_text(value), *args[first + 1 :])
        try:
            return function(*args, **kwargs)
        except passing:
            raise
        except TemplateRuntimeError as exc:  # `map('uppr')`: Jinja's own words, reworded
            raise FilterFailed(kind, name, _value(args, first), _unknown(exc, known)) from None
        except Exception as exc:
            raise FilterFailed(kind, name, _value(args, first), plain_reason(exc)) from None

    guarded.__name__ = getattr(function, "__name__", name)
    guarded.__doc__ = function.__doc__
    if passed is not None:
        guarded.jinja_pass_arg = passed  # type: ignore[attr-defined]
    return guarded


_NO_SUCH = re.compile(r"^No (filter|test) named '(.*)'\.")


def _unknown(exc: TemplateRuntimeError, known: Mapping[str, Mapping[str, Any]]) -> str:
    """Jinja's "No filter named 'uppr'." as "unknown filter `uppr`; did you mean `upper`?"."""
    match = _NO_SUCH.match(str(exc))
    if match is None:
        return plain_reason(exc)
    kind, name = match.groups()
    close = difflib.get_close_matches(name, list(known[kind]), n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown {kind} `{name}`{hint}"


def _as_text(value: Any) -> Any:
    """A text filter's input: numbers and booleans as their text (`wordwrap` of 1.5)."""
    if isinstance(value, str | Undefined):
        return value
    return str(printable(value))


#: Filters that need an object, and those that need a list (or text) to go through.
_OBJECT_FILTERS = frozenset({"dictsort", "items", "xmlattr"})
_LIST_FILTERS = frozenset(
    {
        "batch",
        "count",
        "first",
        "groupby",
        "last",
        "length",
        "random",
        "list",
        "map",
        "max",
        "min",
        "reject",
    }
    | {"rejectattr", "reverse", "select", "selectattr", "slice", "sort", "sum", "unique"}
)


_NUMBER_FILTERS = frozenset({"abs", "filesizeformat", "round"})


def _check_input(kind: str, name: str, value: Any) -> None:
    """Refuse, with the author's words, an input the filter cannot use (Jinja's own
    failure would come later, from a generator, blamed on the next filter)."""
    if kind != "filter" or isinstance(value, Undefined):
        return
    if name in _OBJECT_FILTERS and not isinstance(value, Mapping):
        raise FilterFailed(kind, name, value, f"it needs an object, and found {_kind_word(value)}")
    if name in _NUMBER_FILTERS and (
        value is None or value.__class__ is bool or not isinstance(value, int | float | str)
    ):
        raise FilterFailed(kind, name, value, f"it needs a number, and found {_kind_word(value)}")
    if name in _LIST_FILTERS and not isinstance(value, Iterable):  # null, true, 42
        raise FilterFailed(kind, name, value, f"it needs a list, and found {_kind_word(value)}")


def _value(args: tuple[Any, ...], first: int) -> Any:
    return args[first] if len(args) > first else None


def _join(function: Callable[..., Any]) -> Callable[..., Any]:
    # do_join(eval_ctx, value, d="", attribute=None): each item printed by the rule.
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        if value is None:
            return ""
        if isinstance(value, Mapping):
            raise NotText(value)  # its keys joined would not be what was meant
        if not isinstance(value, Iterable):
            raise TypeError(f"it joins the items of a list, and {_kind_word(value)} has none")
        if attribute is not None:
            value = map(make_attrgetter(eval_ctx.environment, attribute), value)
        return function(eval_ctx, [text_of(item) for item in value], d)

    join.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    join.__name__ = "do_join"
    return join


def _format(function: Callable[..., Any]) -> Callable[..., Any]:
    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        return function(
            text_of(value),
            *(format_argument(a) for a in args),
            **{k: format_argument(v) for k, v in kwargs.items()},
        )

    format_.__name__ = "do_format"
    return format_


def _urlencode(function: Callable[..., Any]) -> Callable[..., Any]:
    # An object becomes `key=value&…` (Jinja's documented use), its values printed by
    # the rule; a list has no keys to write, so it is text that was not meant.
    def urlencode(value: Any) -> str:
        if value.__class__ is str:
            return quote_text(value)
        if isinstance(value, Mapping):
            return function({str(k): text_of(v) for k, v in value.items()})  # type: ignore[no-any-return]
        if value.__class__ is not str:
            value = printable(value)
        return function(value)  # type: ignore[no-any-return]

    urlencode.__name__ = "do_urlencode"
    return urlencode


#: Bytes `urlencode` keeps as they are (RFC 3986 unreserved, and `/`, as Jinja's).
_SAFE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/"
#: Each byte's form in a link: itself when safe, else its `%XX` escape.
_QUOTED = tuple(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256))


def quote_text(text: str) -> str:
    """Jinja's `urlencode` of a string, the same text, without a Python step per byte
    (it is on the per-recipient path of most links)."""
    data = text.encode("utf-8")
    if not data.rstrip(_SAFE_BYTES):
        return text
    return "".join(map(_QUOTED.__getitem__, data))


# -- words ------------------------------------------------------------------

_PY_KINDS = {
    "NoneType": "null",
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "dict": "an object",
    "list": "a list",
    "tuple": "a list",
    "Undefined": "an undefined value",
    "StrictUndefined": "an undefined value",
}
_PY_OBJECT = re.compile(r"'(\w+)' object")
_DUNDER = re.compile(r"type (\w+) doesn't define __(\w+)__ method")
_PY_NAME = re.compile(r"'(NoneType|str|int|float|bool|dict|list|tuple)'")


def _kind_word(value: Any) -> str:
    return _PY_KINDS.get(type(value).__name__, f"a {type(value).__name__} value")


def plain_reason(exc: BaseException) -> str:
    """An exception's message with Python's type names in the author's words
    (`'NoneType' object is not iterable` -> `null is not iterable`)."""
    text = str(exc) or type(exc).__name__

    def kind(match: re.Match[str]) -> str:
        return _PY_KINDS.get(match.group(1), match.group(0))

    text = _DUNDER.sub(
        lambda m: f"{_PY_KINDS.get(m.group(1), m.group(1))} has no {m.group(2)}", text
    )
    return _PY_NAME.sub(kind, _PY_OBJECT.sub(kind, text)).replace("NoneType", "null")

"""The Jinja environment's limits: what one template render may cost.

Jinja's sandbox stops templates reaching Python's internals, not templates that
run away: `{{ 10**5000 }}`, `{{ 'a' | center(1000000000) }}`, `'%999999999d' % 1`,
a loop of loops, a macro that calls itself twice per call. Each of those would
hang a build or take all memory, some already while the template is compiled
(Jinja folds constant expressions then). `LimitedEnvironment` bounds them:

- every call, loop pass and intercepted operator is a *step*; one render may take
  `MAX_STEPS` (a count, not a clock, so `check` stops exactly where `compile` would);
- no text it makes may be longer than `MAX_TEXT` characters, checked *before*
  padding, repeating or replacing allocates it; making text costs steps too;
- numbers stay below `MAX_INT_BITS` bits, also checked before `**` or `*` runs;
- the operators and filters that could explode are never folded at compile time
  (intercepted operators are not; a limited filter that refuses is not either).

A render that passes a limit raises `RenderLimit`, which the caller reports at the
template's line like any other template failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from types import BuiltinFunctionType, BuiltinMethodType
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.filters import (
    do_batch,
    do_center,
    do_format,
    do_indent,
    do_join,
    do_replace,
    do_round,
    do_wordwrap,
    sync_do_slice,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from linepress.render.jsontext import format_argument, guard_filters, percent_arguments, text_of
from linepress.render.pyforms import (
    FILTERS,
    OperandError,
    Refused,
    check_format_forms,
    check_operand,
    check_operands,
    check_percent_forms,
    loop_items,
)

#: Steps one render may take: calls, loop passes, operators, and text made (see
#: `CHARS_PER_STEP`). Ordinary templates take tens; this is a few hundred ms.
MAX_STEPS = 200_000
#: The longest text a template may make, in characters: 20 times LINE's longest
#: text field (5,000); also the widest padding or field width it may ask for.
MAX_TEXT = 100_000
#: Making this many characters costs one step.
CHARS_PER_STEP = 100
#: The largest whole number a template may compute (a body carries 64-bit ones).
MAX_INT_BITS = 4096

# A %-format conversion: its width and precision (digits or `*`).
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
# Digits in a str.format field's spec (`{:>999999999}`) or a nested `{}` in it.
_FORMAT_SPEC = re.compile(r"\{[^{}]*:([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_DIGITS = re.compile(r"\d+")


class RenderLimit(Exception):
    """A render went past one of the limits; the message says which, for the author."""


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the limits above. Call `start()` before each render."""

    # Every arithmetic operator: the explosive ones are bounded, and none may run on
    # null, a boolean, an object or a list by accident (`linepress.render.pyforms`).
    intercepted_binops = frozenset({"*", "**", "%", "+", "-", "/", "//"})
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Steps left in the current render.
        self.steps_left = MAX_STEPS
        self.filters.update(FILTERS)
        self.filters.update(
            center=self._limited(do_center, _padding),
            indent=self._limited(do_indent, _indented),
            format=self._limited(do_format, _formatted),
            replace=self._limited(do_replace, _replaced),
            join=self._limited(do_join, None),
            slice=self._limited(sync_do_slice, _sliced),
            # Filters whose cost an argument drives: refused before they run.
            batch=self._limited(do_batch, _batched),
            round=self._limited(do_round, _rounded),
            tojson=self._limited(FILTERS["tojson"], _json_indented),
            wordwrap=self._limited(do_wordwrap, None),
        )
        # JSON values print as a CSV cell would hold them through every filter, and a
        # filter's failure is worded for the author (`linepress.render.jsontext`).
        guard_filters(self.filters, self.tests, (RenderLimit, Refused, OperandError))
        self.filters[_LOOP_FILTER] = _limited_loop
        self.globals["lipsum"] = _lipsum

    # -- the budget ---------------------------------------------------------

    def start(self) -> None:
        """A new render begins: the full step budget again."""
        self.steps_left = MAX_STEPS

    def spend(self, steps: int = 1) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise RenderLimit(
                f"the template takes too long: more than {MAX_STEPS:,} steps for one "
                "recipient (a loop or a macro that calls itself runs away?)"
            )

    def make_text(self, length: int) -> None:
        """About to make a text of `length` characters: refuse or pay for it."""
        if length > MAX_TEXT:
            raise RenderLimit(
                f"the template would make a text of {length:,} characters; "
                f"at most {MAX_TEXT:,} are allowed"
            )
        self.spend(1 + length // CHARS_PER_STEP)

    def limited_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """What `{% for %}` loops over: one step per pass (see `_generate`)."""
        spend = self.spend
        for item in loop_items(iterable):
            spend()
            yield item

    # -- the sandbox's hooks ------------------------------------------------

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.spend()
        if isinstance(__obj, BuiltinMethodType | BuiltinFunctionType) and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            check = _STR_METHODS.get(__obj.__name__)
            if check is not None:
                __self.make_text(check(str(__obj.__self__), args, kwargs))
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str):
            __self.make_text(len(result))
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.spend()
        if operator == "%" and isinstance(left, str):
            _check_percent(left, right)
            return left % percent_arguments(left, right)
        check_operands(operator, left, right)
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                _check_bits(left.bit_length() + right.bit_length())
            elif isinstance(right, int) and isinstance(left, str | list | tuple):
                self.make_text(len(left) * max(right, 0))
            elif isinstance(left, int) and isinstance(right, str | list | tuple):
                self.make_text(len(right) * max(left, 0))
        elif (
            operator == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
        ):
            self.make_text(len(left) + len(right))
        return self.binop_table[operator](left, right)

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        self.spend()
        check_operand(operator, arg)
        return self.unop_table[operator](arg)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__

        def limited(*args: Any, **kwargs: Any) -> str:
            check_format_forms(text)
            _check_format_spec(text, args, kwargs)
            args = tuple(format_argument(a) for a in args)
            kwargs = {k: format_argument(v) for k, v in kwargs.items()}
            result = wrapped(*args, **kwargs)
            self.make_text(len(result))
            return result

        return limited

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        # Every `{% for %}` loops over `environment.limited_iter(...)`: a loop that does
        # nothing else (no call, no output) still spends a step per pass.
        # (A filter, not a call: filters are called directly, calls through `call`.)
        for loop in source.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == _LOOP_FILTER):
                loop.iter = nodes.Filter(
                    loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno
                )
        for concat in source.find_all(nodes.Concat):
            # `a ~ b` as a call of `limited_concat`, so doubling a text in a loop stops.
            if len(concat.nodes) == 1 and _is_limited(concat.nodes[0], "limited_concat"):
                continue
            concat.nodes = [
                nodes.Call(
                    nodes.EnvironmentAttribute("limited_concat"),
                    [nodes.Tuple(concat.nodes, "load")],
                    [],
                    None,
                    None,
                    lineno=concat.lineno,
                )
            ]
        return super()._generate(source, *args, **kwargs)  # type: ignore[no-any-return]

    def limited_concat(self, parts: tuple[Any, ...]) -> str:
        """`a ~ b ~ c`, refused before joining when too long (`call` pays for the result)."""
        texts = [text_of(part) for part in parts]
        length = sum(map(len, texts))
        if length > MAX_TEXT:
            self.make_text(length)
        return "".join(texts)

    def _limited(
        self, function: Callable[..., Any], size: Callable[..., int] | None
    ) -> Callable[..., Any]:
        """A filter that refuses, before running, to make more than `MAX_TEXT` characters."""

        # Some filters take Jinja's eval context or environment first (`jinja_pass_arg`).
        passed = getattr(function, "jinja_pass_arg", None)

        def limited(*args: Any, **kwargs: Any) -> Any:
            if size is not None:
                self.make_text(size(*args[passed is not None :], **kwargs))
            result = function(*args, **kwargs)
            if isinstance(result, str):
                self.make_text(len(result))
            return result

        limited.__name__ = function.__name__
        if passed is not None:
            limited.jinja_pass_arg = passed  # type: ignore[attr-defined]
        return limited


#: The filter every `{% for %}` loops through (not a name a template can spell).
_LOOP_FILTER = "linepress.loop"


@pass_context
def _limited_loop(context: Any, iterable: Iterable[Any]) -> Iterator[Any]:
    # Passed the context, so Jinja never runs it while compiling (constant folding).
    return context.environment.limited_iter(iterable)  # type: ignore[no-any-return]


def _is_limited(node: nodes.Node, name: str) -> bool:
    """Whether `node` is already a call of `environment.<name>` (a tree compiled twice)."""
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == name
    )


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        digits = int(bits * 0.30103) + 1
        raise RenderLimit(
            f"the number would have about {digits:,} digits; a message carries at most 20"
        )


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_bits((base.bit_length() - 1) * exponent)


def _width(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _padding(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> int:
    return max(len(str(value)), _width(width))


def _indented(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    text = str(value)
    per_line = len(width) if isinstance(width, str) else _width(width)
    return len(text) + (text.count("\n") + 1) * per_line


def _replaced(value: Any, old: Any = "", new: Any = "", *args: Any, **kwargs: Any) -> int:
    text, old, new = str(value), str(old), str(new)
    count = len(text) + 1 if not old else text.count(old)
    return len(text) + count * max(len(new) - len(old), 0)


def _formatted(value: Any, *args: Any, **kwargs: Any) -> int:
    _check_percent(str(value), kwargs or args)
    return len(str(value))


def _sliced(value: Any, slices: Any = 1, *args: Any, **kwargs: Any) -> int:
    if _width(slices) > MAX_TEXT:
        raise RenderLimit(f"`slice` into {slices:,} parts; at most {MAX_TEXT:,} are allowed")
    return 0


def _batched(value: Any, linecount: Any = 1, fill_with: Any = None, *args: Any) -> int:
    # With a fill value the last batch is padded to `linecount` items: `batch(10**9, 0)`.
    if fill_with is not None and _width(linecount) > MAX_TEXT:
        raise RenderLimit(f"`batch` of {linecount:,} items; at most {MAX_TEXT:,} are allowed")
    return 0


#: The most digits `round` may round to, either side of the point.
MAX_ROUND_DIGITS = 100


def _rounded(value: Any, precision: Any = 0, *args: Any, **kwargs: Any) -> int:
    # `round(-10**9)` computes 10**(10**9) first: it never ends.
    if abs(_width(precision)) > MAX_ROUND_DIGITS:
        shown = f"{precision:,}" if precision.bit_length() < 64 else "a huge number"
        raise RenderLimit(
            f"`round` to {shown} digits; at most {MAX_ROUND_DIGITS} either side of the point"
        )
    return 0


def _json_indented(value: Any, indent: Any = None, *args: Any, **kwargs: Any) -> int:
    if abs(_width(indent)) > 100:
        raise RenderLimit(f"`tojson` indented by {indent:,}; at most 100 is allowed")
    return 0


def _check_percent(text: str, args: Any) -> None:
    """`'%999999999d' % 1`: refuse widths and precisions past MAX_TEXT before formatting."""
    if "%" not in text:
        return
    check_percent_forms(text)
    values = list(args) if isinstance(args, tuple) else [args]
    for match in _PERCENT.finditer(text):
        for spec in match.groups():
            if spec == "*":
                if any(_width(v) > MAX_TEXT or _width(v) < -MAX_TEXT for v in values):
                    raise _too_wide(max(abs(_width(v)) for v in values))
            elif spec is not None and (len(spec) > 6 or int(spec) > MAX_TEXT):
                raise _too_wide(int(spec))


def _check_format_spec(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`'{:>999999999}'.format(1)`: the same for str.format."""
    for match in _FORMAT_SPEC.finditer(text):
        spec = match.group(1)
        for digits in _DIGITS.findall(spec):
            if len(digits) > 6 or int(digits) > MAX_TEXT:
                raise _too_wide(int(digits))
        if "{" in spec:  # a width taken from the arguments
            values = [*args, *kwargs.values()]
            if any(abs(_width(v)) > MAX_TEXT for v in values):
                raise _too_wide(max(abs(_width(v)) for v in values))


def _too_wide(width: int) -> RenderLimit:
    shown = f"{width:,}" if width.bit_length() < 64 else "a huge number"
    return RenderLimit(f"a field width of {shown}; at most {MAX_TEXT:,} is allowed")


def _str_pad(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    width = args[0] if args else kwargs.get("width", 0)
    return max(len(text), _width(width))


def _str_expandtabs(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    size = args[0] if args else kwargs.get("tabsize", 8)
    return len(text) + text.count("\t") * max(_width(size), 0)


def _str_replace(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], str):
        return len(text)
    return _replaced(text, args[0], args[1])


def _str_join(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    items = args[0] if args else ()
    if isinstance(items, list | tuple):
        return sum(len(i) for i in items if isinstance(i, str)) + len(text) * len(items)
    return 0  # measured afterwards, from the result


#: str methods that can make long texts from short ones: the length they would make.
_STR_METHODS: dict[str, Callable[[str, tuple[Any, ...], dict[str, Any]], int]] = {
    "center": _str_pad,
    "ljust": _str_pad,
    "rjust": _str_pad,
    "zfill": _str_pad,
    "expandtabs": _str_expandtabs,
    "replace": _str_replace,
    "join": _str_join,
}


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's `lipsum`, limited to what fits in a message."""
    if _width(n) > 100 or _width(max) > 1000 or _width(min) > 1000:
        raise RenderLimit("`lipsum` asked for too much text: at most n=100, max=1000")
    return generate_lorem_ipsum(n, html, min, max)

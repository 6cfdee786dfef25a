"""The ways a Jinja template could still write Python's form of a value, closed.

`jsontext` makes `{{ }}`, `~`, `%`/`format` arguments, `join` and the text filters
print JSON values as a CSV cell would hold them. A few builtins write a value their
own way and would show a customer `None`, `True`, `{'a': 1}` or `'text'`:

- `pprint` (Python's `pformat`) and `tojson` (HTML-safe JSON: `&` as `\\u0026`,
  every non-ASCII character as `\\uXXXX`) are replaced by one JSON writer that
  keeps text as it is (`json_text`);
- `xmlattr` prints its values with `str()`: they get the text rule first;
- `%r`/`%a` and `{!r}`/`{!a}` ask for Python's form by name: refused (`PythonForm`);
- arithmetic on null, an object, a list or a boolean (`nickname + 'x'`,
  `points * 2` with `points: true`) is refused naming the operand (`OperandError`)
  instead of Python's "unsupported operand type(s)" or a silent `2`.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import pass_eval_context
from jinja2.filters import do_xmlattr
from jinja2.runtime import Undefined

from linepress.render.jsontext import NotText, text_of

#: The widest JSON indent a template may ask for (`tojson(1000000000)` would fill memory).
MAX_INDENT = 16


class Refused(Exception):
    """Something a template asked for that is refused; the message says what and why."""


class PythonForm(Refused):
    """A format asked for Python's form of a value (`%r`, `{!r}`): the message says so."""


def loop_items(value: Any) -> Any:
    """What `{% for %}` may loop over: a list, an object, text; null, a boolean or a
    number is refused in the author's words (not Python's "is not iterable")."""
    if isinstance(value, Iterable | Undefined):
        return value
    if value is None:
        what = "null (empty in this row): guard the loop with `{% if … %}`"
    else:
        what = "true/false" if value.__class__ is bool else f"a number ({value})"
    raise Refused(f"`{{% for %}}` loops over a list or an object, and found {what}")


class OperandError(Exception):
    """Arithmetic on a value that is not a number (or not text, for `+`): the operator
    and both operands, for the author's words (`linepress.render.failures`)."""

    def __init__(self, operator: str, left: Any, right: Any, unary: bool = False) -> None:
        super().__init__(f"`{operator}` cannot use this value")
        self.operator, self.left, self.right, self.unary = operator, left, right, unary


# -- pprint and tojson --------------------------------------------------------


def json_text(value: Any, indent: Any = None) -> str:
    """`value` as JSON text, non-ASCII and `&<>'` kept as they are (a message is not
    HTML); keys in the data's order. Raises `NotText` for what JSON cannot hold."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if indent is not None and not (
        (isinstance(indent, int) and not isinstance(indent, bool) and 0 <= indent <= MAX_INDENT)
        or (isinstance(indent, str) and len(indent) <= MAX_INDENT)
    ):
        raise ValueError(f"indent must be a width from 0 to {MAX_INDENT} (found {indent!s:.20})")
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        return list(value)  # a tuple, a generator from `map`/`batch`: its items
    raise NotText(value)


@pass_eval_context
def tojson(eval_ctx: Any, value: Any, indent: Any = None) -> str:
    """Jinja's `tojson` for a message: JSON text without HTML escapes."""
    return json_text(value, indent)


def pprint(value: Any, verbose: bool = False) -> str:
    """Jinja's `pprint` (a debugging aid), written as JSON instead of Python."""
    return json_text(value, 2 if isinstance(value, Mapping | list | tuple) and value else None)


@pass_eval_context
def xmlattr(eval_ctx: Any, d: Any, autospace: bool = True) -> str:
    """Jinja's `xmlattr`, its values printed by the text rule (null still left out)."""
    if isinstance(d, Mapping):
        d = {k: v if v is None or isinstance(v, Undefined) else text_of(v) for k, v in d.items()}
    return do_xmlattr(eval_ctx, d, autospace)  # type: ignore[no-any-return]


#: Builtin filters replaced, by name.
FILTERS: dict[str, Callable[..., Any]] = {"pprint": pprint, "tojson": tojson, "xmlattr": xmlattr}


# -- %r and {!r} ------------------------------------------------------------

#: A %-conversion (with its mapping key, flags, width, precision) or `%%`.
_PERCENT_CONVERSION = re.compile(
    r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?([a-zA-Z%])"
)


def check_percent_forms(template: str) -> None:
    """Refuse `%r`/`%a` in a `%` template (they write `'text'`, `None`)."""
    if "%" not in template:
        return
    for match in _PERCENT_CONVERSION.finditer(template):
        if match.group(1) in "ra":
            raise PythonForm(
                f"`{match.group(0)}` writes a value the way Python does ('text', None, True); "
                f"use `%s`"
            )


def check_format_forms(template: str) -> None:
    """Refuse `{!r}`/`{!a}` in a `str.format` template, nested fields included."""
    if "!" not in template:
        return
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # a malformed template: `format` itself says what is wrong
    for _literal, name, spec, conversion in fields:
        if conversion in ("r", "a"):
            raise PythonForm(
                f"`{{{name or ''}!{conversion}}}` writes a value the way Python does "
                f"('text', None, True); use `{{{name or ''}}}`"
            )
        if spec and "{" in spec:
            check_format_forms(spec)


# -- arithmetic -------------------------------------------------------------


def check_operands(operator: str, left: Any, right: Any) -> None:
    """Before `left <operator> right` runs: numbers with numbers, text `+` text, text
    or a list `*` a whole number, a list `+` a list; anything else (null, booleans,
    objects, text with numbers) raises `OperandError`. The common cases cost two
    class checks."""
    lk, rk = left.__class__, right.__class__
    if (lk is int or lk is float) and (rk is int or rk is float):
        return
    if isinstance(left, Undefined) or isinstance(right, Undefined):
        return  # Jinja says which name is undefined
    if operator == "+" and (
        (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, list | tuple) and isinstance(right, list | tuple))
    ):
        return
    if operator == "*" and (
        (isinstance(left, str | list | tuple) and rk is int)
        or (lk is int and isinstance(right, str | list | tuple))
    ):
        return
    raise OperandError(operator, left, right)


def check_operand(operator: str, value: Any) -> None:
    """Before a unary `-`/`+`: a number only."""
    kind = value.__class__
    if kind is int or kind is float:
        return
    if value is None or kind is bool or isinstance(value, Mapping | list | tuple | str):
        raise OperandError(operator, value, None, unary=True)

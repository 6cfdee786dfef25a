"""A leaf's value as the JSON a body carries: numbers from numeric text, integers in
64-bit range, finite floats, UTF-8-writable text, nesting within bounds."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from jinja2.runtime import Undefined

from linepress.definition import describe_integer, in_json_range
from linepress.errors import describe, type_name
from linepress.render.failures import LeafFailed

# ASCII only: `int()`/`float()` would also take Arabic-Indic or full-width digits and `1_0`.
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def to_number(text: str, kind: str) -> int | float:
    """A numeric string (as CSV gives every value) as the number the API wants."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        try:
            whole = int(stripped)
        except ValueError:  # more digits than Python converts (4300): far out of range
            raise _out_of_range(describe(text)) from None
        if not in_json_range(whole):
            raise _out_of_range(describe(text))
        return whole
    if kind == "number" and _NUMBER.fullmatch(stripped):
        number = float(stripped)
        if not math.isfinite(number):  # `1e400`
            raise _out_of_range(describe(text))
        return number
    expected = "a whole number" if kind == "integer" else "a number"
    raise LeafFailed(f"expected {expected}", found=describe(text), code="type")


#: How deeply a value from an expression may nest: orjson writes 254 levels at most,
#: and no LINE body needs more than ten.
MAX_VALUE_DEPTH = 64
#: The most items a list made by an expression may have (a body holds a few dozen).
MAX_ITEMS = 100_000


def to_json_value(value: Any, depth: int = 0) -> Any:
    """Plain JSON values from what an expression returned (Markup, tuples, …)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # orjson writes 64-bit integers only; a bigger one would crash serialization.
        if not in_json_range(value):
            raise _out_of_range(describe_integer(value))
        return value
    if isinstance(value, str):
        if not value.isascii():
            _check_encodable(value)
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LeafFailed("the value cannot be written as JSON", found=repr(value), code="type")
        return value
    if isinstance(value, list | tuple | Mapping) and depth >= MAX_VALUE_DEPTH:
        raise LeafFailed(
            f"the value is nested too deeply (more than {MAX_VALUE_DEPTH} levels)", code="type"
        )
    if isinstance(value, list | tuple):
        return [to_json_value(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        # A generator from `map`, `batch`, `items`, …: the list it yields (bounded
        # like a template's text, so `range` cannot fill memory).
        items = list(islice(value, MAX_ITEMS + 1))
        if len(items) > MAX_ITEMS:
            raise LeafFailed(f"the value is a list of more than {MAX_ITEMS:,} items", code="type")
        return to_json_value(items, depth)
    raise LeafFailed("the value cannot be written as JSON", found=type_name(value), code="type")


def _out_of_range(found: str) -> LeafFailed:
    return LeafFailed("the number is out of range", found=found, code="type")


def is_encodable(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (no unpaired surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_encodable(text: str) -> None:
    # JSON input may spell a lone UTF-16 surrogate ("\\ud800"); no UTF-8 body can carry it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        found = f"an unpaired surrogate {text[exc.start]!a} at character {exc.start + 1}"
        raise LeafFailed("the value cannot be written as JSON", found=found, code="type") from None

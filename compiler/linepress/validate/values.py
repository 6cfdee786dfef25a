"""What a rendered string must be, beyond its type and length: links and recipient keys.

Two custom schema keywords (declared in `linepress.validate.overrides`, checked by the
full validator in `linepress.validate.body` and per leaf by `linepress.validate.fastcheck`):

    x-url           an absolute URL as LINE wants it: percent-encoded UTF-8, so no
                    whitespace, control or raw non-ASCII characters, every `%` starting
                    a `%XX` escape, and a host after `//`
    x-recipientKey  `to`/`from` as a person typed or a spreadsheet kept it: not blank,
                    no leading/trailing or invisible spaces, no number a spreadsheet
                    rewrote (`6.68123E+10`, `812345678.0`)

Each has a predicate (fast, accepts the ordinary value at once) and a function that
words what is wrong (only called for values the predicate refused).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Percent-encoded ASCII with a scheme, and a host after `//` when there is one.
_URL = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?://[^/?#\x00-\x20\x7f%]|(?!//))(?:[^\x00-\x20\x7f%]|%[0-9A-Fa-f]{2})*"
)
_URL_PART = re.compile(r"(?:[^\x00-\x20\x7f%]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: The longest suggested link shown in a message (characters).
_SHOWN = 300

# What a spreadsheet makes of a long number: `6.68123E+10` (digits lost), `812345678.0`.
_SCIENTIFIC = re.compile(r"[+-]?\d(?:\.\d+)?[eE][+-]\d+")
_DECIMAL = re.compile(r"[+-]?\d+\.0+")
#: Every ordinary key (user ID, phone, UUID) in one match: ASCII printable, no space at
#: either end, not a spreadsheet's number. Its `fullmatch` is the whole fast check.
PLAIN_KEY = re.compile(
    r"(?![+-]?\d(?:\.\d+)?[eE][+-]\d+$)(?![+-]?\d+\.0+$)[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?"
)
#: `is_url`'s steps, for generated code: the scheme (and host), and a `%` starting no escape.
URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?://[^/?#\x00-\x20\x7f%]|(?!//))").match
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})").search
#: First characters of the numbers a spreadsheet writes (keys starting so get a closer look).
NUMBER_START = frozenset("+-0123456789")

#: A LINE user ID, a phone number (digits, optional `+`), a UUID (dashes optional).
_KEY_FORMATS = re.compile(
    r"U[0-9a-fA-F]{32}|\+?[0-9]{6,15}"
    r"|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


# --- links ------------------------------------------------------------------------------


def is_url(value: Any) -> bool:
    """The `x-url` predicate: True for non-strings (a type rule words those).

    The same verdict as `_URL.fullmatch` on an ASCII string, in C-speed steps: no
    control character or space (printable ASCII), a scheme (and a host after `//`),
    and `%` only in `%XX` escapes.
    """
    return value.__class__ is not str or (
        value.isascii()
        and value.isprintable()
        and " " not in value
        and URL_START(value) is not None
        and ("%" not in value or BAD_ESCAPE(value) is None)
    )


def is_url_part(text: str) -> bool:
    """Whether `text` can stand inside a link as it is (percent-encoded, no spaces)."""
    return text.isascii() and _URL_PART.fullmatch(text) is not None


def is_link(text: str) -> bool:
    """Whether `text` starts like a whole link (a scheme and `:`), stray spaces aside."""
    return _SCHEME.match(text.strip()) is not None


def url_problem(value: str) -> str | None:
    """What makes `value` not a link LINE opens, and the fix; None when it is one."""
    if is_url(value):
        return None
    stripped = value.strip()
    if stripped != value:
        where = "start" if value[0] != stripped[:1] else "end"
        char = value[0] if where == "start" else value[-1]
        fix = f"; without it: {_shown(encode_url(stripped))}" if stripped else ""
        return f"a link must not {where} with {_char_name(char)}{fix}"
    for index, char in enumerate(value):
        if char == "%" and not re.match(r"%[0-9A-Fa-f]{2}", value[index : index + 3]):
            return (
                f"`%` at character {index + 1} does not start an escape like %20 "
                f"(a literal % is %25): write {_shown(encode_url(value))}"
            )
        if ord(char) <= 0x20 or ord(char) == 0x7F or not char.isascii():
            return (
                f"a link must be percent-encoded UTF-8, and {_char_name(char)} at character "
                f"{index + 1} is not: write {_shown(encode_url(value))}"
            )
    if _SCHEME.match(value) is None:
        return "must be an absolute link, starting with its scheme (https://…)"
    return "a link with `//` needs a host after it (https://example.com/…)"


def encode_url(value: str) -> str:
    """`value` with what a link may not hold percent-encoded as UTF-8 (`%` kept where it
    starts an escape): the form LINE wants."""
    out = []
    for index, char in enumerate(value):
        if char == "%" and re.match(r"%[0-9A-Fa-f]{2}", value[index : index + 3]):
            out.append(char)
        elif char == "%" or ord(char) <= 0x20 or ord(char) == 0x7F or not char.isascii():
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8", "replace")))
        else:
            out.append(char)
    return "".join(out)


def _shown(link: str) -> str:
    return link if len(link) <= _SHOWN else link[: _SHOWN - 1] + "…"


# --- recipient keys ---------------------------------------------------------------------


def is_recipient_key(value: Any) -> bool:
    """The `x-recipientKey` predicate: True for non-strings (a type rule words those)."""
    if value.__class__ is not str:
        return True
    if (
        value.isascii()
        and value.isprintable()
        and value[:1] != " "
        and value[-1:] != " "
        and value[:1] not in NUMBER_START
    ):
        return True  # printable ASCII, no space at either end, not a number: a plain key
    return PLAIN_KEY.fullmatch(value) is not None or key_problem(value) is None


def key_problem(value: str) -> str | None:
    """What damage `value` shows as a recipient key (`to`/`from`); None when it shows none.

    Never fixes it: a key that is trimmed or rewritten could reach someone else.
    """
    if not value:
        return None  # `minLength` says "must not be empty"
    if not value.strip() or all(_invisible(c) for c in value):
        return "is blank: it holds only " + _char_names(value)
    last = len(value) - 1
    for index, char in enumerate(value):
        # An ASCII space inside (`+81 90 1234`) is no damage, just not a key's usual form.
        if _invisible(char) and not (char == " " and 0 < index < last):
            if char.isspace() and index == 0:
                what = f"a leading {_char_name(char, article=False)}"
            elif char.isspace() and index == last:
                what = f"a trailing {_char_name(char, article=False)}"
            else:
                what = f"{_char_name(char)} at character {index + 1}"
            return (
                f"has {what}: keys pasted from a "
                "spreadsheet or a web page pick these up; fix the data (linepress never "
                "trims a key)"
            )
    if _SCIENTIFIC.fullmatch(value):
        return (
            "is a number a spreadsheet wrote in scientific notation (its last digits are "
            "lost): format the column as text and export it again"
        )
    if _DECIMAL.fullmatch(value):
        return (
            "is a number a spreadsheet turned into a decimal (`.0`): format the column as "
            "text and export it again"
        )
    return None


def looks_like_key(value: str) -> bool:
    """Whether `value` looks like a LINE user ID, a phone number or a UUID."""
    return _KEY_FORMATS.fullmatch(value) is not None


def _invisible(char: str) -> bool:
    """Whitespace (ASCII or not), control and format (zero-width, BOM, bidi) characters."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")


_NAMES = {" ": "space", "\t": "tab", "\n": "line break", "\r": "carriage return"}


def _char_name(char: str, *, article: bool = True) -> str:
    """`a space`, `a no-break space (U+00A0)`, `'春' (U+6625)`."""
    if char in _NAMES:
        name = _NAMES[char]
        return f"a {name}" if article else name
    code = f"U+{ord(char):04X}"
    if char.isprintable() and not char.isspace():
        return f"{char!r} ({code})"
    name = unicodedata.name(char, "").lower() or "control character"
    return f"a {name} ({code})" if article else f"{name} ({code})"


def _char_names(value: str) -> str:
    names = sorted({_char_name(c, article=False) for c in value})
    return ", ".join(names)

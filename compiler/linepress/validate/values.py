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
import urllib.parse
from typing import Any

# IDNA 2008 with UTS 46 mapping (what browsers do) for hosts with non-ASCII letters;
# Python's own `encodings.idna` is IDNA 2003. Already installed with httpx.
import idna

from linepress.errors import Location, Problem, Severity, describe

# ASCII a link may not hold raw (RFC 3986 excludes them; LINE refuses them): each is
# written as its `%XX` escape.
_UNSAFE_CHARS = '\\"<>{}|^`'
# Percent-encoded ASCII with a scheme, and a host after `//` when there is one.
_URL = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?://[^/?#\x00-\x20\x7f%\\\"<>{}|^`]|(?!//))"
    r"(?:[^\x00-\x20\x7f%\\\"<>{}|^`]|%[0-9A-Fa-f]{2})*"
)
_URL_PART = re.compile(r"(?:[^\x00-\x20\x7f%]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: The longest suggested link shown in a message (characters).
_SHOWN = 300
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
#: Runs of escapes of non-ASCII bytes (`%E6%98%A5`): each must be whole UTF-8.
_HIGH_ESCAPES = re.compile(r"(?:%[89A-Fa-f][0-9A-Fa-f])+")
# One escaped UTF-8 character, exactly as Python's strict decoder takes it (no
# overlong forms, no surrogates, nothing past U+10FFFF); `_C` is a continuation byte.
_C = r"%[89ABab][0-9A-Fa-f]"
_UTF8_ESCAPE = (
    r"%[0-7][0-9A-Fa-f]"
    rf"|%[Cc][2-9A-Fa-f]{_C}|%[Dd][0-9A-Fa-f]{_C}"
    rf"|%[Ee]0%[ABab][0-9A-Fa-f]{_C}|%[Ee][1-9A-Ca-cEFef]{_C}{_C}|%[Ee][Dd]%[89][0-9A-Fa-f]{_C}"
    rf"|%[Ff]0%[9ABab][0-9A-Fa-f]{_C}{_C}|%[Ff][1-3]{_C}{_C}{_C}|%[Ff]4%8[0-9A-Fa-f]{_C}{_C}"
)
# A host name's label: letters, digits, `_` and inner `-` (so no `x..jp`, `-.jp`, `...`).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
# A port is a number from 0 to 65535.
_PORT = r"(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4})"
# `//` then a host (a name or an IPv4 address) and a port; no `user:password@`.
_AUTHORITY = rf"{_LABEL}(?:\.{_LABEL})*\.?(?::(?:{_PORT})?)?"
#: The whole `x-url` rule for an ASCII string in one match: a scheme (and a host after
#: `//`), then printable ASCII without space or `\\ " < > { } | ^` backtick, `%` only
#: in escapes that spell whole UTF-8 characters. (`is_url` is `isascii` and this.)
URL_FULL = re.compile(
    r"(?!(?i:https?):(?!//))"  # http(s) needs `//host`: `https:example.com` opens nothing
    r"[A-Za-z][A-Za-z0-9+.\-]*+:(?=.)"  # something after the scheme (`tel:` alone is no link)
    rf"(?://{_AUTHORITY}(?=[/?#]|$)|(?!//))"
    rf"(?:[^\x00-\x20\x7f%\\\"<>{{}}|^`]++|{_UTF8_ESCAPE})*+"
).fullmatch

# What a spreadsheet makes of a long number: `6.68123E+10`, `1.2e10`, `1,2E+10` (a
# decimal comma), `6681234567e0` (digits lost or not: never a key's form), `812345678.0`.
_SCIENTIFIC = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)[eE][+-]?\d+")
_DECIMAL = re.compile(r"[+-]?\d+[.,]0+")
#: Every ordinary key (user ID, phone, UUID) in one match: ASCII printable, no space at
#: either end, not a spreadsheet's number. Its `fullmatch` is the whole fast check.
PLAIN_KEY = re.compile(
    r"(?![+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)[eE][+-]?\d+$)(?![+-]?\d+[.,]0+$)"
    r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?"
)
#: `is_url`'s steps, for generated code: the scheme (and host), and a `%` starting no escape.
URL_START = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?://[^/?#\x00-\x20\x7f%\\\"<>{}|^`]|(?!//))"
).match
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})").search
#: A character a link may not hold raw (`"`, `<`, `|`, …), for generated code.
UNSAFE = re.compile(r'[\\"<>{}|^`]').search
#: First characters of the numbers a spreadsheet writes (keys starting so get a closer look).
NUMBER_START = frozenset("+-0123456789.,")

#: A LINE user ID, a phone number (digits, optional `+`), a UUID (dashes optional).
_KEY_FORMATS = re.compile(
    r"U[0-9a-fA-F]{32}|\+?[0-9]{6,15}"
    r"|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


# --- links ------------------------------------------------------------------------------


def is_url(value: Any) -> bool:
    """The `x-url` predicate: True for non-strings (a type rule words those).

    The same verdict as `_URL.fullmatch` on an ASCII string plus `escapes_are_utf8`,
    in C-speed steps: no control character or space (printable ASCII), none of
    `\\ " < > { } | ^` and backtick, a scheme (and a host after `//`), and `%` only
    in `%XX` escapes that spell whole UTF-8 characters.
    """
    return value.__class__ is not str or (value.isascii() and URL_FULL(value) is not None)


def escapes_ok(value: str) -> bool:
    """Every `%` starts a `%XX` escape, and the escaped bytes are whole UTF-8 characters."""
    return BAD_ESCAPE(value) is None and escapes_are_utf8(value)


def escapes_are_utf8(value: str) -> bool:
    """Whether each run of escaped non-ASCII bytes (`%E6%98%A5`) decodes as UTF-8."""
    for run in _HIGH_ESCAPES.findall(value):
        try:
            bytes.fromhex(run.replace("%", "")).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def is_url_part(text: str) -> bool:
    """Whether `text` can stand inside a link as it is: what `url_problem` would pass
    (percent-encoded UTF-8, no spaces, no character a link must escape)."""
    if not text.isascii() or _URL_PART.fullmatch(text) is None:
        return False
    if any(char in _UNSAFE_CHARS for char in text):
        return False
    return all(_whole_utf8(match.group(0)) for match in _HIGH_ESCAPES.finditer(text))


def _whole_utf8(escapes: str) -> bool:
    """Whether a run of `%XX` escapes spells whole UTF-8 characters."""
    try:
        bytes.fromhex(escapes.replace("%", "")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_link(text: str) -> bool:
    """Whether `text` starts like a whole link (a scheme and `:`), stray spaces aside."""
    return _SCHEME.match(text.strip()) is not None


def url_problem(value: str) -> str | None:
    """What makes `value` not a link LINE opens, and the fix; None when it is one.

    One message per link, naming the first thing wrong, with the whole link as LINE
    wants it when there is one (`encode_url`): the path, query and fragment
    percent-encoded as UTF-8, a host with non-ASCII letters in IDNA (punycode).
    """
    if is_url(value):
        return None
    stripped = value.strip()
    if stripped != value:
        where = "start" if value[0] != stripped[:1] else "end"
        char = value[0] if where == "start" else value[-1]
        fixed = encode_url(stripped) if stripped else None
        fix = f"; without it: {_shown(fixed)}" if fixed else ""
        return f"a link must not {where} with {_char_name(char)}{fix}"
    if _SCHEME.match(value) is None:
        return "must be an absolute link, starting with its scheme (https://…)"
    host_start, host_end = _host_span(value)
    host = value[host_start:host_end]
    if host_start and not host:
        return "a link with `//` needs a host after it (https://example.com/…)"
    if host and (not host.isascii() or not _url_chars_ok(host)):
        return _host_problem(value, host)
    shape = _shape_problem(value, host_start, host)
    if shape is not None:
        return shape
    fixed = encode_url(value)
    write = f": write {_shown(fixed)}" if fixed is not None else ""
    for index, char in enumerate(value):
        if char == "%" and not _ESCAPE.match(value, index):
            return (
                f"`%` at character {index + 1} does not start an escape like %20 "
                f"(a literal % is %25){write}"
            )
        if ord(char) <= 0x20 or ord(char) == 0x7F or not char.isascii():
            return (
                f"a link must be percent-encoded UTF-8, and {_char_name(char)} at character "
                f"{index + 1} is not{write}"
            )
        if char in _UNSAFE_CHARS:
            return f"{_char_name(char)} at character {index + 1} must be escaped in a link{write}"
    for match in _HIGH_ESCAPES.finditer(value):
        try:
            bytes.fromhex(match.group(0).replace("%", "")).decode("utf-8")
        except UnicodeDecodeError as exc:
            at = match.start() + exc.start * 3
            return (
                f"the escape {value[at : at + 3]} at character {at + 1} is not part of a whole "
                f"UTF-8 character ({match.group(0)} is cut short or not UTF-8): LINE wants "
                "percent-encoded UTF-8; encode the text again from the original"
            )
    return "a link with `//` needs a host after it (https://example.com/…)"


def shape_ok(value: str) -> bool:
    """The link's parts read plainly (urllib's split): a scheme with something after it,
    `//` after http(s), a host of whole labels, a port from 0 to 65535."""
    if _SCHEME.match(value) is None:
        return False
    start, end = _host_span(value)
    return _shape_problem(value, start, value[start:end]) is None


def _shape_problem(value: str, host_start: int, host: str) -> str | None:
    """What is wrong with the parts of a link (scheme, `//`, host, port), if anything."""
    scheme = value[: value.index(":")]
    rest = value[len(scheme) + 1 :]
    if not rest:
        return f"`{scheme}:` has nothing after it: a link needs its target ({scheme}:…)"
    if scheme.lower() in ("http", "https") and not rest.startswith("//"):
        return (
            f"an {scheme.lower()} link is written {scheme}://host/…: "
            f"`//` is missing after `{scheme}:`"
        )
    if not host_start:
        return None
    if "@" in value[:host_start] and value.find("//") < value.rfind("@", 0, host_start):
        # `user:password@host`: a credential a customer would receive, or a lookalike.
        return "a link must not carry a user name or password before its host (`…@`)"
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # raises for a port that is no number from 0 to 65535
    except ValueError:
        if "[" in value[host_start:] or "]" in value[host_start:]:
            return "the host's `[` and `]` do not pair up (an IPv6 host is written [2001:db8::1])"
        after = value[host_start:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        shown = after.rsplit(":", 1)[-1]
        return f"the port `{shown}` is not a number from 0 to 65535"
    del port
    if host.startswith("["):
        # A customer's link to a bare IPv6 address is a test link left in.
        return f"the host `{host}` is an IPv6 address: a message links to a host name"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if "" in labels:
        return f"the host `{host}` has an empty part (`..`, or a dot at its start)"
    for label in labels:
        if label.startswith("-") or label.endswith("-"):
            return f"the host `{host}` has a part `{label}` that starts or ends with `-`"
        if not re.fullmatch(_LABEL, label):
            return f"the host `{host}` has a part `{label}` no host name can hold"
    return None


def _host_span(value: str) -> tuple[int, int]:
    """Where the host of `scheme://host…` is: (start, end); (0, 0) without `//`."""
    scheme = _SCHEME.match(value)
    if scheme is None or not value.startswith("//", scheme.end()):
        return 0, 0
    start = scheme.end() + 2
    end = start
    while end < len(value) and value[end] not in "/?#":
        end += 1
    # user:password@ before the host, and a :port after it, are not the host's name.
    at = value.rfind("@", start, end)
    if at != -1:
        start = at + 1
    colon = value.rfind(":", start, end)
    port = value[colon + 1 : end]
    if colon != -1 and (port.isdigit() or not port) and "]" not in value[colon:end]:
        end = colon
    return start, end


def _url_chars_ok(text: str) -> bool:
    return text.isprintable() and " " not in text and UNSAFE(text) is None and "%" not in text


def _host_problem(value: str, host: str) -> str:
    """A host with a space, a control or an unsafe character, or non-ASCII letters."""
    punycode = _idna(host)
    if punycode is not None:
        fixed = encode_url(value)
        write = f": write {_shown(fixed)}" if fixed is not None else f" ({punycode})"
        return f"the host {host!r} must be written in IDNA (punycode), not raw or %-encoded{write}"
    bad = next(
        (c for c in host if not c.isprintable() or c.isspace() or c in _UNSAFE_CHARS + "%"),
        None,
    )
    what = _char_name(bad) if bad is not None else "characters no host name may hold"
    return f"the host {host!r} holds {what}: no host name can; check the link"


def _idna(host: str) -> str | None:
    """`host` in IDNA (UTS 46, as browsers write it), or None if it is no valid name."""
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def encode_url(value: str) -> str | None:
    """`value` as LINE wants it: the host in IDNA, everything else a link may not hold
    raw percent-encoded as UTF-8 (`%` kept where it starts an escape). None when the
    host cannot be written (a space in it, no valid name)."""
    start, end = _host_span(value)
    host = value[start:end]
    if host and not (host.isascii() and _url_chars_ok(host)):
        punycode = _idna(host)
        if punycode is None:
            return None
        value = value[:start] + punycode + value[end:]
    out = []
    for index, char in enumerate(value):
        if char == "%" and _ESCAPE.match(value, index):
            out.append(char)
        elif (
            char == "%"
            or ord(char) <= 0x20
            or ord(char) == 0x7F
            or not char.isascii()
            or char in _UNSAFE_CHARS
        ):
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
    wide = next((c for c in value if c.isdecimal() and not c.isascii()), None)
    if wide is not None:
        ascii_digits = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in value)
        return (
            f"has {_char_name(wide)} at character {value.index(wide) + 1}, a digit that is not "
            f"ASCII (full-width, as an input method types it): the key is {ascii_digits!r} in "
            "ASCII digits; fix the data (linepress never rewrites a key)"
        )
    if _SCIENTIFIC.fullmatch(value):
        return (
            "is a number a spreadsheet wrote in scientific notation (its last digits may be "
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


class KeyForms:
    """The recipients whose `to` looks like none of a LINE user ID, a phone number or a
    UUID, noted as bodies pass (a count and the first few), for one warning per run.

    `note` is on the per-recipient path: one regex match for an ordinary key.
    """

    #: How many rows the warning names.
    SHOWN = 5
    #: The known forms' match: a caller may skip `note` when this matches.
    plain = _KEY_FORMATS.fullmatch

    def __init__(self) -> None:
        self.count = 0
        #: (row, where the row is, the key) of the first few.
        self.first: list[tuple[int | None, Location | None, str]] = []

    def note(self, to: Any, row: int | None, where: Location | None) -> None:
        """Look at one body's `to` (anything: only a non-empty string is judged)."""
        if to.__class__ is not str or _KEY_FORMATS.fullmatch(to) is not None or not to:
            return
        # One match for an ordinary key of another form (`090-1234-5678`); the
        # character-by-character look only for the rest.
        if PLAIN_KEY.fullmatch(to) is None and key_problem(to) is not None:
            return  # an error says what is wrong with it
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append((row, where, to))

    def note_taken(self, to: str, row: int, file: str, line: int) -> None:
        """`note` for a key already judged of no known form and undamaged (by the
        generated fast path): a count, and the place only for the first few."""
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append((row, Location(file, line), to))

    def problem(self, at: Location | None = None, severity: Severity = "warning") -> Problem | None:
        """The warning for the run (or None), at `at` (the definition's `to`) or else the
        first row's place; it names the rows and the count."""
        if not self.count:
            return None
        row, where, value = self.first[0]
        rows = ", ".join(str(r) for r, _, _ in self.first if r is not None)
        more = f" and {self.count - len(self.first):,} more" if self.count > len(self.first) else ""
        label = "rows" if self.count > 1 else "row"
        which = f" ({label} {rows}{more})" if rows else ""
        problem = Problem(
            f"`to` looks like none of a LINE user ID (U + 32 hex digits), a phone number "
            f"(digits, optional +) or a UUID for {self.count:,} "
            f"recipient{'s' if self.count != 1 else ''}{which}: check the data "
            "(`--strict` makes this an error)",
            at or where,
            path="to",
            found=describe(value),
            severity=severity,
            code="lint-recipient-key",
        )
        return problem.at_row(row, where) if row is not None else problem

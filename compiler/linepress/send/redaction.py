"""Find a credential in text an endpoint sent back, in the forms it may have been echoed in.

An endpoint may echo the key in an error body not only verbatim: lowercased or
uppercased, URL-encoded (`%2D` for `-`, even for characters that need no
encoding), JSON-escaped (`\\u002d`, `\\/`), or as the base64 of the key or of
`user:password` (Basic auth). `secret_pattern` matches all of these, character by
character, so mixed forms are found too. Matching too much only hides more of an
error text, never a secret, so every letter matches either case.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

#: Shorter secrets are not searched for: they would match ordinary words.
MIN_SECRET = 4


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for every form of every secret (see the module text);
    None when no secret is long enough to look for."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET:
            continue
        forms.add(secret)
        raw = secret.encode()
        forms.add(base64.b64encode(raw).decode("ascii").rstrip("="))
        forms.add(base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="))
    if not forms:
        return None
    # longest first: a secret that contains another is taken out whole
    alternatives = [_spelled(form) for form in sorted(forms, key=len, reverse=True)]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _spelled(secret: str) -> str:
    """A pattern for `secret` with each character in any of its echoed forms."""
    return "".join(_character(char) for char in secret)


def _character(char: str) -> str:
    encoded = char.encode()
    forms = [re.escape(char), "".join(f"%{byte:02x}" for byte in encoded)]  # URL-encoded
    if ord(char) < 0x10000:
        forms.append(re.escape(f"\\u{ord(char):04x}"))  # JSON-escaped
    if char in '/"\\':
        forms.append(re.escape("\\" + char))
    if char == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


def redact(text: str, pattern: re.Pattern[str] | None) -> str:
    """`text` with every match of `pattern` replaced by `<redacted>`."""
    return text if pattern is None else pattern.sub("<redacted>", text)

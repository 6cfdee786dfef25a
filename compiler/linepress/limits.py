"""Counting text as LINE does: UTF-16 code units and grapheme clusters.

Kept apart from `validate` (and its jsonschema) because the per-recipient fast
path needs only these few functions.
"""

from __future__ import annotations

from functools import cache
from typing import Any


def utf16_length(text: str) -> int:
    """UTF-16 code units: characters outside the BMP (most emoji) count 2."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def fits_utf16(text: str, limit: int) -> bool:
    """`utf16_length(text) <= limit`, without counting when the answer is plain."""
    # Each code point is 1 or 2 UTF-16 units: short texts fit, long ones cannot.
    return len(text) * 2 <= limit or (len(text) <= limit and utf16_length(text) <= limit)


def grapheme_length(text: str) -> int:
    """Grapheme clusters: what a reader sees as one character."""
    if text.isascii():
        # ASCII clusters are single characters, except CR LF which is one cluster.
        return len(text) - text.count("\r\n")
    return len(_grapheme_pattern().findall(text))


@cache
def _grapheme_pattern() -> Any:
    # Loaded on first need: most texts are answered without counting (see fits_graphemes).
    import regex

    return regex.compile(r"\X")


def fits_graphemes(text: str, limit: int) -> bool:
    """`grapheme_length(text) <= limit`, without counting when the answer is plain."""
    # A cluster holds at least one code point, so a text of at most `limit` code points fits.
    return len(text) <= limit or grapheme_length(text) <= limit

"""Where a value sits in one line of JSON text: its column, for located errors.

A payload file's body is parsed by a JSON library that keeps no positions. When a
body has a problem (rare), its line is scanned once more here to find the column of
the value at the problem's field path, so the error reads `build.jsonl:41:63: row 41:
message.text: …` and an editor jumps to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

_SPACE = " \t\r\n"
#: Deeper than this, the scan gives up (the body was parsed, so it is bounded anyway).
_MAX_DEPTH = 256


class _Miss(Exception):
    """The path is not in the text (or the text is not the JSON that was parsed)."""


def value_column(line: str, path: Sequence[str | int], *, key: bool = False) -> int | None:
    """The 1-based column (in characters) where the value at `path` starts in the JSON
    text `line`; with `key`, where the last key of `path` is written instead. None when
    the path is not found (an empty path is the whole line's value)."""
    try:
        at = _skip(line, 0)
        for depth, step in enumerate(path):
            if depth > _MAX_DEPTH:
                return None
            at = _child(line, at, step, key and depth == len(path) - 1)
        return at + 1
    except (_Miss, IndexError):
        return None


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _child(text: str, at: int, step: str | int, want_key: bool) -> int:
    """The position of `step` (a key of the object or an index of the array at `at`)."""
    opener = text[at]
    if isinstance(step, int):
        if opener != "[":
            raise _Miss
        at = _skip(text, at + 1)
        for _ in range(step):
            at = _skip(text, _value_end(text, at))
            if text[at] != ",":
                raise _Miss
            at = _skip(text, at + 1)
        if text[at] == "]":
            raise _Miss
        return at
    if opener != "{":
        raise _Miss
    at = _skip(text, at + 1)
    found = None
    while text[at] != "}":
        key_start = at
        key_end = _string_end(text, at)
        name = _decode(text[key_start:key_end])
        at = _skip(text, key_end)
        if text[at] != ":":
            raise _Miss
        at = _skip(text, at + 1)
        if name == step:
            found = key_start if want_key else at  # the last duplicate wins, as in parsing
        at = _skip(text, _value_end(text, at))
        if text[at] == ",":
            at = _skip(text, at + 1)
        elif text[at] != "}":
            raise _Miss
    if found is None:
        raise _Miss
    return found


def _decode(quoted: str) -> str:
    try:
        value = json.loads(quoted)
    except ValueError:
        raise _Miss from None
    if not isinstance(value, str):
        raise _Miss
    return value


def _string_end(text: str, at: int) -> int:
    if text[at] != '"':
        raise _Miss
    at += 1
    while True:
        char = text[at]
        if char == "\\":
            at += 2
        elif char == '"':
            return at + 1
        else:
            at += 1


def _value_end(text: str, at: int) -> int:
    """Just past the value that starts at `at` (no recursion: a depth counter)."""
    char = text[at]
    if char == '"':
        return _string_end(text, at)
    if char not in "[{":
        while at < len(text) and text[at] not in ",]}" + _SPACE:
            at += 1
        return at
    depth = 0
    while True:
        char = text[at]
        if char == '"':
            at = _string_end(text, at)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1

"""Repeated keys in a JSON record: `{"to": "U1", "to": "U2"}` is an error, never the last value.

Python's decoder keeps the last of a repeated key silently, so a list exported
twice into one object would message `U2` and drop `U1` without a word. Finding
them costs next to nothing for ordinary records: every key of every object is
followed by a `:` outside strings, so when the record's text holds exactly as
many `:` as the decoded object has keys, no object in it, at any depth, can
repeat one. Only the other records (a `:` in a value, nested objects) are
decoded a second time, with a hook that sees each object's pairs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from linepress.errors import describe, format_path

__all__ = ["RepeatedKey", "repeated_key"]


@dataclass(frozen=True, slots=True)
class RepeatedKey:
    """The first repeated key found in a record, and where it is."""

    #: The key's path from the record (`to`, `address.city`, `items[2].sku`).
    path: str
    #: Its first and its second value.
    first: object
    second: object
    #: Offset of its second appearance in the text (the record's start when not found).
    offset: int

    def message(self) -> str:
        """The error's text, naming the key and both values."""
        key = self.path.rsplit(".", 1)[-1]
        return (
            f"has the key {describe(key)} twice in one object (first {describe(self.first)}, "
            f"then {describe(self.second)}): JSON would keep only the last, and the other "
            "would be lost without a word; remove or rename one"
        )


#: The whitespace JSON allows between tokens.
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def repeated_key(value: dict[str, object], text: str, start: int, end: int) -> RepeatedKey | None:
    """The first repeated key of the JSON object `value`, decoded from `text[start:end]`.

    None, at the cost of one `str.count`, for a record whose `:`s match its keys.
    """
    if text.count(":", start, end) == len(value):
        return None
    found: list[tuple[dict[str, object], str, object, object]] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        obj = dict(pairs)
        if len(obj) != len(pairs) and not found:
            seen: dict[str, object] = {}
            for key, item in pairs:
                if key in seen:
                    found.append((obj, key, seen[key], item))
                    break
                seen[key] = item
        return obj

    # `raw_decode` does not skip the whitespace `json.loads` allows before a value
    # (a JSONL line indented by hand): skipped here, or it raised (the fuzz test).
    start = _JSON_SPACE.match(text, start).end()  # type: ignore[union-attr]
    top, _ = json.JSONDecoder(object_pairs_hook=pairs_hook).raw_decode(text, start)
    if not found:
        return None
    holder, key, first, second = found[0]
    try:
        where = _path_to(top, holder) or []
    except RecursionError:  # hundreds of levels deep: the key alone must do
        where = []
    return RepeatedKey(
        format_path([*where, key]), first, second, _second_key(text, start, end, key)
    )


def _path_to(node: object, target: object) -> list[str | int] | None:
    """The path from `node` to the object `target` (by identity), or None."""
    if node is target:
        return []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for step, child in items:
        rest = _path_to(child, target)
        if rest is not None:
            return [step, *rest]
    return None


def _second_key(text: str, start: int, end: int, key: str) -> int:
    """Where `"key":` appears the second time in `text[start:end]` (as written, escaped or not)."""
    for spelling in {json.dumps(key), json.dumps(key, ensure_ascii=False)}:
        matches = re.finditer(re.escape(spelling) + r"[ \t\r\n]*:", text[start:end])
        next(matches, None)
        second = next(matches, None)
        if second is not None:
            return start + second.start()
    return start

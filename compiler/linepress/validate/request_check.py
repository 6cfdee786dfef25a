"""The full validator's verdict on a whole request body, at a fraction of its cost.

For bodies that come as they are (the sandbox's requests, `send --payloads`) there
is no definition to prove the static part once. The full request check costs
about 200 µs for a TEXT body, mostly because message.json tries all eight message
kinds' `if` branches; the TEXT schema alone costs about 27 µs. `RequestChecker`
checks the top level itself and the message against its own kind's schema,
remembering messages already found valid (a campaign often sends one message to
many people). It only accepts: anything else goes to the full validator, which
words the issues. `tests/test_sandbox.py` compares its verdicts with the full
validator's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson

from linepress.validate.body import BodyValidator, body_validator
from linepress.validate.schema import cached_schema, resolve_name
from linepress.validate.values import is_recipient_key

_ANNOTATIONS = frozenset({"$id", "$schema", "$comment", "title", "description"})
_REQUEST_SHAPE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from", "to", "message"],
    "properties": {
        "from": {"type": "string", "minLength": 1, "x-recipientKey": True},
        "to": {"type": "string", "minLength": 1, "x-recipientKey": True},
        "message": {"$ref": "message.json"},
    },
}


def _bare(schema: Any) -> Any:
    """The schema without annotations, to compare its shape."""
    if isinstance(schema, dict):
        return {k: _bare(v) for k, v in schema.items() if k not in _ANNOTATIONS}
    if isinstance(schema, list):
        return [_bare(v) for v in schema]
    return schema


@cache
def _kind_validators() -> Mapping[str, BodyValidator]:
    """`type` -> the validator of that message kind, or {} when the shape is unexpected.

    The full request check costs ~200 µs for a TEXT body, mostly because message.json
    tries all eight `if` branches; the TEXT schema alone costs ~27 µs. When the request
    and message schemas have exactly the shape below (checked here, not assumed), a
    body is valid iff its top level passes the few checks in `RequestChecker.accepts` and
    its message passes its own kind's schema. Anything else falls back to the full check.
    """
    if _bare(cached_schema("request")) != _REQUEST_SHAPE:
        return {}
    message = _bare(cached_schema("message"))
    branches = message.get("allOf")
    kinds = message.get("properties", {}).get("type", {}).get("enum")
    rest = {k: v for k, v in message.items() if k != "allOf"}
    if rest != {"type": "object", "required": ["type"], "properties": {"type": {"enum": kinds}}}:
        return {}
    if not isinstance(branches, list) or not isinstance(kinds, list):
        return {}
    found: dict[str, BodyValidator] = {}
    for branch in branches:
        ref = branch.get("then", {}).get("$ref") if isinstance(branch, dict) else None
        kind = branch.get("if", {}).get("properties", {}).get("type", {}).get("const")
        expected = {
            "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
            "then": {"$ref": ref},
        }
        if branch != expected or not isinstance(kind, str) or not isinstance(ref, str):
            return {}
        try:
            found[kind] = body_validator(resolve_name(ref))
        except KeyError:
            return {}
    return found if sorted(found) == sorted(kinds) and len(found) == len(branches) else {}


_VALID_CACHE = 4096


class RequestChecker:
    """The full validator's verdict on whole request bodies, fast for valid ones."""

    def __init__(self) -> None:
        #: The full validator: it words the issues of the bodies not accepted.
        self.full = body_validator()
        self._kinds = _kind_validators()
        # Serialized messages already found valid: a campaign often sends one message to
        # many recipients. Equal orjson bytes mean equal JSON values, so this is exact.
        self._valid: set[bytes] = set()

    def accepts(self, body: Any) -> bool:
        """True only for valid bodies; False: ask `full.issues(body)` why (maybe valid)."""
        # Exactly from/to/message, non-empty undamaged keys, and a known message kind.
        if type(body) is not dict or len(body) != 3:
            return False
        to, sender, message = body.get("to"), body.get("from"), body.get("message")
        if type(to) is not str or not to or type(sender) is not str or not sender:
            return False
        if not (is_recipient_key(to) and is_recipient_key(sender)):
            return False
        if type(message) is not dict:
            return False
        kind = message.get("type")
        validator = self._kinds.get(kind) if type(kind) is str else None
        if validator is None:
            return False
        try:
            key = orjson.dumps(message)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes
            return validator.is_valid(message)
        if key in self._valid:
            return True
        if not validator.is_valid(message):
            return False
        if len(self._valid) >= _VALID_CACHE:
            self._valid.clear()  # bounded; personalized messages would only churn it
        self._valid.add(key)
        return True

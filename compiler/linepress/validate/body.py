"""Check a rendered request body against the schemas, with human messages.

`BodyValidator` wraps one `Draft202012Validator` extended with LINE's own
counting rules (custom keywords declared in the schema files):

    x-maxUtf16        at most N UTF-16 code units (an emoji outside the BMP counts 2)
    x-maxGraphemes    at most N grapheme clusters (e + combining accent counts 1)
    x-uniformColumns  carousel columns agree on action count, thumbnail and title
    x-message         annotation: replaces the message of the errors raised by the
                      subschema it sits in (type errors excepted)

It also replaces `required` and `additionalProperties` so that each missing or
unknown property is its own error with its own message (and path, when it exists).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from linepress.errors import Problem, describe, format_path
from linepress.limits import fits_graphemes, fits_utf16, grapheme_length, utf16_length
from linepress.validate.schema import cached_schema, resolve_name, schema_names
from linepress.validate.values import key_problem, url_problem

Path = tuple[str | int, ...]

_STANDARD = Draft202012Validator.VALIDATORS

#: Keywords whose errors are LINE's limits rather than the documented shape.
_LIMIT_KEYWORDS = frozenset(
    {
        "minLength",
        "maxLength",
        "x-maxUtf16",
        "x-maxGraphemes",
        "x-uniformColumns",
        "x-url",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "pattern",
        "not",
    }
)
#: For these, the smallest limit is the most useful error when several apply.
_MAX_KEYWORDS = frozenset({"x-maxUtf16", "x-maxGraphemes", "maxLength", "maxItems", "maximum"})
_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object"}


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One way a body breaks the schemas."""

    path: Path
    message: str
    found: str | None
    #: "schema" (the documented shape) or "line-limit" (a limit LINE enforces).
    code: str
    #: The JSON Schema keyword that failed ("type", "additionalProperties", "x-maxUtf16", ...).
    keyword: str = ""

    def __str__(self) -> str:
        where = format_path(self.path)
        text = f"{where}: {self.message}" if where else self.message
        return text if self.found is None else f"{text} (found {self.found})"

    def problem(self, **where: Any) -> Problem:
        """This issue as a `Problem`; `where` adds location, row, ..."""
        return Problem(
            message=self.message,
            path=format_path(self.path),
            found=self.found,
            code=self.code,
            **where,
        )


# --- keywords ----------------------------------------------------------------------


def _max_utf16(validator: Validator, limit: int, instance: Any, schema: Any) -> Iterator[Any]:
    if isinstance(instance, str) and not fits_utf16(instance, limit):
        yield ValidationError(
            f"must be at most {limit} characters as LINE counts them (UTF-16 code units)"
        )


def _max_graphemes(validator: Validator, limit: int, instance: Any, schema: Any) -> Iterator[Any]:
    if isinstance(instance, str) and not fits_graphemes(instance, limit):
        yield ValidationError(
            f"must be at most {limit} characters as LINE counts them (grapheme clusters)"
        )


def _url(validator: Validator, on: bool, instance: Any, schema: Any) -> Iterator[Any]:
    if on and isinstance(instance, str):
        problem = url_problem(instance)
        if problem is not None:
            yield ValidationError(problem)


def _recipient_key(validator: Validator, on: bool, instance: Any, schema: Any) -> Iterator[Any]:
    if on and isinstance(instance, str):
        problem = key_problem(instance)
        if problem is not None:
            yield ValidationError(problem)


def _uniform_columns(validator: Validator, on: bool, instance: Any, schema: Any) -> Iterator[Any]:
    """LINE's carousel rules that span columns; reports the first offending column."""
    if not on or not isinstance(instance, dict):
        return
    columns = instance.get("columns")
    if not isinstance(columns, list):
        return
    indexed = [(i, c) for i, c in enumerate(columns) if isinstance(c, dict)]
    yield from _same_action_count(indexed)
    for key, what in (("thumbnailImageUrl", "a thumbnail image"), ("title", "a title")):
        yield from _all_or_none(indexed, key, what)


def _same_action_count(columns: Sequence[tuple[int, dict[str, Any]]]) -> Iterator[Any]:
    counted = [(i, len(c["actions"])) for i, c in columns if isinstance(c.get("actions"), list)]
    for i, count in counted[1:]:
        first, expected = counted[0]
        if count != expected:
            yield ValidationError(
                f"column {i + 1} has {_n(count, 'action')} but column {first + 1} has "
                f"{expected}; every carousel column must have the same number of actions",
                path=["columns", i, "actions"],
            )
            return


def _all_or_none(
    columns: Sequence[tuple[int, dict[str, Any]]], key: str, what: str
) -> Iterator[Any]:
    having = [i for i, c in columns if key in c]
    lacking = [i for i, c in columns if key not in c]
    if having and lacking:
        yield ValidationError(
            f"column {lacking[0] + 1} has no {key} but column {having[0] + 1} has one; "
            f"if one carousel column has {what}, every column must",
            path=["columns", lacking[0]],
        )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _required(
    validator: Validator, required: list[str], instance: Any, schema: Any
) -> Iterator[Any]:
    if not isinstance(instance, dict):
        return
    for name in required:
        if name not in instance:
            yield ValidationError(f"required property {name!r} is missing")


def _additional(validator: Validator, allowed: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """`false`: one error per unknown property, at its own path, with a suggestion."""
    if allowed is not False:
        yield from _STANDARD["additionalProperties"](validator, allowed, instance, schema)
        return
    if not isinstance(instance, dict):
        return
    known = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    for name in instance:
        if name in known or any(re.search(p, name) for p in patterns):
            continue
        yield ValidationError(f"unknown property {name!r}{_did_you_mean(name, known)}", path=[name])


#: LINE Messaging API field names and what Infobip's API calls them.
LINE_NAMES = {
    "originalContentUrl": "url",
    "previewImageUrl": "thumbnailUrl",
    "baseUri": "baseUrl",
    "linkUrl": "linkUri",
}


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    infobip = LINE_NAMES.get(word)
    if infobip is not None and infobip in choices:
        return f" (that is LINE's name; Infobip's name is {infobip!r})"
    folded = [c for c in choices if c.lower() == word.lower()]
    close = folded or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


LinepressValidator = extend(
    Draft202012Validator,
    {
        "x-maxUtf16": _max_utf16,
        "x-maxGraphemes": _max_graphemes,
        "x-uniformColumns": _uniform_columns,
        "x-url": _url,
        "x-recipientKey": _recipient_key,
        "required": _required,
        "additionalProperties": _additional,
    },
)


# --- messages ----------------------------------------------------------------------


def _message(error: ValidationError) -> str:
    """A human, specific message for one error."""
    keyword, value, schema = error.validator, error.validator_value, error.schema
    override = schema.get("x-message") if isinstance(schema, dict) else None
    if isinstance(override, str) and keyword != "type":
        return override
    match keyword:
        case "type":
            kinds = [value] if isinstance(value, str) else list(value)
            return "expected " + " or ".join(_ARTICLE.get(k, f"a {k}") for k in kinds)
        case "enum":
            return f"must be one of {', '.join(map(_plain, value))}" + (
                _did_you_mean(error.instance, [v for v in value if isinstance(v, str)])
                if isinstance(error.instance, str)
                else ""
            )
        case "const":
            return f"must be exactly {json.dumps(value, ensure_ascii=False)}"
        case "minLength":
            return "must not be empty" if value == 1 else f"must be at least {value} characters"
        case "maxLength":
            return f"must be at most {value} characters"
        case "minItems" | "maxItems":
            return _items_message(keyword, value, schema)
        case "minimum":
            return f"must be at least {value}"
        case "maximum":
            return f"must be at most {value}"
        case "exclusiveMinimum":
            return f"must be greater than {value}"
        case "exclusiveMaximum":
            return f"must be less than {value}"
        case "pattern":
            return f"must match the pattern {value}"
        case "not":
            return "must not match the schema under `not`"
    return str(error.message)


def _items_message(keyword: str, value: int, schema: dict[str, Any]) -> str:
    if schema.get("minItems") == schema.get("maxItems"):
        return f"must have exactly {_n(value, 'item')}"
    bound = "at least" if keyword == "minItems" else "at most"
    return f"must have {bound} {_n(value, 'item')}"


def _plain(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _found(error: ValidationError) -> str | None:
    """What was found: a count for our length keywords, the value for value rules."""
    keyword, instance = error.validator, error.instance
    if keyword in {"required", "additionalProperties", "x-uniformColumns"}:
        return None
    if keyword == "x-maxUtf16":
        return str(utf16_length(instance))
    if keyword == "x-maxGraphemes":
        return str(grapheme_length(instance))
    return describe(instance)


def _code(error: ValidationError) -> str:
    keyword = error.validator
    if keyword in _LIMIT_KEYWORDS or (
        keyword == "const" and not isinstance(error.validator_value, str)
    ):
        return "line-limit"
    return "schema"


# --- the validator -----------------------------------------------------------------


def _undialected(name: str) -> dict[str, Any]:
    """The schema without `$schema`, so jsonschema keeps our validator class.

    jsonschema picks the class for each subschema from its `$schema`
    (`validator_for`); every file says 2020-12, which would switch `$ref`'d files
    back to the plain Draft202012Validator and silently drop our keywords.
    Registering our class for 2020-12 instead would change it process-wide.
    """
    return {k: v for k, v in cached_schema(name).items() if k != "$schema"}


@cache
def _registry() -> Registry[Any]:
    schemas = [_undialected(name) for name in schema_names()]
    return (
        Registry()
        .with_resources((s["$id"], DRAFT202012.create_resource(s)) for s in schemas)
        .crawl()
    )


class BodyValidator:
    """Validates bodies against one schema ("request" by default); build it once."""

    def __init__(self, schema: str = "request") -> None:
        self.schema_name = resolve_name(schema)
        self._validator = LinepressValidator(_undialected(self.schema_name), registry=_registry())

    def is_valid(self, body: object) -> bool:
        return bool(self._validator.is_valid(body))

    def issues(self, body: object) -> list[SchemaIssue]:
        """Every issue, one per path and keyword, sorted by path."""
        best: dict[tuple[Any, ...], ValidationError] = {}
        for error in self._validator.iter_errors(body):
            key = _dedupe_key(error)
            if key not in best or _rank(error) < _rank(best[key]):
                best[key] = error
        typed = {tuple(e.path) for e in best.values() if e.validator == "type"}
        links = {tuple(e.path) for e in best.values() if e.validator == "x-url"}
        issues = [
            SchemaIssue(tuple(e.path), _message(e), _found(e), _code(e), str(e.validator))
            for e in best.values()
            # A value of the wrong type makes every other rule about it noise.
            if (e.validator == "type" or tuple(e.path) not in typed)
            # One error per link: ` https://…` fails `^https://` only by the space the
            # link error already names.
            and not (tuple(e.path) in links and _pattern_fails_by_spaces(e))
        ]
        return sorted(issues, key=lambda i: (_path_key(i.path), i.message))


def _pattern_fails_by_spaces(error: ValidationError) -> bool:
    """A `pattern` failure that the same text without its end spaces would pass."""
    if error.validator != "pattern" or not isinstance(error.instance, str):
        return False
    stripped = error.instance.strip()
    return (
        stripped != error.instance and re.search(str(error.validator_value), stripped) is not None
    )


@cache
def body_validator(schema: str = "request") -> BodyValidator:
    """The shared validator for `schema`: building one compiles the schemas once."""
    return BodyValidator(schema)


def _dedupe_key(error: ValidationError) -> tuple[Any, ...]:
    key: tuple[Any, ...] = (tuple(error.path), error.validator)
    # Several missing properties at one path are distinct issues.
    return (*key, error.message) if error.validator == "required" else key


def _rank(error: ValidationError) -> float:
    """Lower is better: the tightest limit (e.g. the ≤ 60 rule over the ≤ 160 one)."""
    value = error.validator_value
    if error.validator in _MAX_KEYWORDS and isinstance(value, int | float):
        return float(value)
    return 0.0


def _path_key(path: Path) -> tuple[tuple[int, int, str], ...]:
    # Indexes sort numerically and before names at the same depth.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)

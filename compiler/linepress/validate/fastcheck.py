"""Checking only what changes per recipient: the fast path of validation.

A definition's static part is validated once, when it is loaded. What differs
between recipients is the value of each template leaf, so a recipient's body is
valid exactly when every leaf value meets the schema rules that apply at its
place. `LeafChecks` finds those rules once (following `$ref`, `allOf` and
`if`/`then`, deciding each `if` on the static skeleton) and compiles them into
plain Python predicates: a few hundred nanoseconds per leaf instead of a full
jsonschema walk of the body.

It only *accepts*. When a check fails, the caller runs the full validator to
get the exact issues, so messages and paths are identical either way. When a
definition's shape is not fully static (a template yields a list, `$for`/`$if`
items, an `if` that depends on a per-recipient value, a keyword we do not
compile), `LeafChecks.build` returns None and every body gets full validation.
`tests/test_fastcheck.py` compares verdicts with the full validator.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from linepress.definition import FieldPath, contains, paths_of
from linepress.limits import fits_graphemes, fits_utf16
from linepress.validate.values import is_recipient_key, is_url

if TYPE_CHECKING:
    from referencing._core import Resolver

Predicate = Callable[[Any], bool]

#: Keywords that may sit on the way to a leaf: they look at structure (static) only.
_STRUCTURAL = frozenset(
    {
        "$ref", "$id", "$schema", "$comment", "$defs", "title", "description",
        "markdownDescription", "examples", "default", "x-message", "type", "properties",
        "additionalProperties", "required", "allOf", "if", "then", "else", "items",
        "minItems", "maxItems", "minProperties", "maxProperties", "x-uniformColumns",
    }
)  # fmt: skip
#: Keywords with no say on validity.
_ANNOTATIONS = frozenset(
    {
        "$id",
        "$schema",
        "$comment",
        "$defs",
        "title",
        "description",
        "markdownDescription",
        "examples",
        "default",
    }
)
#: Keywords an `if` may use (anything else makes the definition take the full path).
_CONDITION_KEYWORDS = _ANNOTATIONS | {
    "type", "properties", "required", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    "items", "const", "enum", "minItems", "maxItems", "x-message",
}  # fmt: skip


class NotEligible(Exception):
    """This definition's bodies need full validation."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One schema keyword that applies at a leaf, and its compiled predicate."""

    keyword: str
    value: Any
    predicate: Predicate


class LeafChecks:
    """Per-leaf predicates that together accept exactly the valid bodies."""

    def __init__(self, rules: dict[FieldPath, tuple[Rule, ...]]) -> None:
        #: The rules at each per-recipient leaf, by its path in the body.
        self.rules = rules
        self._checks = [(path, tuple(rule.predicate for rule in at)) for path, at in rules.items()]

    @classmethod
    def build(cls, skeleton: Any, dynamic: object, schema: str = "request") -> LeafChecks | None:
        """The checks for bodies shaped like `skeleton` (per-recipient values are `dynamic`)."""
        # The schema machinery is loaded here, not at import: a definition whose
        # checks are remembered (see `verdicts`) never needs it.
        from linepress.validate.body import _registry, _undialected
        from linepress.validate.schema import resolve_name

        paths = list(paths_of(skeleton, dynamic))
        try:
            root = _undialected(resolve_name(schema))
            resolver = _registry().resolver(base_uri=root["$id"])
            rules = {
                path: tuple(
                    compiled
                    for found in _rules_at(root, resolver, skeleton, path, dynamic)
                    for compiled in _compiled(found)
                )
                for path in paths
            }
        except NotEligible:
            return None
        return cls(rules)

    @classmethod
    def from_rules(cls, rules: Mapping[FieldPath, Iterable[tuple[str, Any]]]) -> LeafChecks:
        """Checks from each leaf's (keyword, value) pairs, such as `rules` lists them."""
        return cls(
            {
                path: tuple(_rule(keyword, value) for keyword, value in at)
                for path, at in rules.items()
            }
        )

    def accepts(self, body: Any) -> bool:
        for path, predicates in self._checks:
            value = body
            for key in path:
                value = value[key]
            for predicate in predicates:
                if not predicate(value):
                    return False
        return True


# --- finding the rules that apply at a leaf --------------------------------------------


def _rules_at(
    schema: Any, resolver: Resolver[Any], instance: Any, path: FieldPath, dynamic: object
) -> list[dict[str, Any]]:
    """Every subschema that applies to the value at `path` (relative to `instance`)."""
    nodes = _expand(schema, resolver, instance, dynamic)
    if not path:
        return [node for node, _ in nodes]
    key, rest = path[0], path[1:]
    child = instance[key]
    found: list[dict[str, Any]] = []
    for node, node_resolver in nodes:
        extra = set(node) - _STRUCTURAL
        if extra:
            raise NotEligible(f"keywords {sorted(extra)} on the way to a leaf")
        if (
            isinstance(node.get("additionalProperties"), dict)
            or "patternProperties" in node
            or "prefixItems" in node
        ):
            raise NotEligible("schema-valued additional properties or prefix items")
        if isinstance(key, str):
            properties = node.get("properties", {})
            if key in properties:
                found += _rules_at(properties[key], node_resolver, child, rest, dynamic)
        elif isinstance(node.get("items"), dict):
            found += _rules_at(node["items"], node_resolver, child, rest, dynamic)
    return found


def _expand(
    schema: Any, resolver: Resolver[Any], instance: Any, dynamic: object
) -> list[tuple[dict[str, Any], Resolver[Any]]]:
    """The subschemas that apply at this level: the schema, its `$ref`s, `allOf`s and chosen branches."""
    if schema is True or schema == {}:
        return []
    if not isinstance(schema, dict):
        raise NotEligible("a boolean `false` schema")
    if "anyOf" in schema or "oneOf" in schema:
        raise NotEligible("anyOf/oneOf outside an `if`")
    nodes = [(schema, resolver)]
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        nodes += _expand(resolved.contents, resolved.resolver, instance, dynamic)
    for sub in schema.get("allOf", []):
        nodes += _expand(sub, resolver, instance, dynamic)
    if "if" in schema:
        branch = (
            schema.get("then") if _decide(schema["if"], instance, dynamic) else schema.get("else")
        )
        if branch is not None:
            nodes += _expand(branch, resolver, instance, dynamic)
    return nodes


def _decide(condition: Any, instance: Any, dynamic: object) -> bool:
    """An `if`'s verdict, which must not depend on any per-recipient value."""
    if _touches(condition, instance, dynamic):
        raise NotEligible("an `if` that looks at a per-recipient value")
    from linepress.validate.body import LinepressValidator

    # Which placeholder stands in for the per-recipient values cannot matter now.
    return bool(LinepressValidator(condition).is_valid(_substitute(instance, dynamic, None)))


def _touches(schema: Any, instance: Any, dynamic: object) -> bool:
    """Whether evaluating `schema` on `instance` reads any per-recipient value."""
    if not isinstance(schema, dict):
        return False
    if instance is dynamic:
        return bool(set(schema) - _ANNOTATIONS)
    if set(schema) - _CONDITION_KEYWORDS:
        raise NotEligible(f"keywords {sorted(set(schema) - _CONDITION_KEYWORDS)} in an `if`")
    if ("const" in schema or "enum" in schema) and contains(instance, dynamic):
        return True
    subschemas = [*schema.get("allOf", []), *schema.get("anyOf", []), *schema.get("oneOf", [])]
    subschemas += [schema[k] for k in ("not", "if", "then", "else") if k in schema]
    if any(_touches(sub, instance, dynamic) for sub in subschemas):
        return True
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        return any(
            key in instance and _touches(sub, instance[key], dynamic)
            for key, sub in properties.items()
        )
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return any(_touches(schema["items"], item, dynamic) for item in instance)
    return False


def _substitute(value: Any, marker: object, replacement: Any) -> Any:
    if value is marker:
        return replacement
    if isinstance(value, dict):
        return {key: _substitute(child, marker, replacement) for key, child in value.items()}
    if isinstance(value, list):
        return [_substitute(child, marker, replacement) for child in value]
    return value


# --- compiling rules into predicates ----------------------------------------------------
#
# Each predicate mirrors jsonschema exactly: a rule about strings ignores
# non-strings, "integer" accepts 1.0, booleans are not numbers.


def _compiled(rule: dict[str, Any]) -> Iterator[Rule]:
    for keyword, value in rule.items():
        if keyword in _ANNOTATIONS or keyword in (
            "$ref",
            "allOf",
            "if",
            "then",
            "else",
            "x-message",
        ):
            continue  # annotations, or already expanded by _expand
        yield _rule(keyword, value)


def _rule(keyword: str, value: Any) -> Rule:
    factory = _FACTORIES.get(keyword)
    if factory is None:
        raise NotEligible(f"keyword {keyword!r} at a leaf")
    return Rule(keyword, value, factory(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Predicate] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _type(value: Any) -> Predicate:
    kinds = [value] if isinstance(value, str) else list(value)
    checks = [_TYPES[kind] for kind in kinds]
    return lambda v: any(check(v) for check in checks)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _string_rule(test: Callable[[str], bool]) -> Predicate:
    return lambda v: not isinstance(v, str) or test(v)


def _number_rule(test: Callable[[float], bool]) -> Predicate:
    return lambda v: not _is_number(v) or test(v)


def _pattern(pattern: str) -> Predicate:
    search = re.compile(pattern).search
    return _string_rule(lambda s: search(s) is not None)


def _not(value: Any) -> Predicate:
    if not isinstance(value, dict) or set(value) - _ANNOTATIONS - {"pattern", "x-message"}:
        raise NotEligible("`not` with more than a pattern")
    if "pattern" not in value:
        return lambda v: False
    pattern = re.compile(value["pattern"])
    return lambda v: isinstance(v, str) and pattern.search(v) is None


def _bound(bound: Any, compare: Callable[[Any, Any], bool]) -> Predicate:
    if not _is_number(bound) or not math.isfinite(bound):
        raise NotEligible("a non-numeric bound")
    return _number_rule(lambda x: compare(x, bound))


def _always(value: Any) -> bool:
    return True


_FACTORIES: dict[str, Callable[[Any], Predicate]] = {
    "type": _type,
    "minLength": lambda n: _string_rule(lambda s: len(s) >= n),
    "maxLength": lambda n: _string_rule(lambda s: len(s) <= n),
    "x-maxUtf16": lambda n: _string_rule(lambda s: fits_utf16(s, n)),
    "x-maxGraphemes": lambda n: _string_rule(lambda s: fits_graphemes(s, n)),
    "pattern": lambda p: _pattern(p),
    "minimum": lambda n: _bound(n, operator.ge),
    "maximum": lambda n: _bound(n, operator.le),
    "exclusiveMinimum": lambda n: _bound(n, operator.gt),
    "exclusiveMaximum": lambda n: _bound(n, operator.lt),
    "const": lambda c: lambda v: _equal(v, c),
    "enum": lambda options: lambda v: any(_equal(v, o) for o in options),
    "not": _not,
    "x-url": lambda on: is_url if on else _always,
    "x-recipientKey": lambda on: is_recipient_key if on else _always,
}

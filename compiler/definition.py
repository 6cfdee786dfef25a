"""A definition file: YAML parsed once into plain values that remember where they came from.

The YAML is read with ruamel's round-trip loader because its nodes keep their line
and column; the tree is then copied into plain `dict`/`list`/`str`/`int`/`float`
values (fast to walk, safe to share) and a side table from field path to source
position. Nothing here knows about Jinja or schemas.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from compiler.errors import DefinitionError, Location, Problem, describe, type_name

#: A field path from the top of the request body: ("message", "actions", 0, "area").
FieldPath = tuple[str | int, ...]

#: The request body's own keys.
BODY_KEYS = ("from", "to", "message")
#: Keys a definition may carry besides the body, each explained in README.md.
EXTRA_KEYS = ("description", "vars", "defaults", "imports", "variants")
#: Keys allowed under `defaults:`.
DEFAULT_KEYS = ("from", "to")
#: Keys allowed under `variants:`.
VARIANT_KEYS = ("by", "fallback", "messages")


@dataclass(frozen=True, slots=True)
class Variants:
    """Messages chosen per recipient by the value of one column."""

    by: str
    messages: dict[str, Any]
    #: The variant for recipients with no value in `by`; None: that is an error.
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Leaf:
    """Where a value sits in the definition file, and how its text is laid out."""

    location: Location
    #: The text starts on the line after `location` (a `|` or `>` block scalar).
    block: bool = False


@dataclass(slots=True)
class Definition:
    """A parsed definition: the body, its extras, and the position of every value."""

    path: Path
    #: The request-body part (`from`, `to`, `message`), in file order.
    body: dict[str, Any]
    description: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    variants: Variants | None = None
    #: Field path -> position of the value at that path (body and extras alike;
    #: extras under their own top-level key, e.g. ("vars", "shop")).
    values: dict[FieldPath, Leaf] = field(default_factory=dict)
    #: Field path -> position of the mapping key that names it.
    keys: dict[FieldPath, Location] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path)

    def locate(self, path: FieldPath) -> Location:
        """The position of `path`, or of its nearest ancestor the file spells out.

        A rendered value can be deeper than the file (a template that yields a
        list); a missing required field has no position of its own.
        """
        for end in range(len(path), -1, -1):
            leaf = self.values.get(path[:end])
            if leaf is not None:
                return leaf.location
        return Location(self.name, 1, 1)


class _Constructor(RoundTripConstructor):  # type: ignore[misc]
    """Round-trip constructor whose timestamps stay the text the author wrote.

    A date like 2024-05-01 is a string to every field of the API; YAML's
    timestamp type would turn it into a `datetime` that no schema accepts.
    """


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)


def _yaml() -> YAML:
    """The one YAML loader: round-trip (positions), YAML 1.2, duplicate keys refused."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    return yaml


def load_definition(path: str | Path) -> Definition:
    """Read and check a definition file's shape (not its templates or schema)."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DefinitionError(Problem("no such file", Location(name), code="file")) from None
    except IsADirectoryError:
        raise DefinitionError(
            Problem("is a directory, expected a YAML file", Location(name), code="file")
        ) from None
    except UnicodeDecodeError as exc:
        line = text_line_of_offset(path.read_bytes(), exc.start)
        raise DefinitionError(
            Problem(
                "is not UTF-8 text",
                Location(name, line, None),
                found=f"byte {exc.object[exc.start]:#04x}",
                code="encoding",
            )
        ) from None
    except OSError as exc:
        raise DefinitionError(
            Problem(f"cannot read: {exc.strerror}", Location(name), code="file")
        ) from None
    return parse_definition(text, name)


def text_line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def parse_definition(text: str, name: str = "<definition>") -> Definition:
    """Parse definition text; `name` is used in error positions."""
    try:
        documents = list(_yaml().load_all(text))
    except MarkedYAMLError as exc:
        raise DefinitionError(_yaml_problem(exc, name)) from None
    except YAMLError as exc:  # unmarked errors are rare; still no traceback
        raise DefinitionError(
            Problem(f"invalid YAML: {exc}", Location(name), code="yaml-syntax")
        ) from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise DefinitionError(
            Problem(
                "is empty: expected a mapping with `message:`", Location(name, 1, 1), code="shape"
            )
        )
    if len(documents) > 1:
        raise DefinitionError(
            Problem(
                "holds several YAML documents; a definition is one",
                Location(name, 1, 1),
                code="shape",
            )
        )
    root = documents[0]
    if not isinstance(root, Mapping):
        raise DefinitionError(
            Problem(
                "expected a mapping with `message:` at the top",
                Location(name, 1, 1),
                found=type_name(_plain(root, name, (), {}, {})),
                code="shape",
            )
        )
    values: dict[FieldPath, Leaf] = {}
    keys: dict[FieldPath, Location] = {}
    tree = _plain(root, name, (), values, keys)
    values[()] = Leaf(Location(name, 1, 1))
    return _split(tree, Path(name), values, keys)


def _yaml_problem(exc: MarkedYAMLError, name: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or "invalid YAML").strip()
    if problem.startswith("found duplicate key"):
        # ruamel: 'found duplicate key "text" with value "Bye" (original value: "Hello")'
        key = problem.split('"')[1] if '"' in problem else ""
        message = f"duplicate key `{key}`; a key may appear once in a mapping"
    elif exc.context:
        message = f"{problem} ({exc.context})"
    else:
        message = problem
    location = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
    return Problem(f"invalid YAML: {message}", location, code="yaml-syntax")


def _plain(
    node: Any,
    name: str,
    path: FieldPath,
    values: dict[FieldPath, Leaf],
    keys: dict[FieldPath, Location],
) -> Any:
    """Copy a round-trip node into plain Python values, recording positions."""
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, child in node.items():
            key_path = (*path, _key_text(key))
            line, col = node.lc.key(key)
            keys[key_path] = Location(name, line + 1, col + 1)
            vline, vcol = node.lc.value(key)
            values[key_path] = Leaf(
                Location(name, vline + 1, vcol + 1),
                block=isinstance(child, LiteralScalarString | FoldedScalarString),
            )
            result[_key_text(key)] = _plain(child, name, key_path, values, keys)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, child in enumerate(node):
            item_path = (*path, index)
            line, col = node.lc.item(index)
            values[item_path] = Leaf(
                Location(name, line + 1, col + 1),
                block=isinstance(child, LiteralScalarString | FoldedScalarString),
            )
            items.append(_plain(child, name, item_path, values, keys))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(
        node, datetime.date | datetime.datetime
    ):  # pragma: no cover - constructor keeps text
        return node.isoformat()
    return str(node)


def _key_text(key: Any) -> str:
    # Keys are field names; YAML allows `1:` or `true:`, which the API never wants
    # but which should reach the unknown-key check as text, not crash.
    return key if isinstance(key, str) else str(key)


def _split(
    tree: dict[str, Any], path: Path, values: dict[FieldPath, Leaf], keys: dict[FieldPath, Location]
) -> Definition:
    name = str(path)
    problems: list[Problem] = []
    for key in tree:
        if key not in BODY_KEYS and key not in EXTRA_KEYS:
            problems.append(unknown_key(key, (*BODY_KEYS, *EXTRA_KEYS), keys[(key,)], key))
    if "message" not in tree and "variants" not in tree:
        problems.append(
            Problem(
                "required key `message` is missing (or `variants`, for messages chosen per recipient)",
                Location(name, 1, 1),
                code="required",
            )
        )
    if "message" in tree and "variants" in tree:
        problems.append(
            Problem(
                "a definition has `message` or `variants`, not both",
                keys[("variants",)],
                path="variants",
                code="shape",
            )
        )
    variants = _variants(tree, values, keys, problems)

    description = tree.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(_expected("a string", ("description",), description, values))
    vars_ = _mapping(tree, "vars", values, problems)
    defaults = _mapping(tree, "defaults", values, problems)
    for key in defaults:
        if key not in DEFAULT_KEYS:
            problems.append(
                unknown_key(key, DEFAULT_KEYS, keys[("defaults", key)], f"defaults.{key}")
            )
    imports = _mapping(tree, "imports", values, problems)
    for alias, target in imports.items():
        if not alias.isidentifier():
            problems.append(
                Problem(
                    "an import alias must be a name usable in templates",
                    keys[("imports", alias)],
                    path=f"imports.{alias}",
                    found=repr(alias),
                    code="type",
                )
            )
        if not isinstance(target, str):
            problems.append(_expected("a template file path", ("imports", alias), target, values))
    for var in vars_:
        if not var.isidentifier():
            problems.append(
                Problem(
                    "a constant's name must be usable in templates (letters, digits, _)",
                    keys[("vars", var)],
                    path=f"vars.{var}",
                    found=repr(var),
                    code="type",
                )
            )
    if problems:
        raise DefinitionError(problems)
    body = {key: value for key, value in tree.items() if key in BODY_KEYS}
    return Definition(
        path=path,
        body=body,
        description=description,
        vars=vars_,
        defaults=defaults,
        imports={alias: str(target) for alias, target in imports.items()},
        variants=variants,
        values=values,
        keys=keys,
    )


def _variants(
    tree: dict[str, Any],
    values: dict[FieldPath, Leaf],
    keys: dict[FieldPath, Location],
    problems: list[Problem],
) -> Variants | None:
    spec = _mapping(tree, "variants", values, problems)
    if "variants" not in tree or not isinstance(tree["variants"], dict):
        return None
    where = keys[("variants",)]
    before = len(problems)
    for key in spec:
        if key not in VARIANT_KEYS:
            problems.append(
                unknown_key(key, VARIANT_KEYS, keys[("variants", key)], f"variants.{key}")
            )
    by, fallback, messages = spec.get("by"), spec.get("fallback"), spec.get("messages")
    if not isinstance(by, str) or not by.strip():
        found = values.get(("variants", "by"))
        problems.append(
            Problem(
                "`variants.by` must name the column that picks the variant (e.g. `by: lang`)",
                found.location if found else where,
                path="variants.by",
                found=None if by is None else describe(by),
                code="required",
            )
        )
    if not isinstance(messages, dict) or not messages:
        problems.append(
            Problem(
                "`variants.messages` must map each value of the column to a message",
                values[("variants", "messages")].location
                if ("variants", "messages") in values
                else where,
                path="variants.messages",
                code="required",
            )
        )
        return None
    if fallback is not None and str(fallback) not in messages:
        problems.append(
            Problem(
                f"`variants.fallback` must be one of the variants ({', '.join(messages)})",
                values[("variants", "fallback")].location,
                path="variants.fallback",
                found=describe(fallback),
                code="unknown-variant",
            )
        )
    if len(problems) > before:
        return None
    return Variants(str(by).strip(), messages, None if fallback is None else str(fallback))


def _mapping(
    tree: dict[str, Any], key: str, values: dict[FieldPath, Leaf], problems: list[Problem]
) -> dict[str, Any]:
    value = tree.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(_expected("a mapping", (key,), value, values))
        return {}
    return value


def _expected(what: str, path: FieldPath, value: object, values: dict[FieldPath, Leaf]) -> Problem:
    return Problem(
        f"expected {what}",
        values[path].location,
        path=".".join(map(str, path)),
        found=f"{type_name(value)} {describe(value)}",
        code="type",
    )


def unknown_key(key: str, allowed: tuple[str, ...], location: Location, path: str) -> Problem:
    """An unknown-key problem that suggests the closest allowed name."""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        lowered = {name.lower(): name for name in allowed}
        if key.lower() in lowered:
            close = [lowered[key.lower()]]
    hint = f"; did you mean `{close[0]}`?" if close else f"; expected one of {', '.join(allowed)}"
    return Problem(f"unknown key `{key}`{hint}", location, path=path, code="unknown-key")

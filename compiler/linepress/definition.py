"""A definition file: its YAML read into a `Definition` whose values remember their place.

`linepress.yaml_reader` reads the file within a definition's limits into plain values
and a table of positions; here those values get their meaning: the request body
(`from`, `to`, `message`), `description`, `vars`, `defaults`, `imports` and
`variants`, each checked for its shape with a located error. Nothing here knows
about Jinja or schemas.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linepress.errors import DefinitionError, Location, Problem, describe, type_name
from linepress.yaml_reader import (
    FieldPath,
    Leaf,
    describe_integer,
    in_json_range,
    load_documents,
    plain_tree,
    read_bounded,
    text_line_of_offset,
)

__all__ = [
    "BODY_KEYS",
    "Definition",
    "FieldPath",
    "Leaf",
    "Variants",
    "contains",
    "describe_integer",
    "in_json_range",
    "load_definition",
    "parse_definition",
    "paths_of",
    "unknown_key",
]

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


def paths_of(value: Any, marker: object, path: FieldPath = ()) -> Iterator[FieldPath]:
    """The paths inside a body (dicts and lists) where `marker` stands."""
    if value is marker:
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, marker, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_of(child, marker, (*path, index))


def contains(value: Any, marker: object) -> bool:
    """Whether `marker` stands anywhere inside a body (see `paths_of`)."""
    return next(paths_of(value, marker), None) is not None


def load_definition(path: str | Path) -> Definition:
    """Read and check a definition file's shape (not its templates or schema)."""
    path = Path(path)
    name = str(path)
    try:
        data = read_bounded(path)
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise DefinitionError(Problem("no such file", Location(name), code="file")) from None
    except IsADirectoryError:
        raise DefinitionError(
            Problem("is a directory, expected a YAML file", Location(name), code="file")
        ) from None
    except UnicodeDecodeError as exc:
        line = text_line_of_offset(data, exc.start)
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


def parse_definition(text: str, name: str = "<definition>") -> Definition:
    """Parse definition text; `name` is used in error positions.

    Every failure of the YAML library is a located `DefinitionError`, whatever its kind.
    """
    documents = load_documents(text, name)
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
                found=type_name(root),
                code="shape",
            )
        )
    tree, values, keys = plain_tree(root, name)
    return _split(tree, Path(name), values, keys)


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
            problems.append(_not_a_name("an import alias", "imports", alias, keys))
        if not isinstance(target, str):
            problems.append(_expected("a template file path", ("imports", alias), target, values))
    problems += [
        _not_a_name("a constant's name", "vars", var, keys)
        for var in vars_
        if not var.isidentifier()
    ]
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


def _not_a_name(what: str, section: str, name: str, keys: dict[FieldPath, Location]) -> Problem:
    """Templates see these names as variables, so they must be identifiers."""
    return Problem(
        f"{what} must be usable in templates (letters, digits, _)",
        keys[(section, name)],
        path=f"{section}.{name}",
        found=repr(name),
        code="type",
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

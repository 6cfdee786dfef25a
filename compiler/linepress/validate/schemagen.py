"""Generate the JSON Schemas (2020-12) from the documentation's tables.

    python -m linepress.validate.schemagen            (re)write schemas/*.json
    python -m linepress.validate.schemagen --check    exit 1 listing the files that differ

Properties, types and descriptions come from `compiler/linepress/validate/data/doc-tables.json`
(one table per documentation section; `SECTIONS` maps section titles to schema
files); then `linepress.validate.overrides` fixes the page's mistakes and adds LINE's
limits. Dispatchers (`message.json`, `template.json`, the action dispatchers)
select one branch by `type` with `if`/`then`, so a body gets the errors of its
own kind only.
"""

from __future__ import annotations

import argparse
import copy
import json
import posixpath
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from linepress.resources import resource_dir
from linepress.validate import overrides
from linepress.validate.authoring import NAME, definition_schema
from linepress.validate.schema import BASE_ID, DIALECT, SchemaGenError, numeric_fields

Json = dict[str, Any]

TABLES = Path(__file__).resolve().parent / "data" / "doc-tables.json"

#: Documentation section title -> (schema file stem, schema title). Order matters:
#: it is the order of the dispatchers' branches (the page's order).
SECTIONS: dict[str, tuple[str, str]] = {
    "Request Format": ("request", "Send LINE message request"),
    "Text Message": ("message/text", "TEXT message"),
    "Image Message": ("message/image", "IMAGE message"),
    "Video Message": ("message/video", "VIDEO message"),
    "Audio Message": ("message/audio", "AUDIO message"),
    "Location Message": ("message/location", "LOCATION message"),
    # Decision 5: the intro omits stickers, but the section and its example exist.
    "Sticker Message": ("message/sticker", "STICKER message"),
    "Imagemap Message": ("message/imagemap", "IMAGEMAP message"),
    "Imagemap - Area": ("action/imagemap-area", "Imagemap action area"),
    "Imagemap - URI action": ("action/imagemap-uri", "Imagemap URI action"),
    "Imagemap - MESSAGE action": ("action/imagemap-message", "Imagemap MESSAGE action"),
    "Template message": ("message/template", "TEMPLATE message"),
    "Template actions - POSTBACK action": ("action/postback", "Template POSTBACK action"),
    "Template actions - MESSAGE action": ("action/message", "Template MESSAGE action"),
    "Template actions - URI action": ("action/uri", "Template URI action"),
    "Template - BUTTONS template": ("template/buttons", "BUTTONS template"),
    "Template - CONFIRM template": ("template/confirm", "CONFIRM template"),
    "Template - CAROUSEL template": ("template/carousel", "CAROUSEL template"),
    "Carousel template - Column": ("template/carousel-column", "Carousel column"),
}

#: Dispatcher stem -> (title, description, member stems or a folder prefix).
DISPATCHERS: dict[str, tuple[str, str, str | tuple[str, ...]]] = {
    "message": ("Message", "A LINE message, one kind selected by `type`.", "message/"),
    "template": (
        "Template",
        "Template specification - buttons, confirm or carousel, selected by `type`.",
        ("template/buttons", "template/confirm", "template/carousel"),
    ),
    "action/template-action": (
        "Template action",
        "An action of a buttons, confirm or carousel template, selected by `type`.",
        ("action/postback", "action/message", "action/uri"),
    ),
    "action/imagemap-action": (
        "Imagemap action",
        "An action of an imagemap message, selected by `type`.",
        ("action/imagemap-uri", "action/imagemap-message"),
    ),
}

#: The page's type words -> JSON Schema. "Area[]" is doc mistake 3 (fixed by overrides).
DOC_TYPES: dict[str, Json] = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "area[]": {"type": "array"},
}
_CONST = re.compile(r"""Constant value - ["']([A-Z_]+)["']""")


# --- deriving from the tables ------------------------------------------------------


def load_tables(path: Path = TABLES) -> list[Json]:
    tables: list[Json] = json.loads(path.read_text(encoding="utf-8"))
    return tables


def derive(tables: Sequence[Json]) -> dict[str, Json]:
    """Kind -> `properties` derived from the page, before any override."""
    derived: dict[str, Json] = {}
    for table in tables:
        section = table["section"]
        if section not in SECTIONS:
            raise SchemaGenError(f"unknown documentation section {section!r}: map it in SECTIONS")
        kind = SECTIONS[section][0]
        fixed = overrides.DOC_FIXES.get(kind, {})
        properties: Json = {}
        for name, doc_type, description in table["rows"]:
            _put(properties, name, _derive_property(doc_type, description), fixed, kind)
        derived[kind] = properties
    missing = {kind for kind, _ in SECTIONS.values()} - derived.keys()
    if missing:
        raise SchemaGenError(f"documentation sections missing for {sorted(missing)}")
    return derived


def _derive_property(doc_type: str, description: str) -> Json:
    word = doc_type.strip().lower()
    if word not in DOC_TYPES:
        raise SchemaGenError(f"unknown documentation type {doc_type!r}")
    schema = {**DOC_TYPES[word], "description": description.strip()}
    const = _CONST.search(description)
    if const:
        schema["const"] = const.group(1)
    return schema


def _put(properties: Json, name: str, schema: Json, fixed: Mapping[str, Json], kind: str) -> None:
    """Add one table row; `a.b` rows become nested objects.

    A row that contradicts an earlier one is an error unless DOC_FIXES replaces
    the property anyway (IMAGEMAP's two `baseSize` rows, doc mistake 2).
    """
    head, _, rest = name.partition(".")
    if rest:
        parent = properties.setdefault(head, {"type": "object", "properties": {}})
        if parent.get("type") != "object":
            _conflict(head, fixed, kind)
            return
        parent["properties"][rest] = schema
        return
    if head in properties:
        _conflict(head, fixed, kind)
        return
    properties[head] = schema


def _conflict(name: str, fixed: Mapping[str, Json], kind: str) -> None:
    if name not in fixed:
        raise SchemaGenError(f"{kind}: contradictory rows for {name!r} and no DOC_FIXES entry")


# --- applying the overrides -------------------------------------------------------


def merge(base: Json, extra: Mapping[str, Any]) -> Json:
    """A deep merge: mappings merge, anything else in `extra` replaces."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_kind(kind: str, title: str, derived: Json) -> Json:
    properties = copy.deepcopy(derived)
    for layer in (overrides.DOC_FIXES, overrides.LINKS, overrides.LINE_LIMITS):
        for name, fragment in layer.get(kind, {}).items():
            if name not in properties:
                raise SchemaGenError(f"{kind}: override for undocumented property {name!r}")
            if layer is overrides.DOC_FIXES:
                # A fix replaces the derived property; it brings its own description.
                properties[name] = copy.deepcopy(fragment)
            elif layer is overrides.LINKS:
                # The linked schema says what the value is; keep the page's words only.
                described = {"description": properties[name]["description"]}
                properties[name] = merge(described, fragment)
            else:
                properties[name] = merge(properties[name], fragment)
    required = overrides.REQUIRED.get(kind, [])
    unknown = [name for name in required if name not in properties]
    if unknown:
        raise SchemaGenError(f"{kind}: required but undocumented {unknown}")
    schema: Json = {
        "$schema": DIALECT,
        "$id": BASE_ID + kind + ".json",
        "title": title,
        "description": _description(kind),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return merge(schema, overrides.OBJECT_RULES.get(kind, {}))


def _description(kind: str) -> str:
    section = next(s for s, (k, _) in SECTIONS.items() if k == kind)
    return f"Derived from the documentation table {section!r}; limits from LINE."


def build_dispatcher(
    name: str, title: str, description: str, members: Sequence[str], schemas: Mapping[str, Json]
) -> Json:
    """`enum` of the types plus one `if type == X then $ref` per member."""
    branches: list[Json] = []
    types: list[str] = []
    here = posixpath.dirname(name) or "."
    for member in members:
        const = schemas[member]["properties"]["type"].get("const")
        if not isinstance(const, str):
            raise SchemaGenError(f"{member}: no constant `type` to dispatch on")
        if const in types:
            raise SchemaGenError(f"{name}: two members have type {const!r}")
        types.append(const)
        branches.append(
            {
                "if": {"properties": {"type": {"const": const}}, "required": ["type"]},
                "then": {"$ref": posixpath.relpath(member + ".json", here)},
            }
        )
    # No additionalProperties here: every branch closes its own object; closing the
    # dispatcher too would reject every property but `type` or repeat each error.
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + name + ".json",
        "title": title,
        "description": description,
        "type": "object",
        "properties": {"type": {"description": "Kind of object.", "enum": types}},
        "required": ["type"],
        "allOf": branches,
    }


def generate() -> dict[str, Json]:
    """Relative file name (`message/text.json`) -> schema, in a stable order.

    Includes `definition.json`, the authoring schema of definition files
    (`linepress.validate.authoring`), derived from the request schemas generated here.
    """
    derived = derive(load_tables())
    kinds = {kind: build_kind(kind, title, derived[kind]) for kind, title in SECTIONS.values()}
    for name, (title, description, spec) in DISPATCHERS.items():
        members = [k for k in kinds if k.startswith(spec)] if isinstance(spec, str) else spec
        kinds[name] = build_dispatcher(name, title, description, members, kinds)
    try:
        numeric_fields(kinds.values())
    except ValueError as err:  # a name numeric in one schema and text in another
        raise SchemaGenError(str(err)) from err
    files = {f"{name}.json": kinds[name] for name in sorted(kinds)}
    files[f"{NAME}.json"] = definition_schema(kinds)
    return dict(sorted(files.items()))


# --- files ---------------------------------------------------------------------------


def dumps(schema: Json) -> str:
    """The committed form: indent 2, sorted keys, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(dest: Path) -> list[str]:
    """Write every schema under `dest`, remove stale ones; return the files changed."""
    wanted = {name: dumps(schema) for name, schema in generate().items()}
    changed = []
    for name, text in wanted.items():
        path = dest / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    for name in _existing(dest) - wanted.keys():
        (dest / name).unlink()
        changed.append(name)
    return sorted(changed)


def differences(dest: Path) -> list[str]:
    """Files under `dest` that are missing, stale or different from `generate()`."""
    wanted = {name: dumps(schema) for name, schema in generate().items()}
    out = []
    for name in sorted(wanted.keys() | _existing(dest)):
        path = dest / name
        if name not in wanted:
            out.append(f"{name}: not generated any more (stale)")
        elif not path.is_file():
            out.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != wanted[name]:
            out.append(f"{name}: differs")
    return out


def _existing(dest: Path) -> set[str]:
    if not dest.is_dir():
        return set()
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*.json")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m linepress.validate.schemagen", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if files differ")
    parser.add_argument("--dest", type=Path, default=None, help="schema folder")
    args = parser.parse_args(argv)
    dest: Path = args.dest or resource_dir("schemas")
    if args.check:
        problems = differences(dest)
        for line in problems:
            print(f"{dest / line}", file=sys.stderr)
        if problems:
            print("run: python -m linepress.validate.schemagen", file=sys.stderr)
        return 1 if problems else 0
    for name in write(dest):
        print(f"wrote {dest / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

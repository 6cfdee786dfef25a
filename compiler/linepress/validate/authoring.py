"""The authoring JSON Schema of definition files (`schemas/definition.json`).

Editors with YAML language support (VS Code + Red Hat YAML) use it for
completion, hover docs and inline errors while a definition is typed. It is
derived from the request schemas, so it never disagrees with them:

- one self-contained file: every request schema is bundled under `$defs` and
  every `$ref` is internal (`#/$defs/...`), so an editor fetches nothing;
- a value may be Jinja: where the body wants a number, boolean, array or
  object, a string containing `{{` or `{%` is accepted too; a string field
  accepts any Jinja string, but a literal one must still satisfy the original
  rules (so a literal typo is flagged);
- `type` constants stay literal, for completion and for the `if`/`then` dispatch;
- array items (actions, columns) may carry `$if` and `$for`; every other
  object stays closed (`additionalProperties: false`), so `thumbnailURL` is flagged.

The custom keywords (`x-maxUtf16`, ...) are kept: editors ignore them.
`linepress.validate.schemagen.generate()` writes the result; the drift test covers it.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

from linepress.validate.schema import BASE_ID, DIALECT, SchemaGenError, cached_schema, schema_names

Json = dict[str, Any]

#: The name of the authoring schema (`schemas/definition.json`).
NAME = "definition"

#: A string that contains Jinja: rendered per recipient, so only linepress can check it.
JINJA_PATTERN = r"\{\{|\{%"

#: JSON type -> how a Jinja string stands in for a value of that type. One `$defs`
#: entry each, with a VS Code `patternErrorMessage`: editors report the branch
#: whose type matches (a string), so without it `latitude: north` would read
#: "does not match the pattern \{\{|\{%".
_JINJA_FOR: dict[str, tuple[str, str]] = {
    "number": ("a number", "{{ price }}"),
    "integer": ("a whole number", "{{ seconds * 1000 }}"),
    "boolean": ("true or false", "{{ is_member }}"),
    "array": ("a list", "{{ my_list }}"),
    "object": ("an object", "{{ my_object }}"),
}


def _jinja_def(json_type: str) -> Json:
    what, example = _JINJA_FOR[json_type]
    return {
        "title": f"Jinja giving {what}",
        "description": f'A string with Jinja that gives {what} for each recipient, e.g. "{example}".',
        "type": "string",
        "pattern": JINJA_PATTERN,
        "patternErrorMessage": f'Expected {what}, or a Jinja string that gives one, e.g. "{example}".',
    }


#: Identifiers as Python/Jinja see them; any non-ASCII character is let through
#: (Unicode names are valid) rather than flag a good name: the loader has the last word.
IDENTIFIER = r"^[A-Za-z_\u0080-\uFFFF][A-Za-z0-9_\u0080-\uFFFF]*$"

#: The extra keys an array item may carry (see README "Repeating and optional items").
#: The extra keys an array item may carry, as `linepress.render.builders` reads them.
ITEM_KEYS: Json = {
    "$if": {
        "description": (
            "Include this item only when the Jinja expression is true, e.g. `coupon`"
            " or `points | int >= 1000` ({{ }} optional)."
        ),
        "markdownDescription": (
            "Include this item only when the **Jinja expression** is truthy"
            " (`{{ }}` optional; `false` turns the item off).\n\n"
            '```yaml\n- $if: coupon\n  type: "POSTBACK"\n```'
        ),
        # A YAML `true`/`false` is read as that expression: handy to switch an item off.
        "type": ["string", "boolean"],
        "minLength": 1,
    },
    "$for": {
        "description": (
            "Repeat this item for each element: `name in expression`, e.g."
            " `product in products`; `name` is a variable inside the item."
        ),
        "markdownDescription": (
            "Repeat this item for each element of a list: `name in expression`.\n\n"
            '```yaml\n- $for: product in products\n  title: "{{ product.name }}"\n```'
        ),
        "type": "string",
        # The same shape linepress.render.builders accepts: one name, `in`, an expression.
        "pattern": r"^\s*[A-Za-z_][A-Za-z0-9_]*\s+in\s+\S",
        "patternErrorMessage": "Write `name in expression`, e.g. `product in products`.",
    },
}

#: Annotations that move from a field to its Jinja-or-literal wrapper: the
#: editor's hover shows the wrapper's, and the literal branch need not repeat them.
_ANNOTATIONS = ("title", "description", "markdownDescription")


def definition_schema(schemas: Mapping[str, Json] | None = None) -> Json:
    """The authoring schema, from `schemas` (name -> request schema; default: the shipped ones)."""
    if schemas is None:
        schemas = {name: cached_schema(name) for name in schema_names()}
    source = {name: schema for name, schema in schemas.items() if name != NAME}
    if "request" not in source:
        raise SchemaGenError("the authoring schema needs the request schema")
    bundled: dict[str, Json] = {
        name: _internal_refs(schema, name, source) for name, schema in source.items()
    }
    items = _item_kinds(bundled)
    types = _types(bundled)
    defs: Json = {
        _key(name): _kind(kind, item=name in items, types=types)
        for name, kind in bundled.items()
        if name != "request"  # its fields become the definition's own, below
    }
    request: Json = _kind(bundled["request"], item=False, types=types)["properties"]
    out: Json = {
        "$schema": DIALECT,
        "$id": BASE_ID + NAME + ".json",
        "title": "linepress definition",
        "description": (
            "A LINE message definition: the request body (from, to, message) written"
            " as YAML, where any string may use Jinja; or `variants`, one message per"
            " value of a data column."
        ),
        "markdownDescription": (
            "A **linepress** definition. Give exactly one of `message` or `variants`.\n\n"
            "Any string may use Jinja (`{{ name }}`); each recipient's fields are the variables."
        ),
        "type": "object",
        "properties": {
            "description": {"description": "Free text for people; not sent.", "type": "string"},
            "vars": _vars(),
            "defaults": _defaults(request),
            "imports": _imports(),
            "from": _described(request["from"], _FROM),
            "to": _described(request["to"], _TO),
            "message": _described(request["message"], _MESSAGE),
            "variants": _variants(request["message"]),
        },
        "additionalProperties": False,
        # Exactly one: `message` for everyone, or `variants` chosen per recipient.
        "oneOf": [{"required": ["message"]}, {"required": ["variants"]}],
        "$defs": defs,
    }
    # Only the Jinja stand-ins some field uses (no boolean field today).
    used = {target for _, target in _refs(out)}
    defs.update({f"jinja-{t}": _jinja_def(t) for t in _JINJA_FOR if f"jinja-{t}" in used})
    return out


# --- bundling ------------------------------------------------------------------------


def _key(name: str) -> str:
    # No "/" in $defs keys: JSON Pointer would need "~1", which some editors mishandle.
    return name.replace("/", ".")


def _internal_refs(node: Any, name: str, source: Mapping[str, Json], top: bool = True) -> Any:
    """A copy of `node` with relative file `$ref`s turned into `#/$defs/...` refs."""
    if isinstance(node, list):
        return [_internal_refs(value, name, source, False) for value in node]
    if not isinstance(node, dict):
        return node
    out: Json = {}
    for key, value in node.items():
        if top and key in ("$schema", "$id"):
            continue  # an `$id` inside `$defs` would change the base of its refs
        if key == "$ref" and isinstance(value, str):
            target = _target(value, name)
            if target not in source:
                raise SchemaGenError(f"{name}: $ref {value!r} names no schema")
            out[key] = "#/$defs/" + _key(target)
        else:
            out[key] = _internal_refs(value, name, source, False)
    return out


def _target(ref: str, name: str) -> str:
    if ref.startswith("#") or "://" in ref:
        raise SchemaGenError(f"{name}: only relative file $refs can be bundled, found {ref!r}")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(name), ref))
    return path.removesuffix(".json")


def _refs(node: Any, keyword: str = "") -> Iterator[tuple[str, str]]:
    """(the keyword that holds it, target `$defs` key) for every `$ref` under `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield keyword, node["$ref"].removeprefix("#/$defs/")
        for key, value in node.items():
            yield from _refs(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value, keyword)


def _item_kinds(bundled: Mapping[str, Json]) -> set[str]:
    """Kinds used as array items, directly or as a branch of an item dispatcher.

    These get `$if`/`$for`. A kind that is also used as a single value would
    accept them there too, so that is refused rather than generated.
    """
    by_key = {_key(name): name for name in bundled}
    found = {by_key[t] for schema in bundled.values() for k, t in _refs(schema) if k == "items"}
    todo = list(found)
    while todo:  # an item dispatcher's `then` branches are items as well
        for keyword, target in _refs(bundled[todo.pop()].get("allOf", [])):
            if keyword == "then" and by_key[target] not in found:
                found.add(by_key[target])
                todo.append(by_key[target])
    for name, schema in bundled.items():
        for keyword, target in _refs(schema):
            used_as_item = keyword == "items" or (keyword == "then" and name in found)
            if by_key[target] in found and not used_as_item:
                raise SchemaGenError(
                    f"{by_key[target]} is both an array item and a single value in {name}"
                )
    return found


# --- Jinja --------------------------------------------------------------------------


def _types(bundled: Mapping[str, Json]) -> dict[str, str]:
    """`$defs` key -> the JSON type of that schema's values ("object")."""
    return {_key(name): str(schema.get("type", "")) for name, schema in bundled.items()}


def _kind(schema: Json, *, item: bool, types: Mapping[str, str]) -> Json:
    """One bundled request schema (or inline object), its fields made Jinja-aware."""
    out = copy.deepcopy(schema)
    # Only `properties` are values; `if`/`then`/`allOf` rule fragments stay as they are.
    if "properties" in out:
        out["properties"] = {
            name: _field(name, sub, types=types) for name, sub in out["properties"].items()
        }
    if item:
        out["properties"] = {**out.get("properties", {}), **copy.deepcopy(ITEM_KEYS)}
    return out


def _field(name: str, schema: Json, *, types: Mapping[str, str], item: bool = False) -> Json:
    if name == "type" and ("const" in schema or "enum" in schema):
        return copy.deepcopy(schema)  # literal: offered by completion, used by the dispatch
    out = copy.deepcopy(schema)
    if out.get("type") == "object" and isinstance(out.get("properties"), dict):
        out = _kind(out, item=item, types=types)
    if out.get("type") == "array" and isinstance(out.get("items"), dict):
        out["items"] = _field("", out["items"], types=types, item=True)
    return _jinja_or(out, types)


def _jinja_or(schema: Json, types: Mapping[str, str]) -> Json:
    """The field, or a Jinja string in its place; the docs stay on the outside."""
    literal = dict(schema)
    docs = {key: literal.pop(key) for key in _ANNOTATIONS if key in literal}
    ref = literal.get("$ref")
    json_type = types[ref.removeprefix("#/$defs/")] if isinstance(ref, str) else literal.get("type")
    if json_type == "string":
        # A Jinja string is checked per recipient; a literal one by the original rules.
        # (if/else rather than anyOf: the editor then reports the original rule only.)
        return {**docs, "type": "string", "if": {"pattern": JINJA_PATTERN}, "else": literal}
    if json_type not in _JINJA_FOR:
        raise SchemaGenError(f"no Jinja stand-in for a value of type {json_type!r}: {schema}")
    # The literal first: on a tie, validators report its errors first.
    return {**docs, "anyOf": [literal, {"$ref": f"#/$defs/jinja-{json_type}"}]}


def _described(schema: Json, docs: Json) -> Json:
    return {**schema, **docs}


# --- the definition's own keys ------------------------------------------------------------

_FROM: Json = {
    "description": (
        "Your Infobip LINE application key. Leave out to use each record's `from`"
        " column, then `defaults.from`."
    ),
}
_TO: Json = {
    "description": (
        "The recipient: a LINE user ID or a phone number, usually `{{ user_id }}`."
        " Leave out to use each record's `to` column, then `defaults.to`."
    ),
}
_MESSAGE: Json = {
    "description": (
        "The message: TEXT, IMAGE, VIDEO, AUDIO, LOCATION, STICKER, IMAGEMAP or"
        " TEMPLATE (BUTTONS, CONFIRM, CAROUSEL), chosen by `type`."
    ),
    "markdownDescription": (
        "The message, chosen by `type`: `TEXT`, `IMAGE`, `VIDEO`, `AUDIO`, `LOCATION`,"
        " `STICKER`, `IMAGEMAP` or `TEMPLATE` (`BUTTONS`, `CONFIRM`, `CAROUSEL`).\n\n"
        "Start from a starter: `linepress new carousel my-message.yaml`."
    ),
}


def _vars() -> Json:
    return {
        "description": "Constants usable in any string, e.g. {{ shop_url }}; a data column of the same name overrides one.",
        "markdownDescription": (
            "Constants usable in any string as `{{ name }}`. A recipient column of the"
            ' same name overrides one.\n\n```yaml\nvars:\n  shop_url: "https://shop.example.com"\n```'
        ),
        "type": "object",
        "propertyNames": {"pattern": IDENTIFIER},
    }


def _defaults(request: Json) -> Json:
    return {
        "description": "`from` / `to` used when the definition has no such key and the record no such column.",
        "type": "object",
        "properties": {
            "from": _described(request["from"], {"description": "Default application key."}),
            "to": _described(request["to"], {"description": "Default recipient."}),
        },
        "additionalProperties": False,
    }


def _imports() -> Json:
    return {
        "description": "Macro files: `alias: file.j2`, then {{ alias.macro(...) }} in any string.",
        "markdownDescription": (
            "Macro files, looked up next to the definition, then in linepress's `templates/`."
            "\n\n```yaml\nimports:\n  fmt: macros/format.j2   # {{ fmt.yen(price) }}\n```"
        ),
        "type": "object",
        "propertyNames": {"pattern": IDENTIFIER},
        "additionalProperties": {
            "description": "Path of a Jinja macro file (.j2).",
            "type": "string",
            "minLength": 1,
        },
    }


def _variants(message: Json) -> Json:
    return {
        "description": "One message per value of a data column, instead of `message`.",
        "markdownDescription": (
            "One message per value of the data column `by`; `fallback` names the message for"
            " any other value.\n\n```yaml\nvariants:\n  by: lang\n  fallback: en\n  messages:\n"
            '    en: {type: "TEXT", text: "Hello {{ name }}"}\n'
            '    ja: {type: "TEXT", text: "こんにちは {{ name }}"}\n```'
        ),
        "type": "object",
        "properties": {
            "by": {
                "description": "The data column whose value picks the message.",
                "type": "string",
                "minLength": 1,
            },
            "fallback": {
                "description": "The variant used when the column's value has no message of its own.",
                "type": "string",
                "minLength": 1,
            },
            "messages": {
                "description": "Column value -> message.",
                "type": "object",
                "minProperties": 1,
                "additionalProperties": _described(
                    message, {"description": "The message for this value."}
                ),
            },
        },
        "required": ["by", "messages"],
        "additionalProperties": False,
    }

"""The authoring schema (schemas/definition.json) and `linepress new` (linepress.author.starters)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError
from ruamel.yaml import YAML

from linepress import Compiler, UsageError
from linepress.author.starters import SCHEMA_FILE, new_definition, starter_kinds
from linepress.resources import resource_dir
from linepress.validate.authoring import definition_schema
from linepress.validate.schema import load_schema, resolve_name, schema_names
from linepress.validate.schemagen import SchemaGenError, dumps

ROOT = Path(__file__).parent.parent
SCHEMA_PATH = resource_dir("schemas") / "definition.json"
DEFINITIONS = sorted(
    [
        *(ROOT / "examples" / "doc").glob("*.yaml"),
        *(ROOT / "examples" / "campaign").glob("*.yaml"),
        *(ROOT / "templates" / "starters").glob("*.yaml"),
    ]
)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    # Plain: no custom keywords, no registry. An editor sees exactly this file.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def load_yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def leaves(errors: list[ValidationError]) -> Iterator[ValidationError]:
    """Every error, with the branch errors of anyOf/oneOf/if-else expanded."""
    for error in errors:
        yield error
        yield from leaves(list(error.context or []))


def problems(validator: Draft202012Validator, text: str) -> list[tuple[list[Any], str]]:
    return [
        (list(e.absolute_path), e.message)
        for e in leaves(list(validator.iter_errors(load_yaml(text))))
    ]


BASE = """\
from: "8F0792F86035A9F4290821F1EE6BC06A"
to: "{{ user_id }}"
"""


# --- the file -----------------------------------------------------------------------


def test_the_file_is_a_self_contained_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    refs = [m for m in _values(schema, "$ref")]
    assert refs and all(ref.startswith("#/$defs/") for ref in refs)
    assert all(ref.removeprefix("#/$defs/") in schema["$defs"] for ref in refs)
    # No nested `$id`: it would move the base URI of the refs below it.
    assert list(_values(schema, "$id")) == [schema["$id"]]


def _values(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and not isinstance(v, dict):
                yield v
            yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def test_the_file_is_generated_and_resolvable_but_not_a_request_schema() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == dumps(definition_schema())
    assert resolve_name("Definition") == "definition"
    assert load_schema("definition")["title"] == "linepress definition"
    assert "definition" not in schema_names()


def test_hover_docs_are_kept(validator: Draft202012Validator) -> None:
    schema = validator.schema
    assert schema["properties"]["message"]["markdownDescription"]
    text = schema["$defs"]["message.text"]["properties"]["text"]
    assert text["description"] == "Text of the message."
    assert schema["$defs"]["template.carousel-column"]["title"] == "Carousel column"


def test_a_ref_to_an_unknown_schema_is_a_generator_error() -> None:
    schemas = {name: load_schema(name) for name in schema_names()}
    schemas["request"]["properties"]["message"]["$ref"] = "nowhere.json"
    with pytest.raises(SchemaGenError, match="nowhere"):
        definition_schema(schemas)


# --- what validates ---------------------------------------------------------------------


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_and_starter_validates(validator: Draft202012Validator, path: Path) -> None:
    errors = list(validator.iter_errors(load_yaml(path.read_text(encoding="utf-8"))))
    assert errors == [], [e.message for e in errors]


def test_a_variants_definition_validates(validator: Draft202012Validator) -> None:
    text = """\
description: Welcome, in the recipient's language.
defaults: {from: "8F0792F86035A9F4290821F1EE6BC06A"}
variants:
  by: lang
  fallback: en
  messages:
    en: {type: "TEXT", text: "Hello {{ name }}"}
    ja: {type: "TEXT", text: "こんにちは {{ name }}"}
"""
    assert problems(validator, text) == []
    missing_by = "variants: {messages: {en: {type: TEXT, text: hi}}}"
    assert (["variants"], "'by' is a required property") in problems(validator, missing_by)
    assert any(
        "should be non-empty" in m
        for _, m in problems(validator, "variants: {by: lang, messages: {}}")
    )


def test_jinja_stands_in_for_numbers_lists_and_objects(validator: Draft202012Validator) -> None:
    text = (
        BASE
        + """\
vars: {shop: "https://shop.example.com", 名前: x}
imports: {fmt: macros/format.j2}
message:
  type: "TEMPLATE"
  altText: "{{ name }}"
  template:
    type: "BUTTONS"
    thumbnailImageUrl: "{{ shop }}/t.jpg"
    text: "Hi"
    actions: "{{ my_actions }}"
"""
    )
    assert problems(validator, text) == []
    location = (
        BASE
        + """\
message: {type: LOCATION, title: "{{ t }}", address: a, latitude: "{{ lat }}", longitude: "{% if x %}1{% endif %}"}
"""
    )
    assert problems(validator, location) == []


def test_a_carousel_with_if_and_for_items_validates(validator: Draft202012Validator) -> None:
    text = (
        BASE
        + """\
message:
  type: "TEMPLATE"
  altText: "Picks for {{ name }}"
  template:
    type: "CAROUSEL"
    columns:
      - $for: p in picks
        thumbnailImageUrl: "{{ p.image }}"
        title: "{{ p.name }}"
        text: "{{ p.blurb }}"
        actions:
          - type: "URI"
            label: "View"
            uri: "{{ p.url }}"
          - $if: coupon
            type: "POSTBACK"
            label: "Save my code"
            data: "coupon={{ coupon }}"
      - $if: points | int > 0
        thumbnailImageUrl: "https://cdn.example.com/points.jpg"
        title: "Your points"
        text: "{{ points }} pts"
        actions:
          - {type: "URI", label: "My points", uri: "https://shop.example.com/points"}
          - {type: "MESSAGE", label: "Help", text: "Help", $if: false}
"""
    )
    assert problems(validator, text) == []
    imagemap_action = (
        BASE
        + """\
message:
  type: IMAGEMAP
  baseUrl: https://cdn.example.com/map
  altText: Map
  baseSize: {width: 1040, height: "{{ h }}"}
  actions:
    - {$for: a in areas, type: URI, linkUri: "{{ a.url }}", area: "{{ a.area }}"}
"""
    )
    assert problems(validator, imagemap_action) == []


# --- what is rejected, and how --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            BASE + "mesage: {type: TEXT, text: hi}\nmessage: {type: TEXT, text: hi}\n",
            [],
            "Additional properties are not allowed ('mesage' was unexpected)",
        ),
        (
            BASE
            + """\
message:
  type: TEMPLATE
  altText: Sale
  template:
    type: BUTTONS
    thumbnailURL: https://cdn.example.com/t.jpg
    text: Sale
    actions: [{type: URI, label: Shop, uri: "https://shop.example.com"}]
""",
            ["message", "template"],
            "Additional properties are not allowed ('thumbnailURL' was unexpected)",
        ),
        (
            BASE
            + "message: {type: LOCATION, title: t, address: a, latitude: north, longitude: 2}\n",
            ["message", "latitude"],
            "'north' is not of type 'number'",
        ),
        (
            BASE
            + "message: {type: TEXT, text: hi}\nvariants: {by: lang, messages: {en: {type: TEXT, text: x}}}\n",
            [],
            "is valid under each of",
        ),
        (BASE, [], "is not valid under any of the given schemas"),
        (
            BASE + "message: {type: TEXXT, text: hi}\n",
            ["message", "type"],
            "'TEXXT' is not one of ['TEXT', 'IMAGE', 'VIDEO', 'AUDIO', 'LOCATION', 'STICKER', 'IMAGEMAP', 'TEMPLATE']",
        ),
        (
            BASE + "message: {$for: m in messages, type: TEXT, text: hi}\n",
            ["message"],
            "Additional properties are not allowed ('$for' was unexpected)",
        ),
        (
            BASE
            + "message: {type: TEMPLATE, altText: a, template: {$if: x, type: CONFIRM, text: t, actions: [{type: MESSAGE, label: y, text: y}, {type: MESSAGE, label: n, text: n}]}}\n",
            ["message", "template"],
            "Additional properties are not allowed ('$if' was unexpected)",
        ),
        (
            BASE
            + "message: {type: IMAGE, url: http://cdn.example.com/a.jpg, thumbnailUrl: https://cdn.example.com/a.jpg}\n",
            ["message", "url"],
            "'http://cdn.example.com/a.jpg' does not match '^https://'",
        ),
        (
            BASE + "message: {type: TEXT, text: ''}\n",
            ["message", "text"],
            "'' should be non-empty",
        ),
        (
            BASE + "vars: {first name: Ann}\nmessage: {type: TEXT, text: hi}\n",
            ["vars"],
            "does not match",
        ),
        (
            BASE + "defaults: {form: x}\nmessage: {type: TEXT, text: hi}\n",
            ["defaults"],
            "Additional properties are not allowed ('form' was unexpected)",
        ),
        (
            BASE
            + "message: {type: TEMPLATE, altText: a, template: {type: CAROUSEL, columns: [{$for: picks, text: t, actions: [{type: MESSAGE, label: y, text: y}]}]}}\n",
            ["message", "template", "columns", 0, "$for"],
            "does not match",
        ),
    ],
    ids=[
        "unknown-top-level-key",
        "thumbnailURL-typo",
        "literal-latitude",
        "message-and-variants",
        "neither-message-nor-variants",
        "type-typo",
        "for-on-message",
        "if-on-template",
        "literal-http-url",
        "empty-literal-text",
        "var-name-with-space",
        "defaults-typo",
        "for-without-in",
    ],
)
def test_mistakes_are_rejected_with_the_expected_error(
    validator: Draft202012Validator, text: str, path: list[Any], message: str
) -> None:
    found = problems(validator, text)
    assert any(p == path and message in m for p, m in found), found


# --- linepress new ------------------------------------------------------------------------


def test_starter_kinds_are_the_starter_files() -> None:
    assert starter_kinds() == sorted(
        p.stem for p in (ROOT / "templates" / "starters").glob("*.yaml")
    )


@pytest.mark.parametrize("kind", starter_kinds())
def test_each_kind_writes_a_definition_that_compiles(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "campaigns" / f"{kind}.yaml"
    written = new_definition(kind.upper(), path)
    schema = path.parent / SCHEMA_FILE
    assert written == [path, schema]
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./{SCHEMA_FILE}"
    assert schema.read_text(encoding="utf-8") == SCHEMA_PATH.read_text(encoding="utf-8")
    result = Compiler(path).compile({"to": "U1", "name": "Ann"})
    assert result.ok, [p.format() for p in result.problems]


def test_the_schema_is_written_only_when_missing_or_outdated(tmp_path: Path) -> None:
    assert new_definition("text", tmp_path / "a.yaml") == [
        tmp_path / "a.yaml",
        tmp_path / SCHEMA_FILE,
    ]
    assert new_definition("text", tmp_path / "b.yaml") == [tmp_path / "b.yaml"]
    (tmp_path / SCHEMA_FILE).write_text("{}\n", encoding="utf-8")
    assert new_definition("image", tmp_path / "c.yaml") == [
        tmp_path / "c.yaml",
        tmp_path / SCHEMA_FILE,
    ]
    assert json.loads((tmp_path / SCHEMA_FILE).read_text(encoding="utf-8"))["$defs"]


def test_an_existing_definition_is_not_overwritten_without_force(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("# my work\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        new_definition("text", path)
    assert caught.value.exit_code == 2
    assert (
        str(caught.value) == f"{path}: already exists; not overwritten (use --force to replace it)"
    )
    assert path.read_text(encoding="utf-8") == "# my work\n"
    assert new_definition("text", path, force=True)[0] == path
    assert 'type: "TEXT"' in path.read_text(encoding="utf-8")


def test_an_unknown_kind_lists_the_kinds_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        new_definition("carousle", tmp_path / "x.yaml")
    assert str(caught.value) == (
        "linepress: no starter for 'carousle'; did you mean 'carousel'? choose from: "
        + ", ".join(starter_kinds())
    )
    assert not (tmp_path / "x.yaml").exists()
    assert not (tmp_path / SCHEMA_FILE).exists()

"""The generated schemas: drift, the documented bodies, the doc mistakes, LINE's limits."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from linepress.resources import resource_dir
from linepress.validate import overrides, schemagen
from linepress.validate.body import (
    BodyValidator,
    SchemaIssue,
    body_validator,
    format_path,
    grapheme_length,
    utf16_length,
)
from linepress.validate.schema import (
    NUMERIC_FIELDS,
    load_schema,
    numeric_fields,
    registry,
    resolve_name,
    schema_names,
)

BODIES = Path(__file__).parent / "data" / "doc-bodies"
SCHEMAS = resource_dir("schemas")


def body(stem: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BODIES / f"{stem}.json").read_text(encoding="utf-8"))
    return data


def issues(data: object, schema: str = "request") -> list[SchemaIssue]:
    return body_validator(schema).issues(data)


def only(data: object, schema: str = "request") -> SchemaIssue:
    found = issues(data, schema)
    assert len(found) == 1, found
    return found[0]


def with_message(**fields: Any) -> dict[str, Any]:
    """The TEXT example with its message replaced by `fields`."""
    data = body("01-text")
    data["message"] = fields
    return data


def buttons(**fields: Any) -> dict[str, Any]:
    data = body("08-template_buttons")
    template = data["message"]["template"]
    for key, value in fields.items():
        if value is None:
            template.pop(key, None)
        else:
            template[key] = value
    return data


# --- generation --------------------------------------------------------------------


def test_committed_schemas_equal_the_generator_output() -> None:
    generated = schemagen.generate()
    committed = {p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.json")}
    assert committed == set(generated), "run: python -m linepress.validate.schemagen"
    for name, schema in generated.items():
        text = (SCHEMAS / name).read_text(encoding="utf-8")
        assert text == schemagen.dumps(schema), (
            f"{name} drifted: run python -m linepress.validate.schemagen"
        )


def test_check_reports_a_changed_file(tmp_path: Path) -> None:
    assert schemagen.write(tmp_path)
    assert schemagen.main(["--check", "--dest", str(tmp_path)]) == 0
    (tmp_path / "message" / "text.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "old.json").write_text("{}\n", encoding="utf-8")
    assert schemagen.differences(tmp_path) == [
        "message/text.json: differs",
        "old.json: not generated any more (stale)",
    ]
    assert schemagen.main(["--check", "--dest", str(tmp_path)]) == 1
    assert schemagen.write(tmp_path) == ["message/text.json", "old.json"]
    assert schemagen.differences(tmp_path) == []


def test_every_file_is_a_valid_2020_12_schema_with_id_title_and_closed_objects() -> None:
    for name in schema_names():
        schema = load_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"https://linepress.dev/schemas/{name}.json"
        assert schema["title"] and schema["description"]
        for sub in _objects(schema):
            # Dispatchers stay open: each `then` branch closes its own object.
            assert sub.get("additionalProperties") is False or "allOf" in sub, (name, sub)


def _objects(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found.extend(_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_objects(value))
    return found


def test_a_plain_validator_loads_all_files_and_accepts_the_documented_bodies() -> None:
    plain = Draft202012Validator(load_schema("request"), registry=registry())
    for path in sorted(BODIES.glob("*.json")):
        assert plain.is_valid(json.loads(path.read_text(encoding="utf-8"))), path.name


def test_dispatchers_use_if_then_not_oneof() -> None:
    message = load_schema("message")
    assert "oneOf" not in json.dumps(message)
    assert message["properties"]["type"]["enum"] == [
        "TEXT", "IMAGE", "VIDEO", "AUDIO", "LOCATION", "STICKER", "IMAGEMAP", "TEMPLATE",
    ]  # fmt: skip
    first = message["allOf"][0]
    assert first == {
        "if": {"properties": {"type": {"const": "TEXT"}}, "required": ["type"]},
        "then": {"$ref": "message/text.json"},
    }


def test_descriptions_come_from_the_doc_tables() -> None:
    assert load_schema("text")["properties"]["text"]["description"] == "Text of the message."
    assert load_schema("audio")["properties"]["duration"]["description"] == (
        "Duration of audio (in milliseconds)."
    )


def test_numeric_fields() -> None:
    assert dict(NUMERIC_FIELDS) == {
        "duration": "integer",
        "height": "integer",
        "latitude": "number",
        "longitude": "number",
        "width": "integer",
        "x": "integer",
        "y": "integer",
    }


def test_a_name_numeric_in_one_schema_and_text_in_another_is_refused() -> None:
    clash = [
        {"properties": {"width": {"type": "integer"}}},
        {"properties": {"width": {"type": "string"}}},
    ]
    with pytest.raises(ValueError, match="'width'"):
        numeric_fields(clash)


def test_contradictory_rows_need_a_doc_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(overrides.DOC_FIXES, "message/imagemap", {})
    with pytest.raises(schemagen.SchemaGenError, match="baseSize"):
        schemagen.derive(schemagen.load_tables())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("request", "request"),
        ("message/text", "message/text"),
        ("text", "message/text"),
        ("TEXT", "message/text"),
        ("buttons", "template/buttons"),
        ("carousel", "template/carousel"),
        ("postback", "action/postback"),
        ("area", "action/imagemap-area"),
        ("message", "message"),
    ],
)
def test_load_schema_accepts_names_and_aliases(name: str, expected: str) -> None:
    assert resolve_name(name) == expected
    assert load_schema(name)["$id"].endswith(f"/{expected}.json")


def test_unknown_schema_name_suggests() -> None:
    with pytest.raises(KeyError, match="did you mean 'buttons'"):
        load_schema("buttns")


# --- the documented bodies ---------------------------------------------------------


def test_there_are_ten_documented_bodies() -> None:
    assert len(list(BODIES.glob("*.json"))) == 10


@pytest.mark.parametrize("path", sorted(BODIES.glob("*.json")), ids=lambda p: p.stem)
def test_documented_body_is_valid(path: Path) -> None:
    assert issues(json.loads(path.read_text(encoding="utf-8"))) == []


# --- the documentation's mistakes ----------------------------------------------------


def test_1_confirm_type_is_confirm() -> None:
    assert load_schema("confirm")["properties"]["type"]["const"] == "CONFIRM"
    assert issues(body("09-template_confirm")) == []
    template = body("09-template_confirm")["message"]["template"]
    issue = only({**template, "type": "BUTTONS"}, "confirm")
    assert (issue.path, issue.message, issue.found) == (
        ("type",),
        'must be exactly "CONFIRM"',
        "'BUTTONS'",
    )


def test_2_base_size_is_an_object() -> None:
    data = body("07-imagemap")
    data["message"]["baseSize"] = 1040
    issue = only(data)
    assert (format_path(issue.path), issue.message) == ("message.baseSize", "expected an object")


def test_3_area_is_a_single_object_not_an_array() -> None:
    data = body("07-imagemap")
    area = data["message"]["actions"][0]["area"]
    data["message"]["actions"][0]["area"] = [area]
    issue = only(data)
    assert format_path(issue.path) == "message.actions[0].area"
    assert (issue.message, issue.found) == ("expected an object", "a list of 1")


def test_4_video_body_without_its_trailing_comma_is_valid() -> None:
    assert body("03-video")["message"]["type"] == "VIDEO"
    assert issues(body("03-video")) == []


def test_5_sticker_is_supported() -> None:
    assert "STICKER" in load_schema("message")["properties"]["type"]["enum"]
    assert issues(body("06-sticker")) == []


@pytest.mark.parametrize(
    "to", ["aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "41793026727", "+41 79 302"]
)
def test_6_to_is_a_user_key_or_a_phone_number(to: str) -> None:
    assert issues({**body("01-text"), "to": to}) == []


def test_6_to_must_not_be_empty() -> None:
    issue = only({**body("01-text"), "to": ""})
    assert (issue.path, issue.message, issue.found) == (("to",), "must not be empty", "''")


def test_7_required_fields_come_from_line() -> None:
    issue = only(with_message(type="TEXT"))
    assert (issue.path, issue.message, issue.found) == (
        ("message",),
        "required property 'text' is missing",
        None,
    )


def test_every_doc_mistake_has_a_decision() -> None:
    assert [d.split(".")[0] for d in overrides.DECISIONS] == [str(n) for n in range(1, 8)]


# --- LINE's limits ---------------------------------------------------------------------


def test_text_counts_utf16_code_units_an_emoji_counts_two() -> None:
    assert utf16_length("a😀") == 3
    assert issues(with_message(type="TEXT", text="a" * 4998 + "😀")) == []
    # 5000 code points, so `maxLength: 5000` would wrongly accept it.
    issue = only(with_message(type="TEXT", text="a" * 4999 + "😀"))
    assert (
        issue.message == "must be at most 5000 characters as LINE counts them (UTF-16 code units)"
    )
    assert (issue.found, issue.code) == ("5001", "line-limit")


def test_labels_count_grapheme_clusters() -> None:
    accented = "e\u0301"  # e + combining acute: 2 code points, 1 cluster
    assert grapheme_length(accented * 20) == 20
    assert grapheme_length("a\r\nb") == 3
    data = body("08-template_buttons")
    action = data["message"]["template"]["actions"][0]
    action["label"] = accented * 20
    assert issues(data) == []  # 40 code points: `maxLength: 20` would wrongly reject
    action["label"] = accented * 21
    issue = only(data)
    assert format_path(issue.path) == "message.template.actions[0].label"
    assert issue.message == "must be at most 20 characters as LINE counts them (grapheme clusters)"
    assert issue.found == "21"


def test_buttons_text_is_60_with_a_title_or_thumbnail() -> None:
    issue = only(buttons(text="t" * 61))
    assert format_path(issue.path) == "message.template.text"
    assert issue.message.endswith("when there is a title or a thumbnail image")
    assert issue.found == "61"
    assert only(buttons(text="t" * 61, title=None)).path == ("message", "template", "text")
    assert issues(buttons(text="t" * 61, title=None, thumbnailImageUrl=None)) == []
    issue = only(buttons(text="t" * 161, title=None, thumbnailImageUrl=None))
    assert "at most 160" in issue.message


def test_the_tightest_text_limit_is_the_one_reported() -> None:
    issue = only(buttons(text="t" * 200))
    assert "at most 60" in issue.message


def test_carousel_columns_must_have_the_same_number_of_actions() -> None:
    data = body("10-template_carousel")
    columns = data["message"]["template"]["columns"]
    columns[1]["actions"] = columns[1]["actions"] * 2
    issue = only(data)
    assert format_path(issue.path) == "message.template.columns[1].actions"
    assert issue.message == (
        "column 2 has 2 actions but column 1 has 1; "
        "every carousel column must have the same number of actions"
    )


def test_carousel_thumbnail_in_one_column_means_in_every_column() -> None:
    data = body("10-template_carousel")
    del data["message"]["template"]["columns"][1]["thumbnailImageUrl"]
    issue = only(data)
    assert format_path(issue.path) == "message.template.columns[1]"
    assert issue.message.startswith("column 2 has no thumbnailImageUrl but column 1 has one")


def test_image_url_must_be_https() -> None:
    data = body("02-image")
    data["message"]["url"] = "http://example.com/original.jpg"
    issue = only(data)
    assert (format_path(issue.path), issue.message) == ("message.url", "must start with https://")


def test_media_urls_need_no_file_extension() -> None:
    data = body("02-image")
    data["message"]["url"] = "https://example.com/original"
    assert issues(data) == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.url/base", True),
        ("https://example.com", True),
        ("https://example.com/v1.2/base", True),
        ("https://example.com/base.jpg", False),
        ("https://example.com/base.PNG?v=1", False),
    ],
)
def test_imagemap_base_url_must_not_end_in_a_file_extension(url: str, ok: bool) -> None:
    data = body("07-imagemap")
    data["message"]["baseUrl"] = url
    found = issues(data)
    assert (
        found == []
        if ok
        else [i.message for i in found]
        == ["must not end in a file extension: LINE appends /240 … /1040 to baseUrl"]
    )


def test_imagemap_width_must_be_1040() -> None:
    data = body("07-imagemap")
    data["message"]["baseSize"]["width"] = 1039
    issue = only(data)
    assert (format_path(issue.path), issue.message, issue.found) == (
        "message.baseSize.width",
        "must be exactly 1040",
        "1039",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("x", -1, "must be at least 0"),
        ("width", 0, "must be greater than 0"),
        ("y", 1.5, "expected an integer"),
    ],
)
def test_imagemap_area_numbers(field: str, value: object, message: str) -> None:
    data = body("07-imagemap")
    data["message"]["actions"][1]["area"][field] = value
    issue = only(data)
    assert (format_path(issue.path), issue.message) == (f"message.actions[1].area.{field}", message)


@pytest.mark.parametrize(
    ("stem", "field", "value", "message"),
    [
        ("04-audio", "duration", 0, "must be greater than 0"),
        ("04-audio", "duration", "240000", "expected an integer"),
        ("05-location", "latitude", 91, "must be at most 90"),
        ("05-location", "longitude", -181, "must be at least -180"),
        ("05-location", "title", "x" * 101, "must be at most 100 characters as LINE counts them"),
        ("06-sticker", "stickerId", 1, "expected a string"),
    ],
)
def test_message_limits(stem: str, field: str, value: object, message: str) -> None:
    data = body(stem)
    data["message"][field] = value
    issue = only(data)
    assert issue.path == ("message", field)
    assert issue.message.startswith(message)


def test_confirm_has_exactly_two_actions() -> None:
    data = body("09-template_confirm")
    actions = data["message"]["template"]["actions"]
    actions.append(copy.deepcopy(actions[0]))
    issue = only(data)
    assert (issue.message, issue.found) == ("must have exactly 2 items", "a list of 3")


def test_buttons_have_at_most_four_actions() -> None:
    data = body("08-template_buttons")
    actions = data["message"]["template"]["actions"]
    actions.extend(copy.deepcopy(actions[:2]))
    assert only(data).message == "must have at most 4 items"


def test_action_uri_scheme() -> None:
    data = body("08-template_buttons")
    data["message"]["template"]["actions"][2]["uri"] = "ftp://example.com"
    issue = only(data)
    assert issue.message == "must be a URI with scheme http, https, line or tel"
    data["message"]["template"]["actions"][2]["uri"] = "tel:+41793026727"
    assert issues(data) == []


# --- messages and noise ------------------------------------------------------------------


def test_unknown_property_suggests_the_closest_name() -> None:
    data = body("02-image")
    data["message"]["thumbnailURL"] = "https://example.com/preview.jpg"
    issue = only(data)
    assert format_path(issue.path) == "message.thumbnailURL"
    assert issue.message == "unknown property 'thumbnailURL' (did you mean 'thumbnailUrl'?)"
    assert issue.code == "schema"


def test_wrong_type_says_what_was_expected_and_found() -> None:
    issue = only(with_message(type="TEXT", text=5))
    assert (format_path(issue.path), issue.message, issue.found) == (
        "message.text",
        "expected a string",
        "5",
    )


def test_unknown_type_lists_the_types_and_nothing_else() -> None:
    issue = only(with_message(type="TXT", url=1))
    assert issue.message == (
        "must be one of TEXT, IMAGE, VIDEO, AUDIO, LOCATION, STICKER, IMAGEMAP, TEMPLATE"
        " (did you mean 'TEXT'?)"
    )
    assert issue.found == "'TXT'"


def test_only_the_matching_branch_reports() -> None:
    # A URI action without `uri`: nothing from the POSTBACK or MESSAGE branches.
    data = body("08-template_buttons")
    del data["message"]["template"]["actions"][2]["uri"]
    issue = only(data)
    assert (format_path(issue.path), issue.message) == (
        "message.template.actions[2]",
        "required property 'uri' is missing",
    )


def test_issues_are_sorted_by_path_and_missing_properties_are_separate() -> None:
    data = body("10-template_carousel")
    columns = data["message"]["template"]["columns"]
    columns.extend(copy.deepcopy(columns[0]) for _ in range(9))
    columns[10]["actions"][0]["label"] = ""
    del data["message"]["altText"]
    del data["from"]
    found = [(format_path(i.path), i.message) for i in issues(data)]
    assert found == [
        ("", "required property 'from' is missing"),
        ("message", "required property 'altText' is missing"),
        ("message.template.columns", "must have at most 10 items"),
        ("message.template.columns[10].actions[0].label", "must not be empty"),
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("message", "template", "columns", 0, "text"), "message.template.columns[0].text"),
        (("message", "odd key"), 'message["odd key"]'),
        ((0,), "[0]"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


def test_issue_as_text_and_problem() -> None:
    issue = only(with_message(type="TEXT", text=""))
    assert str(issue) == "message.text: must not be empty (found '')"
    assert issue.problem().format() == "linepress: message.text: must not be empty (found '')"


def test_validator_for_a_part_and_cached_instances() -> None:
    assert body_validator() is body_validator()
    assert BodyValidator("postback").issues({"type": "POSTBACK", "label": "a", "data": "b"}) == []

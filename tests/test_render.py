"""Rendering leaves for one recipient: types, data as data, the sandbox, located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linepress.definition import parse_definition
from linepress.errors import DefinitionError, Problem, describe
from linepress.render.builders import DYNAMIC, Renderer
from linepress.render.templating import LeafFailed, make_environment, to_json_value, to_number

NUMERIC = {"latitude": "number", "longitude": "number", "duration": "integer", "x": "integer"}


def renderer(text: str, name: str = "def.yaml") -> Renderer:
    if "from" not in text:
        text += "from: APP\n"  # at the end, so the line numbers below stay true
    return Renderer(parse_definition(text, name), NUMERIC)


def render(text: str, fields: dict[str, Any]) -> tuple[Any, list[Problem]]:
    rendered = renderer(text).render(fields)
    return rendered.body, rendered.problems


def test_a_definition_without_expressions_renders_to_itself() -> None:
    text = "to: U1\nfrom: APP\nmessage: {type: AUDIO, url: 'https://a/b.m4a', duration: 240000}\n"
    body, problems = render(text, {})
    assert problems == []
    assert list(body) == ["from", "to", "message"]  # the API's order, whatever the file's
    assert body == {
        "from": "APP",
        "to": "U1",
        "message": {"type": "AUDIO", "url": "https://a/b.m4a", "duration": 240000},
    }


@pytest.mark.parametrize(
    "value",
    [
        "a: b",
        'say "hi"',
        "line\nbreak",
        "{{ 7 * 7 }}",
        "{% if true %}x{% endif %}",
        "'; DROP",
        "\\u0000",
        "}}{{",
    ],
)
def test_recipient_data_comes_out_literally(value: str) -> None:
    body, problems = render(
        "to: U\nmessage: {type: TEXT, text: 'Hi {{ name }}!', alt: '{{ name }}'}\n", {"name": value}
    )
    assert problems == []
    assert body["message"]["text"] == f"Hi {value}!"
    assert body["message"]["alt"] == value


def test_single_expression_keeps_its_type_and_text_templates_give_text() -> None:
    body, _ = render(
        "to: U\nmessage: {items: '{{ items }}', first: '{{ items[0] }}', joined: 'x{{ items[0] }}'}\n",
        {"items": [1, {"a": True}]},
    )
    assert body["message"] == {"items": [1, {"a": True}], "first": 1, "joined": "x1"}


def test_numeric_strings_become_numbers_where_the_api_wants_numbers() -> None:
    text = "to: U\nmessage: {latitude: '{{ lat }}', longitude: '{{ lon }}', duration: '{{ ms }}', title: '{{ lat }}'}\n"
    body, problems = render(text, {"lat": "48.85837", "lon": " -2 ", "ms": "240000"})
    assert problems == []
    assert body["message"] == {
        "latitude": 48.85837,
        "longitude": -2,
        "duration": 240000,
        "title": "48.85837",
    }


def test_a_non_numeric_value_for_a_number_is_a_located_error() -> None:
    _, problems = render(
        "to: U\nmessage:\n  duration: '{{ ms }}'\n  latitude: '{{ lat }}'\n",
        {"ms": "2.5", "lat": "north"},
    )
    assert [p.format() for p in problems] == [
        "def.yaml:3:13: message.duration: expected a whole number (found '2.5')",
        "def.yaml:4:13: message.latitude: expected a number (found 'north')",
    ]


def test_undefined_variable_names_it_and_lists_the_columns() -> None:
    _, problems = render(
        "to: U\nmessage: {text: 'Hi {{ nmae }}'}\n", {"name": "Ann", "tier": "gold"}
    )
    assert [p.format() for p in problems] == [
        "def.yaml:2:17: message.text: undefined variable `nmae`; did you mean `name`? (available: name, tier)"
    ]


def test_every_failing_leaf_is_reported_not_only_the_first() -> None:
    _, problems = render("to: '{{ a }}'\nmessage: {text: '{{ b }}', alt: '{{ c | upper }}'}\n", {})
    assert [p.path for p in problems] == ["to", "message.text", "message.alt"]


def test_columns_that_are_not_identifiers_are_reachable_through_row() -> None:
    body, problems = render(
        "to: U\nmessage: {text: '{{ row[\"member tier\"] }}'}\n", {"member tier": "gold"}
    )
    assert problems == []
    assert body["message"]["text"] == "gold"


def test_constants_are_variables_and_data_overrides_them() -> None:
    text = "vars: {shop: S, city: Tokyo}\nto: U\nmessage: {text: '{{ shop }} {{ city }}'}\n"
    body, _ = render(text, {"city": "Osaka"})
    assert body["message"]["text"] == "S Osaka"


def test_to_and_from_fall_back_to_columns_then_defaults() -> None:
    r = Renderer(
        parse_definition("defaults: {from: APP}\nmessage: {type: TEXT, text: hi}\n", "def.yaml"),
        NUMERIC,
    )
    assert r.render({"to": "U9"}).body == {
        "from": "APP",
        "to": "U9",
        "message": {"type": "TEXT", "text": "hi"},
    }
    assert r.render({"to": "U9", "from": "OTHER"}).body["from"] == "OTHER"
    problems = r.render({}).problems
    assert [p.format() for p in problems] == [
        "def.yaml:1:1: to: no `to` for this recipient: add `to:` to the definition, "
        "a `to` column to the data, or `defaults.to`"
    ]


def test_the_sandbox_blocks_unsafe_attributes() -> None:
    # (A constant leaf such as `{{ ''.__class__ }}` fails at load: see test_crashes.py.)
    _, problems = render('to: U\nmessage: {text: "{{ name.__class__.__mro__ }}"}\n', {"name": "x"})
    assert len(problems) == 1
    assert "template failed: SecurityError" in problems[0].message


def test_the_sandbox_keeps_recipient_data_immutable() -> None:
    _, problems = render("to: U\nmessage: {text: \"{{ row.update({'x': 1}) }}\"}\n", {"a": "b"})
    assert "SecurityError" in problems[0].message


def test_jinja_syntax_errors_are_reported_at_the_file_line(tmp_path: Path) -> None:
    text = "to: U\nmessage:\n  text: |\n    Hello\n    {% if name %}\n  alt: '{{ name }'\n"
    with pytest.raises(DefinitionError) as info:
        renderer(text)
    assert [p.format() for p in info.value.problems] == [
        "def.yaml:5: message.text: Jinja syntax error: Unexpected end of template. Jinja was looking for "
        "the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.",
        "def.yaml:6:8: message.alt: Jinja syntax error: unexpected '}'",
    ]


def test_imports_make_macros_available_in_every_leaf(tmp_path: Path) -> None:
    (tmp_path / "m.j2").write_text("{% macro shout(s) %}{{ s | upper }}!{% endmacro %}")
    definition = tmp_path / "def.yaml"
    definition.write_text(
        "imports: {m: m.j2}\nfrom: A\nto: U\nmessage: {text: '{{ m.shout(name) }}'}\n"
    )
    from linepress.definition import load_definition

    rendered = Renderer(load_definition(definition), NUMERIC).render({"name": "ann"})
    body, problems = rendered.body, rendered.problems
    assert problems == []
    assert body["message"]["text"] == "ANN!"


def test_a_missing_import_is_located(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        renderer("imports: {m: nope.j2}\nto: U\nmessage: {text: x}\n")
    (problem,) = info.value.problems
    assert problem.format().startswith(
        "def.yaml:1:14: imports.m: template file not found (searched "
    )
    assert problem.found == "'nope.j2'"


def test_the_skeleton_marks_per_recipient_values() -> None:
    r = renderer("to: U\nmessage: {type: TEXT, text: 'Hi {{ name }}', n: 3}\n")
    (skeleton,) = r.skeletons()
    assert skeleton.body == {
        "to": "U",
        "from": "APP",
        "message": {"type": "TEXT", "text": DYNAMIC, "n": 3},
    }


def test_values_json_cannot_carry_are_located_errors() -> None:
    r = Renderer(parse_definition("from: A\nmessage: {text: 'x{{ name }}'}\n", "def.yaml"), NUMERIC)
    problems = r.render({"to": "U\ud800", "name": "a\udfffb"}).problems
    assert [p.format() for p in problems] == [
        "def.yaml:1:1: to: the value cannot be written as JSON "
        "(found an unpaired surrogate '\\ud800' at character 2)",
        "def.yaml:2:17: message.text: the value cannot be written as JSON "
        "(found an unpaired surrogate '\\udfff' at character 3)",
    ]


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        (" 12 ", "integer", 12),
        ("+3", "integer", 3),
        ("-0", "integer", 0),
        ("18446744073709551615", "integer", 2**64 - 1),
        ("-9223372036854775808", "integer", -(2**63)),
        ("1e3", "number", 1000.0),
        (" -2.5 ", "number", -2.5),
        (".5", "number", 0.5),
        ("1E+3", "number", 1000.0),
    ],
)
def test_numeric_strings_that_convert(text: str, kind: str, number: float) -> None:
    value = to_number(text, kind)
    assert value == number
    assert type(value) is type(number)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("1e3", "integer", "expected a whole number"),
        ("١٢٣", "integer", "expected a whole number"),  # Arabic-Indic digits
        ("１２", "number", "expected a number"),  # full-width digits
        ("1_0", "integer", "expected a whole number"),
        ("1_0.5", "number", "expected a number"),
        ("nan", "number", "expected a number"),
        ("18446744073709551616", "integer", "the number is out of range"),
        ("-9223372036854775809", "number", "the number is out of range"),
        ("9" * 5000, "integer", "the number is out of range"),  # past Python's digit limit
        ("1e400", "number", "the number is out of range"),
    ],
)
def test_numeric_strings_that_do_not_convert(text: str, kind: str, message: str) -> None:
    with pytest.raises(LeafFailed) as info:
        to_number(text, kind)
    assert (info.value.message, info.value.code) == (message, "type")
    assert info.value.found == describe(text)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (2**64, "18446744073709551616"),
        ([1, -(2**63) - 1], "-9223372036854775809"),
        ({"a": 10**5000}, "an integer of about 5001 digits"),
    ],
)
def test_whole_numbers_json_cannot_carry_are_refused(value: Any, found: str) -> None:
    with pytest.raises(LeafFailed) as info:
        to_json_value(value)
    assert (info.value.message, info.value.found, info.value.code) == (
        "the number is out of range",
        found,
        "type",
    )
    assert to_json_value([2**64 - 1, -(2**63), True]) == [2**64 - 1, -(2**63), True]


def test_numbers_out_of_range_are_located_errors_not_crashes() -> None:
    _, problems = render(
        "to: U\nmessage:\n  duration: '{{ ms }}'\n  n: '{{ n }}'\n  m: '{{ n + 1 }}'\n",
        {"ms": "9" * 5000, "n": 2**64 - 1},
    )
    assert [p.format() for p in problems] == [
        f"def.yaml:3:13: message.duration: the number is out of range (found '{'9' * 59}…')",
        "def.yaml:5:6: message.m: the number is out of range (found 18446744073709551616)",
    ]


def test_a_column_named_self_works_in_expressions() -> None:
    # (In Jinja `self` names the template itself; the column is `row["self"]`.)
    text = (
        "to: U\nmessage:\n  text: '{{ x | upper }}'\n  actions:\n"
        "    - $if: row['self'] == 'b'\n      label: '{{ row[\"self\"] | upper }}'\n"
        "    - $if: \"{{ x == 'b' }}\"\n      label: never\n"
    )
    body, problems = render(text, {"x": "a", "self": "b"})
    assert problems == []
    assert body["message"] == {"text": "A", "actions": [{"label": "B"}]}


def test_a_padded_single_expression_gives_text_like_jinja() -> None:
    text = (
        "to: U\nmessage:\n  text: '  {{- x -}}  '\n  alt: '{{ x -}}\n\n'\n"
        "  same: '{{ x }}'\n  block: |\n    {{ x }}\n"
    )
    body, problems = render(text, {"x": 5})
    assert problems == []
    assert body["message"] == {"text": "5", "alt": "5", "same": 5, "block": "5\n"}
    env = make_environment([])
    assert [env.from_string(s).render(x=5) for s in ("  {{- x -}}  ", "{{ x }}\n")] == ["5", "5\n"]


def test_merged_values_are_located_where_they_are_written() -> None:
    text = (
        "vars:\n  base: &base {type: URI, label: '{{ nmae }}'}\n"
        "to: U\nmessage:\n  actions:\n    - <<: *base\n      uri: x\n"
    )
    _, problems = render(text, {"name": "Ann"})
    assert [p.format() for p in problems] == [
        "def.yaml:2:34: message.actions[0].label: undefined variable `nmae`; "
        "did you mean `name`? (available: name)"
    ]


@pytest.mark.parametrize(
    "template",
    [
        'He said "hi" to {{ name }}',
        "it's {{ name }}'s",
        "back\\\\slash {{ name }} \\n not a newline",
        "triple \"\"\" and ''' {{ name }}",
        "{{ name }}{{ name }}",
        "é 👍 {{ name }}\ttab",
    ],
)
def test_plain_text_without_jinja_renders_exactly_as_jinja_would(template: str) -> None:
    from linepress.render.templating import NotText, make_environment

    quoted = json.dumps(template, ensure_ascii=False)  # YAML does not pair \ud83d\udc4d escapes
    definition = parse_definition(f"from: A\nto: U\nmessage: {{text: {quoted}}}\n", "d.yaml")
    for name in ("Ann", 42, 1.5, None, True, ["a"], {"k": 1}):
        rendered = Renderer(definition, NUMERIC).render({"name": name})
        try:
            expected = make_environment([]).from_string(template).render(name=name)
        except NotText:  # an object or a list printed as text: both refuse it
            assert [p.code for p in rendered.problems] == ["type"]
            continue
        assert rendered.body["message"]["text"] == expected

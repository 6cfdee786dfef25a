"""Reading definition files: plain values, positions, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.definition import load_definition, parse_definition
from compiler.errors import DefinitionError, Location


def errors_of(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "def.yaml")
    return [p.format() for p in info.value.problems]


def test_body_and_extras_are_split_and_keep_file_order() -> None:
    definition = parse_definition(
        "description: Spring sale\n"
        "vars: {shop: https://shop.example.com}\n"
        "defaults: {from: APP}\n"
        "imports: {fmt: macros/format.j2}\n"
        "to: U1\n"
        "message: {type: TEXT, text: hi}\n",
        "def.yaml",
    )
    assert definition.body == {"to": "U1", "message": {"type": "TEXT", "text": "hi"}}
    assert list(definition.body) == ["to", "message"]
    assert definition.description == "Spring sale"
    assert definition.vars == {"shop": "https://shop.example.com"}
    assert definition.defaults == {"from": "APP"}
    assert definition.imports == {"fmt": "macros/format.j2"}


def test_values_remember_line_and_column() -> None:
    definition = parse_definition(
        "message:\n  type: LOCATION\n  latitude: 48.85837\n  actions:\n    - {x: 1}\n", "def.yaml"
    )
    assert definition.values[("message", "latitude")].location == Location("def.yaml", 3, 13)
    assert definition.values[("message", "actions", 0)].location == Location("def.yaml", 5, 7)
    assert definition.keys[("message", "latitude")] == Location("def.yaml", 3, 3)
    # A path deeper than the file (a rendered list) is placed at its nearest ancestor.
    assert definition.locate(("message", "actions", 0, "x", 3)).line == 5


def test_scalars_become_plain_python_values() -> None:
    definition = parse_definition(
        "message: {a: 1, b: 2.5, c: yes, d: 2024-05-01, e: null, f: true, g: '007'}", "d.yaml"
    )
    message = definition.body["message"]
    assert message == {
        "a": 1,
        "b": 2.5,
        "c": "yes",
        "d": "2024-05-01",
        "e": None,
        "f": True,
        "g": "007",
    }
    assert [type(v) for v in message.values()] == [int, float, str, str, type(None), bool, str]


def test_unknown_top_level_key_suggests_the_closest_name() -> None:
    assert errors_of("mesage: {type: TEXT}\n") == [
        "def.yaml:1:1: mesage: unknown key `mesage`; did you mean `message`?",
        "def.yaml:1:1: required key `message` is missing (or `variants`, for messages chosen per recipient)",
    ]


def test_unknown_defaults_key_and_bad_vars_name() -> None:
    assert errors_of("message: {}\ndefaults: {too: x}\nvars: {first name: 1}\n") == [
        "def.yaml:2:12: defaults.too: unknown key `too`; did you mean `to`?",
        "def.yaml:3:8: vars.first name: a constant's name must be usable in templates "
        "(letters, digits, _) (found 'first name')",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "message:\n  type: TEXT\n   text: x\n",
            "def.yaml:3:8: invalid YAML: mapping values are not allowed here",
        ),
        (
            "message: {type: TEXT\n",
            "def.yaml:2:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        ("message: 1\nmessage: 2\n", "def.yaml:2:1: invalid YAML: duplicate key `message`"),
        (
            "message:\n\ttype: TEXT\n",
            "def.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token",
        ),
        ("message: 'unterminated\n", "def.yaml:2:1: invalid YAML: found unexpected end of stream"),
    ],
)
def test_yaml_syntax_errors_are_located(text: str, expected: str) -> None:
    (error,) = errors_of(text)
    assert error.startswith(expected)


def test_shape_errors() -> None:
    assert errors_of("") == ["def.yaml:1:1: is empty: expected a mapping with `message:`"]
    assert errors_of("- a\n") == [
        "def.yaml:1:1: expected a mapping with `message:` at the top (found array)"
    ]
    assert errors_of("message: {}\n---\nmessage: {}\n") == [
        "def.yaml:1:1: holds several YAML documents; a definition is one"
    ]


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="no such file"):
        load_definition(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"message:\n  text: caf\xe9\n")
    with pytest.raises(DefinitionError) as info:
        load_definition(tmp_path / "latin1.yaml")
    assert (
        info.value.problems[0]
        .format()
        .endswith("latin1.yaml:2: is not UTF-8 text (found byte 0xe9)")
    )


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffmessage: {type: TEXT, text: hi}\n".encode())
    assert load_definition(path).body == {"message": {"type": "TEXT", "text": "hi"}}

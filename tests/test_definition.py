"""Reading definition files: plain values, positions, and located errors."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import pytest

from linepress.definition import load_definition, parse_definition
from linepress.errors import DefinitionError, Location


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
            "def.yaml:3:4: invalid YAML: this key is indented 3 spaces, deeper than the line "
            "above (2); keys of one mapping line up: indent it 2",
        ),
        (
            "message: {type: TEXT\n",
            "def.yaml:2:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        ("message: 1\nmessage: 2\n", "def.yaml:2:1: invalid YAML: duplicate key `message`"),
        (
            "message:\n\ttype: TEXT\n",
            "def.yaml:2:1: invalid YAML: a tab cannot indent YAML; use spaces",
        ),
        (
            "message: 'unterminated\n",
            "def.yaml:1:10: invalid YAML: this ' is never closed: everything after it became "
            "one text; end the text with ' on the same line",
        ),
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


@pytest.mark.parametrize(
    ("number", "found"),
    [
        ("99999999999999999999", "99999999999999999999"),
        ("18446744073709551616", "18446744073709551616"),
        ("-9223372036854775809", "-9223372036854775809"),
        ("9" * 5000, repr("9" * 59 + "…")),  # past Python's digit limit: no ValueError
    ],
)
def test_a_whole_number_json_cannot_carry_is_located(number: str, found: str) -> None:
    assert errors_of(f"to: U\nmessage:\n  duration: {number}\n") == [
        "def.yaml:3:13: message.duration: number out of range: a whole number must be "
        f"from -9223372036854775808 to 18446744073709551615 (found {found})"
    ]


def test_whole_numbers_at_the_ends_of_the_range_are_kept() -> None:
    definition = parse_definition(
        "message: {a: 18446744073709551615, b: -9223372036854775808}\n", "d.yaml"
    )
    assert definition.body["message"] == {"a": 2**64 - 1, "b": -(2**63)}


MERGED_ACTION = (
    "vars:\n"
    "  action: &base {type: URI, label: Open}\n"
    "message:\n"
    "  type: TEMPLATE\n"
    "  actions:\n"
    "    - <<: *base\n"
    "      uri: https://a.example/x\n"
)


def test_merge_keys_in_a_list_item_merge_and_keep_positions() -> None:
    definition = parse_definition(MERGED_ACTION, "def.yaml")
    path = ("message", "actions", 0)
    assert definition.body["message"]["actions"] == [
        {"type": "URI", "label": "Open", "uri": "https://a.example/x"}
    ]
    # A merged key sits at its `<<` entry; its value where the text is written.
    assert definition.keys[(*path, "type")] == Location("def.yaml", 6, 7)
    assert definition.values[(*path, "type")].location == Location("def.yaml", 2, 24)
    assert definition.values[(*path, "label")].location == Location("def.yaml", 2, 36)
    assert definition.keys[(*path, "uri")] == Location("def.yaml", 7, 7)


def test_a_top_level_merge_key_and_errors_in_merged_values_are_located() -> None:
    definition = parse_definition("to: U1\n<<: {message: {type: TEXT, text: hi}}\n", "def.yaml")
    assert definition.body == {"to": "U1", "message": {"type": "TEXT", "text": "hi"}}
    assert definition.keys[("message",)] == Location("def.yaml", 2, 1)
    assert definition.values[("message", "text")].location == Location("def.yaml", 2, 34)
    assert errors_of("message: {}\n<<: {mesage: 1, vars: [1]}\n") == [
        "def.yaml:2:1: mesage: unknown key `mesage`; did you mean `message`?",
        "def.yaml:2:23: vars: expected a mapping (found array a list of 1)",
    ]


def test_earlier_merged_mappings_win_like_yaml_says() -> None:
    definition = parse_definition("message:\n  <<: [{a: 1}, {a: 2, b: 3}]\n", "def.yaml")
    assert definition.body["message"] == {"a": 1, "b": 3}
    assert definition.values[("message", "a")].location == Location("def.yaml", 2, 12)
    assert definition.values[("message", "b")].location == Location("def.yaml", 2, 26)


def test_nested_aliases_cannot_blow_up_the_definition() -> None:
    # "Billion laughs": a few lines that would expand to a million values.
    levels = "abcdef"
    text = "vars:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for prev, level in itertools.pairwise(levels):
        text += f"  {level}: &{level} [{', '.join([f'*{prev}'] * 10)}]\n"
    text += "message: *f\n"
    # Bounded by work, not by a clock: a full expansion would hold a million values
    # (hundreds of MB); refusing at 100,000 keeps the peak near a tenth of that.
    tracemalloc.start()
    try:
        assert errors_of(text) == [
            "def.yaml:1:1: the definition expands to more than 100,000 values (nested YAML aliases?)"
        ]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_a_lone_surrogate_from_a_yaml_escape_is_a_located_error() -> None:
    (error,) = errors_of('from: A\nto: U\nmessage: {type: TEXT, text: "\\ud83d\\udc4d"}\n')
    assert error.startswith(
        "def.yaml:3:29: message.text: the text holds an unpaired UTF-16 surrogate"
    )

"""Variants per recipient, and list items included (`$if`) or repeated (`$for`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linepress import Compiler
from linepress.errors import DefinitionError
from linepress.recipients.records import open_records

VARIANTS = """\
from: APP
variants:
  by: lang
  fallback: en
  messages:
    ja:
      type: TEXT
      text: "こんにちは {{ name }}さん"
    en:
      type: TEXT
      text: "Hello {{ name }}"
    th:
      type: TEMPLATE
      altText: "สวัสดี {{ name }}"
      template:
        type: BUTTONS
        text: "สวัสดี {{ name }}"
        actions:
          - type: MESSAGE
            label: "{{ label }}"
            text: "ok"
"""

CAROUSEL = """\
from: APP
message:
  type: TEMPLATE
  altText: Picks for {{ name }}
  template:
    type: CAROUSEL
    columns:
      - $for: product in products
        title: "{{ product.name }}"
        text: "{{ product.price }} yen"
        actions:
          - type: URI
            label: View
            uri: "https://shop.example/p/{{ product.sku | urlencode }}"
          - $if: coupon
            type: POSTBACK
            label: Use {{ coupon }}
            data: "coupon={{ coupon | urlencode }}"
          - $if: not coupon
            type: MESSAGE
            label: Ask us
            text: "Any coupons?"
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so messages show the short file names users type


def write(
    tmp_path: Path, text: str, data: str | None = None, suffix: str = "csv"
) -> tuple[Compiler, Path]:
    (tmp_path / "def.yaml").write_text(text)
    path = Path(f"data.{suffix}")
    if data is not None:
        path.write_text(data)
    return Compiler(Path("def.yaml")), path


def compile_all(compiler: Compiler, data: Path) -> list:  # type: ignore[type-arg]
    with open_records(data) as source:
        return list(compiler.compile_records(source))


def test_the_variant_is_chosen_by_the_column_with_a_fallback_for_empty_values(
    tmp_path: Path,
) -> None:
    compiler, data = write(
        tmp_path, VARIANTS, "to,name,lang,label\nU1,Aki,ja,\nU2,Bo,en,\nU3,Cy,,\nU4,Dao,th,OK\n"
    )
    results = compile_all(compiler, data)
    assert [r.problems for r in results] == [[], [], [], []]
    messages = [r.body["message"] for r in results]
    assert messages[0] == {"type": "TEXT", "text": "こんにちは Akiさん"}
    assert messages[1] == {"type": "TEXT", "text": "Hello Bo"}
    assert messages[2] == {"type": "TEXT", "text": "Hello Cy"}  # no value: the fallback
    assert messages[3]["template"]["type"] == "BUTTONS"


def test_a_value_without_a_variant_fails_that_row(tmp_path: Path) -> None:
    compiler, data = write(tmp_path, VARIANTS, "to,name,lang,label\nU1,Aki,fr,\nU2,Bo,en,\n")
    first, second = compile_all(compiler, data)
    assert second.ok
    assert [p.format() for p in first.problems] == [
        "def.yaml:2:1: row 1 (data.csv:2): message: no variant for lang = 'fr'; "
        "add it to `variants.messages` (which has ja, en, th)"
    ]


def test_problems_in_a_variant_point_into_that_variant(tmp_path: Path) -> None:
    compiler, data = write(
        tmp_path, VARIANTS, "to,name,lang,label\nU1,Dao,th,A label far too long for LINE\n"
    )
    (result,) = compile_all(compiler, data)
    (problem,) = result.problems
    assert problem.location is not None and (problem.location.line, problem.location.column) == (
        20,
        20,
    )
    assert problem.path == "message.template.actions[0].label"


def test_static_problems_are_found_in_every_variant(tmp_path: Path) -> None:
    broken = VARIANTS.replace(
        '      type: TEXT\n      text: "Hello', '      type: TEXT\n      txt: "Hello'
    )
    with pytest.raises(DefinitionError) as info:
        write(tmp_path, broken)
    messages = [p.format() for p in info.value.problems]
    assert any(
        m.startswith("def.yaml:11:7: message.txt: unknown property 'txt'") for m in messages
    ), messages


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("fallback: en", "fallback: de"),
        ("by: lang", "by: ''"),
    ],
)
def test_variant_settings_are_checked(tmp_path: Path, change: str, expected: str) -> None:
    with pytest.raises(DefinitionError) as info:
        write(tmp_path, VARIANTS.replace(change, expected))
    assert info.value.problems[0].path in ("variants.fallback", "variants.by")


def test_message_and_variants_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="`message` or `variants`, not both"):
        write(tmp_path, VARIANTS + "message: {type: TEXT, text: hi}\n")


def test_columns_are_repeated_from_a_list_and_actions_included_when_there_is_a_value(
    tmp_path: Path,
) -> None:
    records = [
        {
            "to": "U1",
            "name": "A",
            "coupon": "SPRING",
            "products": [{"name": "Tea", "price": 500, "sku": "T/1"}],
        },
        {
            "to": "U2",
            "name": "B",
            "coupon": "",
            "products": [
                {"name": "Tea", "price": 500, "sku": "T1"},
                {"name": "Cup", "price": 900, "sku": "C 2"},
            ],
        },
    ]
    compiler, data = write(
        tmp_path, CAROUSEL, "\n".join(json.dumps(r) for r in records) + "\n", "jsonl"
    )
    first, second = compile_all(compiler, data)
    assert first.ok and second.ok, (first.problems, second.problems)
    columns = first.body["message"]["template"]["columns"]
    assert [a["type"] for a in columns[0]["actions"]] == ["URI", "POSTBACK"]
    assert columns[0]["actions"][0]["uri"] == "https://shop.example/p/T/1"
    assert columns[0]["actions"][1]["data"] == "coupon=SPRING"
    columns = second.body["message"]["template"]["columns"]
    assert [c["title"] for c in columns] == ["Tea", "Cup"]
    assert [a["type"] for a in columns[1]["actions"]] == ["URI", "MESSAGE"]
    assert columns[1]["actions"][0]["uri"] == "https://shop.example/p/C%202"
    assert "$for" not in json.dumps(second.body) and "$if" not in json.dumps(second.body)


def test_a_problem_in_a_repeated_item_names_its_copy_and_points_at_the_template(
    tmp_path: Path,
) -> None:
    products = [{"name": "Tea", "price": 1, "sku": "a"}, {"name": "x" * 41, "price": 2, "sku": "b"}]
    record = {"to": "U1", "name": "A", "coupon": "", "products": products}
    compiler, data = write(tmp_path, CAROUSEL, json.dumps(record) + "\n", "jsonl")
    (result,) = compile_all(compiler, data)
    (problem,) = result.problems
    assert problem.path == "message.template.columns[1].title"
    assert problem.location is not None and problem.location.line == 9


def test_the_generated_body_is_checked_against_the_same_schemas(tmp_path: Path) -> None:
    products = [{"name": f"P{i}", "price": i, "sku": str(i)} for i in range(11)]
    record = {"to": "U1", "name": "A", "coupon": "", "products": products}
    compiler, data = write(tmp_path, CAROUSEL, json.dumps(record) + "\n", "jsonl")
    (result,) = compile_all(compiler, data)
    assert [p.path for p in result.problems] == ["message.template.columns"]
    assert "at most 10" in result.problems[0].message


def test_for_over_text_is_an_error_not_one_item_per_character(tmp_path: Path) -> None:
    compiler, data = write(tmp_path, CAROUSEL, 'to,name,coupon,products\nU1,A,,"Tea, Cup"\n')
    (result,) = compile_all(compiler, data)
    assert [p.format() for p in result.problems] == [
        'def.yaml:8:15: row 1 (data.csv:2): message.template.columns[0]["$for"]: `$for` needs a list, '
        "not text (every CSV cell is text): give a JSON list (JSON or JSONL data), or split the "
        "text, e.g. `$for: x in items.split(',')` (found string 'Tea, Cup')"
    ]


def test_item_keys_outside_a_list_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"`\$if` works on list items only"):
        write(tmp_path, "from: A\nto: U\nmessage:\n  $if: x\n  type: TEXT\n  text: hi\n")

"""Property: whatever a recipient's value is, it comes out literally or fails with a located error.

Recipient data is data: it never becomes template or YAML text, so no value can
change the structure of the body or run code.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linepress import Compiler, Result
from linepress.recipients.records import open_records

DEFINITION = """\
from: APP
message:
  type: TEMPLATE
  altText: "Hello {{ name }}!"
  template:
    type: BUTTONS
    text: "{{ name }}"
    actions:
      - type: MESSAGE
        label: OK
        text: "{{ 'Re: ' ~ name }}"
"""

# Everything Python can hold, lone surrogates included (JSON can spell them).
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
TRICKY = st.sampled_from(
    [
        "{{ 7*7 }}",
        "{% raw %}",
        "a: b",
        '"',
        "'",
        "\n",
        "\r\n",
        "\\",
        "}}",
        "#",
        "- x",
        "&",
        "\u2028",
        "\x00",
    ]
)
VALUES = st.one_of(ANY_TEXT, st.lists(st.one_of(TRICKY, ANY_TEXT), max_size=5).map("".join))

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def compiler(tmp_path: Path) -> Compiler:
    path = tmp_path / "def.yaml"
    if not path.exists():
        path.write_text(DEFINITION)
    return Compiler(path)


def assert_literal_or_located(result: Result, name: str) -> None:
    if result.ok:
        body = json.loads(result.json())
        assert body["message"]["altText"] == f"Hello {name}!"
        assert body["message"]["template"]["text"] == name
        assert body["message"]["template"]["actions"][0]["text"] == "Re: " + name
        assert list(body) == ["from", "to", "message"]
        return
    assert result.problems
    for problem in result.problems:
        assert problem.location is not None and problem.location.file.endswith("def.yaml")
        assert problem.location.line is not None and problem.location.line >= 4
        assert problem.row == 1
        assert problem.path.startswith("message.")


@SETTINGS
@given(name=VALUES)
def test_json_values_come_out_literally_or_fail_located(tmp_path: Path, name: str) -> None:
    line = json.dumps({"to": "U1", "name": name}) + "\n"
    source = open_records("-", format="jsonl", stdin=io.BytesIO(line.encode()))
    (result,) = list(compiler(tmp_path).compile_records(source))
    assert_literal_or_located(result, name)


@SETTINGS
@given(
    name=VALUES.filter(lambda s: "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
)
def test_csv_values_come_out_literally_or_fail_located(tmp_path: Path, name: str) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([["to", "name"], ["U1", name]])
    source = open_records("-", format="csv", stdin=io.BytesIO(buffer.getvalue().encode()))
    (result,) = list(compiler(tmp_path).compile_records(source))
    assert_literal_or_located(result, name)

"""The generated fast path gives exactly the careful path's bodies, and declines the rest.

For each definition, hypothesis feeds ordinary and awkward field values (missing
columns, JSON numbers and lists, lone surrogates, text over LINE's limits, values
that name a variant that does not exist) through `Compiler` twice: with the
generated function, and with it switched off. Results must be identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linepress import CompileOptions, Compiler, DataOptions, compile_definition, open_records
from linepress.operations.compile import summary_line

TEXT = """\
from: "{{ sender }}"
to: "{{ to }}"
message:
  type: TEXT
  text: "Hello {{ name }}, your code is {{ code }}{{ suffix }}"
vars:
  suffix: "!"
"""

FALLBACKS = """\
defaults:
  from: APP
message:
  type: TEXT
  text: "{{ greeting | upper }} {{ name }}{% if code %} ({{ code }}){% endif %}"
"""

VARIANTS = """\
from: APP
to: "{{ to }}"
variants:
  by: lang
  fallback: en
  messages:
    en: {type: TEXT, text: "Hi {{ name }}"}
    ja: {type: TEXT, text: "{{ name }}さん、こんにちは{% if code %} {{ code }}{% endif %}"}
"""

BUTTONS = """\
from: APP
to: "{{ to }}"
message:
  type: TEMPLATE
  altText: "{{ name }}{% if code %}: {{ code | lower }}{% endif %}"
  template:
    type: BUTTONS
    thumbnailImageUrl: "https://cdn.example.com/{{ code }}.jpg"
    title: "{{ name }}"
    text: "{{ greeting }}"
    actions:
      - {type: URI, label: "{{ code }}", uri: "https://example.com/?c={{ code | urlencode }}"}
      - {type: POSTBACK, label: Save, data: "to={{ to }}"}
"""

LOCATION = """\
from: APP
to: "{{ to }}"
message:
  type: LOCATION
  title: "{{ name }}"
  address: "{{ greeting }}"
  latitude: "{{ code }}"
  longitude: 139.7
"""

DEFINITIONS = {
    "text": TEXT,
    "fallbacks": FALLBACKS,
    "variants": VARIANTS,
    "buttons": BUTTONS,
    "location": LOCATION,
}

ORDINARY = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=30)
AWKWARD = st.one_of(
    st.just(""),
    st.just(" "),
    st.just("ja"),
    st.just("fr"),
    st.just("35.6"),
    st.just("{{ name }}"),
    st.just("\ud800"),
    st.just("👍🏽" * 25),
    st.just("a" * 400),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
VALUES = st.one_of(ORDINARY, ORDINARY, AWKWARD)
KEYS = ("to", "sender", "name", "code", "greeting", "lang", "suffix", "from")
FIELDS = st.one_of(
    # Every column present: mostly the fast path.
    st.fixed_dictionaries({key: ORDINARY for key in KEYS[:5]}, optional={"lang": VALUES}),
    # Anything goes: mostly the careful path.
    st.dictionaries(st.sampled_from(KEYS), VALUES),
)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def compilers(tmp_path: Path, name: str) -> tuple[Compiler, Compiler]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(DEFINITIONS[name], encoding="utf-8")
    fast, careful = Compiler(path), Compiler(path)
    assert fast.fast_body is not None, f"{name} should have a generated fast path"
    careful.fast_body = None
    return fast, careful


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
@SETTINGS
@given(fields=FIELDS)
def test_fast_path_gives_the_careful_paths_result(
    tmp_path: Path, name: str, fields: dict[str, Any]
) -> None:
    fast, careful = compilers(tmp_path, name)
    a, b = fast.compile(fields), careful.compile(fields)
    assert a.body == b.body
    assert a.json() == b.json() if a.ok else True
    assert [p.format() for p in a.problems] == [p.format() for p in b.problems]


#: A LINE user ID: a `to` of a known form (others take the careful way, to be noted).
USER = "U" + "0123456789abcdef" * 2
ORDINARY_ROWS = {
    "text": {"to": USER, "sender": "APP", "name": "Ana", "code": "X1"},
    "fallbacks": {"to": USER, "greeting": "hi", "name": "Ana", "code": ""},
    "variants": {"to": USER, "name": "花子", "code": "X1", "lang": " ja "},
    "buttons": {"to": USER, "name": "Ana", "code": "X1", "greeting": "Hello"},
    "location": {"to": USER, "name": "Tokyo", "code": "35.6", "greeting": "Chiyoda"},
}


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_ordinary_rows_take_the_fast_path(tmp_path: Path, name: str) -> None:
    fast, careful = compilers(tmp_path, name)
    assert fast.fast_body is not None
    body = fast.fast_body(ORDINARY_ROWS[name])
    assert body is not None, "an ordinary row should not need the careful path"
    assert body == careful.compile(ORDINARY_ROWS[name]).body


def test_data_that_looks_like_code_stays_data(tmp_path: Path) -> None:
    fast, _ = compilers(tmp_path, "text")
    hostile = "'] + __import__('os').getcwd() + fields['"
    result = fast.compile({"to": "U1", "sender": "APP", "name": hostile, "code": "{{ 7*7 }}"})
    assert result.body is not None
    assert result.body["message"]["text"] == f"Hello {hostile}, your code is {{{{ 7*7 }}}}!"


def test_a_template_yielding_a_whole_message_has_no_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("from: A\nto: U\nmessage: '{{ message }}'\n")
    assert Compiler(path).fast_body is None


# --- CSV rows: the same function, reading values by column index -------------------

ROW_COLUMNS = st.lists(st.sampled_from(KEYS), unique=True, min_size=1).map(tuple)
CSV_VALUES = st.one_of(ORDINARY, st.sampled_from(["", " ", "ja", "fr", "35.6", "a" * 400]))


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
@SETTINGS
@given(data=st.data())
def test_row_function_matches_the_mapping_function(
    tmp_path: Path, name: str, data: st.DataObject
) -> None:
    fast, careful = compilers(tmp_path, name)
    columns = data.draw(st.one_of(st.just(KEYS), ROW_COLUMNS), label="columns")
    row = data.draw(st.lists(CSV_VALUES, min_size=len(columns), max_size=len(columns)))
    fields = dict(zip(columns, row, strict=True))
    row_body = fast.row_function(columns)
    expected = careful.compile(fields)
    if row_body is None:
        return  # every row goes the careful way: nothing to compare
    body = row_body(row)
    if body is not None:
        assert expected.ok
        assert body == expected.body
    assert fast.fast_body is not None
    assert body == fast.fast_body(fields), "the row and mapping functions agree"


CSV = """\
to,sender,name,code,greeting
U1,APP,Ana,X1,hi
U2,APP,"Bo, ""the"" Bear",X2,hello
U3,,Cy,X3,hey
U4,APP,Di
U5,APP,{{ name }},{% raw %},yo
U6,APP,Ed,"multi
line",hi
U7,APP,Flo,X7,hi
"""


def case(tmp_path: Path, definition: str, data: str, name: str = "people.csv") -> tuple[Path, Path]:
    """A definition file and a data file with these texts."""
    (tmp_path / "d.yaml").write_text(definition, encoding="utf-8")
    (tmp_path / name).write_text(data, encoding="utf-8")
    return tmp_path / "d.yaml", tmp_path / name


def test_write_bodies_writes_what_compile_records_gives(tmp_path: Path) -> None:
    definition, data = case(
        tmp_path,
        'from: "{{ sender }}"\nto: "{{ to }}"\n'
        'message: {type: TEXT, text: "{{ greeting }} {{ name }} ({{ code }})"}\n',
        CSV,
    )
    compiler = Compiler(definition)
    with open_records(data) as source:
        expected = list(compiler.compile_records(source))
    lines: list[bytes] = []
    with open_records(data) as source:
        run = compiler.write_bodies(source, lines.append)
        failed = list(run)
    assert run.rows == len(expected) == 7
    assert lines == [r.json() + b"\n" for r in expected if r.ok]
    assert [(r.row, r.data_location, [p.format() for p in r.problems]) for r in failed] == [
        (r.row, r.data_location, [p.format() for p in r.problems]) for r in expected if not r.ok
    ]
    # Row 3 has an empty `from` (a schema error), row 4 is ragged.
    assert [r.row for r in failed] == [3, 4]
    assert b'"text":"yo {{ name }} ({% raw %})"' in lines[2]


def test_rows_that_need_the_careful_way_still_come_out_in_order(tmp_path: Path) -> None:
    # `from` is left out and comes from a template default when the column is empty:
    # the generated function declines those rows; the careful way renders them.
    definition, data = case(
        tmp_path,
        'defaults: {from: "{{ brand | upper }}"}\nvars: {brand: shop}\n'
        'message: {type: TEXT, text: "Hi {{ name }}"}\n',
        "to,from,name\nU1,APP,Ana\nU2,,Bo\nU3,APP,Cy\n",
    )
    compiler = Compiler(definition)
    lines: list[bytes] = []
    with open_records(data) as source:
        assert list(compiler.write_bodies(source, lines.append)) == []
    assert [orjson.loads(line)["from"] for line in lines] == ["APP", "SHOP", "APP"]


def test_json_data_has_no_row_lane_and_the_same_output(tmp_path: Path) -> None:
    definition, data = case(
        tmp_path,
        'from: A\nto: "{{ to }}"\nmessage: {type: TEXT, text: "n={{ n }}"}\n',
        '{"to": "U1", "n": 7}\n{"to": "U2"}\n[1]\n{"to": "U4", "n": "x"}\n',
        "people.jsonl",
    )
    compiler = Compiler(definition)
    lines: list[bytes] = []
    with open_records(data) as source:
        assert source.rows() is None
        run = compiler.write_bodies(source, lines.append)
        assert [r.row for r in run] == [2, 3]
    assert run.rows == 4
    assert [orjson.loads(line)["message"]["text"] for line in lines] == ["n=7", "n=x"]


def test_a_source_read_as_rows_can_be_read_again_as_records(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text("to,name\nU1,Ana\nU2\nU3,Cy\n", encoding="utf-8")
    source = open_records(data)
    rows = source.rows()
    assert rows is not None
    assert [r if isinstance(r, tuple) else r.number for r in rows] == [
        (1, 2, ["U1", "Ana"]),
        2,
        (3, 4, ["U3", "Cy"]),
    ]
    assert [getattr(r, "fields", None) for r in source] == [
        {"to": "U1", "name": "Ana"},
        None,
        {"to": "U3", "name": "Cy"},
    ]


def test_compile_counts_rows_read_before_the_data_turns_unreadable(tmp_path: Path) -> None:
    definition = tmp_path / "d.yaml"
    definition.write_text('from: A\nto: "{{ to }}"\nmessage: {type: TEXT, text: "{{ n }}"}\n')
    data = tmp_path / "people.csv"
    data.write_bytes(b"to,n\nU1,a\nU2\nU3,c\n\xff,d\n")
    log = compile_definition(
        CompileOptions(definition, DataOptions(data), out=tmp_path / "o.jsonl", keep_going=True)
    )
    assert (log.rows, log.failed_rows) == (3, 1)
    assert summary_line(log, "compile").startswith("linepress: 1 of 3 recipients failed")


def test_without_keep_going_no_body_is_written_after_a_failure(tmp_path: Path) -> None:
    definition, data = case(
        tmp_path,
        'from: A\nto: "{{ to }}"\nmessage: {type: TEXT, text: "{{ n }}"}\n',
        "to,n\nU1,a\nU2,\nU3,c\nU4,d\n",
    )
    compiler = Compiler(definition)
    lines: list[bytes] = []
    with open_records(data) as source:
        run = compiler.write_bodies(source, lines.append)
        for _ in run:
            run.writing = False
    assert run.rows == 4
    assert [orjson.loads(line)["to"] for line in lines] == ["U1"]

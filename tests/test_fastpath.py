"""The generated fast path gives exactly the careful path's bodies, and declines the rest.

For each definition, hypothesis feeds ordinary and awkward field values (missing
columns, JSON numbers and lists, lone surrogates, text over LINE's limits, values
that name a variant that does not exist) through `Compiler` twice: with the
generated function, and with it switched off. Results must be identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import Compiler

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
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
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


ORDINARY_ROWS = {
    "text": {"to": "U1", "sender": "APP", "name": "Ana", "code": "X1"},
    "fallbacks": {"to": "U1", "greeting": "hi", "name": "Ana", "code": ""},
    "variants": {"to": "U1", "name": "花子", "code": "X1", "lang": " ja "},
    "buttons": {"to": "U1", "name": "Ana", "code": "X1", "greeting": "Hello"},
    "location": {"to": "U1", "name": "Tokyo", "code": "35.6", "greeting": "Chiyoda"},
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

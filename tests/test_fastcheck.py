"""The fast path of validation gives exactly the full validator's verdicts.

`LeafChecks` checks only the per-recipient leaves against the rules that apply
at their place; these differential tests feed valid and invalid values through
both paths and compare verdicts, error paths and messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linepress import Compiler
from linepress.definition import parse_definition
from linepress.render.builders import DYNAMIC, Renderer
from linepress.validate.fastcheck import LeafChecks
from linepress.validate.schema import NUMERIC_FIELDS

BUTTONS = """\
from: "{{ sender }}"
message:
  type: TEMPLATE
  altText: "{{ alt }}"
  template:
    type: BUTTONS
    thumbnailImageUrl: "{{ image }}"
    title: "{{ title }}"
    text: "{{ text }}"
    actions:
      - type: URI
        label: "{{ label }}"
        uri: "{{ uri }}"
      - type: POSTBACK
        label: Save
        data: "{{ data }}"
"""

LOCATION = """\
from: APP
message:
  type: LOCATION
  title: "{{ title }}"
  address: "{{ address }}"
  latitude: "{{ lat }}"
  longitude: "{{ lon }}"
"""

IMAGEMAP = """\
from: APP
message:
  type: IMAGEMAP
  baseUrl: "{{ base }}"
  altText: Map
  baseSize: {width: "{{ width }}", height: "{{ height }}"}
  actions:
    - type: URI
      linkUri: "{{ link }}"
      area: {x: "{{ x }}", y: 0, width: 520, height: 1040}
"""

TEXTS = st.one_of(
    st.text(max_size=3),
    st.text(st.characters(codec="utf-8"), min_size=15, max_size=70),
    st.sampled_from(
        [
            "",
            " ",
            "https://example.com/a.jpg",
            "http://x.example/p",
            "line://home",
            "tel:123",
            "ftp://x",
        ]
    ),
    st.sampled_from(
        [
            "e\u0301" * 20,
            "e\u0301" * 21,
            "👍" * 20,
            "👍🏽" * 21,
            "a" * 60,
            "a" * 61,
            "a" * 161,
            "x" * 301,
        ]
    ),
    st.integers(min_value=1, max_value=30).map(lambda n: "https://example.com/" + "é" * n + ".png"),
)
NUMBERS = st.one_of(
    st.integers(min_value=-200, max_value=2000).map(str),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-200, max_value=200).map(repr),
    st.sampled_from(["1040", "1040.0", "0", "-1", "90", "90.0001", "-180", "abc", "", "1e3"]),
)
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def pair(tmp_path: Path, text: str) -> tuple[Compiler, Compiler]:
    path = tmp_path / "def.yaml"
    path.write_text(text)
    fast, full = Compiler(path), Compiler(path, fast=False)
    assert fast.leaf_checks[None] is not None, "this definition should take the fast path"
    return fast, full


def same_outcome(fast: Compiler, full: Compiler, fields: dict[str, Any]) -> None:
    a, b = fast.compile(fields), full.compile(fields)
    assert a.ok == b.ok
    assert [p.format() for p in a.problems] == [p.format() for p in b.problems]
    assert a.body == b.body


@SETTINGS
@given(
    values=st.fixed_dictionaries(
        {k: TEXTS for k in ("sender", "alt", "image", "title", "text", "label", "uri", "data")}
    )
)
def test_buttons_verdicts_match_full_validation(tmp_path: Path, values: dict[str, str]) -> None:
    fast, full = pair(tmp_path, BUTTONS)
    same_outcome(fast, full, {"to": "U1", **values})


@SETTINGS
@given(
    values=st.fixed_dictionaries(
        {"title": TEXTS, "address": TEXTS, "lat": NUMBERS, "lon": NUMBERS}
    ),
)
def test_location_verdicts_match_full_validation(tmp_path: Path, values: dict[str, str]) -> None:
    fast, full = pair(tmp_path, LOCATION)
    same_outcome(fast, full, {"to": "U1", **values})


@SETTINGS
@given(
    values=st.fixed_dictionaries(
        {"base": TEXTS, "width": NUMBERS, "height": NUMBERS, "link": TEXTS, "x": NUMBERS}
    ),
)
def test_imagemap_verdicts_match_full_validation(tmp_path: Path, values: dict[str, str]) -> None:
    fast, full = pair(tmp_path, IMAGEMAP)
    same_outcome(fast, full, {"to": "U1", **values})


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("from: A\nto: U\nmessage: '{{ message }}'\n", "a template yields the whole message"),
        (
            "from: A\nto: U\nmessage: {type: TEMPLATE, altText: a, template: {type: CAROUSEL, columns: "
            "[{$for: c in cs, text: '{{ c }}', actions: [{type: MESSAGE, label: a, text: b}]}]}}\n",
            "repeated columns",
        ),
    ],
)
def test_shapes_that_are_not_static_take_the_full_path(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "def.yaml"
    path.write_text(text)
    assert Compiler(path).leaf_checks[None] is None, why


def test_an_if_that_depends_on_a_recipient_value_is_not_decided_statically() -> None:
    # The message type comes from data: which schema applies is only known per recipient.
    definition = parse_definition(
        "from: A\nto: U\nmessage: {type: '{{ kind }}', text: hi}\n", "d.yaml"
    )
    (skeleton,) = Renderer(definition, NUMERIC_FIELDS).skeletons()
    assert LeafChecks.build(skeleton.body, DYNAMIC) is None

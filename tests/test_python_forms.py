"""No Jinja builtin reachable in the sandbox writes a value the Python way.

For any JSON value and any filter, test, format or operator a template can apply to
it, the message either carries JSON-style text (null as nothing, `true`/`false`,
never `None`, `True`, `{'`, `['`) or the run stops with a located error in the
author's words (exit 1), never a traceback or Python's own exception text.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main

#: Every way a template turns a value into text that we could think of: Jinja's
#: builtin filters, tests and globals, formats and operators.
ROUTES = [
    "{{ v }}",
    "{{ v | pprint }}",
    "{{ v | tojson }}",
    "{{ v | tojson(2) }}",
    "{{ v | string }}",
    "{{ '%s' | format(v) }}",
    "{{ '%s' % v }}",
    "{{ '%s-%s' % (v, v) }}",
    "{{ '{}'.format(v) }}",
    "{{ {'k': v} | xmlattr }}",
    "{{ v | xmlattr }}",
    "{{ v | dictsort | join(',') }}",
    "{{ v | dictsort }}",
    "{{ v | items | list | join }}",
    "{{ v | items }}",
    "{{ v | list | join(',') }}",
    "{{ v | list }}",
    "{{ v | join(',') }}",
    "{{ v | wordwrap(5) }}",
    "{{ v | indent(2) }}",
    "{{ v | truncate(9) }}",
    "{{ v | center(9) }}",
    "{{ v | title }}",
    "{{ v | lower }}",
    "{{ v | trim }}",
    "{{ v | escape }}",
    "{{ v | wordcount }}",
    "{{ v | replace('a', 'b') }}",
    "{{ v | urlencode }}",
    "{{ v | sum }}",
    "{{ v | max }}",
    "{{ v | min }}",
    "{{ v | first }}",
    "{{ v | last }}",
    "{{ v | length }}",
    "{{ v | sort | join }}",
    "{{ v | unique | join(',') }}",
    "{{ v | reverse | join }}",
    "{{ v | batch(2) | list | join }}",
    "{{ v | slice(2) | list | join }}",
    "{{ v | groupby('a') | list | join }}",
    "{{ v | groupby('a') }}",
    "{{ v | selectattr('a') | join }}",
    "{{ v | map('string') | join(',') }}",
    "{{ v | map('pprint') | join }}",
    "{{ v | map('tojson') | join }}",
    "{{ v | attr('a') }}",
    "{{ v | default('d') }}",
    "{{ v | abs }}",
    "{{ v | round }}",
    "{{ v | int }}",
    "{{ v | float }}",
    "{{ v | filesizeformat }}",
    "{{ v is none }}",
    "{{ v is mapping }}",
    "{{ v ~ '!' }}",
    "{{ v + 'x' }}",
    "{{ v + 1 }}",
    "{{ v * 2 }}",
    "{{ v - 1 }}",
    "{{ -v }}",
    "{{ v.a }}",
    "{{ v[0] }}",
    "{{ dict(k=v) }}",
    "{{ [v] }}",
    "{% set s = v %}{{ s }}",
    "{% for x in v %}{{ x }},{% endfor %}",
    "{% if v %}{{ v }}{% endif %}",
]

#: Text a generated value holds: nothing that could spell a Python form itself.
_WORDS = st.text(alphabet="abcdexyz 0123456789-", max_size=6)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | _WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_WORDS, inner, max_size=3),
    max_leaves=6,
)
#: What a Python form of a value looks like, in a body or an error.
PYTHON_FORMS = ("None", "True", "False", "{'", "['", "('", "NoneType", "Traceback")
#: The same in an error, which may quote a fix such as `join(', ')`.
ERROR_FORMS = tuple(form for form in PYTHON_FORMS if form != "('")


def compile_text(folder: Path, route: str, value: object) -> Result:
    (folder / "definition.yaml").write_text(
        'from: APP\nto: U1\nmessage: {type: TEXT, text: "[' + route.replace('"', '\\"') + ']"}\n',
        encoding="utf-8",
    )
    (folder / "data.jsonl").write_text(json.dumps({"v": value}) + "\n", encoding="utf-8")
    with contextlib.chdir(folder):
        return CliRunner().invoke(main, ["compile", "definition.yaml", "--data", "data.jsonl"])


@settings(max_examples=300, deadline=None)
@given(route=st.sampled_from(ROUTES), value=JSON_VALUES)
def test_no_filter_prints_a_json_value_the_python_way(route: str, value: object) -> None:
    with tempfile.TemporaryDirectory() as folder:
        result = compile_text(Path(folder), route, value)
    assert result.exit_code in (0, 1), (route, value, result.stderr, result.exception)
    if result.exit_code == 0:
        text = json.loads(result.stdout)["message"]["text"]
        # `false | title` is "False" because the author asked for it; containers still never.
        forms = ("{'", "['", "('") if "title" in route else PYTHON_FORMS
        assert not any(form in text for form in forms), (route, value, text)
    else:
        assert result.stderr.startswith("definition.yaml:3:"), (route, value, result.stderr)
        assert not any(form in result.stderr for form in ERROR_FORMS), (route, result.stderr)


def test_pprint_and_tojson_write_json_as_a_customer_can_read_it(tmp_path: Path) -> None:
    value = {"name": "春 & <sale>", "vip": True, "coupon": None}
    result = compile_text(tmp_path, "{{ v | tojson }} {{ v.vip | pprint }}", value)
    assert result.exit_code == 0, result.stderr
    text = json.loads(result.stdout)["message"]["text"]
    assert text == '[{"name": "春 & <sale>", "vip": true, "coupon": null} true]'


def test_a_python_conversion_is_refused_naming_the_one_to_use(tmp_path: Path) -> None:
    for route, words in [
        ("{{ '%r' % v }}", "`%r` writes a value the way Python does"),
        ("{{ '%(a)r' % {'a': v} }}", "`%(a)r` writes"),
        ("{{ 'x{0!r}'.format(v) }}", "`{0!r}` writes a value the way Python does"),
        ("{{ '%r' | format(v) }}", "use `%s`"),
    ]:
        result = compile_text(tmp_path, route, "ann")
        assert result.exit_code == 1, (route, result.stdout)
        assert result.stderr.startswith("definition.yaml:3:"), result.stderr
        assert words in result.stderr, (route, result.stderr)
    # `%%r` is a literal percent sign and an r.
    result = compile_text(tmp_path, "{{ '100%%r' % () }}", "ann")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["message"]["text"] == "[100%r]"


def test_arithmetic_on_a_null_value_names_it_and_its_field(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "{{ v + 'san' }}", None)
    assert result.exit_code == 1
    assert (
        "definition.yaml:3:29: row 1 (data.jsonl:1): message.text: `{{ v }}` is null "
        "(empty in this row), and `+` needs text or a number; to print nothing for it, "
        "join with `~` (`v ~ '…'`)"
    ) in result.stderr
    result = compile_text(tmp_path, "{{ v.points * 2 }}", {"points": True})
    assert result.exit_code == 1
    assert "`{{ v.points }}` is true, and `*` needs text or a number" in result.stderr
    result = compile_text(tmp_path, "{{ v - 1 }}", {"a": 1})
    assert "`{{ v }}` is an object (it has the fields a), and `-` needs a number" in result.stderr
    result = compile_text(tmp_path, "{{ v + 1 }}", "7")
    assert "`+` cannot combine text and a number; join them as text with `~`" in result.stderr


def test_a_set_name_is_named_with_what_it_was_set_from(tmp_path: Path) -> None:
    route = "{% set who = v.name %}Hi {{ who }}"
    result = compile_text(tmp_path, route, {"name": {"first": "A"}})
    assert result.exit_code == 1
    assert (
        "`{{ who }}` (set from `v.name`, the recipient's field `v`) is an object, not text "
        "(it has the fields first); print one of them, e.g. `{{ who.first }}`"
    ) in result.stderr
    result = compile_text(tmp_path, "{% for x in v %}{{ x }}{% endfor %}", [["a"]])
    assert "`{{ x }}` (an item of `v`, the recipient's field `v`) is a list" in result.stderr


def test_a_member_of_null_says_the_value_is_empty_in_this_row(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "{{ v.first }}", None)
    assert result.exit_code == 1
    assert "no field `first` in null: the value it is read from is empty in this row" in (
        result.stderr
    )
    result = compile_text(tmp_path, "{{ v[3] }}", ["a"])
    assert "no item 3: the list is shorter" in result.stderr


def test_a_loop_over_null_says_so_in_the_authors_words(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "{% for x in v %}{{ x }}{% endfor %}", None)
    assert result.exit_code == 1
    assert (
        "definition.yaml:3:29: row 1 (data.jsonl:1): message.text: `{% for %}` loops over a "
        "list or an object, and found null (empty in this row): guard the loop with `{% if … %}`"
    ) in result.stderr


@pytest.mark.parametrize(
    ("route", "value", "said"),
    [
        ("{{ v | length }}", None, "the filter `length` failed: it needs a list, and found null"),
        ("{{ v | round }}", None, "the filter `round` failed: it needs a number, and found null"),
        (
            "{{ v | dictsort }}",
            [1],
            "the filter `dictsort` failed: it needs an object, and found a list",
        ),
        (
            "{{ v | map('upper') | join }}",
            3,
            "the filter `map` failed: it needs a list, and found a whole number",
        ),
        (
            "{{ v | items | list }}",
            "ab",
            "the filter `items` failed: it needs an object, and found text",
        ),
    ],
)
def test_a_filter_given_what_it_cannot_use_says_what_it_needs(
    tmp_path: Path, route: str, value: object, said: str
) -> None:
    result = compile_text(tmp_path, route, value)
    assert result.exit_code == 1
    assert "definition.yaml:3:29: row 1 (data.jsonl:1): message.text: " + said in result.stderr

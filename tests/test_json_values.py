"""JSON values reach a message as the author meant them, never printed as Python;
`vars` are rendered, so no `{{` written in a definition reaches a body."""

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

DEFINITION = """\
from: APP
to: "{{ user }}"
message:
  type: TEMPLATE
  altText: "Hi {{ name }}, vip={{ vip }}, coupon={{ coupon }}."
  template:
    type: BUTTONS
    text: "Order {{ order }}"
    actions:
      - {type: POSTBACK, label: "{{ size }}", data: "{{ order }}"}
      - {type: MESSAGE, label: Points, text: "{{ points }}"}
"""


def run(tmp_path: Path, definition: str, data: str | None, *args: str) -> Result:
    (tmp_path / "definition.yaml").write_text(definition, encoding="utf-8")
    extra: list[str] = []
    if data is not None:
        (tmp_path / "data.jsonl").write_text(data, encoding="utf-8")
        extra = ["--data", "data.jsonl"]
    with contextlib.chdir(tmp_path):
        return CliRunner().invoke(main, ["compile", "definition.yaml", *extra, *args])


def jsonl(*records: dict[str, object]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def test_numbers_booleans_and_null_print_as_a_csv_cell_would_hold_them(tmp_path: Path) -> None:
    record = {
        "user": 66812345678,
        "name": "Ann",
        "vip": True,
        "coupon": None,
        "order": 884512,
        "size": 42,
        "points": 1.5,
    }
    result = run(tmp_path, DEFINITION, jsonl(record))
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["to"] == "66812345678"
    assert body["message"]["altText"] == "Hi Ann, vip=true, coupon=."
    actions = body["message"]["template"]["actions"]
    assert actions[0] == {"type": "POSTBACK", "label": "42", "data": "884512"}
    assert actions[1]["text"] == "1.5"


def test_the_same_data_as_csv_and_as_json_gives_the_same_bodies(tmp_path: Path) -> None:
    """Case 10: the thank-you campaign from two exports of one CRM."""
    record = {"user": "U1", "name": "Ann", "vip": False, "order": 7, "size": 3, "points": 1200}
    as_json = run(tmp_path, DEFINITION.replace("coupon={{ coupon }}", "x"), jsonl(record))
    (tmp_path / "data.csv").write_text(
        "user,name,vip,order,size,points\nU1,Ann,false,7,3,1200\n", encoding="utf-8"
    )
    with contextlib.chdir(tmp_path):
        as_csv = CliRunner().invoke(main, ["compile", "definition.yaml", "--data", "data.csv"])
    assert as_json.exit_code == as_csv.exit_code == 0, as_json.stderr + as_csv.stderr
    assert as_json.stdout == as_csv.stdout


def test_an_object_or_list_in_text_is_a_located_error_naming_its_fields(tmp_path: Path) -> None:
    records = jsonl(
        {"user": "U1", "name": {"first": "A", "last": "B"}, "vip": 1, "coupon": "", "order": 1,
         "size": 1, "points": 1},
        {"user": "U2", "name": "Bo", "vip": 1, "coupon": ["a", "b"], "order": 1, "size": 1,
         "points": {"total": 3}},
    )  # fmt: skip
    result = run(tmp_path, DEFINITION, records)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        "definition.yaml:5:12: row 1 (data.jsonl:1): message.altText: `{{ name }}` is an object, "
        "not text (it has the fields first, last); print one of them, e.g. `{{ name.first }}`"
    ) in result.stderr
    assert (
        "row 2 (data.jsonl:2): message.altText: `{{ coupon }}` is a list, not text: print one "
        "item (`{{ coupon[0] }}`) or join them (`{{ coupon | join(', ') }}`)"
    ) in result.stderr
    assert (
        "row 2 (data.jsonl:2): message.template.actions[1].text: `{{ points }}` is an object, "
        "not text (it has the fields total)"
    ) in result.stderr
    assert "{'" not in result.stderr and "['" not in result.stderr.split("found")[0]


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10),
)


@settings(max_examples=60, deadline=None)
@given(value=SCALARS)
def test_no_scalar_ever_prints_as_python(value: object) -> None:
    definition = 'from: APP\nto: U1\nmessage: {type: TEXT, text: "[{{ v }}]"}\n'
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), definition, jsonl({"v": value}))
    assert result.exit_code == 0, result.stderr
    text = json.loads(result.stdout)["message"]["text"]
    if value is None:
        assert text == "[]"
    elif isinstance(value, bool):
        assert text == ("[true]" if value else "[false]")
    if not isinstance(value, str):
        assert "None" not in text and "True" not in text and "False" not in text


# --- vars ----------------------------------------------------------------------------


def test_vars_are_rendered_in_order_and_never_sent_as_template_text(tmp_path: Path) -> None:
    definition = """\
from: APP
to: U1
vars:
  shop: https://shop.example
  sale: "{{ shop }}/sale"
  links: {spring: "{{ sale }}?season=spring", count: "{{ 40 + 2 }}"}
message: {type: TEXT, text: "{{ sale }} {{ links.spring }} {{ links.count }}"}
"""
    result = run(tmp_path, definition, None)
    assert result.exit_code == 0, result.stderr
    text = json.loads(result.stdout)["message"]["text"]
    assert text == "https://shop.example/sale https://shop.example/sale?season=spring 42"
    assert "{{" not in result.stdout


def test_vars_that_need_each_other_are_a_located_error(tmp_path: Path) -> None:
    definition = """\
from: APP
to: U1
vars:
  a: "{{ b }}/x"
  b: "{{ a }}/y"
message: {type: TEXT, text: "{{ a }}"}
"""
    for command in ("compile", "check"):
        (tmp_path / "definition.yaml").write_text(definition, encoding="utf-8")
        with contextlib.chdir(tmp_path):
            result = CliRunner().invoke(main, [command, "definition.yaml"])
        assert result.exit_code == 1
        assert (
            "definition.yaml:4:6: vars.a: vars a -> b -> a form a cycle (a at line 4, b at "
            "line 5): a var may use the vars above it, never itself through others"
        ) in result.stderr, result.stderr
        assert "undefined" not in result.stderr
        assert result.stdout == ""


def test_every_cycle_between_vars_is_named_once_with_its_lines(tmp_path: Path) -> None:
    definition = """\
from: APP
to: U1
vars:
  shop: https://shop.example
  a: "{{ shop }}/{{ c }}"
  b: "{{ a }}"
  c: "{{ b | upper }}"
  me: "{% if me %}{{ me }}{% endif %}"
  fine: "{{ shop }}/ok"
message: {type: TEXT, text: "{{ a }} {{ me }} {{ fine }}"}
"""
    result = run(tmp_path, definition, None)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "definition.yaml:5:6: vars.a: vars a -> c -> b -> a form a cycle (a at line 5, c at "
        "line 7, b at line 6): a var may use the vars above it, never itself through others",
        "definition.yaml:8:7: vars.me: vars me -> me form a cycle (me at line 8): a var may "
        "use the vars above it, never itself through others",
    ], result.stderr
    assert "fine" not in result.stderr and "shop" not in result.stderr


def test_a_var_may_use_recipient_fields_and_is_rendered_for_each(tmp_path: Path) -> None:
    definition = """\
from: APP
to: "{{ user }}"
vars:
  shop: https://shop.example
  link: "{{ shop }}/u/{{ user | urlencode }}"
  greeting: "Hello {{ name }}"
message: {type: TEXT, text: "{{ greeting }}: {{ link }}"}
"""
    result = run(tmp_path, definition, jsonl({"user": "U1", "name": "Ann"}, {"user": "U2"}))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "definition.yaml:6:13: row 2 (data.jsonl:2): vars.greeting: undefined variable `name`"
    ), result.stderr
    result = run(
        tmp_path, definition, jsonl({"user": "U1", "name": "Ann"}, {"user": "U2", "name": "Bo"})
    )
    assert result.exit_code == 0, result.stderr
    texts = [json.loads(line)["message"]["text"] for line in result.stdout.splitlines()]
    assert texts == ["Hello Ann: https://shop.example/u/U1", "Hello Bo: https://shop.example/u/U2"]


def test_a_constant_condition_beside_a_per_recipient_var_compiles(tmp_path: Path) -> None:
    definition = """\
from: APP
to: "{{ user }}"
vars:
  greeting: "Hello {{ name }}"
message:
  type: TEMPLATE
  altText: "{{ greeting }}"
  template:
    type: BUTTONS
    text: "{{ greeting }}{{ ' ' ~ (1 + 1) }}"
    actions:
      - {$if: "1 + 1 == 2", type: MESSAGE, label: Hi, text: "{{ greeting }}"}
"""
    result = run(tmp_path, definition, jsonl({"user": "U1", "name": "Ann"}))
    assert result.exit_code == 0, result.stderr
    assert '"text":"Hello Ann 2"' in result.stdout


# --- however a value reaches the text --------------------------------------------------

#: Ways a value reaches a message's text other than `{{ v }}`.
ROUTES = [
    "{{ v ~ '!' }}",
    "{{ v | string }}",
    "{{ v | urlencode }}",
    "{{ v | upper }}",
    "{{ v | replace('x', 'y') }}",
    "{{ v | trim }}",
    "{{ '%s' % v }}",
    "{{ '%s' | format(v) }}",
    "{{ '{}'.format(v) }}",
    "{{ [v, v] | join('/') }}",
    "{% set s = v %}{{ s }}",
]


@settings(max_examples=40, deadline=None)
@given(route=st.sampled_from(ROUTES), value=st.sampled_from([None, True, False]))
def test_null_and_booleans_print_the_same_through_filters_and_joins(
    route: str, value: object
) -> None:
    definition = f'from: APP\nto: U1\nmessage: {{type: TEXT, text: "[{route}]"}}\n'
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), definition, jsonl({"v": value}))
    assert result.exit_code == 0, result.stderr
    text = json.loads(result.stdout)["message"]["text"]
    word = {None: "", True: "true", False: "false"}[value]  # type: ignore[index]
    if "upper" in route:
        word = word.upper()
    assert text.strip("[]!").split("/")[0] == word, (route, text)
    assert "None" not in text and "True" not in text and "False" not in text


@settings(max_examples=30, deadline=None)
@given(
    route=st.sampled_from([r for r in ROUTES if "urlencode" not in r]),
    value=st.sampled_from([{"first": "A", "last": "B"}, ["a", "b"]]),
)
def test_an_object_or_list_through_a_filter_is_a_located_error(route: str, value: object) -> None:
    definition = f'from: APP\nto: U1\nmessage: {{type: TEXT, text: "[{route}]"}}\n'
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), definition, jsonl({"v": value}))
    assert result.exit_code == 1
    assert result.stdout == ""
    kind = (
        "an object, not text (it has the fields first, last)"
        if isinstance(value, dict)
        else ("a list, not text")
    )
    # A local name is named with what it was set from.
    shown = (
        "`{{ s }}` (set from `v`, the recipient's field `v`)" if "set s" in route else "`{{ v }}`"
    )
    where = "definition.yaml:3:29: row 1 (data.jsonl:1): message.text: "
    assert f"{where}{shown} is {kind}" in result.stderr, result.stderr
    assert "{'" not in result.stderr and "['" not in result.stderr
    assert "Traceback" not in result.stderr


def test_an_object_urlencodes_as_a_query_and_a_list_is_an_error(tmp_path: Path) -> None:
    definition = 'from: APP\nto: U1\nmessage: {type: TEXT, text: "?{{ v | urlencode }}"}\n'
    result = run(tmp_path, definition, jsonl({"v": {"q": "春 セール", "vip": True, "n": None}}))
    assert result.exit_code == 0, result.stderr
    assert (
        json.loads(result.stdout)["message"]["text"]
        == "?q=%E6%98%A5+%E3%82%BB%E3%83%BC%E3%83%AB&vip=true&n="
    )
    result = run(tmp_path, definition, jsonl({"v": ["a", "b"]}))
    assert result.exit_code == 1
    assert "`{{ v }}` is a list, not text" in result.stderr
    assert "ValueError" not in result.stderr and "unpack" not in result.stderr


@pytest.mark.parametrize(
    ("template", "said"),
    [
        (
            "{{ cycler('a', 'b') }}",
            "the value is a cycler (print `.next()` or `.current`), not text",
        ),
        ("{{ joiner(', ') }}", "the value is a function (call it: add `()`), not text"),
        (
            "{{ namespace(a=1) }}",
            "the value is a namespace (print one of its attributes), not text",
        ),
        ("{{ range(3) }}", "`{{ range(3) }}` is a list, not text: print one item"),
    ],
)
def test_jinja_objects_never_print_their_python_repr(
    tmp_path: Path, template: str, said: str
) -> None:
    definition = f'from: APP\nto: U1\nmessage: {{type: TEXT, text: "x {template}"}}\n'
    for command in ("compile", "check"):
        (tmp_path / "definition.yaml").write_text(definition, encoding="utf-8")
        with contextlib.chdir(tmp_path):
            result = CliRunner().invoke(main, [command, "definition.yaml"])
        assert result.exit_code == 1, result.output
        assert "definition.yaml:3:29: message.text: " + said in result.stderr
        assert "object at 0x" not in result.output and "range(0" not in result.stderr


# --- filter and test failures in the author's words ------------------------------------


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("{{ items | map('uppr') | join(', ') }}", "unknown filter `uppr`; did you mean `upper`?"),
        ("{{ items | select('od') | join(', ') }}", "unknown test `od`; did you mean `odd`?"),
        (
            "{{ items | rejectattr('a', 'sameas_') | list | length }}",
            "unknown test `sameas_`; did you mean `sameas`?",
        ),
    ],
)
def test_a_filter_or_test_named_by_argument_is_checked_without_data(
    tmp_path: Path, template: str, said: str
) -> None:
    definition = f'from: APP\nto: U1\nmessage: {{type: TEXT, text: "x {template}"}}\n'
    (tmp_path / "definition.yaml").write_text(definition, encoding="utf-8")
    with contextlib.chdir(tmp_path):
        result = CliRunner().invoke(main, ["check", "definition.yaml"])
    assert result.exit_code == 1
    assert f"definition.yaml:3:29: message.text: {said}" in result.stderr, result.stderr


def test_a_filter_failing_on_a_recipient_value_names_the_filter_not_python(
    tmp_path: Path,
) -> None:
    definition = """\
from: APP
to: U1
message: {type: TEXT, text: "{{ items | map(how) | join(', ') }} {{ n | join }}"}
"""
    result = run(tmp_path, definition, jsonl({"items": ["a"], "how": "uppr", "n": 1}))
    assert result.exit_code == 1
    assert "message.text: unknown filter `uppr`; did you mean `upper`?" in result.stderr
    result = run(tmp_path, definition, jsonl({"items": ["a"], "how": "upper", "n": 1}))
    assert (
        "message.text: the filter `join` failed: it joins the items of a list, and a whole "
        "number has none (found 1)" in result.stderr
    ), result.stderr
    for python in ("TypeError", "ValueError", "TemplateRuntimeError", "'int' object"):
        assert python not in result.stderr


# --- a bad link in a var is the var's -------------------------------------------------

VAR_LINK = """\
from: APP
to: "{{ user }}"
vars:
  shop: https://shop.example
  link: "https://x.jp/春 セール"
  mine: "{{ shop }}/u/{{ user }}"
message:
  type: TEMPLATE
  altText: Sale
  template:
    type: BUTTONS
    text: New in
    actions:
      - {type: URI, label: A, uri: "{{ link }}"}
      - {type: URI, label: B, uri: "{{ shop }}/a b"}
      - {type: URI, label: C, uri: "{{ mine }}"}
"""


def test_a_bad_link_in_a_var_is_blamed_on_the_var_and_found_without_data(tmp_path: Path) -> None:
    (tmp_path / "definition.yaml").write_text(VAR_LINK, encoding="utf-8")
    for command in (["check", "definition.yaml"], ["compile", "definition.yaml"]):
        with contextlib.chdir(tmp_path):
            result = CliRunner().invoke(main, command)
        assert result.exit_code == 1
        lines = result.stderr.splitlines()
        assert lines[0] == (
            "definition.yaml:5:9: vars.link: a link must be percent-encoded UTF-8, and '春' "
            "(U+6625) at character 14 is not: write "
            "https://x.jp/%E6%98%A5%20%E3%82%BB%E3%83%BC%E3%83%AB (the var `link`, used by "
            "`message.template.actions[0].uri` at line 14: fix the link here)"
        ), result.stderr
        # The var is fine, the field's own text is not: the field's line.
        assert lines[1].startswith(
            "definition.yaml:15:36: message.template.actions[1].uri: a link must be "
            "percent-encoded UTF-8, and a space at character 23"
        ), result.stderr
        assert "data" not in result.stderr and "row" not in result.stderr


def test_a_var_made_per_recipient_is_named_when_its_link_is_bad(tmp_path: Path) -> None:
    definition = VAR_LINK.replace('  link: "https://x.jp/春 セール"\n', "").replace(
        '      - {type: URI, label: A, uri: "{{ link }}"}\n      - {type: URI, label: B, uri: '
        '"{{ shop }}/a b"}\n',
        "",
    )
    result = run(tmp_path, definition, jsonl({"user": "U1"}, {"user": "a b"}))
    assert result.exit_code == 1
    assert (
        "row 2 (data.jsonl:2): message.template.actions[0].uri: a link must be percent-encoded "
        "UTF-8, and a space at character 25 is not: write https://shop.example/u/a%20b; "
        "`{{ mine }}` is the var `mine` (definition.yaml:5:9), which made "
        "'https://shop.example/u/a b': fix it there (a recipient value inside it needs "
        "`| urlencode`)"
    ) in result.stderr, result.stderr
    assert "row 1 " not in result.stderr.replace("row 1 (data.jsonl:1): to: warning", "")


def test_an_indented_jsonl_record_with_nested_objects_is_read_not_an_internal_error(
    tmp_path: Path,
) -> None:
    """Found by the fuzz test: a JSONL line with leading spaces whose `:`s outnumber its
    keys (a nested object) crashed the repeated-key check (exit 70)."""
    definition = 'from: APP\nto: "{{ user }}"\nmessage: {type: TEXT, text: "Hi {{ name }}"}\n'
    data = (
        '\n  {"user": "U1", "name": "Ann", "x": {"a": 1}}\n'
        '\t{"user": "U2", "user": "U3", "name": "Bo", "x": {"a": 1}}\n'
    )
    result = run(tmp_path, definition, data)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # one failed row voids the output (without --keep-going)
    assert "data.jsonl:3:17: row 2 (data.jsonl:3): user: has the key 'user' twice" in (
        result.stderr
    ), result.stderr
    assert "internal error" not in result.stderr

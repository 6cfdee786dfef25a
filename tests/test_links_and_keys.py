"""Links and recipient keys are checked as rendered, per recipient, whatever the data format.

A link must be an absolute, percent-encoded URL (LINE wants percent-encoded UTF-8);
`to`/`from` must not carry a spreadsheet's damage (blank, stray or invisible spaces,
`6.68123E+10`). Both are located errors (definition line, row, field), never fixed silently.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress import Compiler
from linepress.cli.main import main
from linepress.validate.values import (
    _URL,
    escapes_are_utf8,
    is_recipient_key,
    is_url,
    key_problem,
    shape_ok,
    url_problem,
)

LINK_DEFINITION = """\
from: APP
to: "{{ user }}"
message:
  type: TEMPLATE
  altText: "Sale"
  template:
    type: BUTTONS
    thumbnailImageUrl: "{{ image }}"
    text: "New in"
    actions:
      - {type: URI, label: Search, uri: "https://shop.example/search?q={{ word }}&src=line"}
      - {type: URI, label: Safe, uri: "https://shop.example/search?q={{ word | urlencode }}"}
"""


def run(tmp_path: Path, definition: str, data: str, name: str = "data.csv", *args: str) -> Result:
    (tmp_path / "definition.yaml").write_text(definition, encoding="utf-8")
    (tmp_path / name).write_text(data, encoding="utf-8")
    with contextlib.chdir(tmp_path):  # messages name the files as given
        return CliRunner().invoke(main, ["compile", "definition.yaml", "--data", name, *args])


def test_a_link_with_a_space_or_raw_japanese_from_the_data_is_a_located_error(
    tmp_path: Path,
) -> None:
    data = (
        "user,image,word\n"
        "U1,https://cdn.example/a.jpg,matcha\n"
        "U2,https://cdn.example/matcha cake.jpg,抹茶 ケーキ\n"
        'U3,"https://cdn.example/gift.jpg ",100%\n'
    )
    result = run(tmp_path, LINK_DEFINITION, data)
    assert result.exit_code == 1
    assert result.stdout == ""  # nothing is written when a recipient fails
    lines = result.stderr.splitlines()
    # Row 2: a space inside the image link (from the data), raw Japanese in the search link.
    assert any(
        "definition.yaml:8:24: row 2 (data.csv:3): message.template.thumbnailImageUrl:" in line
        and "a space at character 27" in line
        and "https://cdn.example/matcha%20cake.jpg" in line
        and "`{{ image }}` brought in" in line
        and "fix it in the data" in line
        for line in lines
    ), result.stderr
    assert any(
        "row 2 (data.csv:3): message.template.actions[0].uri:" in line
        and "https://shop.example/search?q=%E6%8A%B9%E8%8C%B6%20%E3%82%B1%E3%83%BC%E3%82%AD&src=line"
        in line
        and "`{{ word }}` brought in '抹茶 ケーキ': end that expression with `| urlencode`" in line
        for line in lines
    ), result.stderr
    # Row 3: a trailing space, and a `%` that starts no escape.
    assert any(
        "row 3 (data.csv:4): message.template.thumbnailImageUrl: a link must not end with a space"
        in line
        for line in lines
    ), result.stderr
    assert any(
        "row 3 (data.csv:4): message.template.actions[0].uri: `%` at character" in line
        and "%25" in line
        for line in lines
    ), result.stderr
    # The encoded expression never fails; row 1 is fine.
    assert "actions[1]" not in result.stderr
    assert "row 1 (data.csv:2): message" not in result.stderr
    assert "2 of 3 recipients failed" in result.stderr


def test_a_constant_link_with_a_space_fails_before_any_recipient(tmp_path: Path) -> None:
    definition = LINK_DEFINITION.replace("{{ image }}", "https://cdn.example/春の セール.jpg")
    result = run(tmp_path, definition, "user,word\nU1,a\n")
    assert result.exit_code == 1
    assert (
        "definition.yaml:8:24: message.template.thumbnailImageUrl: a link must be percent-encoded "
        "UTF-8, and '春' (U+6625) at character 21 is not: write "
        "https://cdn.example/%E6%98%A5%E3%81%AE%20%E3%82%BB%E3%83%BC%E3%83%AB.jpg"
    ) in result.stderr
    assert "row" not in result.stderr


def test_links_from_json_data_get_the_same_check(tmp_path: Path) -> None:
    data = json.dumps(
        {"user": "U1", "image": "https://cdn.example/a b.jpg", "word": "ok"}, ensure_ascii=False
    )
    result = run(tmp_path, LINK_DEFINITION, data + "\n", "data.jsonl")
    assert result.exit_code == 1
    assert "row 1 (data.jsonl:1): message.template.thumbnailImageUrl: a link must be" in (
        result.stderr
    )


def test_a_link_needs_a_host_after_its_slashes(tmp_path: Path) -> None:
    result = run(tmp_path, LINK_DEFINITION, "user,image,word\nU1,https:///a.jpg,x\n")
    assert result.exit_code == 1
    assert "needs a host" in result.stderr


def test_ordinary_links_of_every_scheme_compile(tmp_path: Path) -> None:
    definition = LINK_DEFINITION.replace(
        "https://shop.example/search?q={{ word }}&src=line", "{{ word }}"
    )
    data = (
        "user,image,word\n"
        "U1,https://cdn.example/a%20b.jpg,https://shop.example/p?id=1&x=%E6%8A%B9#top\n"
        "U2,https://cdn.example/a.jpg,tel:+81312345678\n"
        "U3,https://cdn.example/a.jpg,line://msg/text/?Hello%20World\n"
    )
    result = run(tmp_path, definition, data)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3


KEY_DEFINITION = """\
from: "{{ sender }}"
to: "{{ recipient }}"
message: {type: TEXT, text: "Hello {{ name }}"}
"""


def test_damaged_recipient_keys_are_located_errors_naming_the_damage(tmp_path: Path) -> None:
    data = (
        "sender,recipient,name\n"
        'APP,"U1111111111111111111111111111111a ",Aiko\n'
        "APP,\u00a0U2222222222222222222222222222222b,Budi\n"
        'APP," ",Chai\n'
        "APP,6.68123E+10,Dao\n"
        "APP,812345678.0,Eko\n"
        "APP,U66\u200b66,Fay\n"
        "APP\u3000,U7777777777777777777777777777777c,Gus\n"
        "APP,U8888888888888888888888888888888d,Hana\n"
    )
    result = run(tmp_path, KEY_DEFINITION, data)
    assert result.exit_code == 1
    expected = [
        "row 1 (data.csv:2): to: has a trailing space",
        "row 2 (data.csv:3): to: has a leading no-break space (U+00A0)",
        "row 3 (data.csv:4): to: is blank: it holds only space",
        "row 4 (data.csv:5): to: is a number a spreadsheet wrote in scientific notation",
        "row 5 (data.csv:6): to: is a number a spreadsheet turned into a decimal",
        "row 6 (data.csv:7): to: has a zero width space (U+200B) at character 4",
        "row 7 (data.csv:8): from: has a trailing ideographic space (U+3000)",
    ]
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert "row 8" not in result.stderr
    assert "definition.yaml:2:5: row 1" in result.stderr
    assert "7 of 8 recipients failed" in result.stderr


def test_a_damaged_key_in_a_json_number_or_a_to_column_is_caught_too(tmp_path: Path) -> None:
    definition = 'from: APP\nmessage: {type: TEXT, text: "Hi"}\n'
    data = '{"to": "U1 "}\n{"to": "\\ufeffU2"}\n{"to": "U3"}\n'
    result = run(tmp_path, definition, data, "data.jsonl")
    assert result.exit_code == 1
    assert "row 1 (data.jsonl:1): to: has a trailing space" in result.stderr
    assert "row 2 (data.jsonl:2): to: has a zero width no-break space (U+FEFF)" in result.stderr
    assert "row 3 (data.jsonl:3): to: has" not in result.stderr


# --- the fast checks agree with the worded ones -------------------------------------------

TEXT = st.text(
    st.one_of(
        st.sampled_from(
            list('Uu0123456789abcdefABCDEF:/?#&=%.+-E \t\u00a0\u200b\ufeff\u3000春\\"<>{}|^`@シ')
        ),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)
LINKS = st.builds(
    lambda scheme, rest: scheme + "".join(rest),
    st.sampled_from(
        ["https://", "http://", "tel:", "line://", "", "https:///", "https:", "http:/", "HTTPS://"]
    ),
    st.lists(st.one_of(TEXT, st.sampled_from(["%E3", "%81", "%A5", "%E6%98%A5"])), max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(LINKS)
def test_link_predicate_agrees_with_its_wording_and_the_plain_rule(value: str) -> None:
    assert is_url(value) == (url_problem(value) is None)
    # The plain statement of the rule: percent-encoded ASCII, a scheme, a host after `//`,
    # and parts that read as a link (urllib's split: host labels, port, `//` for http).
    assert is_url(value) == (
        value.isascii()
        and _URL.fullmatch(value) is not None
        and escapes_are_utf8(value)
        and shape_ok(value)
    )


@settings(max_examples=400, deadline=None)
@given(st.one_of(TEXT, st.from_regex(r"[+-]?\d(\.\d+)?[eE][+-]?\d+|\d+\.0*", fullmatch=True)))
def test_key_predicate_agrees_with_its_wording(value: str) -> None:
    assert is_recipient_key(value) == (key_problem(value) is None)


@settings(max_examples=150, deadline=None)
@given(image=LINKS, recipient=TEXT)
def test_fast_and_full_validation_agree_on_links_and_keys(image: str, recipient: str) -> None:
    definition = Path(__file__).parent / "data" / "links-and-keys.yaml"
    fast, full = _compilers(definition)
    fields = {"user": recipient, "image": image, "word": "x"}
    assert fast.compile(fields).ok == full.compile(fields).ok


_CACHE: dict[Path, tuple[Compiler, Compiler]] = {}


def _compilers(path: Path) -> tuple[Compiler, Compiler]:
    if path not in _CACHE:
        _CACHE[path] = (Compiler(path), Compiler(path, fast=False))
    return _CACHE[path]


# --- every spelling of a spreadsheet's number; keys of no known form -----------------------

DIGITS = st.text(st.sampled_from("0123456789"), min_size=1, max_size=11)
SCIENTIFIC = st.builds(
    lambda whole, sep, frac, e, sign, exp: f"{whole}{sep}{frac}{e}{sign}{exp}",
    DIGITS,
    st.sampled_from([".", ",", ""]),
    st.text(st.sampled_from("0123456789"), max_size=6),
    st.sampled_from(["e", "E"]),
    st.sampled_from(["", "+", "-"]),
    st.integers(0, 20).map(str),
)


@settings(max_examples=60, deadline=None)
@given(key=SCIENTIFIC)
def test_scientific_notation_in_any_spelling_is_a_located_error(key: str) -> None:
    import tempfile

    data = f'sender,recipient,name\nAPP,"{key}",Ann\n'
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), KEY_DEFINITION, data)
    assert result.exit_code == 1, (key, result.stderr)
    assert (
        "definition.yaml:2:5: row 1 (data.csv:2): to: is a number a spreadsheet wrote in "
        "scientific notation"
    ) in result.stderr
    assert result.stdout == ""


def test_decimal_endings_and_full_width_digits_are_located_errors(tmp_path: Path) -> None:
    data = (
        "sender,recipient,name\n"
        "APP,812345678.0,A\n"
        'APP,"812345678,00",B\n'
        "APP,\uff16\uff16\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18,C\n"
        "APP,+66\uff18123,D\n"
    )
    result = run(tmp_path, KEY_DEFINITION, data)
    assert result.exit_code == 1
    for row in (1, 2):
        assert (
            f"row {row} (data.csv:{row + 1}): to: is a number a spreadsheet turned into a "
            "decimal (`.0`)" in result.stderr
        )
    assert (
        "row 3 (data.csv:4): to: has '\uff16' (U+FF16) at character 1, a digit that is not ASCII "
        "(full-width, as an input method types it): the key is '66812345678' in ASCII digits"
    ) in result.stderr
    assert "row 4 (data.csv:5): to: has '\uff18' (U+FF18) at character 4" in result.stderr


ODD_KEYS = (
    "sender,recipient,name\nAPP,hello,A\nAPP,U1111111111111111111111111111111a,B\nAPP,x y,C\n"
)


def test_a_key_of_no_known_form_is_a_warning_in_compile_check_and_send(tmp_path: Path) -> None:
    warning = (
        "definition.yaml:2:5: row 1 (data.csv:2): to: warning: `to` looks like none of a LINE "
        "user ID (U + 32 hex digits), a phone number (digits, optional +) or a UUID"
    )
    compiled = run(tmp_path, KEY_DEFINITION, ODD_KEYS)
    assert compiled.exit_code == 0, compiled.stderr
    assert len(compiled.stdout.splitlines()) == 3  # a warning: the bodies are written
    assert warning + " for 2 recipients (rows 1, 3)" in compiled.stderr
    strict = run(tmp_path, KEY_DEFINITION, ODD_KEYS, "data.csv", "--strict")
    assert strict.exit_code == 1 and strict.stdout == ""
    assert "row 3 (data.csv:4): to: `to` looks like none of" in strict.stderr
    with contextlib.chdir(tmp_path):
        checked = CliRunner().invoke(main, ["check", "definition.yaml", "--data", "data.csv"])
        sent = CliRunner().invoke(
            main,
            ["send", "definition.yaml", "--data", "data.csv", "--dry-run", "--no-progress"],
            env={"INFOBIP_API_KEY": "k"},
        )
    assert checked.exit_code == 0, checked.stderr
    assert warning in checked.stderr
    assert sent.exit_code == 0, sent.stderr
    assert warning in sent.stderr
    assert "for 2 recipients (rows 1, 3)" in sent.stderr


# --- what a link may not hold, one clear error per link, the encoded form as the fix -------


def test_each_unsafe_character_and_cut_escape_is_one_located_error_with_the_fix(
    tmp_path: Path,
) -> None:
    definition = """\
from: APP
to: U1111111111111111111111111111111a
message:
  type: TEMPLATE
  altText: Sale
  template:
    type: BUTTONS
    text: New in
    actions:
      - {type: URI, label: A, uri: "https://x.jp/a{{ part }}b"}
"""
    fixes = {
        "\\": "%5C", '"': "%22", "<": "%3C", ">": "%3E", "{": "%7B", "}": "%7D",
        "|": "%7C", "^": "%5E", "`": "%60",
    }  # fmt: skip
    data = "part\n" + "".join(f'"{c * 2 if c == chr(34) else c}"\n' for c in fixes) + "%E3%81\n"
    result = run(tmp_path, definition, data)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "actions[0].uri" in line]
    assert len(lines) == len(fixes) + 1, result.stderr  # one error per link
    for row, (char, fix) in enumerate(fixes.items(), start=1):
        assert (
            f"row {row} (data.csv:{row + 1}): message.template.actions[0].uri: {char!r}"
            in (lines[row - 1])
        ), lines[row - 1]
        assert f"must be escaped in a link: write https://x.jp/a{fix}b" in lines[row - 1]
    assert "the escape %E3 at character 15 is not part of a whole UTF-8 character" in lines[-1]


def test_a_host_with_non_ascii_letters_gets_punycode_and_a_leading_space_one_error(
    tmp_path: Path,
) -> None:
    definition = """\
from: APP
to: U1111111111111111111111111111111a
message: {type: IMAGE, url: "{{ link }}", thumbnailUrl: "{{ link }}"}
"""
    data = (
        'link\nhttps://ショップ.jp/春.jpg\n" https://x.jp/a.jpg"\nhttps://shop example.jp/a.jpg\n'
    )
    result = run(tmp_path, definition.replace("IMAGE", "IMAGE"), data)
    assert result.exit_code == 1
    err = result.stderr
    assert (
        "row 1 (data.csv:2): message.url: the host 'ショップ.jp' must be written "
        "in IDNA (punycode), not raw or %-encoded: write https://xn--xckya1d0c.jp/%E6%98%A5.jpg"
    ) in err, err
    assert "%E3%82%B7" not in err  # never the host %-encoded
    leading = [line for line in err.splitlines() if "row 2 " in line and "message.url" in line]
    assert len(leading) == 1, err
    assert "a link must not start with a space; without it: https://x.jp/a.jpg" in leading[0]
    assert "row 3 (data.csv:4): message.url: the host 'shop example.jp' holds a space" in err


_WRITE = __import__("re").compile(r": write (\S+);")


@settings(max_examples=60, deadline=None)
@given(
    word=st.text(alphabet="ab 抹茶&=?#+%/é\t", min_size=1, max_size=8).filter(
        lambda w: url_problem(f"https://shop.example/search?q={w}&src=line") is not None
    )
)
def test_the_link_to_write_is_the_template_with_the_value_urlencoded(word: str) -> None:
    """Case 05: `gift & wrap` in a query is `gift%20%26%20wrap`, not `gift%20&%20wrap`
    (which would send `q=gift ` and a parameter ` wrap`): the link the error says to
    write keeps the keyword whole and is one LINE accepts."""
    import tempfile
    from urllib.parse import parse_qs, urlsplit

    record = {"user": "U1", "image": "https://cdn.example/a.jpg", "word": word}
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), LINK_DEFINITION, json.dumps(record) + "\n", "data.jsonl")
    assert result.exit_code == 1
    line = next(x for x in result.stderr.splitlines() if "actions[0].uri" in x)
    assert "end that expression with `| urlencode`" in line, line
    written = _WRITE.search(line)
    assert written is not None, line
    link = written.group(1)
    assert url_problem(link) is None, link
    assert parse_qs(urlsplit(link).query, keep_blank_values=True) == {"q": [word], "src": ["line"]}


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.sampled_from(["hex", "dashed", "odd", "damaged", "dashed-bad-name", "hex-bad-name"]),
        min_size=1,
        max_size=12,
    ),
    data_format=st.sampled_from(["csv", "jsonl"]),
)
def test_keys_of_no_known_form_are_counted_once_each_whichever_way_a_row_goes(
    rows: list[str], data_format: str
) -> None:
    """The fast way takes an undamaged key of no known form and the careful way takes
    the rest: the warning counts exactly the written bodies whose key is of no known
    form, names the first of them, and a damaged key is an error, not counted."""
    import tempfile

    keys = {
        "hex": "U1111111111111111111111111111111a",
        "dashed": "090-1234-5678",
        "odd": "cust_17",
        "damaged": "090-1234-5678\u200b",
    }
    records = []
    for index, kind in enumerate(rows):
        key = keys[kind.split("-")[0]]
        name = "x" * 6000 if kind.endswith("bad-name") else f"N{index}"
        records.append({"sender": "APP", "recipient": key, "name": name})
    if data_format == "csv":
        lines = ["sender,recipient,name"] + [",".join(r.values()) for r in records]
        data = "\n".join(lines) + "\n"
    else:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    name = f"data.{data_format}"
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), KEY_DEFINITION, data, name, "--keep-going")
    failing = [i + 1 for i, k in enumerate(rows) if k == "damaged" or k.endswith("bad-name")]
    counted = [i + 1 for i, k in enumerate(rows) if k in ("dashed", "odd") and i + 1 not in failing]
    assert result.exit_code == (1 if failing else 0), result.stderr
    assert len(result.stdout.splitlines()) == len(rows) - len(failing)
    if not counted:
        assert "looks like none of" not in result.stderr
        return
    label = "recipients" if len(counted) > 1 else "recipient"
    shown = ", ".join(map(str, counted[:5]))
    more = f" and {len(counted) - 5:,} more" if len(counted) > 5 else ""
    assert f"for {len(counted):,} {label} (row{'s' if len(counted) > 1 else ''} {shown}{more})" in (
        result.stderr
    ), result.stderr

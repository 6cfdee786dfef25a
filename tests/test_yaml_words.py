"""YAML mistakes in a marketer's words: the fix, the line, a caret; colour on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.definition import parse_definition
from linepress.errors import DefinitionError

HEAD = "from: APP\nto: U1\nmessage:\n  type: TEXT\n"


def check(tmp_path: Path, text: str, name: str = "sale.yaml") -> list[str]:
    """`linepress check` on `text`: its stderr lines (exit 1 expected)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)], env={"NO_COLOR": None})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return [line.replace(str(tmp_path) + "/", "") for line in result.output.splitlines()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "\ttext: hi\n",
            [
                "sale.yaml:5:1: invalid YAML: a tab cannot indent YAML; use spaces",
                "  5 | →text: hi",
                "    | ^",
            ],
        ),
        (
            HEAD + "  text: Spring sale: 20% off today\n",
            [
                "sale.yaml:5:20: invalid YAML: a `: ` inside unquoted text reads as a new key; "
                'put the text in quotes: text: "Spring sale: 20% off today"',
                "  5 |   text: Spring sale: 20% off today",
                "    |                    ^",
            ],
        ),
        (
            HEAD + '  text: "Hello {{ name }}\n',
            [
                'sale.yaml:5:9: invalid YAML: this " is never closed: everything after it '
                'became one text; end the text with " on the same line',
                '  5 |   text: "Hello {{ name }}',
                "    |         ^",
            ],
        ),
        (
            "from: APP\nto: 0812345678\nmessage: {type: TEXT, text: hi}\n",
            [
                "sale.yaml:2:5: to: expected a string: YAML read 0812345678 as a number and "
                'dropped its leading 0; quote it to keep the leading 0: "0812345678" '
                "(found 812345678)",
                "  2 | to: 0812345678",
                "    |     ^",
            ],
        ),
        (
            "from: 12345\nto: U1\nmessage: {type: TEXT, text: hi}\n",
            [
                "sale.yaml:1:7: from: expected a string: YAML read 12345 as a number; quote it "
                'to keep it text: "12345" (found 12345)',
                "  1 | from: 12345",
                "    |       ^",
            ],
        ),
    ],
    ids=["tab", "colon-in-text", "unclosed-quote", "leading-zero", "number"],
)
def test_yaml_mistakes_say_what_to_do(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert check(tmp_path, text)[:3] == expected


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["text", "altText", "title"]),
    before=st.text(alphabet="abcXYZ 0123!%", min_size=1, max_size=12).filter(
        lambda s: s.strip() == s and s[0].isalpha()
    ),
    after=st.text(alphabet="abcXYZ 0123!%", min_size=1, max_size=12).filter(
        lambda s: s.strip() == s and s[0].isalpha()
    ),
)
def test_any_colon_in_unquoted_text_suggests_the_quoted_line(
    key: str, before: str, after: str
) -> None:
    line = f"  {key}: {before}: {after}"
    with pytest.raises(DefinitionError) as caught:
        parse_definition(HEAD + line + "\n", "d.yaml")
    (problem,) = caught.value.problems
    assert problem.message.endswith(f'put the text in quotes: {key}: "{before}: {after}"')
    assert problem.show_source
    # The suggestion is itself valid YAML with the whole text as the value.
    fixed = parse_definition(f'{HEAD}  {key}: "{before}: {after}"\n', "d.yaml")
    assert fixed.body["message"][key] == f"{before}: {after}"


@settings(max_examples=40, deadline=None)
@given(indent=st.integers(min_value=0, max_value=6), tabs=st.integers(min_value=1, max_value=3))
def test_any_tab_indent_is_named(indent: int, tabs: int) -> None:
    text = HEAD + " " * indent + "\t" * tabs + "text: hi\n"
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "d.yaml")
    (problem,) = caught.value.problems
    assert "a tab cannot indent YAML; use spaces" in problem.message
    assert problem.location is not None and problem.location.line == 5
    assert problem.location.column == indent + 1  # at the first tab


def _on_a_terminal(tmp_path: Path, env: dict[str, str]) -> str:
    path = tmp_path / "sale.yaml"
    path.write_text(HEAD + "\ttext: hi\n")
    leader, follower = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-m", "linepress", "check", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
            env={**os.environ, **env},
            check=False,
            timeout=60,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_colour_on_a_terminal_and_none_with_no_color(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal(tmp_path, {**env, "NO_COLOR": ""})
    assert "\x1b[31m" in coloured  # the problem in red
    assert "\x1b[32m\x1b[1m^" in coloured  # the caret, bold green
    plain = _on_a_terminal(tmp_path, {"NO_COLOR": "1"})
    assert "\x1b[" not in plain
    assert "a tab cannot indent YAML; use spaces" in plain
    # Not a terminal (a CI log, a pipe): plain too.
    path = tmp_path / "sale.yaml"
    piped = subprocess.run(
        [sys.executable, "-m", "linepress", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "\x1b[" not in piped.stderr and "  5 | →text: hi" in piped.stderr


@settings(max_examples=40, deadline=None)
@given(
    value=st.integers(min_value=1, max_value=10**9),
    spelling=st.sampled_from(["{:#x}", "{:#o}", "{:_}", "{}e3", "{}.5", "+{}", "0o{:o}", "{:#b}"]),
    key=st.sampled_from(["from", "to"]),
)
def test_a_number_is_quoted_as_written(value: int, spelling: str, key: str) -> None:
    """Hex, octal, binary, `1_000`, `1e3`: the hint quotes the token the author typed."""
    import tempfile

    written = spelling.format(value)
    other = "to" if key == "from" else "from"
    text = f"{key}: {written}\n{other}: U1\nmessage: {{type: TEXT, text: hi}}\n"
    with tempfile.TemporaryDirectory() as folder:
        first = check(Path(folder), text)[0]
    assert f"YAML read {written} as a number" in first, first
    assert f'"{written}"' in first, first


@pytest.mark.parametrize(
    ("text", "where", "quote"),
    [
        ('from: APP\nto: "U1\nmessage:\n  type: TEXT\n  text: "hello"\n', "2:5", '"'),
        ("from: APP\nto: 'U1\nmessage:\n  type: TEXT\n  text: 'hello'\n", "2:5", "'"),
        (
            'from: APP\nto: U1\nmessage:\n  type: TEXT\n  text: "Hi {{ name }}\n  altText: "x"\n',
            "5:9",
            '"',
        ),
    ],
    ids=["double", "single", "later-key"],
)
def test_an_unclosed_quote_is_found_where_it_opens(
    tmp_path: Path, text: str, where: str, quote: str
) -> None:
    """A quote left open until a later quote: the error points at the opening quote."""
    first = check(tmp_path, text)[0]
    assert first.startswith(f"sale.yaml:{where}: invalid YAML: this {quote} is never closed"), first


@pytest.mark.parametrize(
    ("line", "fixed"),
    [
        ("  text: {{ name }}", '  text: "{{ name }}"'),
        ("  text: {{ name }} see you # greeting", '  text: "{{ name }} see you"'),
        ("  text: {{ name }}, hello", '  text: "{{ name }}, hello"'),
    ],
)
def test_unquoted_jinja_says_quote_it_and_the_fix_works(
    tmp_path: Path, line: str, fixed: str
) -> None:
    """`text: {{ name }}` reads as a mapping: the message gives the quoted line to paste."""
    head = "from: APP\nto: U1\nmessage:\n  type: TEXT\n"
    out = check(tmp_path, head + line + "\n")
    assert out[0].startswith(
        "sale.yaml:5:9: invalid YAML: text that starts with {{ must be in quotes"
    )
    assert out[0].endswith(fixed.strip()), out[0]
    assert out[1] == f"  5 | {line}"
    (tmp_path / "sale.yaml").write_text(head + fixed + "\n")
    assert CliRunner().invoke(main, ["check", str(tmp_path / "sale.yaml")]).exit_code == 0


def test_unquoted_jinja_in_a_flow_mapping(tmp_path: Path) -> None:
    out = check(tmp_path, "from: APP\nto: U1\nmessage: {type: TEXT, text: {{ name }} hi}\n")
    assert out[0].endswith('text: "{{ name }} hi"'), out[0]


@pytest.mark.parametrize(
    ("value", "cells"),
    [
        ("日本語", 6),  # East Asian Wide: two cells each
        ("ＳＡＬＥ", 8),  # Fullwidth Latin
        ("ｾｰﾙ", 3),  # halfwidth katakana: one cell
        ("สวัสดี", 4),  # Thai: two of the six characters are combining marks
        ("cafe\u0301", 4),  # e + combining acute
    ],
)
def test_caret_counts_terminal_cells(tmp_path: Path, value: str, cells: int) -> None:
    """The caret sits under the `:` however wide the characters before it are."""
    out = check(tmp_path, HEAD + f"  text: {value}: 20% off\n")
    source, caret = out[1], out[2]
    assert source == f"  5 |   text: {value}: 20% off"
    assert caret.index("^") == len("  5 |   text: ") + cells


@pytest.mark.parametrize(
    ("line", "words", "fixed"),
    [
        ("  text: [SALE] today", "starts with [ must be in quotes", '  text: "[SALE] today"'),
        ("  text: @channel sale", "starts with @ must be in quotes", '  text: "@channel sale"'),
        ("  text: - sale", "starts with - must be in quotes", '  text: "- sale"'),
        ("  text: `x` sale", "starts with ` must be in quotes", '  text: "`x` sale"'),
        (
            '  text: "He said "hi" today"',
            'a " inside text in double quotes ends it early',
            "  text: 'He said \"hi\" today'",
        ),
        (" text: hi", "this key is indented 1 space, the key above 2", "  text: hi"),
    ],
)
def test_common_slips_in_plain_words_and_the_fix_works(
    tmp_path: Path, line: str, words: str, fixed: str
) -> None:
    out = check(tmp_path, HEAD + line + "\n")
    assert words in out[0], out[0]
    assert out[1] == f"  5 | {line}"
    if "indented" not in words:
        assert out[0].endswith(fixed.strip()), out[0]
    (tmp_path / "sale.yaml").write_text(HEAD + fixed + "\n")
    assert CliRunner().invoke(main, ["check", str(tmp_path / "sale.yaml")]).exit_code == 0

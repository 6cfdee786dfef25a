"""`defaults.from`/`to` and starters' placeholders (issue 10 review, defects 11 and 12).

`check` applies the key checks to a plain `defaults.from`/`defaults.to` as `compile`
does, and a starter's placeholder is found in any case, `_`/`-` and width.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.author.placeholders import find_placeholder
from linepress.cli.main import main

KEY = "8F0792F86035A9F4290821F1EE6BC06A"
USER = "U0000000000000000000000000000000a"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def definition(tmp_path: Path, sender: str, to: str = USER) -> Path:
    path = tmp_path / "d.yaml"
    path.write_text(
        f'defaults: {{from: "{sender}", to: "{to}"}}\nmessage: {{type: TEXT, text: hi}}\n'
    )
    return path


@pytest.mark.parametrize(
    ("sender", "to", "field", "said"),
    [
        (KEY + " ", USER, "defaults.from", "trailing space"),
        (KEY, " " + USER, "defaults.to", "leading space"),
        (KEY, "６６８１２３４５６７", "defaults.to", "full-width"),
    ],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_check_and_compile_agree_on_a_damaged_default_key(
    tmp_path: Path, sender: str, to: str, field: str, said: str, command: str
) -> None:
    path = definition(tmp_path, sender, to)
    result = run(command, str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:1:" in result.output and f"{field}:" in result.output
    assert said in result.output


@pytest.mark.parametrize(
    "sender",
    [
        "YOUR-APPLICATION-KEY",
        "your-application-key",
        "Your_App_Key",
        "ＹＯＵＲ－ＡＰＰＬＩＣＡＴＩＯＮ－ＫＥＹ",
    ],
)
def test_a_placeholder_in_any_spelling_warns_in_check_and_stops_send(
    tmp_path: Path, sender: str
) -> None:
    path = definition(tmp_path, sender)
    checked = run("check", str(path))
    assert checked.exit_code == 0 and "starter's placeholder" in checked.output
    sent = run("send", str(path), "--dry-run")
    assert sent.exit_code == 1, sent.output
    assert f"`{sender}` is a starter's placeholder" in sent.output
    assert "nothing was sent" in sent.output


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(["APPLICATION-KEY", "APP_KEY", "SHOP-ID"]),
    casing=st.lists(st.booleans(), min_size=16, max_size=16),
    wide=st.booleans(),
)
def test_placeholders_are_found_whatever_the_case_and_width(
    word: str, casing: list[bool], wide: bool
) -> None:
    text = "".join(
        c.lower() if casing[i % len(casing)] else c for i, c in enumerate("YOUR-" + word)
    )
    if wide:  # what a Japanese input method types
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    assert find_placeholder(f"Key: {text} here") is not None


@pytest.mark.parametrize("text", ["Hi Yuki", "your order is ready", "https://x.jp/your", KEY])
def test_ordinary_text_is_no_placeholder(text: str) -> None:
    assert find_placeholder(text) is None

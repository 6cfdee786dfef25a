"""Numbers a template computes are written as a person writes them (issue 10 review,
defects 13b, 13c and 14b): `5` not `5.0`, `0` not `-0.0`, no `1e+20`, and NaN or
infinity is a located error, never `nan` in a customer's message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.render.jsontext import number_text

HEADER = 'defaults: {from: "8F0792F86035A9F4290821F1EE6BC06A"}\nto: "U0000000000000000000000000000000a"\n'


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def compile_text(tmp_path: Path, text: str, record: dict[str, object] | None = None) -> Result:
    path = tmp_path / "n.yaml"
    path.write_text(HEADER + f"message: {{type: TEXT, text: {json.dumps(text)}}}\n")
    if record is None:
        return run("compile", str(path))
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps(record) + "\n")
    return run("compile", str(path), "--data", str(data))


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("{{ 10 / 2 }}", "5"),
        ("{{ -0.0 }}", "0"),
        ("{{ 1e20 }}", "100000000000000000000"),
        ("{{ 1e-5 }}", "0.00001"),
        ("{{ 2.5 }}", "2.5"),
        ("{{ price }} yen", "5 yen"),
        ("{{ price ~ '' }}|{{ [price] | join }}|{{ price | string }}", "5|5|5"),
    ],
)
def test_computed_numbers_read_as_written(tmp_path: Path, template: str, shown: str) -> None:
    result = compile_text(tmp_path, template, {"price": 5.0})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["message"]["text"] == shown


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("{{ 'nan' | float }}", "no number a message can show"),
        ("{{ '1e999' | float | int }}", "no number a message can show"),
        ("{{ 10.0 ** 400 }}", "the number is too large"),
        ("{{ 1e308 * 10 }}", "cannot be written as JSON"),
    ],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_nan_and_infinity_are_located_errors(
    tmp_path: Path, template: str, said: str, command: str
) -> None:
    path = tmp_path / "n.yaml"
    path.write_text(HEADER + f"message: {{type: TEXT, text: {json.dumps(template)}}}\n")
    result = run(command, str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:3:" in result.output and said in result.output
    assert "is not defined" not in result.output and "Numerical result" not in result.output


@settings(max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_text_reads_back_as_the_same_number(number: float) -> None:
    text = number_text(number)
    assert "e" not in text and "inf" not in text and text != "-0"
    assert float(text) == number or (number == 0 and text == "0")
    assert not text.endswith(".0")


def test_nan_has_no_text() -> None:
    with pytest.raises(ValueError):
        number_text(math.nan)

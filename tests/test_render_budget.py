"""Every template cost an author or a recipient's value can drive stays bounded.

Review of issue 10: filters whose cost an argument drives (`batch(10**9, 0)`,
`round(-10**9)`, `tojson(10**9)`), expressions nested thousands deep, `$for` inside
`$for`, and `--rows` ranges of hundreds of millions each ended in a hang, gigabytes
of memory or an internal error. Each must now stop with a located error, in `check`
(without data) as in `compile`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main

HEADER = 'defaults: {from: "8F0792F86035A9F4290821F1EE6BC06A"}\nto: "U0000000000000000000000000000000a"\n'


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def text_definition(tmp_path: Path, text: str, name: str = "d.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + f"message: {{type: TEXT, text: {json.dumps(text)}}}\n")
    return path


#: Filters whose cost an argument drives, with an argument far past any message.
COSTLY = [
    ("{{ [1] | batch(N, 0) | first | length }}", "`batch`"),
    ("{{ 12 | round(-N) }}", "`round`"),
    ("{{ 12.5 | round(N, 'ceil') }}", "`round`"),
    ("{{ [1, [2]] | tojson(N) }}", "`tojson`"),
    ("{{ 'a' | center(N) }}", "text of"),
    ("{{ 'a' | indent(N, true) }}", "text of"),
    ("{{ [1] | slice(N) | list | length }}", "`slice`"),
    ("{{ 'ab' * N }}", "text of"),
    ("{{ ([1] * N) | length }}", "text of"),
]


@pytest.mark.parametrize(("template", "named"), COSTLY)
def test_a_costly_argument_in_the_definition_is_refused_by_check(
    tmp_path: Path, template: str, named: str
) -> None:
    path = text_definition(tmp_path, template.replace("N", "1000000000"))
    result = run("check", str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:3:" in result.output and "message.text" in result.output
    assert named in result.output


@pytest.mark.parametrize(("template", "named"), COSTLY[:4])
def test_a_costly_argument_from_a_recipient_fails_that_recipient(
    tmp_path: Path, template: str, named: str
) -> None:
    path = text_definition(tmp_path, template.replace("N", "n"))
    data = tmp_path / "r.jsonl"
    data.write_text('{"n": 3}\n{"n": 1000000000}\n')
    result = run("compile", str(path), "--data", str(data))
    assert result.exit_code == 1, result.output
    assert "row 2" in result.output and named in result.output
    assert "row 1 " not in result.output


@settings(max_examples=25, deadline=None)
@given(
    filter_call=st.sampled_from(["batch(n, 0)", "round(n)", "tojson(n)", "center(n)"]),
    n=st.integers(min_value=-(10**12), max_value=10**12),
)
def test_any_argument_is_bounded_or_refused(filter_call: str, n: int) -> None:
    """Whatever the number, the run ends: a body (exit 0) or a located error (exit 1)."""
    with tempfile.TemporaryDirectory() as folder:
        path, data = Path(folder, "d.yaml"), Path(folder, "r.jsonl")
        path.write_text(
            HEADER + 'message: {type: TEXT, text: "{{ [1, 2] | ' + filter_call + ' }}"}\n'
        )
        data.write_text(json.dumps({"n": n}) + "\n")
        result = run("compile", str(path), "--data", str(data))
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output
    if result.exit_code == 1:
        assert "d.yaml:3:" in result.output


@pytest.mark.parametrize(
    "expression",
    ["+".join(["1"] * 20_000), "x" + ".a" * 5_000, "x" + "['a']" * 3_000, "-" * 3_000 + "1"],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_deep_expressions_are_a_located_error(
    tmp_path: Path, expression: str, command: str
) -> None:
    path = text_definition(tmp_path, "Hi {{ " + expression + " }}")
    result = run(command, str(path))
    assert result.exit_code == 1, result.output[:500]
    assert f"{path}:3:" in result.output and "nested too deeply" in result.output


def test_an_expression_a_person_writes_is_not_too_deep(tmp_path: Path) -> None:
    terms = "+".join(["1"] * 60)
    path = text_definition(tmp_path, "{{ " + terms + " }} {{ x.a.b.c.d | default(7) }}")
    result = run("compile", str(path))
    assert "nested too deeply" not in result.output
    assert "internal error" not in result.output


CAROUSEL = """message:
  type: TEMPLATE
  altText: x
  template:
    type: CAROUSEL
    columns:
      - $for: i in OUTER
        $if: "i < 1000"
        text: "{{ i }}"
        actions:
          - $for: j in INNER
            $if: "false"
            type: MESSAGE
            label: a
            text: b
      - text: t
        actions: [{type: MESSAGE, label: a, text: b}]
"""


@pytest.mark.parametrize("command", ["check", "compile"])
def test_a_constant_loop_past_the_budget_is_found_without_data(
    tmp_path: Path, command: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEADER + CAROUSEL.replace("OUTER", "range(99999)").replace("INNER", "range(9)"))
    result = run(command, str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:9:" in result.output and "`$for` makes more than 10,000 items" in result.output


def test_loops_inside_loops_share_one_budget_per_recipient(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEADER + CAROUSEL.replace("OUTER", "range(n)").replace("INNER", "range(n)"))
    data = tmp_path / "r.jsonl"
    data.write_text('{"n": 3}\n{"n": 500}\n')
    result = run("compile", str(path), "--data", str(data))
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if "makes more than" in line]
    assert len(problems) == 1 and "row 2" in problems[0]  # said once, for the row it hit
    assert f"{path}:13:" in problems[0]


@pytest.mark.parametrize("command", ["compile", "preview"])
@pytest.mark.parametrize("rows", ["1-300000000", "2,1-99999999999"])
def test_a_huge_rows_range_is_read_lazily(tmp_path: Path, command: str, rows: str) -> None:
    path = text_definition(tmp_path, "Hi {{ name }}")
    data = tmp_path / "r.csv"
    data.write_text("name\na\nb\nc\n")
    extra = ["-o", str(tmp_path / "p.html")] if command == "preview" else []
    result = run(command, str(path), "--data", str(data), "--rows", rows, *extra)
    # (preview writes its page, the problem shown in it, and exits 1)
    assert result.exit_code == (2 if command == "compile" else 1), result.output
    high = rows.rsplit("-", 1)[1]
    assert f"rows 4-{high} do not exist: the data has 3 rows" in result.output


def test_rows_within_a_huge_range_are_compiled(tmp_path: Path) -> None:
    path = text_definition(tmp_path, "Hi {{ name }}")
    data = tmp_path / "r.csv"
    data.write_text("name\na\nb\nc\n")
    result = run("compile", str(path), "--data", str(data), "--rows", "2-3,3,2")
    assert result.exit_code == 0, result.output
    assert "Hi b" in result.output and "Hi c" in result.output and "Hi a" not in result.output


@pytest.mark.parametrize(
    ("value", "found"), [(".nan", ".nan"), (".NaN", ".nan"), (".inf", ".inf"), ("-.Inf", "-.inf")]
)
def test_yaml_nan_and_infinity_are_refused_where_written(
    tmp_path: Path, value: str, found: str
) -> None:
    path = tmp_path / "l.yaml"
    path.write_text(
        HEADER
        + f"message: {{type: LOCATION, title: t, address: a, latitude: 1, longitude: {value}}}\n"
    )
    for command in ("check", "compile"):
        result = run(command, str(path))
        assert result.exit_code == 1, result.output
        assert f"{path}:3:" in result.output and "message.longitude" in result.output
        assert "must be finite" in result.output and f"(found {found})" in result.output


def test_a_nul_in_definition_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.yaml"
    path.write_text(HEADER + 'message: {type: TEXT, text: "a\\0b"}\n')
    result = run("check", str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:3:" in result.output and "NUL character" in result.output

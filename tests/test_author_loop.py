"""The author's loop at the command line (issue 13): what `check` and friends say."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linepress.cli.main import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.csv").write_text("to,name,coupon,pick\nU1,Ann,C1,tea\nU2,Bob,,cake\n")
    (tmp_path / "a.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: 'Hi {{ name }}, code {{ coupon }}'}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: 'Hi {{ name }}, try {{ pick }}'}\n"
    )
    return tmp_path


def test_check_says_ok_in_one_line(project: Path) -> None:
    result = run("check", "a.yaml", "b.yaml", "--data", "list.csv")
    assert result.exit_code == 0, result.output
    assert result.stderr == "ok: 2 definitions, 2 recipients\n"
    result = run("check", "a.yaml")
    assert (result.exit_code, result.stderr) == (0, "ok: 1 definition\n")


def test_a_column_one_definition_uses_is_not_unused(project: Path) -> None:
    # a.yaml reads coupon, b.yaml reads pick: together every column is used.
    result = run("check", "a.yaml", "b.yaml", "--data", "list.csv")
    assert "not used" not in result.stderr
    # A column neither reads is named once, with both definitions.
    (project / "list.csv").write_text("to,name,coupon,pick,tier\nU1,Ann,C1,tea,Gold\n")
    result = run("check", "a.yaml", "b.yaml", "--data", "list.csv")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "list.csv:1: warning: column 5 `tier` is not used by any template of a.yaml or b.yaml; "
        "remove it from the data, or use it as {{ tier }}",
        "ok: 2 definitions, 1 recipient (1 warning)",
    ]
    # Alone, a.yaml does not read pick: that is worth a warning.
    result = run("check", "a.yaml", "--data", "list.csv")
    assert "column 4 `pick` is not used" in result.stderr

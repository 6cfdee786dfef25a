"""Case folders driven through the real CLI (check-jsonschema style).

`cases/negative/<name>/` holds a `definition.yaml`, maybe a `data.*` file and
maybe an `args` file (the command line; default: `check definition.yaml
[--data data.*]`), and `expected.txt`: exactly what the user reads on stderr.
`cases/positive/<name>/` holds `expected.jsonl`: exactly what `compile` writes.

Set LINEPRESS_UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate
change of wording; review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from linepress.cli.main import main

CASES = Path(__file__).parent / "cases"
UPDATE = os.environ.get("LINEPRESS_UPDATE_GOLDEN") == "1"


def case_dirs(kind: str) -> list[Path]:
    return sorted(p for p in (CASES / kind).iterdir() if p.is_dir())


def arguments(case: Path, command: str) -> list[str]:
    if (case / "args").exists():
        return (case / "args").read_text().split()
    data = sorted(case.glob("data.*"))
    return [command, "definition.yaml"] + (["--data", data[0].name] if data else [])


def compare(case: Path, name: str, actual: str) -> None:
    expected_file = case / name
    if UPDATE:
        expected_file.write_text(actual)
    assert actual == expected_file.read_text()


@pytest.mark.parametrize("case", case_dirs("negative"), ids=lambda p: p.name)
def test_negative_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)
    result = CliRunner().invoke(main, arguments(case, "check"))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    compare(case, "expected.txt", result.stderr)


@pytest.mark.parametrize("case", case_dirs("positive"), ids=lambda p: p.name)
def test_positive_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)
    result = CliRunner().invoke(main, arguments(case, "compile"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    compare(case, "expected.jsonl", result.stdout)

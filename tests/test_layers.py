"""The architecture holds: import-linter's contracts over `compiler/linepress`.

The contracts live in pyproject.toml (`[tool.importlinter]`): cli over operations over the
wings (author, send, sandbox) over the pipeline, render, validate and recipients, over the
core; and only the cli imports click.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source_root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_layers_hold() -> None:
    done = lint_imports(ROOT / "compiler", ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_a_lower_layer_reaching_up_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "compiler" / "linepress", tmp_path / "src" / "linepress")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    definition = tmp_path / "src" / "linepress" / "definition.py"
    definition.write_text(definition.read_text() + "\nimport linepress.operations.send\n")
    done = lint_imports(tmp_path / "src", tmp_path / "pyproject.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    assert "linepress.definition -> linepress.operations.send" in done.stdout


def test_click_outside_the_cli_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "compiler" / "linepress", tmp_path / "src" / "linepress")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    dispatch = tmp_path / "src" / "linepress" / "send" / "dispatch.py"
    dispatch.write_text(dispatch.read_text() + "\nimport click\n")
    done = lint_imports(tmp_path / "src", tmp_path / "pyproject.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "linepress.send.dispatch -> click" in done.stdout

"""The architecture holds: import-linter's contracts over `compiler/linepress`.

The contracts live in pyproject.toml (`[tool.importlinter]`): cli over operations over the
wings (author, send, sandbox) over the pipeline, render, validate and recipients, over the
core; each wing kept to what its `__init__` says it may import; only the cli imports click.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert " 0 broken" in done.stdout


# (module written into, the import added, what import-linter must report)
VIOLATIONS = [
    # a lower layer reaching up
    (
        "definition.py",
        "linepress.operations.send",
        "linepress.definition -> linepress.operations.send",
    ),
    (
        "validate/schema.py",
        "linepress.render.builders",
        "linepress.validate.schema -> linepress.render.builders",
    ),
    # siblings that must stay independent
    ("send/__init__.py", "linepress.author", "linepress.send -> linepress.author"),
    # a wing reaching past what its __init__ allows
    ("send/__init__.py", "linepress.pipeline", "linepress.send -> linepress.pipeline"),
    ("sandbox/__init__.py", "linepress.render", "linepress.sandbox -> linepress.render"),
    ("render/__init__.py", "linepress.recipients", "linepress.render -> linepress.recipients"),
    (
        "recipients/__init__.py",
        "linepress.definition",
        "linepress.recipients -> linepress.definition",
    ),
    # a circle between two modules of one package (the one the layout issue found)
    (
        "validate/authoring.py",
        "linepress.validate.schemagen",
        "No cycles are allowed in linepress.validate",
    ),
    ("send/journal.py", "linepress.send.sqlite_journal", "No cycles are allowed in linepress.send"),
    # click outside the cli
    ("send/__init__.py", "click", "linepress.send -> click"),
    ("limits.py", "click", "linepress.limits -> click"),
]


@pytest.mark.parametrize(("module", "imported", "broken"), VIOLATIONS)
def test_an_import_against_the_architecture_breaks_the_build(
    tmp_path: Path, module: str, imported: str, broken: str
) -> None:
    shutil.copytree(ROOT / "compiler" / "linepress", tmp_path / "src" / "linepress")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "linepress" / module
    if not target.exists():  # a module split since: any module of that sub-package will do
        target = next(target.parent.glob("*.py"))
        broken = (
            broken.split(" -> ")[0].rsplit(".", 1)[0]
            + "."
            + target.stem
            + " -> "
            + broken.split(" -> ")[1]
        )
    target.write_text(target.read_text() + f"\nimport {imported}\n")
    done = lint_imports(tmp_path / "src", tmp_path / "pyproject.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    assert broken in done.stdout

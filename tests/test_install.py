"""A non-editable install (a real wheel) carries its schemas and templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return target


def run_installed(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run from an empty folder with the install first on the path, so the
    # checkout's own `compiler/`, `schemas/` and `templates/` cannot be used.
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=target.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_wheel_ships_schemas_and_templates(installed: Path) -> None:
    assert (installed / "compiler" / "schemas" / "request.json").is_file()
    assert (installed / "compiler" / "schemas" / "template" / "carousel.json").is_file()
    assert (installed / "compiler" / "templates" / "starters" / "carousel.yaml").is_file()
    assert (installed / "compiler" / "templates" / "macros" / "format.j2").is_file()


def test_the_installed_package_finds_its_schemas(installed: Path) -> None:
    probe = run_installed(
        installed,
        "-c",
        "import compiler, compiler.resources as r; print(compiler.__file__); print(r.resource_dir('schemas'))",
    )
    assert probe.returncode == 0, probe.stderr
    module_file, schemas = probe.stdout.splitlines()
    assert module_file.startswith(str(installed))
    assert schemas.startswith(str(installed))

    schema = run_installed(installed, "-m", "compiler", "schema", "carousel")
    assert schema.returncode == 0, schema.stderr
    assert "columns" in json.loads(schema.stdout)["properties"]


def test_the_installed_package_compiles_with_shipped_macros(
    installed: Path, tmp_path: Path
) -> None:
    definition = tmp_path / "def.yaml"
    definition.write_text(
        "imports: {fmt: macros/format.j2}\nfrom: A\nto: U\n"
        "message: {type: TEXT, text: '{{ fmt.yen(1234567) }}'}\n"
    )
    result = run_installed(installed, "-m", "compiler", "compile", str(definition))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["message"]["text"] == "¥1,234,567"

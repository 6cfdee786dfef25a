"""A non-editable install (a real wheel): `linepress` with its schemas and templates, no `compiler`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
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
    # A fresh environment as far as linepress goes: `-S` skips site-packages' .pth files,
    # so the editable install of this checkout is not on the path; the install and the
    # third-party packages are, and the folder we run in is not the checkout.
    libraries = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), libraries])}
    return subprocess.run(
        [sys.executable, "-S", *args],
        cwd=target.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_wheel_ships_schemas_and_templates(installed: Path) -> None:
    package = installed / "linepress"
    assert (package / "schemas" / "request.json").is_file()
    assert (package / "schemas" / "template" / "carousel.json").is_file()
    assert (package / "templates" / "starters" / "carousel.yaml").is_file()
    assert (package / "templates" / "macros" / "format.j2").is_file()
    assert (package / "validate" / "data" / "doc-tables.json").is_file()
    # The preview's markup and style are package data too.
    page = package / "author" / "page"
    assert (page / "page.html.j2").is_file()
    assert (page / "preview.css").is_file()
    assert (page / "messages" / "template.html.j2").is_file()


def test_the_installed_package_draws_a_preview(installed: Path, tmp_path: Path) -> None:
    definition = tmp_path / "def.yaml"
    definition.write_text("from: A\nto: U\nmessage: {type: TEXT, text: 'Hello <b>'}\n")
    out = tmp_path / "p.html"
    result = run_installed(
        installed, "-m", "linepress", "preview", str(definition), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<div class='lp-bubble'>Hello &lt;b&gt;</div>" in page
    assert ".lp-bubble {" in page  # the style sheet, inlined


def test_the_install_is_named_linepress_and_nothing_else(installed: Path) -> None:
    top = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert top == {"linepress", "bin"}, top
    gone = run_installed(installed, "-c", "import compiler")
    assert gone.returncode != 0
    assert "No module named 'compiler'" in gone.stderr
    api = run_installed(installed, "-c", "import linepress; print(linepress.Compiler.__name__)")
    assert api.returncode == 0, api.stderr
    assert api.stdout.strip() == "Compiler"


def test_the_command_and_python_m_work(installed: Path) -> None:
    module = run_installed(installed, "-m", "linepress", "--help")
    assert module.returncode == 0, module.stderr
    assert "compile" in module.stdout
    script = run_installed(installed, str(installed / "bin" / "linepress"), "--version")
    assert script.returncode == 0, script.stderr
    assert "linepress" in script.stdout


def test_the_installed_package_finds_its_schemas(installed: Path) -> None:
    probe = run_installed(
        installed,
        "-c",
        "import linepress, linepress.resources as r; print(linepress.__file__); print(r.resource_dir('schemas'))",
    )
    assert probe.returncode == 0, probe.stderr
    module_file, schemas = probe.stdout.splitlines()
    assert module_file.startswith(str(installed))
    assert schemas.startswith(str(installed))

    schema = run_installed(installed, "-m", "linepress", "schema", "carousel")
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
    result = run_installed(installed, "-m", "linepress", "compile", str(definition))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["message"]["text"] == "¥1,234,567"

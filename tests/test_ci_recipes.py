"""The documented CI recipe and pre-commit hook do what they say."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from glob import glob
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from linepress.cli.main import main

ROOT = Path(__file__).parent.parent


def linepress_lines(workflow: dict) -> list[str]:  # type: ignore[type-arg]
    lines = []
    for step in workflow["jobs"]["compile"]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            if line.strip().startswith("linepress "):
                lines.append(line.strip())
    return lines


def test_the_github_actions_recipe_runs_on_the_example_campaign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = YAML(typ="safe").load(ROOT / "examples" / "ci" / "github-actions.yml")
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    shutil.copy(ROOT / "examples" / "campaign" / "definition.yaml", campaigns / "spring-sale.yaml")
    shutil.copy(ROOT / "examples" / "campaign" / "recipients.csv", campaigns / "spring-sale.csv")
    (tmp_path / "build").mkdir()
    monkeypatch.chdir(tmp_path)

    commands = linepress_lines(workflow)
    assert [c.split()[1] for c in commands] == ["check", "check", "compile"]
    for command in commands:
        words = []
        for word in shlex.split(command)[1:]:
            words.extend(sorted(glob(word)) if "*" in word else [word])  # what the shell would do
        result = CliRunner().invoke(main, words)
        assert result.exit_code == 0, (command, result.stderr)
    assert len((tmp_path / "build" / "spring-sale.jsonl").read_text().splitlines()) == 25
    upload = workflow["jobs"]["compile"]["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact")
    assert upload["with"]["path"] == "build/*.jsonl"


def test_the_recipe_installs_linepress_from_a_pinned_checkout() -> None:
    """linepress is not on the package index: `pip install linepress` would fail."""
    workflow = YAML(typ="safe").load(ROOT / "examples" / "ci" / "github-actions.yml")
    steps = workflow["jobs"]["compile"]["steps"]
    checkout = next(s for s in steps if s.get("with", {}).get("path") == ".linepress")
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["ref"] == "${{ env.LINEPRESS_REF }}"
    ref = workflow["env"]["LINEPRESS_REF"]
    assert ref not in ("main", "master", "HEAD"), "pin a tag or a commit"
    installs = [s["run"] for s in steps if "pip install" in str(s.get("run", ""))]
    assert installs == ["pip install ./.linepress"]


def test_the_recipe_install_command_installs_this_checkout(tmp_path: Path) -> None:
    """The recipe's `pip install ./.linepress`, run on this checkout, gives a working command."""
    checkout = tmp_path / ".linepress"
    shutil.copytree(
        ROOT, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".hypothesis")
    )
    target = tmp_path / "site"
    done = subprocess.run(
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
            "./.linepress",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        [sys.executable, "-S", "-m", "linepress", "--version"],
        cwd=tmp_path,
        # -S: not this checkout's editable install, only what the recipe's pip put in place
        env={**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{sysconfig.get_paths()['purelib']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert "linepress" in probe.stdout
    assert (target / "linepress" / "__init__.py").is_file()
    assert not (target / "compiler").exists()


def test_the_recipe_annotates_problems_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "bad.yaml").write_text(
        "from: A\nto: U\nmessage: {type: TEXT, txet: hi}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "campaigns/bad.yaml", "--error-format", "github"])
    assert result.exit_code == 1
    assert "::error file=campaigns/bad.yaml,line=3," in result.stderr


def test_the_pre_commit_hook_runs_linepress_check_on_definition_files() -> None:
    (hook,) = YAML(typ="safe").load(ROOT / ".pre-commit-hooks.yaml")
    assert hook["entry"] == "linepress check"
    assert hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert pattern.search("campaigns/spring.yaml")
    assert pattern.search("marketing/definitions/welcome.yml")
    assert not pattern.search("schemas/request.json")
    assert not pattern.search(".github/workflows/ci.yaml")

"""The documented CI recipe and pre-commit hook do what they say."""

from __future__ import annotations

import re
import shlex
import shutil
from glob import glob
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from compiler.cli import main

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

"""Inputs that used to end in a traceback or hang: each kind is now a located error.

Every test goes through the real command line (click's runner) and asserts what a
user sees: the exit code, `FILE:LINE:COL` and the message, and no traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linepress.cli.main import INTERNAL_ERROR, main

BODY = "to: U1\nfrom: F1\nmessage: {type: TEXT, text: hi}\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_located(result: Result, where: str, *words: str, code: int = 1) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output
    assert where in result.output, result.output
    for word in words:
        assert word in result.output, result.output


# -- YAML the loader does not expect ----------------------------------------


@pytest.mark.parametrize(
    ("yaml", "where", "words"),
    [
        ("to: !!python/object/apply:os.system [echo]\n", ":1:5:", ["`!!python/object/apply"]),
        ("to: !!python/name:os.system ''\n", ":1:5:", ["not supported"]),
        ("to: !!binary aGVsbG8=\n", ":1:5:", ["`!!binary` is not supported"]),
        ("to: !custom U1\n", ":1:5:", ["`!custom`"]),
        ("vars: {x: !!set {a}}\n", ":1:11:", ["`!!set`"]),
        ("m: &m {<<: *m}\n", ":1:12:", ["`*m`", "itself"]),
        ("vars: &a {x: [*a]}\n", ":1:15:", ["`*a`"]),
        ("? [a, b]\n: c\n", ":1:3:", ["a key must be a name, not a list"]),
        ("{a: 1}: c\n", ":1:1:", ["not a mapping"]),
        ("%YAML 1.3\n---\nto: U1\n", ":", ["invalid YAML"]),
    ],
)
def test_yaml_the_loader_does_not_expect_is_a_located_error(
    tmp_path: Path, yaml: str, where: str, words: list[str]
) -> None:
    definition = write(
        tmp_path, "d.yaml", yaml + BODY.replace("to: U1\n", "") if "to:" in yaml else yaml + BODY
    )
    for command in ("compile", "check"):
        assert_located(run(command, str(definition)), f"d.yaml{where}", *words)


@pytest.mark.parametrize("depth", [65, 5_000])
@pytest.mark.parametrize("shape", ["[{}]", "{{a: {}}}", "block"])
def test_deep_yaml_is_nested_too_deeply(tmp_path: Path, depth: int, shape: str) -> None:
    if shape == "block":
        depth = min(depth, 300)  # indentation grows with depth: keep the file small
        nested = "".join(" " * (i + 1) + "a:\n" for i in range(depth)) + " " * (depth + 1) + "b\n"
        text = BODY + "vars:\n" + nested
    else:
        opening, closing = shape[0], shape[-1]
        inner = "a: " if opening == "{" else ""
        text = BODY + "vars: {x: " + (opening + inner) * depth + "1" + closing * depth + "}\n"
    definition = write(tmp_path, "deep.yaml", text)
    assert_located(run("check", str(definition)), "deep.yaml:", "nested too deeply")


def test_too_many_values_stop_while_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("linepress.definition.MAX_NODES", 1_000)  # the real one takes seconds
    lines = "".join(f"  k{i}: {i}\n" for i in range(5_000))
    definition = write(tmp_path, "many.yaml", BODY + "vars:\n" + lines)
    assert_located(run("check", str(definition)), "many.yaml:", "more than 1,000 values")


def test_a_huge_definition_is_refused_before_parsing(tmp_path: Path) -> None:
    definition = tmp_path / "huge.yaml"
    with definition.open("w") as file:
        file.write(BODY + "description: ")
        file.write("a" * (200 * 1024 * 1024 // 100))  # 2 MB: past the limit
    assert_located(run("check", str(definition)), "huge.yaml", "larger than 1 MiB")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert_located(run("compile", str(fifo)), "fifo.yaml", "a FIFO, not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused() -> None:
    assert_located(run("check", "/dev/zero"), "/dev/zero", "a device, not a regular file")


# -- the last resort ----------------------------------------------------------


@pytest.fixture
def broken_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside linepress: the check operation raises something no one expected."""

    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("linepress.cli.build.check_definitions", explode)


def test_an_internal_error_is_one_line_and_its_own_exit_code(
    tmp_path: Path, broken_check: None
) -> None:
    definition = write(tmp_path, "d.yaml", BODY)
    result = run("check", str(definition))
    assert result.exit_code == INTERNAL_ERROR != 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("linepress: internal error in linepress (ZeroDivisionError: a bug)")
    assert "--debug" in lines[0] and "report" in lines[0]


def test_debug_shows_the_traceback(tmp_path: Path, broken_check: None) -> None:
    definition = write(tmp_path, "d.yaml", BODY)
    result = run("--debug", "check", str(definition))
    assert result.exit_code == INTERNAL_ERROR
    assert "Traceback (most recent call last)" in result.output
    assert "ZeroDivisionError: a bug" in result.output


def test_the_installed_command_has_the_last_resort_too(tmp_path: Path) -> None:
    import subprocess

    definition = write(tmp_path, "d.yaml", BODY)
    code = (
        "import linepress.cli.build as b\n"
        "def boom(*a, **k): raise KeyError('x')\n"
        "b.check_definitions = boom\n"
        "from linepress.cli.main import main\n"
        "main(prog_name='linepress')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "check", str(definition)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == INTERNAL_ERROR
    assert "Traceback" not in done.stderr
    assert "internal error in linepress (KeyError: 'x')" in done.stderr

"""Remembered verdicts: a second run skips the schema machinery and changes nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from linepress import Compiler, DefinitionError
from linepress.render.builders import DYNAMIC
from linepress.validate import verdicts

DEFINITION = """\
from: APP
to: "{{ to }}"
message:
  type: TEMPLATE
  altText: "{{ name }}"
  template:
    type: BUTTONS
    title: "{{ name }}"
    text: "Hi {{ name }}{% if code %}, use {{ code | upper }}{% endif %}"
    actions:
      - {type: URI, label: Open, uri: "https://example.com/{{ code }}"}
"""
GOOD = {"to": "U1", "name": "Ana", "code": "x1"}
TOO_LONG = {"to": "U2", "name": "Ana" * 30, "code": "x2"}  # title is at most 40


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LINEPRESS_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    path = tmp_path / "d.yaml"
    path.write_text(DEFINITION, encoding="utf-8")
    return path


def skeletons(compiler: Compiler) -> dict[str | None, object]:
    return {s.variant: s.body for s in compiler.renderer.skeletons()}


def outcome(compiler: Compiler, fields: dict[str, str]) -> tuple[object, list[str]]:
    result = compiler.compile(fields)
    return result.body, [p.format() for p in result.problems]


def test_a_second_compiler_uses_the_remembered_verdict_with_the_same_results(
    cache: Path, definition: Path
) -> None:
    assert Compiler(definition).leaf_checks and not cache.exists(), "the library: only if asked"
    first = Compiler(definition, remember=True)
    assert len(list(cache.glob("*.json"))) == 1
    assert verdicts.recall(skeletons(first), DYNAMIC) is not None
    second = Compiler(definition, remember=True)
    assert second._validator is None, "the full validator was not needed to load it"
    for fields in (GOOD, TOO_LONG, {"to": "U3"}):
        assert outcome(second, fields) == outcome(first, fields)
    assert "at most 40" in outcome(second, TOO_LONG)[1][0]


def test_a_damaged_or_foreign_entry_is_ignored_and_replaced(
    cache: Path, definition: Path, tmp_path: Path
) -> None:
    Compiler(definition, remember=True)
    (entry,) = cache.glob("*.json")
    expected = entry.read_bytes()
    good = orjson.loads(expected)
    key, rules = good["key"], good["rules"]

    def resummed(rules: object) -> bytes:
        # Damage that even keeps the checksum right: each rule is checked too.
        return orjson.dumps({"key": key, "rules": rules, "sum": verdicts._checksum(key, rules)})

    title_limit = [
        [leaf, [[k, None if k == "x-maxGraphemes" else v] for k, v in at]] for leaf, at in rules[""]
    ]
    emptied = {"": [[leaf, []] for leaf, _ in rules[""]]}
    damages = [
        b"{not json",
        expected[: len(expected) // 2],  # cut short
        orjson.dumps({**good, "rules": emptied}),  # rules dropped, checksum stale
        resummed({"": title_limit}),  # a limit of the wrong kind
        resummed({"": [[["to"], [["no-such-keyword", 1]]]]}),
        resummed({"": []}),  # leaves missing
    ]
    for damage in damages:
        entry.write_bytes(damage)
        compiler = Compiler(definition, remember=True)
        assert outcome(compiler, TOO_LONG)[1], "still checked in full"
        assert outcome(compiler, GOOD)[1] == []
        assert entry.read_bytes() == expected, "proven again and stored again"


def test_a_definition_with_problems_is_never_remembered(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text('from: APP\nto: "{{ to }}"\nmessage: {type: TEXT, text: ""}\n')
    for _ in range(2):
        with pytest.raises(DefinitionError, match=r"message\.text"):
            Compiler(path, remember=True)
    assert not cache.exists() or list(cache.glob("*.json")) == []


def test_an_empty_setting_turns_it_off(
    tmp_path: Path, definition: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEPRESS_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    Compiler(definition, remember=True)
    assert verdicts.cache_dir() is None
    assert not (tmp_path / "xdg").exists()


def test_a_folder_that_cannot_be_written_is_not_an_error(
    tmp_path: Path, definition: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LINEPRESS_CACHE_DIR", str(blocker / "cache"))  # under a file
    assert outcome(Compiler(definition, remember=True), GOOD)[1] == []


def test_the_default_folder_follows_xdg() -> None:
    assert verdicts.cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/linepress")
    assert verdicts.cache_dir({"HOME": "/h"}).name == "linepress"  # type: ignore[union-attr]


def test_a_remembered_run_never_loads_jsonschema(cache: Path, definition: Path) -> None:
    # The point of remembering: `linepress compile` starts without the schema machinery.
    data = definition.with_name("people.csv")
    data.write_text("to,name,code\nU1,Ana,x1\nU2,Bo,\n", encoding="utf-8")
    probe = (
        "import sys\n"
        "from linepress.operations.compile import CompileOptions, DataOptions, compile_definition\n"
        f"log = compile_definition(CompileOptions({str(definition)!r}, "
        f"DataOptions({str(data)!r}), out={str(data.with_suffix('.jsonl'))!r}, remember=True))\n"
        "assert log.ok, log\n"
        "print(sorted(m for m in ('jsonschema', 'referencing') if m in sys.modules))\n"
    )
    env = {**os.environ, "LINEPRESS_CACHE_DIR": str(cache)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["['jsonschema', 'referencing']", "[]"]


@pytest.mark.parametrize(
    "module", ["definition.py", "limits.py", "render/fastpath.py", "validate/fastcheck.py"]
)
def test_a_change_to_any_module_forgets_the_verdicts(tmp_path: Path, module: str) -> None:
    # A verdict is derived from the code as much as from the definition: an upgrade that
    # changes how any part of the package renders or checks must not reuse it.
    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "compiler" / "linepress", tmp_path / "src" / "linepress")
    shutil.copytree(root / "schemas", tmp_path / "schemas")

    def digest() -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from linepress.validate import verdicts as v; print(v._code_digest().hex())",
            ],
            env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    before = digest()
    assert digest() == before
    changed = tmp_path / "src" / "linepress" / module
    changed.write_text(changed.read_text() + "\n# changed\n")
    assert digest() != before

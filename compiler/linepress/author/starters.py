"""`linepress new KIND FILE.yaml`: a commented starter definition, ready for an editor.

The starter comes from `templates/starters/KIND.yaml`. Its first line becomes a
yaml-language-server modeline pointing at `linepress-definition.schema.json`,
written next to it, so VS Code (Red Hat YAML) completes and checks the file
with no settings at all.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from linepress.errors import Location, Problem, UsageError
from linepress.resources import resource_dir
from linepress.validate.schema import load_schema
from linepress.validate.schemagen import dumps

#: The authoring schema's file name next to the definitions.
SCHEMA_FILE = "linepress-definition.schema.json"
MODELINE = "# yaml-language-server: $schema="


def _starters() -> dict[str, Path]:
    folder = resource_dir("templates") / "starters"
    return {path.stem.lower(): path for path in sorted(folder.glob("*.yaml"))}


def starter_kinds() -> list[str]:
    """The kinds `new` knows: the starter files' names ("buttons", "carousel", ...)."""
    return list(_starters())


def schema_text() -> str:
    """The authoring schema as written next to definitions (= schemas/definition.json)."""
    return dumps(load_schema("definition"))


def new_definition(kind: str, path: Path, *, force: bool = False) -> list[Path]:
    """Write the starter for `kind` to `path` (and the schema beside it); return the files written.

    Raises UsageError for an unknown kind or an existing `path` (unless `force`).
    """
    source = _starter(kind)
    path = Path(path)
    if path.is_dir():
        raise UsageError(
            Problem(f"{path} is a folder; give a file name like {path / 'message.yaml'}")
        )
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(
            Problem(
                f"is not a YAML file name: a definition is YAML; name it {path.with_suffix('.yaml')}",
                Location(str(path)),
                code="usage",
            )
        )
    if path.exists() and not force:
        raise UsageError(
            Problem(
                "already exists; not overwritten (use --force to replace it)",
                Location(str(path)),
                code="exists",
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # The modeline is relative to the definition (yaml-language-server resolves it
    # so): the pair can move together, and nothing is fetched from the network.
    text = f"{MODELINE}./{SCHEMA_FILE}\n" + source.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    written = [path]
    schema = path.parent / SCHEMA_FILE
    wanted = schema_text()
    # Rewrite when missing or outdated (an older linepress); leave an equal file alone.
    if not schema.is_file() or schema.read_text(encoding="utf-8") != wanted:
        schema.write_text(wanted, encoding="utf-8")
        written.append(schema)
    return written


def _starter(kind: str) -> Path:
    starters = _starters()
    key = kind.strip().lower().removesuffix(".yaml")
    if key in starters:
        return starters[key]
    close = difflib.get_close_matches(key, list(starters), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UsageError(
        Problem(
            f"no starter for {kind!r}; {hint}choose from: {', '.join(starters)}",
            code="unknown-kind",
        )
    )

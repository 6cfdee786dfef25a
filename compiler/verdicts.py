"""Remembered schema verdicts: a definition proven once is not proven again.

Proving a definition's static part valid and finding the rules at each
per-recipient leaf (`fastcheck.LeafChecks`) take the full JSON Schema machinery:
jsonschema and referencing cost about 45 ms to import, a quarter of the start-up
of `linepress compile`, which runs in every build. The outcome depends only on
the body's skeleton, the schema files and the code that derives it, so it is
stored under a digest of exactly those. A run that finds it builds its leaf
checks from the stored rules and never imports jsonschema (unless a recipient
fails and the full validator has to word the problem).

Only successes are stored: a definition with problems is checked, and its
problems worded, every time. An entry that cannot be read or does not fit its
skeleton is ignored, and a cache folder that cannot be written is not an error.

Where: `LINEPRESS_CACHE_DIR`, else `$XDG_CACHE_HOME/linepress`, else
`~/.cache/linepress`. `LINEPRESS_CACHE_DIR=` (empty) turns it off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from compiler.definition import FieldPath, paths_of
from compiler.fastcheck import LeafChecks, NotEligible
from compiler.resources import resource_dir

#: Variant name -> skeleton body, with `dynamic` standing for per-recipient values.
Skeletons = Mapping[str | None, Any]

_DYNAMIC_TEXT = "\x00per recipient\x00"


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The folder of remembered verdicts, or None when turned off."""
    if "LINEPRESS_CACHE_DIR" in environ:
        chosen = environ["LINEPRESS_CACHE_DIR"]
        return Path(chosen) if chosen else None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "linepress"


def recall(skeletons: Skeletons, dynamic: object) -> dict[str | None, LeafChecks] | None:
    """The leaf checks remembered for these skeletons, or None."""
    path = _entry(skeletons, dynamic)
    if path is None:
        return None
    try:
        stored = orjson.loads(path.read_bytes())
        return {
            variant: _checks(stored[_variant_key(variant)], skeleton, dynamic)
            for variant, skeleton in skeletons.items()
        }
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, NotEligible):
        return None  # missing, damaged or not ours: prove it again


def remember(
    skeletons: Skeletons, dynamic: object, checks: Mapping[str | None, LeafChecks]
) -> None:
    """Store proven checks; quietly does nothing when the folder cannot be written."""
    path = _entry(skeletons, dynamic)
    if path is None:
        return
    document = {
        _variant_key(variant): [
            [list(leaf), [[rule.keyword, rule.value] for rule in rules]]
            for leaf, rules in checks[variant].rules.items()
        ]
        for variant in skeletons
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a reader never sees half an entry.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".verdict-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(document))
        os.replace(temp, path)
    except OSError:
        return


def _checks(stored: Any, skeleton: Any, dynamic: object) -> LeafChecks:
    """Leaf checks from a stored entry, which must cover exactly the skeleton's leaves."""
    rules: dict[FieldPath, list[tuple[str, Any]]] = {
        tuple(leaf): [(str(keyword), value) for keyword, value in at] for leaf, at in stored
    }
    if set(rules) != set(paths_of(skeleton, dynamic)):
        raise ValueError("the entry does not fit this definition")
    return LeafChecks.from_rules(rules)


def _entry(skeletons: Skeletons, dynamic: object) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None

    def placeholder(value: object) -> str:
        if value is dynamic:
            return _DYNAMIC_TEXT
        raise TypeError

    try:
        digest = hashlib.sha256(_code_digest())
        for variant, skeleton in skeletons.items():
            digest.update(orjson.dumps([_variant_key(variant), skeleton], default=placeholder))
            # Which values are per recipient, spelled out: a static text equal to the
            # placeholder must not make two skeletons look the same.
            digest.update(orjson.dumps([list(p) for p in paths_of(skeleton, dynamic)]))
    except (TypeError, OSError, orjson.JSONEncodeError):
        return None  # a value JSON cannot hold, or unreadable schema files: no entry
    return folder / f"{digest.hexdigest()[:40]}.json"


def _variant_key(variant: str | None) -> str:
    return "" if variant is None else f"variant:{variant}"


@cache
def _code_digest() -> bytes:
    """What the verdict is derived from besides the skeleton: the schemas and the code."""
    here = Path(__file__).parent
    files: Iterable[Path] = [
        *sorted(resource_dir("schemas").rglob("*.json")),
        *(here / name for name in ("fastcheck.py", "validate.py", "verdicts.py", "render.py")),
    ]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\x00" + file.read_bytes())
    return digest.digest()

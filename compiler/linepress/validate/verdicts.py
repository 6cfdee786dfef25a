"""Remembered schema verdicts: a definition proven once is not proven again.

Proving a definition's static part valid and finding the rules at each
per-recipient leaf (`fastcheck.LeafChecks`) take the full JSON Schema machinery:
jsonschema and referencing cost about 45 ms to import, a quarter of the start-up
of `linepress compile`, which runs in every build. The outcome depends only on
the body's skeleton, the schema files and the code that derives it, so it is
stored under a digest of exactly those (every linepress module, the schema
files, the Python version and the files of jsonschema, referencing and regex).
A run that finds it builds its leaf checks from the stored rules and never
imports jsonschema (unless a recipient fails and the full validator has to word
the problem).

Only successes are stored: a definition with problems is checked, and its
problems worded, every time. An entry carries a checksum and every rule is
checked for the kind of value its keyword takes; an entry that is damaged or
does not fit its skeleton is ignored (and proven and stored again), and a cache
folder that cannot be written is not an error.

The CLI's `compile` and `check` use it (`Compiler(..., remember=True)`); the
library does not, unless asked. Where: `LINEPRESS_CACHE_DIR`, else
`$XDG_CACHE_HOME/linepress`, else `~/.cache/linepress`; `LINEPRESS_CACHE_DIR=`
(empty) turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from linepress.definition import FieldPath, paths_of
from linepress.resources import resource_dir
from linepress.validate.fastcheck import LeafChecks

#: Variant name -> skeleton body, with `dynamic` standing for per-recipient values.
Skeletons = Mapping[str | None, Any]

_DYNAMIC_TEXT = "\x00per recipient\x00"


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The folder of remembered verdicts, or None when turned off."""
    if "LINEPRESS_CACHE_DIR" in environ:
        chosen = environ["LINEPRESS_CACHE_DIR"]
        return Path(chosen) if chosen else None
    base = environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home == "~":  # no home to speak of: nowhere sensible to keep it
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "linepress"


def recall(skeletons: Skeletons, dynamic: object) -> dict[str | None, LeafChecks] | None:
    """The leaf checks remembered for these skeletons, or None."""
    found = _entry(skeletons, dynamic)
    if found is None:
        return None
    path, key = found
    try:
        stored = orjson.loads(path.read_bytes())
        rules = stored["rules"]
        if stored["key"] != key or stored["sum"] != _checksum(key, rules):
            return None  # damaged, or another entry's content
        return {
            variant: _checks(rules[_variant_key(variant)], skeleton, dynamic)
            for variant, skeleton in skeletons.items()
        }
    except Exception:  # missing, damaged or not ours (any way at all): prove it again
        return None


def remember(
    skeletons: Skeletons, dynamic: object, checks: Mapping[str | None, LeafChecks]
) -> None:
    """Store proven checks; quietly does nothing when the folder cannot be written."""
    found = _entry(skeletons, dynamic)
    if found is None:
        return
    path, key = found
    rules = {
        _variant_key(variant): [
            [list(leaf), [[rule.keyword, rule.value] for rule in at]]
            for leaf, at in checks[variant].rules.items()
        ]
        for variant in skeletons
    }
    try:
        document = orjson.dumps({"key": key, "rules": rules, "sum": _checksum(key, rules)})
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a reader never sees half an entry.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".verdict-", suffix=".tmp")
    except (OSError, TypeError, orjson.JSONEncodeError):
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(document)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _checksum(key: str, rules: Any) -> str:
    return hashlib.sha256(key.encode() + orjson.dumps(rules)).hexdigest()


def _checks(stored: Any, skeleton: Any, dynamic: object) -> LeafChecks:
    """Leaf checks from a stored entry, which must cover exactly the skeleton's leaves."""
    rules: dict[FieldPath, list[tuple[str, Any]]] = {}
    for leaf, at in stored:
        checked = []
        for keyword, value in at:
            if not _fits(keyword, value):
                raise ValueError(f"a stored {keyword!r} rule with a value of the wrong kind")
            checked.append((keyword, value))
        rules[tuple(leaf)] = checked
    if set(rules) != set(paths_of(skeleton, dynamic)):
        raise ValueError("the entry does not fit this definition")
    return LeafChecks.from_rules(rules)


def _fits(keyword: str, value: Any) -> bool:
    """Whether `value` is the kind of value the schema keyword takes."""
    if keyword in ("minLength", "maxLength", "x-maxUtf16", "x-maxGraphemes"):
        return type(value) is int and value >= 0
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return type(value) in (int, float)
    if keyword == "pattern":
        return type(value) is str
    if keyword == "type":
        kinds = [value] if type(value) is str else value
        return type(kinds) is list and bool(kinds) and all(type(k) is str for k in kinds)
    if keyword == "enum":
        return type(value) is list
    if keyword == "not":
        return type(value) is dict
    if keyword in ("x-url", "x-recipientKey"):
        return type(value) is bool
    return keyword == "const"  # any JSON value; anything else: not a keyword we store


def _entry(skeletons: Skeletons, dynamic: object) -> tuple[Path, str] | None:
    """The entry's file and full key, or None (turned off, or no key can be made)."""
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
    except Exception:  # a value JSON cannot hold, unreadable files, odd modules: no entry
        return None
    key = digest.hexdigest()
    return folder / f"{key[:40]}.json", key


def _variant_key(variant: str | None) -> str:
    return "" if variant is None else f"variant:{variant}"


@cache
def _code_digest() -> bytes:
    """What a verdict is derived from besides the skeleton.

    linepress's modules and schema files by content; the Python version (its
    Unicode tables) and the schema libraries' files by name, size and time
    (found without importing them: that is the cost this module saves).
    """
    digest = hashlib.sha256(sys.version.encode())
    # Every module of the package, named by its path inside it: sub-packages hold
    # files of the same name (`report.py`, `send/report.py`).
    linepress_dir = Path(__file__).resolve().parent.parent
    schemas = resource_dir("schemas")
    for base, file in [
        *((linepress_dir, f) for f in sorted(linepress_dir.rglob("*.py"))),
        *((schemas, f) for f in sorted(schemas.rglob("*.json"))),
    ]:
        digest.update(file.relative_to(base).as_posix().encode() + b"\x00" + file.read_bytes())
    for package in ("jsonschema", "referencing", "regex"):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            digest.update(f"{package}: none".encode())
            continue
        with os.scandir(os.path.dirname(spec.origin)) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_file():
                    stat = entry.stat()
                    digest.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.digest()

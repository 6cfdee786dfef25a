"""Every file a definition reads: the YAML, its macro imports, and the templates they include.

An output path (`-o`, `--rejects`, `--report`) naming any of them would destroy
it, so commands refuse it (exit 2) by file identity (`os.path.samefile`:
through symlinks and hard links), not by spelling.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from jinja2 import Environment, TemplateError, meta

from linepress.definition import Definition, load_definition
from linepress.errors import LinepressError
from linepress.render.templating import make_environment
from linepress.resources import resource_dir

#: Template files followed at most (a definition imports a handful; this bounds a cycle).
_MAX_FILES = 1000


def definition_inputs(definition: str | Path | None) -> list[str]:
    """The files `definition` reads besides itself: imported macro files and the templates
    they or the definition's strings `{% include %}`/`{% import %}`, where they are found.

    Best effort: a definition that does not load gives [] (the command reports it).
    """
    if definition is None:
        return []
    try:
        loaded = load_definition(definition)
    except LinepressError:
        return []
    env = make_environment([loaded.path.parent, resource_dir("templates")])
    return template_files(env, definition_templates(loaded), loaded.imports.values())


def definition_templates(definition: Definition) -> Iterator[str]:
    """Every string of the definition that may be a template (body, vars, defaults, variants)."""
    return _strings((definition.body, definition.vars, definition.defaults, definition.variants))


def template_files(
    env: Environment, sources: Iterable[str], names: Iterable[str] = ()
) -> list[str]:
    """The files of the templates `names` names and those `sources` reach, transitively,
    through `env`'s loader; plus every file `env` has already loaded (its cache)."""
    found: dict[str, None] = {}
    for template in list((env.cache or {}).values()):
        filename = getattr(template, "filename", None)
        if filename:
            found[filename] = None
    queue = list(names)
    for source in sources:
        queue += _referenced(env, source)
    seen: set[str] = set()
    while queue and len(seen) < _MAX_FILES:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            text, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        except (TemplateError, OSError, UnicodeError):
            continue  # not found or refused: the compile names it
        if filename:
            found[filename] = None
        queue += _referenced(env, text)
    return list(found)


def _strings(value: object, depth: int = 0) -> Iterator[str]:
    """Every string inside nested dicts, lists and dataclasses (a definition's templates)."""
    if isinstance(value, str):
        yield value
    elif depth > 100:
        return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _strings(getattr(value, field.name), depth + 1)


def _referenced(env: Environment, source: str) -> list[str]:
    """Template names `source` includes, imports or extends by a literal name."""
    if "{%" not in source:
        return []
    try:
        return [name for name in meta.find_referenced_templates(env.parse(source)) if name]
    except TemplateError:
        return []


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both name one existing file (links followed)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

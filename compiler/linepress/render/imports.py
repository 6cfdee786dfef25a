"""`imports:`: macro files loaded once per definition, each under its alias."""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateError, TemplateNotFound
from jinja2 import TemplateSyntaxError as JinjaSyntaxError

from linepress.definition import Definition
from linepress.errors import Location, Problem
from linepress.render.limits import LimitedEnvironment, RenderLimit
from linepress.render.reach import OutsideReach

__all__ = ["load_imports"]


def load_imports(
    env: LimitedEnvironment,
    definition: Definition,
    constants: dict[str, Any],
    problems: list[Problem],
) -> None:
    """Load each of `definition.imports` into `env.globals` under its alias.

    A file's top level runs once, seeing the constant `vars`, within the render
    limits. Every failure (not found, outside the definition's reach, a syntax
    error, importing itself, its top level raising) is appended to `problems`,
    located at the import's line.
    """
    for alias, target in definition.imports.items():
        where = definition.values[("imports", alias)].location
        try:
            template = env.get_template(target)
            env.start()  # the file's own top level runs once, with the render limits
            env.globals[alias] = template.make_module(vars=constants)
        except OutsideReach as exc:
            problems.append(
                Problem(str(exc.message), where, path=f"imports.{alias}", code="import")
            )
        except TemplateNotFound:
            searched = ", ".join(env.loader.searchpath)  # type: ignore[union-attr]
            problems.append(
                Problem(
                    f"template file not found (searched {searched})",
                    where,
                    path=f"imports.{alias}",
                    found=repr(target),
                    code="import",
                )
            )
        except JinjaSyntaxError as exc:
            problems.append(
                Problem(
                    f"Jinja syntax error: {exc.message}",
                    Location(exc.filename or target, exc.lineno, None),
                    path=f"imports.{alias}",
                    code="jinja-syntax",
                )
            )
        except RecursionError:  # it imports itself, or a file that imports it
            problems.append(
                Problem(
                    f"{target!r} imports itself (directly or through another file)",
                    where,
                    path=f"imports.{alias}",
                    code="import",
                )
            )
        except Exception as exc:  # its top level failed: raised, divided by zero, ...
            text = str(exc) if isinstance(exc, TemplateError | RenderLimit) else None
            problems.append(
                Problem(
                    f"{target!r} failed to load: {text or f'{type(exc).__name__}: {exc}'}",
                    where,
                    path=f"imports.{alias}",
                    code="import",
                )
            )

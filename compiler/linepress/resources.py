"""Where the shipped schemas and templates are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` (`schemas` or `templates`).

    A wheel carries them inside the package (see pyproject's force-include);
    a source checkout or an editable install keeps them at the repository top
    (two levels up: `compiler/linepress/`).
    """
    packaged = _PACKAGE / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent.parent / name

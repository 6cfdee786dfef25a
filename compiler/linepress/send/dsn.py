"""PostgreSQL connection strings: recognising one, and showing one without its password.

Kept apart from `pgjournal` so the command line can tell a DSN from a path without
loading psycopg.
"""

from __future__ import annotations

import re

# The password runs to the last `@` before the host (a raw `@` in it is hidden too).
_PASSWORD_IN_URL = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^/?#\s]*(?=@[^@/?#\s]*(?:[/?#\s]|$))", re.I
)
_PASSWORD_PARAM = re.compile(r"(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.I)


def is_postgres_url(text: str) -> bool:
    """True for `postgresql://…` and `postgres://…`: a journal on PostgreSQL."""
    return text.lower().startswith(("postgresql://", "postgres://"))


def url_password(dsn: str) -> str | None:
    """The password part of a URL's userinfo as `redact_dsn` reads it (to its last `@`).

    libpq may read a raw `@` in a password differently (the rest as the host), so an
    error message can quote a piece of it: its callers scrub the pieces too.
    """
    found = _PASSWORD_IN_URL.search(dsn)
    return found.group(0)[len(found.group("head")) :] if found else None


def redact_dsn(text: str) -> str:
    """`text` with every DSN password (URL userinfo or `password=`) replaced by `***`."""
    text = _PASSWORD_IN_URL.sub(r"\g<head>***", text)
    return _PASSWORD_PARAM.sub(r"\g<head>***", text)

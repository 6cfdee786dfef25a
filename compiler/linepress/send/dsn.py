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


# libpq's keyword form starts `keyword=` (a journal file's path does not): the
# keywords that name a server, a database or a login.
_KEYWORD_DSN = re.compile(
    r"\s*(host|hostaddr|port|dbname|user|password|passfile|service|sslmode)\s*=", re.I
)


def is_postgres_url(text: str) -> bool:
    """True for a journal on PostgreSQL: `postgresql://…`, `postgres://…` or libpq's
    keyword form (`host=… dbname=… user=…`)."""
    return text.lower().startswith(("postgresql://", "postgres://")) or bool(
        _KEYWORD_DSN.match(text)
    )


def url_password(dsn: str) -> str | None:
    """The password part of a URL's userinfo as `redact_dsn` reads it (to its last `@`).

    libpq may read a raw `@` in a password differently (the rest as the host), so an
    error message can quote a piece of it: its callers scrub the pieces too.
    """
    found = _PASSWORD_IN_URL.search(dsn)
    return found.group(0)[len(found.group("head")) :] if found else None


def mask_passwords(text: str, passwords: list[str]) -> str:
    """`text` with each of `passwords` replaced by `***` where it stands as a value of
    its own (not inside a word), so a short password does not mangle the message.

    A password of fewer than 4 characters is masked only where quoted (`"a"`), the
    one way libpq quotes a value it could not read.
    """
    for password in sorted(set(passwords), key=len, reverse=True):
        if not password:
            continue
        if len(password) < 4:
            for quote in ('"', "'"):
                text = text.replace(f"{quote}{password}{quote}", f"{quote}***{quote}")
            continue
        # A word character at an edge must not continue a word there.
        before = r"(?<!\w)" if re.match(r"\w", password[0]) else ""
        after = r"(?!\w)" if re.match(r"\w", password[-1]) else ""
        text = re.sub(before + re.escape(password) + after, "***", text)
    return text


def redact_dsn(text: str) -> str:
    """`text` with every DSN password (URL userinfo or `password=`) replaced by `***`."""
    text = _PASSWORD_IN_URL.sub(r"\g<head>***", text)
    return _PASSWORD_PARAM.sub(r"\g<head>***", text)

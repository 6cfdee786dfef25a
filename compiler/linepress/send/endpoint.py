"""Where to send and with which credentials, from options, files and the environment.

Credentials never appear in output: `Credentials` has no readable `repr`, and the
only place the secret is used is the `Authorization` header it builds.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from linepress.errors import Location, Problem, UsageError
from linepress.send.redaction import redact, secret_pattern

SEND_PATH = "/line/1/single"

#: Printable ASCII without spaces: what an `Authorization` header value can carry.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An `Authorization` header value, kept out of every repr and message."""

    scheme: str  # "App" or "Basic"
    _header: str = field(repr=False)
    #: Every form the secret could be echoed in (key, token, password), for `redact`.
    _secrets: tuple[str, ...] = field(default=(), repr=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # built once: redaction runs on every error text the endpoint sends back
        object.__setattr__(self, "_pattern", secret_pattern((self._header, *self._secrets)))

    def header(self) -> str:
        return self._header

    def redact(self, text: str) -> str:
        """`text` with the secret replaced by `<redacted>` in any case and in the encodings
        an endpoint may echo it in (URL, JSON, base64: see `linepress.send.redaction`)."""
        return redact(text, self._pattern)

    def __repr__(self) -> str:
        return f"Credentials(scheme={self.scheme!r}, <hidden>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    credentials: Credentials | None

    @property
    def send_url(self) -> str:
        return self.base_url.rstrip("/") + SEND_PATH

    def redact(self, text: str) -> str:
        """Error text from the endpoint, with the credentials taken out before it is stored."""
        return self.credentials.redact(text) if self.credentials is not None else text


def normalize_base_url(value: str) -> str:
    """`xyz.api.infobip.com` -> `https://xyz.api.infobip.com` (a bare host gets https).

    Raises `UsageError` for anything that is not an http(s) URL with a host and a valid port.
    """
    value = value.strip()
    if "://" not in value:
        value = "https://" + value
    value = value.rstrip("/")
    try:
        url = httpx.URL(value)
        port = url.port  # parsing the port is where a bad one fails
    except (httpx.InvalidURL, ValueError):
        raise UsageError(
            _problem(f"the Infobip base URL is not a valid URL: {_masked(value)!r}")
        ) from None
    if url.userinfo:
        # httpx would send it as Basic credentials, and it would show in messages.
        shown = f"{url.scheme}://…@{url.host}" + (f":{port}" if port else "")
        raise UsageError(
            _problem(
                "the Infobip base URL must not hold a user name or password "
                f"(found {shown}): use INFOBIP_API_KEY, INFOBIP_USERNAME/INFOBIP_PASSWORD "
                "or --basic-auth-file"
            )
        )
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or (port is not None and not 0 < port < 65536)
    ):
        raise UsageError(
            _problem(
                f"the Infobip base URL must be http(s)://host[:port] (found {_masked(value)!r})"
            )
        )
    return value


def _masked(url: str) -> str:
    """A URL for messages: anything between `//` and `@` could be a password."""
    return re.sub(r"//[^/]*@", "//…@", url)


def resolve_endpoint(
    *,
    base_url: str | None = None,
    api_key_file: str | Path | None = None,
    basic_auth_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    required: bool = True,
) -> Endpoint:
    """Options first, then INFOBIP_BASE_URL / INFOBIP_API_KEY / INFOBIP_USERNAME + INFOBIP_PASSWORD."""
    env = os.environ if environ is None else environ
    url = base_url or env.get("INFOBIP_BASE_URL")
    if not url:
        if required:
            raise UsageError(
                _problem("no Infobip base URL: set INFOBIP_BASE_URL or pass --base-url")
            )
        url = "https://api.infobip.com"
    credentials = _credentials(api_key_file, basic_auth_file, env)
    if credentials is None and required:
        raise UsageError(
            _problem(
                "no Infobip credentials: set INFOBIP_API_KEY (or INFOBIP_USERNAME and "
                "INFOBIP_PASSWORD), or pass --api-key-file / --basic-auth-file"
            )
        )
    return Endpoint(normalize_base_url(url), credentials)


def _credentials(
    api_key_file: str | Path | None, basic_auth_file: str | Path | None, env: Mapping[str, str]
) -> Credentials | None:
    if api_key_file is not None:
        return api_key(_read_secret(api_key_file, "--api-key-file"))
    if basic_auth_file is not None:
        text = _read_secret(basic_auth_file, "--basic-auth-file")
        user, sep, password = text.partition(":")
        if not sep:
            raise UsageError(
                _problem("expected `username:password` in the file", str(basic_auth_file))
            )
        return basic(user, password)
    if env.get("INFOBIP_API_KEY"):
        return api_key(env["INFOBIP_API_KEY"])
    if env.get("INFOBIP_USERNAME") and env.get("INFOBIP_PASSWORD"):
        return basic(env["INFOBIP_USERNAME"], env["INFOBIP_PASSWORD"])
    return None


def api_key(key: str) -> Credentials:
    key = key.strip()
    if not _HEADER_SAFE.fullmatch(key):
        # Never echo it: the point is that it does not reach any output.
        raise UsageError(
            _problem(
                "the API key holds characters an HTTP header cannot carry (spaces, line breaks or non-ASCII)"
            )
        )
    return Credentials("App", f"App {key}", (key,))


def basic(user: str, password: str) -> Credentials:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return Credentials("Basic", f"Basic {token}", (token, f"{user}:{password}", password))


def _read_secret(path: str | Path, option: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(_problem(f"cannot read {option}: {exc.strerror}", str(path))) from None
    if not text:
        raise UsageError(_problem(f"{option} is empty", str(path)))
    return text


def _problem(message: str, file: str | None = None) -> Problem:
    return Problem(message, Location(file) if file else None, code="config")

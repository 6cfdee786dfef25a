"""What an endpoint's answer means for its message: sent, retry, failed, unknown or stop.

`judge_response` reads an HTTP answer (Infobip's error texts, `Retry-After`);
`judge_exception` reads a failure with no answer, telling "never sent, safe to retry"
from "may have been delivered" (never resent blindly).
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from linepress.send.transport import Answer, ExchangeTimeout

#: What `judge_response` reads: the sender's `Answer`, or an httpx.Response (same fields).
Response = Answer | httpx.Response

ERROR_TEXT_LIMIT = 500


Action = Literal["sent", "retry", "failed", "unknown", "stop"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one HTTP exchange means for its message."""

    action: Action
    http_status: int | None = None
    message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None


def judge_response(response: Response) -> Verdict:
    """What an HTTP answer means for its message (Infobip's error text kept)."""
    status = response.status_code
    if 200 <= status < 300:
        return Verdict("sent", status, message_id=_message_id(response))
    error = f"HTTP {status}: {_error_text(response)}"
    if status == 429 or status >= 500:
        return Verdict("retry", status, error=error, retry_after=_retry_after(response))
    if status in (401, 403, 407):
        return Verdict("stop", status, error=f"{error} (check the credentials)")
    if 300 <= status < 400 or status in (404, 405):
        # Every other recipient would get the same answer: do not burn the list.
        return Verdict("stop", status, error=f"{error} (check the base URL)")
    return Verdict("failed", status, error=error)


#: Failures that happen before any byte of the request is sent: safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Failures of the request itself (bad URL, bad header), also before sending: stop.
_CANNOT_SEND = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


def judge_exception(exc: Exception) -> Verdict:
    name = type(exc).__name__
    if isinstance(exc, ExchangeTimeout):
        return Verdict("unknown", error=f"{exc}; it may have been delivered")
    if isinstance(exc, _NOT_SENT):
        return Verdict("retry", error=f"{name}: could not connect ({exc})")
    if isinstance(exc, _CANNOT_SEND):
        # Not str(exc): a LocalProtocolError quotes the offending header, credentials included.
        return Verdict(
            "stop",
            error=f"{name}: the request could not be made; check the base URL and credentials",
        )
    # Anything else may have happened after the request reached Infobip (a timeout,
    # a dropped connection, an answer that cannot be decoded): never resend blindly.
    return Verdict(
        "unknown",
        error=f"{name}: no usable answer after the request was sent; it may have been delivered",
    )


def _message_id(response: Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        if isinstance(data.get("messageId"), str):
            return str(data["messageId"])
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            found = messages[0].get("messageId")
            return str(found) if found is not None else None
    return None


def _error_text(response: Response) -> str:
    """Infobip's own words: classic `requestError` bodies and the newer `errorCode` ones."""
    try:
        data: Any = response.json()
    except ValueError:
        return (response.text or response.reason_phrase)[:ERROR_TEXT_LIMIT]
    text = ""
    if isinstance(data, dict):
        exception = (
            data.get("requestError", {}).get("serviceException")
            if isinstance(data.get("requestError"), dict)
            else None
        )
        if isinstance(exception, dict):
            text = " ".join(str(exception.get(k, "")) for k in ("messageId", "text")).strip()
            errors = exception.get("validationErrors")
            if errors:
                text += " " + json.dumps(errors, ensure_ascii=False)
        elif "errorCode" in data or "description" in data:
            text = " ".join(str(data.get(k, "")) for k in ("errorCode", "description")).strip()
            if data.get("violations"):
                text += " " + json.dumps(data["violations"], ensure_ascii=False)
    return (text or json.dumps(data, ensure_ascii=False))[:ERROR_TEXT_LIMIT]


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

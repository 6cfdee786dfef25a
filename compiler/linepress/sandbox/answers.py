"""What the sandbox answers, byte for byte: Infobip's error bodies and its success body.

Infobip's classic error shape is `{"requestError": {"serviceException": {...}}}`; the
success body is the documented PENDING_ACCEPTED one. Constants are built once.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["ACCEPTED", "infobip_error"]


def infobip_error(message_id: str, text: str, **more: Any) -> bytes:
    """An Infobip error body: `messageId` is the error's name, `text` its sentence."""
    exception = {"messageId": message_id, "text": text, **more}
    return orjson.dumps({"requestError": {"serviceException": exception}})


UNAUTHORIZED = infobip_error("UNAUTHORIZED", "Invalid login details")
BAD_JSON = infobip_error("BAD_REQUEST", "Bad request", validationErrors={})
TOO_MANY = infobip_error("TOO_MANY_REQUESTS", "Too many requests")
GENERAL = infobip_error("GENERAL_ERROR", "Something went wrong. Please contact support.")
UNAVAILABLE = infobip_error("SERVICE_UNAVAILABLE", "Service temporarily unavailable")
NOT_FOUND = infobip_error("NOT_FOUND", "Requested URL not found")
NOT_ALLOWED = infobip_error("METHOD_NOT_ALLOWED", "Request method not supported")
MALFORMED = infobip_error("BAD_REQUEST", "Malformed HTTP request")
LENGTH = infobip_error("LENGTH_REQUIRED", "A Content-Length header is required")
TOO_LARGE = infobip_error("PAYLOAD_TOO_LARGE", "Request body too large")
HEADERS_TOO_LARGE = infobip_error("HEADERS_TOO_LARGE", "Request headers too large")
#: The 200 body; `% (json_encoded_to, message_id)`.
ACCEPTED = (
    b'{"to":%s,"messageCount":1,"messageId":"%s","status":{"groupId":1,"groupName":"PENDING",'
    b'"id":26,"name":"PENDING_ACCEPTED","description":"Message sent to next instance"}}'
)

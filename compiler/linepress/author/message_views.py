"""What the preview's templates show for each message, computed from a body.

The page's markup is in `page/`; these functions turn a compiled body (which,
for a failing recipient, may hold anything) into the values the templates lay
out: which partial draws a message, an imagemap's boxes in percent, an audio
clip's m:ss, a media link's file name, a data cell cut to size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from linepress.author.select import is_empty, value_text
from linepress.limits import grapheme_length
from linepress.pipeline import Result

#: Characters of a data value shown in the recipient table.
CELL_LIMIT = 300

#: The width LINE fetches an imagemap's base image at (`{baseUrl}/1040`).
IMAGEMAP_WIDTH = 1040


@dataclass(frozen=True, slots=True)
class Cell:
    """A data value as the recipient table shows it."""

    empty: bool
    text: str = ""
    more: str = ""


def cell(value: object) -> Cell:
    if is_empty(value):
        return Cell(empty=True)
    text = value_text(value) or ""
    if len(text) <= CELL_LIMIT:
        return Cell(False, text)
    # A 5000-character field would push everything else off the screen.
    return Cell(False, text[:CELL_LIMIT], f"… ({grapheme_length(text)} characters in all)")


def pretty_json(body: object) -> str:
    return json.dumps(body, ensure_ascii=False, indent=2)


# --------------------------------------------------------------------------- #
# Messages

#: The partial in `page/messages/` that draws each message type.
MESSAGES = {
    "TEXT": "text",
    "IMAGE": "image",
    "VIDEO": "video",
    "AUDIO": "audio",
    "LOCATION": "location",
    "STICKER": "sticker",
    "IMAGEMAP": "imagemap",
    "TEMPLATE": "template",
}


def message_template(message: Mapping[str, Any]) -> str:
    return f"messages/{MESSAGES.get(str(message.get('type', '')), 'unknown')}.html.j2"


def has_carousel(result: Result) -> bool:
    body = result.body
    return isinstance(body, dict) and is_carousel(mapping(body.get("message")))


def is_carousel(message: Mapping[str, Any]) -> bool:
    """A carousel gets the chat's whole width (its cards scroll sideways)."""
    return (
        message.get("type") == "TEMPLATE"
        and mapping(message.get("template")).get("type") == "CAROUSEL"
    )


@dataclass(frozen=True, slots=True)
class Area:
    """An imagemap action area: where CSS puts it, its label and what it does."""

    kind: str
    style: str
    label: str
    does: str


@dataclass(frozen=True, slots=True)
class Imagemap:
    image: str
    aspect: str
    caption: str
    areas: list[Area]


def imagemap(message: Mapping[str, Any]) -> Imagemap:
    size = mapping(message.get("baseSize"))
    width = number(size.get("width")) or IMAGEMAP_WIDTH
    height = number(size.get("height")) or width
    base = str(message.get("baseUrl", "")).rstrip("/")
    areas = [
        imagemap_area(action, width, height)
        for action in message.get("actions") or []
        if isinstance(action, dict)
    ]
    # LINE fetches `{baseUrl}/1040` for the widest screens: the image drawn here.
    caption = f"{file_name(base)}/{IMAGEMAP_WIDTH} · {plain_number(width)} × {plain_number(height)}"
    aspect = f"aspect-ratio:{plain_number(width)}/{plain_number(height)}"
    return Imagemap(f"{base}/{IMAGEMAP_WIDTH}", aspect, caption, areas)


def imagemap_box(area: Mapping[str, Any], width: float, height: float) -> dict[str, float]:
    """An action area as percentages of the base size (what CSS positions it by)."""

    def pct(key: str, total: float) -> float:
        return round(100 * (number(area.get(key)) or 0) / total, 4) if total else 0.0

    return {
        "left": pct("x", width),
        "top": pct("y", height),
        "width": pct("width", width),
        "height": pct("height", height),
    }


def imagemap_area(action: Mapping[str, Any], width: float, height: float) -> Area:
    area = mapping(action.get("area"))
    box = imagemap_box(area, width, height)
    style = ";".join(f"{key}:{plain_number(value)}%" for key, value in box.items())
    kind = str(action.get("type", ""))
    if kind == "URI":
        uri = str(action.get("linkUri", ""))
        return Area(kind, style, "↗ " + (urlsplit(uri).hostname or uri), f"Opens {uri}")
    text = str(action.get("text", ""))
    return Area(kind, style, "💬 " + text, f"Sends the message: {text}")


def mapping(value: object) -> Mapping[str, Any]:
    """A nested object, or an empty one: a failed body may hold anything."""
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- #
# Small helpers


def css_url(url: str) -> str:
    """The URL made safe inside url("…"): quotes, backslashes, spaces, newlines encoded."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def file_name(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return name or parts.hostname or url


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def plain_number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def duration(milliseconds: object) -> str:
    """LINE's m:ss for an audio clip's length in milliseconds."""
    length = number(milliseconds)
    if length is None or length < 0:
        return "-:--"
    seconds = int(length + 500) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"

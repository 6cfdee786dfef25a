"""What lint reads in a compiled body: its media links and imagemap action areas.

`media_links()` names each media field with the file format LINE needs there;
`imagemap_overflows()` finds action areas reaching outside `baseSize`. Both take
any body (a skeleton with placeholders, or a recipient's) and say which paths
their finding depends on, so the linter can tell static findings from per-recipient ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from linepress.definition import FieldPath

_IMAGE = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True, slots=True)
class Media:
    """What a media field must link to."""

    what: str
    extensions: tuple[str, ...]
    formats: str


_IMAGE_MEDIA = Media("an image", _IMAGE, "JPEG or PNG images")
_VIDEO_MEDIA = Media("a video", (".mp4",), "MP4 videos")
_AUDIO_MEDIA = Media("an audio file", (".mp3", ".m4a"), "MP3 or M4A audio")
#: Message type -> media field -> what it must link to.
_MESSAGE_MEDIA: dict[str, dict[str, Media]] = {
    "IMAGE": {"url": _IMAGE_MEDIA, "thumbnailUrl": _IMAGE_MEDIA},
    "VIDEO": {"url": _VIDEO_MEDIA, "thumbnailUrl": _IMAGE_MEDIA},
    "AUDIO": {"url": _AUDIO_MEDIA},
}


# -- media links ------------------------------------------------------------


def media_links(body: Any) -> Iterator[tuple[FieldPath, Any, Media, tuple[FieldPath, ...]]]:
    """(path, value, what it must be, paths the decision depends on) of each media link."""
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, Mapping):
        return
    kind = message.get("type")
    type_path: FieldPath = ("message", "type")
    if isinstance(kind, str) and kind in _MESSAGE_MEDIA:
        for key, media in _MESSAGE_MEDIA[kind].items():
            if key in message:
                yield ("message", key), message[key], media, (type_path,)
        return
    template = message.get("template")
    if kind != "TEMPLATE" or not isinstance(template, Mapping):
        return
    depends = (type_path, ("message", "template", "type"))
    if template.get("type") == "BUTTONS" and "thumbnailImageUrl" in template:
        path: FieldPath = ("message", "template", "thumbnailImageUrl")
        yield path, template["thumbnailImageUrl"], _IMAGE_MEDIA, depends
    columns = template.get("columns")
    if template.get("type") == "CAROUSEL" and isinstance(columns, list):
        for index, column in enumerate(columns):
            if isinstance(column, Mapping) and "thumbnailImageUrl" in column:
                path = ("message", "template", "columns", index, "thumbnailImageUrl")
                yield path, column["thumbnailImageUrl"], _IMAGE_MEDIA, depends


def either(extensions: tuple[str, ...]) -> str:
    return (
        ", ".join(extensions[:-1]) + " or " + extensions[-1]
        if len(extensions) > 1
        else extensions[0]
    )


# -- imagemap areas ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overflow:
    """An imagemap action area reaching past an edge of the base image."""

    area: FieldPath
    edge: str
    names: tuple[str, str, str]
    end: int | float
    limit: int | float
    depends: tuple[FieldPath, ...]


def imagemap_overflows(body: Any) -> Iterator[Overflow]:
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, Mapping) or message.get("type") != "IMAGEMAP":
        return
    base = message.get("baseSize")
    actions = message.get("actions")
    if not isinstance(base, Mapping) or not isinstance(actions, list):
        return
    for index, action in enumerate(actions):
        area = action.get("area") if isinstance(action, Mapping) else None
        if not isinstance(area, Mapping):
            continue
        area_path: FieldPath = ("message", "actions", index, "area")
        for start, size, side, edge in (
            ("x", "width", "width", "right"),
            ("y", "height", "height", "bottom"),
        ):
            position, extent, limit = area.get(start), area.get(size), base.get(side)
            if not (_is_number(position) and _is_number(extent) and _is_number(limit)):
                continue
            end = position + extent
            if end > limit:
                depends = (
                    ("message", "type"),
                    (*area_path, start),
                    (*area_path, size),
                    ("message", "baseSize", side),
                )
                yield Overflow(area_path, edge, (start, size, side), end, limit, depends)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)

"""What the schemas say beyond the documentation's tables, as data.

`linepress.validate.schemagen` derives every property, type and description from the
documentation's tables (`compiler/linepress/validate/data/doc-tables.json`) and then applies this
module, in this order:

1. `DOC_FIXES`   replace a derived property the page gets wrong (one decision each);
2. `LINKS`       say what a documented `object`/`array` holds (a `$ref`);
3. `LINE_LIMITS` merge in the limits LINE enforces (the page states none);
4. `REQUIRED`    the required properties (the page states none; LINE's rules);
5. `OBJECT_RULES` merge object-level rules (cross-field `if`/`then`, custom keywords).

Schema kinds are file stems: "message/text", "template/buttons", "action/uri", ...
`$ref`s are relative to the file they end up in.

Custom keywords (implemented in `linepress.validate.body`):
    x-maxUtf16        at most N UTF-16 code units (an emoji outside the BMP counts 2)
    x-maxGraphemes    at most N grapheme clusters (what a reader sees as one character)
    x-uniformColumns  carousel columns agree on action count, thumbnail and title
    x-message         annotation: the message for the errors of the subschema it sits in
                      (keep such subschemas single-purpose, e.g. one `pattern` in an `allOf`)
    x-url             a percent-encoded absolute link (see `linepress.validate.values`)
    x-recipientKey    a `to`/`from` value no spreadsheet damaged (blank, stray spaces,
                      `6.68123E+10`; see `linepress.validate.values`)
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# --- building blocks -------------------------------------------------------------


def utf16(limit: int) -> Json:
    """A non-empty string of at most `limit` UTF-16 code units (LINE's usual count)."""
    return {"type": "string", "minLength": 1, "x-maxUtf16": limit}


def graphemes(limit: int) -> Json:
    """A non-empty string of at most `limit` grapheme clusters.

    No `maxLength` here: it counts code points, which exceed grapheme clusters
    (e + combining accent is 2 code points, 1 cluster) and would wrongly reject.
    """
    return {"type": "string", "minLength": 1, "x-maxGraphemes": limit}


#: Media URLs: LINE fetches them over TLS only. File extensions (.jpg, .mp4) are
#: NOT required: the documented BUTTONS example uses "https://example.com/thumbnail";
#: a missing extension is a lint warning elsewhere, not a schema error.
HTTPS_RULE: Json = {"pattern": "^https://", "x-message": "must start with https://"}


def https_url(limit: int = 2000) -> Json:
    return {**utf16(limit), "x-url": True, "allOf": [HTTPS_RULE]}


#: LINE appends the width (/240, /300, /460, /700, /1040) to an imagemap's baseUrl,
#: so the base must not end in a file extension; the extension is looked for in the
#: last path segment only, so "https://example.com" (a host's ".com") is fine.
NO_EXTENSION_RULE: Json = {
    "not": {"pattern": r"^[^:]+://[^/]+/(?:[^?#]*/)?[^/?#]*\.[A-Za-z][A-Za-z0-9]{0,4}(?:[?#].*)?$"},
    "x-message": "must not end in a file extension: LINE appends /240 … /1040 to baseUrl",
}

#: Action URIs: LINE accepts these schemes only.
URI_SCHEME_RULE: Json = {
    "pattern": "^(?:https?|line|tel):",
    "x-message": "must be a URI with scheme http, https, line or tel",
}


def uri(limit: int = 1000) -> Json:
    return {**utf16(limit), "x-url": True, "allOf": [URI_SCHEME_RULE]}


def items(ref: str, low: int, high: int) -> Json:
    return {"type": "array", "items": {"$ref": ref}, "minItems": low, "maxItems": high}


#: "text ≤ 60 when there is a title or a thumbnail" (buttons and carousel columns).
#: `if`/`then` in the schema: the condition is about sibling properties.
SHORT_TEXT_WITH_HEADER: Json = {
    "if": {"anyOf": [{"required": ["title"]}, {"required": ["thumbnailImageUrl"]}]},
    "then": {
        "properties": {
            "text": {
                "x-maxGraphemes": 60,
                "x-message": (
                    "must be at most 60 characters as LINE counts them (grapheme clusters)"
                    " when there is a title or a thumbnail image"
                ),
            }
        }
    },
}

# --- 1. the documentation's mistakes -------------------------------------------
# Each entry replaces the derived property. Numbers refer to the spec README's
# "Where the page contradicts itself". Items 4 and 7 need no property fix:
# 4. The VIDEO example body has a trailing comma: an example problem, not a schema
#    one; our test copy of that body drops the comma (tests/data/doc-bodies/03-video.json).
# 7. The page states no required flags or limits: REQUIRED and LINE_LIMITS below.
# 5. STICKER is supported although the intro omits it: "Sticker Message" is mapped
#    like every other section (linepress.validate.schemagen.SECTIONS), nothing to fix here.

DOC_FIXES: dict[str, dict[str, Json]] = {
    "template/confirm": {
        # 1. The table's constant is 'BUTTONS' (copied from the BUTTONS table); the
        #    example sends "CONFIRM" and 'BUTTONS' would make the two indistinguishable.
        "type": {
            "type": "string",
            "const": "CONFIRM",
            "description": 'Constant value - "CONFIRM".',
            "$comment": "Doc mistake 1: the table says 'BUTTONS'; the example's CONFIRM wins.",
        },
    },
    "message/imagemap": {
        # 2. The table lists `baseSize.width` then `baseSize` typed number and described
        #    as the height; the example sends baseSize: {width, height}. An object.
        "baseSize": {
            "type": "object",
            "description": "Size of the base image: {width, height}.",
            "$comment": (
                "Doc mistake 2: the table's second 'baseSize' row is baseSize.height;"
                " the example's object wins."
            ),
            "properties": {
                "width": {"type": "integer", "description": "Width of the base image"},
                "height": {"type": "integer", "description": "Height of the base image"},
            },
            "required": ["width", "height"],
            "additionalProperties": False,
        },
    },
    "action/imagemap-uri": {
        # 3. The table types `area` as Area[]; the example (and LINE) send one object.
        "area": {
            "$ref": "imagemap-area.json",
            "description": "The tappable area of the action (one area object).",
            "$comment": "Doc mistake 3: the table says Area[]; the example's single object wins.",
        },
    },
    "action/imagemap-message": {
        # 3. Same as the URI action.
        "area": {
            "$ref": "imagemap-area.json",
            "description": "The tappable area of the action (one area object).",
            "$comment": "Doc mistake 3: the table says Area[]; the example's single object wins.",
        },
    },
    "request": {
        # 6. The table says "User key."; the parameter list says "User key or a phone
        #    number". Accept either as a plain non-empty string: no format is guessed.
        "to": {
            "type": "string",
            "minLength": 1,
            "description": "User key or a phone number.",
            "$comment": "Doc mistake 6: the table says 'User key.'; the parameter list wins.",
        },
    },
}

#: One line per documentation mistake, for the README (kept next to the data it explains).
DECISIONS: tuple[str, ...] = (
    "1. CONFIRM template: the table's constant 'BUTTONS' is a copy error; `type` must be "
    '"CONFIRM" (as in the example).',
    "2. IMAGEMAP baseSize: an object {width, height} (the example), not a number; the table's "
    "second `baseSize` row is the height.",
    "3. Imagemap action `area`: a single {x, y, width, height} object (the example), not Area[]; "
    "an array is rejected.",
    "4. VIDEO example's trailing comma: an example problem, nothing in the schema; our test "
    "copy drops the comma.",
    "5. STICKER: supported (its section and example exist), although the intro omits it.",
    "6. `to`: a user key or a phone number, as a plain non-empty string (no format guessed).",
    "7. Required fields and all limits come from LINE's Messaging API (line-limits.md), "
    "not from the page.",
)

# --- 2. what objects and arrays hold --------------------------------------------

LINKS: dict[str, dict[str, Json]] = {
    "request": {"message": {"$ref": "message.json"}},
    "message/template": {"template": {"$ref": "../template.json"}},
}

# --- 3. LINE's limits (line-limits.md) ---------------------------------------------

LINE_LIMITS: dict[str, dict[str, Json]] = {
    # Keys as a spreadsheet may have damaged them (not their format: that is lint's).
    "request": {
        "from": {"minLength": 1, "x-recipientKey": True},
        "to": {"x-recipientKey": True},
    },
    "message/text": {"text": utf16(5000)},
    "message/image": {"url": https_url(), "thumbnailUrl": https_url()},
    "message/video": {"url": https_url(), "thumbnailUrl": https_url()},
    "message/audio": {
        "url": https_url(),
        # Milliseconds: a whole, positive number (the page says "Number").
        "duration": {"type": "integer", "exclusiveMinimum": 0},
    },
    "message/location": {
        "title": utf16(100),
        "address": utf16(100),
        # Sanity ranges: outside them the coordinates are surely a mistake.
        "latitude": {"minimum": -90, "maximum": 90},
        "longitude": {"minimum": -180, "maximum": 180},
    },
    # Digits in practice, but only "a string" is a rule; digits are a lint matter.
    "message/sticker": {"packageId": {"minLength": 1}, "stickerId": {"minLength": 1}},
    "message/imagemap": {
        "baseUrl": {**https_url(), "allOf": [HTTPS_RULE, NO_EXTENSION_RULE]},
        "altText": utf16(1500),
        "baseSize": {
            "properties": {
                "width": {"const": 1040},
                "height": {"exclusiveMinimum": 0},
            }
        },
        "actions": items("../action/imagemap-action.json", 1, 50),
    },
    # Should also lie inside baseSize: a cross-object check left to the linter.
    "action/imagemap-area": {
        "x": {"type": "integer", "minimum": 0},
        "y": {"type": "integer", "minimum": 0},
        "width": {"type": "integer", "exclusiveMinimum": 0},
        "height": {"type": "integer", "exclusiveMinimum": 0},
    },
    "action/imagemap-uri": {"linkUri": uri()},
    # "message-action text" counts grapheme clusters, for imagemap and template alike.
    "action/imagemap-message": {"text": graphemes(400)},
    "message/template": {"altText": utf16(1500)},
    "template/buttons": {
        "thumbnailImageUrl": https_url(),
        "title": graphemes(40),
        "text": graphemes(160),
        "actions": items("../action/template-action.json", 1, 4),
    },
    "template/confirm": {
        "text": graphemes(240),
        "actions": items("../action/template-action.json", 2, 2),
    },
    "template/carousel": {"columns": items("carousel-column.json", 1, 10)},
    "template/carousel-column": {
        "thumbnailImageUrl": https_url(),
        "title": graphemes(40),
        "text": graphemes(120),
        "actions": items("../action/template-action.json", 1, 3),
    },
    "action/postback": {"label": graphemes(20), "data": utf16(300)},
    "action/message": {"label": graphemes(20), "text": graphemes(300)},
    "action/uri": {"label": graphemes(20), "uri": uri()},
}

# --- 4. required properties (LINE's rules) ----------------------------------------

REQUIRED: dict[str, list[str]] = {
    "request": ["from", "to", "message"],
    "message/text": ["type", "text"],
    "message/image": ["type", "url", "thumbnailUrl"],
    "message/video": ["type", "url", "thumbnailUrl"],
    "message/audio": ["type", "url", "duration"],
    "message/location": ["type", "title", "address", "latitude", "longitude"],
    "message/sticker": ["type", "packageId", "stickerId"],
    "message/imagemap": ["type", "baseUrl", "altText", "baseSize", "actions"],
    "action/imagemap-area": ["x", "y", "width", "height"],
    "action/imagemap-uri": ["type", "linkUri", "area"],
    "action/imagemap-message": ["type", "text", "area"],
    "message/template": ["type", "altText", "template"],
    "action/postback": ["type", "label", "data"],
    "action/message": ["type", "label", "text"],
    "action/uri": ["type", "label", "uri"],
    "template/buttons": ["type", "text", "actions"],
    "template/confirm": ["type", "text", "actions"],
    "template/carousel": ["type", "columns"],
    "template/carousel-column": ["text", "actions"],
}

# --- 5. object-level rules ------------------------------------------------------------

OBJECT_RULES: dict[str, Json] = {
    "template/buttons": SHORT_TEXT_WITH_HEADER,
    "template/carousel-column": SHORT_TEXT_WITH_HEADER,
    # Cross-column rules plain JSON Schema cannot say (see linepress.validate.body).
    "template/carousel": {"x-uniformColumns": True},
}

"""An HTML preview: each picked recipient's message drawn the way LINE shows it.

`write_preview()` is the `linepress preview` command as a function: it picks the
rows (`linepress.author.select`), compiles them, and writes one self-contained
page. `build_preview()` turns a compiler and its picked rows into that page.

The page needs no network: CSS is inline, there is no script at all (a Content
Security Policy forbids any), and the only URLs are the message's own media,
drawn as CSS backgrounds over a placeholder that names the file, so a missing
image leaves a labelled frame instead of a broken-image icon. Everything from
the definition or the data is HTML-escaped: recipient data is untrusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from linepress.author.lint import Linter
from linepress.author.select import Selected, is_empty, select_rows, value_text, without_data
from linepress.errors import LinepressError, Location, Problem
from linepress.limits import grapheme_length
from linepress.output import AtomicOutput
from linepress.pipeline import Compiler, Result, open_data
from linepress.recipients.records import BadRecord
from linepress.report import ProblemLog

#: Extra problems for a compiled recipient (lint warnings), shown on its card.
WarningsFor = Callable[[Result], Iterable[Problem]]

#: Characters of a data value shown in the recipient table.
CELL_LIMIT = 300

#: The width LINE fetches an imagemap's base image at (`{baseUrl}/1040`).
IMAGEMAP_WIDTH = 1040

# No script may run, whatever the data holds; only media may be fetched.
_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)


@dataclass(slots=True)
class Card:
    """One recipient on the page: why it was picked and what it compiled to."""

    selected: Selected
    result: Result
    warnings: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [*self.result.problems, *self.warnings]


@dataclass(slots=True)
class Section:
    """One definition's cards, with what the page says about where they came from."""

    compiler: Compiler
    cards: list[Card]
    data_name: str | None = None
    selection: str = ""


# --------------------------------------------------------------------------- #
# Public API


def compile_cards(
    compiler: Compiler, selected: Iterable[Selected], warnings_for: WarningsFor | None = None
) -> list[Card]:
    """Compile each picked recipient (a failing one too: its card shows why)."""
    cards = []
    for pick in selected:
        record = pick.record
        result = compiler.compile() if record is None else compiler.compile_record(record)
        # Every result goes to warnings_for, failed ones too: the linter counts per render.
        warnings = list(warnings_for(result)) if warnings_for else []
        cards.append(Card(pick, result, warnings))
    return cards


def build_preview(
    compiler: Compiler,
    selected: Iterable[Selected],
    *,
    warnings_for: WarningsFor | None = None,
    data_name: str | None = None,
    selection: str = "",
) -> str:
    """One self-contained HTML page previewing `selected` recipients of `compiler`."""
    section = Section(
        compiler, compile_cards(compiler, selected, warnings_for), data_name, selection
    )
    return build_page([section])


def build_page(
    sections: Sequence[Section], *, problems: Sequence[Problem] = (), title: str | None = None
) -> str:
    """The page for one or more definitions, with run-wide problems on top."""
    if title is None:
        title = ", ".join(s.compiler.name for s in sections) or "linepress preview"
    body = "".join(_section(s, index) for index, s in enumerate(sections, start=1))
    return _PAGE.format(
        csp=_e(_CSP),
        title=_e(title),
        css=_CSS,
        header=_page_header(title, sections, problems),
        body=body,
    )


def write_preview(
    definition: str | Path,
    data: str | None,
    *,
    data_format: str | None = None,
    delimiter: str | None = None,
    rows: Sequence[int] | None = None,
    sample: int | None = None,
    edge_cases: bool = False,
    out: Path,
    warnings_for: WarningsFor | None = None,
) -> ProblemLog:
    """`linepress preview`: pick, compile and draw recipients into the page `out`.

    Raises nothing for user mistakes: definition, data and selection problems go
    into the returned log (and onto the page, which is still written so the
    reader sees why). Failing recipients are in the log too.
    """
    log = ProblemLog(limit=0)
    page_problems: list[Problem] = []
    sections: list[Section] = []
    try:
        compiler = Compiler(definition)
        if warnings_for is None:
            linter = Linter(compiler)
            static = linter.static()
            page_problems.extend(static)
            log.add(static)
            warnings_for = linter.row
        selected = _select(data, data_format, delimiter, rows, sample, edge_cases)
        cards = compile_cards(compiler, selected, warnings_for)
        mode = _mode_name(data, rows, sample, edge_cases)
        sections.append(Section(compiler, cards, data, mode))
    except LinepressError as exc:
        page_problems.extend(exc.problems)
        log.add(exc.problems)
    for section in sections:
        for card in section.cards:
            log.rows += 1
            if not card.result.ok:
                log.failed_rows += 1
            log.add(card.problems)
    title = Path(definition).name
    page = build_page(sections, problems=page_problems, title=title)
    _write_atomic(out, page, log, inputs=(definition, data))
    return log


# --------------------------------------------------------------------------- #
# Running the command


def _select(
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    rows: Sequence[int] | None,
    sample: int | None,
    edge_cases: bool,
) -> list[Selected]:
    if data is None:
        return without_data()
    with open_data(data, data_format, delimiter) as source:
        return select_rows(source, rows=rows, sample=sample, edge_cases=edge_cases)


def _mode_name(data: str | None, rows: object, sample: int | None, edge_cases: bool) -> str:
    if data is None:
        return "no data"
    if rows is not None:
        return "rows asked for"
    if sample is not None:
        return f"sample of {sample}"
    return "edge cases" if edge_cases else "first rows"


def _write_atomic(
    out: Path, page: str, log: ProblemLog, inputs: Sequence[str | Path | None] = ()
) -> None:
    """Replace `out` whole or not at all (the shared output rules); a bad path is a problem."""
    try:
        target = AtomicOutput(out, inputs=inputs)
    except LinepressError as exc:
        log.add(
            [replace(p, message=f"cannot write the preview: {p.message}") for p in exc.problems]
        )
        return
    try:
        target.write(page.encode("utf-8"))
        target.commit()
    except OSError as exc:
        target.abort()
        reason = exc.strerror or str(exc)
        log.add([Problem(f"cannot write the preview: {reason}", Location(str(out)), code="io")])
    except LinepressError as exc:
        log.add(exc.problems)


# --------------------------------------------------------------------------- #
# Page and cards


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page_header(title: str, sections: Sequence[Section], problems: Sequence[Problem]) -> str:
    cards = [card for section in sections for card in section.cards]
    failed = sum(not card.result.ok for card in cards)
    counts = f"{len(cards)} recipient{'s' if len(cards) != 1 else ''}"
    if failed:
        counts += f" · <b class='lp-bad'>{failed} failing</b>"
    fatal = ""
    if problems:
        items = "".join(f"<li>{_e(p.format())}</li>" for p in problems)
        fatal = (
            f"<div class='lp-fatal' role='alert'><b>Nothing to preview</b><ul>{items}</ul></div>"
        )
    return (
        "<header class='lp-head'><div class='lp-logo'>LINE</div>"
        f"<div><h1>{_e(title)}</h1><p class='lp-summary'>linepress preview · {counts}</p></div>"
        f"</header>{fatal}"
    )


def _section(section: Section, index: int) -> str:
    definition = section.compiler.definition
    description = getattr(definition, "description", None)
    facts = [f"<code>{_e(section.compiler.name)}</code>"]
    if section.data_name:
        facts.append(f"data <code>{_e(section.data_name)}</code>")
    if section.selection:
        facts.append(_e(section.selection))
    about = f"<p class='lp-about'>{_e(description)}</p>" if description else ""
    cards = "".join(_card(card, f"s{index}") for card in section.cards)
    return (
        f"<section class='lp-section' id='s{index}'>"
        f"<div class='lp-section-head'><h2>{' · '.join(facts)}</h2>{about}</div>"
        f"{cards}</section>"
    )


def _card(card: Card, prefix: str) -> str:
    row = card.selected.row
    anchor = f"{prefix}-row-{row}" if row is not None else f"{prefix}-static"
    status = "lp-ok" if card.result.ok else "lp-failed"
    row_attr = f" data-row='{row}'" if row is not None else " data-static='true'"
    return (
        f"<article class='lp-card {status}' id='{anchor}'{row_attr}>"
        f"{_phone(card)}{_info(card)}</article>"
    )


def _phone(card: Card) -> str:
    body = card.result.body
    if body is None:
        sender, recipient = "not sent", _recipient_of(card)
        chat = _not_sent(card.result.problems)
        footer = ""
    else:
        sender, recipient = str(body.get("from", "")), str(body.get("to", ""))
        message = body.get("message")
        chat = _incoming(message) if isinstance(message, dict) else ""
        footer = _alt_text(message) if isinstance(message, dict) else ""
    return (
        "<div class='lp-phone'>"
        "<div class='lp-bar'><span class='lp-back' aria-hidden='true'>‹</span>"
        f"<div class='lp-bar-text'><b title='from'>{_e(sender)}</b>"
        f"<small title='to'>to {_e(recipient)}</small></div></div>"
        f"<div class='lp-chat'><span class='lp-day'>Today</span>{chat}</div>{footer}"
        "<div class='lp-input' aria-hidden='true'><span class='lp-plus'>+</span>"
        "<span class='lp-input-box'>Aa</span></div></div>"
    )


def _recipient_of(card: Card) -> str:
    fields = card.result.fields or {}
    return value_text(fields.get("to") or fields.get("user_id")) or "?"


def _not_sent(problems: Sequence[Problem]) -> str:
    items = "".join(f"<li>{_e(p.message)}</li>" for p in problems[:3])
    more = f"<li>… and {len(problems) - 3} more</li>" if len(problems) > 3 else ""
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return (
        "<div class='lp-not-sent' data-kind='ERROR' role='alert'>"
        f"<b>Not sent</b><span>this recipient's body did not compile: {count}</span>"
        f"<ul>{items}{more}</ul></div>"
    )


def _alt_text(message: Mapping[str, Any]) -> str:
    alt = message.get("altText")
    if not isinstance(alt, str):
        return ""
    return (
        "<div class='lp-alt' title='altText: what notifications and the chat list show'>"
        f"<span class='lp-alt-tag'>notification</span>{_e(alt)}</div>"
    )


def _info(card: Card) -> str:
    result = card.result
    row = card.selected.row
    where = result.data_location
    heading = f"Row {row}" if row is not None else "Without data"
    badge = (
        "<span class='lp-badge lp-badge-ok'>compiles</span>"
        if result.ok
        else "<span class='lp-badge lp-badge-bad'>fails</span>"
    )
    source = f"<span class='lp-where'>{_e(where)}</span>" if where else ""
    reasons = "".join(f"<li>{_e(r)}</li>" for r in card.selected.reasons)
    return (
        "<div class='lp-info'>"
        f"<div class='lp-info-head'><h3>{heading}</h3>{badge}{source}</div>"
        f"<ul class='lp-reasons' title='why this row is shown'>{reasons}</ul>"
        f"{_problem_list(card.problems)}"
        f"<div class='lp-panes{' lp-one' if card.selected.record is None else ''}'>"
        f"{_data_table(card)}{_json_pane(result)}"
        "</div></div>"
    )


def _problem_list(problems: Sequence[Problem]) -> str:
    if not problems:
        return ""
    items = "".join(
        f"<li class='lp-problem lp-{p.severity}'>{_e(p.format())}</li>" for p in problems
    )
    return f"<ul class='lp-problems'>{items}</ul>"


def _data_table(card: Card) -> str:
    record = card.selected.record
    if record is None:
        return ""
    if isinstance(record, BadRecord):
        return "<div class='lp-pane lp-data'><h4>Recipient data</h4><p class='lp-muted'>this record cannot be read</p></div>"
    hot = set(card.selected.columns)
    rows = "".join(
        f"<tr{' class=lp-hot' if name in hot else ''}><th>{_e(name)}</th><td>{_cell(value)}</td></tr>"
        for name, value in record.fields.items()
    )
    return (
        "<div class='lp-pane lp-data'><h4>Recipient data</h4>"
        f"<table class='lp-fields'>{rows}</table></div>"
    )


def _cell(value: object) -> str:
    if is_empty(value):
        return "<span class='lp-muted'>(empty)</span>"
    text = value_text(value) or ""
    if len(text) <= CELL_LIMIT:
        return _e(text)
    # A 5000-character field would push everything else off the screen.
    more = f"… ({grapheme_length(text)} characters in all)"
    return f"{_e(text[:CELL_LIMIT])}<span class='lp-muted'>{more}</span>"


def _json_pane(result: Result) -> str:
    if result.body is None:
        return "<div class='lp-pane lp-json'><h4>Request body</h4><p class='lp-muted'>none: this recipient fails</p></div>"
    text = json.dumps(result.body, ensure_ascii=False, indent=2)
    return (
        "<div class='lp-pane lp-json'><h4>Request body</h4>"
        f"<pre class='lp-json-text'>{_e(text)}</pre></div>"
    )


# --------------------------------------------------------------------------- #
# Messages


def _incoming(message: Mapping[str, Any]) -> str:
    """The message as it arrives: the account's avatar, then the message."""
    kind = str(message.get("type", ""))
    draw = _MESSAGES.get(kind, _unknown)
    wide = kind == "TEMPLATE" and _template(message).get("type") == "CAROUSEL"
    return (
        f"<div class='lp-in{' lp-wide' if wide else ''}'>"
        "<div class='lp-avatar' aria-hidden='true'>OA</div>"
        f"{draw(message)}</div>"
    )


def _open(kind: str, css: str, extra: str = "") -> str:
    return f"<div class='lp-message {css}' data-kind='{_e(kind)}'{extra}>"


def _text(message: Mapping[str, Any]) -> str:
    return f"{_open('TEXT', 'lp-text')}<div class='lp-bubble'>{_e(message.get('text', ''))}</div></div>"


def _image(message: Mapping[str, Any]) -> str:
    thumb = str(message.get("thumbnailUrl") or message.get("url") or "")
    return (
        f"{_open('IMAGE', 'lp-image')}"
        f"{_media(thumb, 'lp-photo', title=_e(message.get('url', '')))}</div>"
    )


def _video(message: Mapping[str, Any]) -> str:
    thumb = str(message.get("thumbnailUrl") or "")
    play = "<span class='lp-play-badge' aria-label='video'></span>"
    name = _file_name(str(message.get("url", "")))
    return (
        f"{_open('VIDEO', 'lp-video')}"
        f"{_media(thumb, 'lp-photo', title=_e(message.get('url', '')), overlay=play)}"
        f"<div class='lp-caption'>{_e(name)}</div></div>"
    )


def _audio(message: Mapping[str, Any]) -> str:
    return (
        f"{_open('AUDIO', 'lp-audio')}"
        f"<div class='lp-bubble lp-audio-bar' title='{_e(message.get('url', ''))}'>"
        "<span class='lp-audio-play' aria-hidden='true'></span>"
        "<span class='lp-audio-track'><span></span></span>"
        f"<span class='lp-duration'>{_duration(message.get('duration'))}</span>"
        "</div></div>"
    )


def _location(message: Mapping[str, Any]) -> str:
    lat, lng = message.get("latitude"), message.get("longitude")
    return (
        f"{_open('LOCATION', 'lp-location')}<div class='lp-loc'>"
        "<div class='lp-map' aria-hidden='true'><span class='lp-pin'></span></div>"
        f"<div class='lp-loc-text'><b>{_e(message.get('title', ''))}</b>"
        f"<span>{_e(message.get('address', ''))}</span>"
        f"<small>{_e(lat)}, {_e(lng)}</small></div></div></div>"
    )


def _sticker(message: Mapping[str, Any]) -> str:
    package, sticker = message.get("packageId", ""), message.get("stickerId", "")
    return (
        f"{_open('STICKER', 'lp-sticker')}"
        "<div class='lp-sticker-frame'><span class='lp-sticker-face' aria-hidden='true'></span>"
        f"<small>package {_e(package)}<br>sticker {_e(sticker)}</small></div></div>"
    )


def _imagemap(message: Mapping[str, Any]) -> str:
    size = _mapping(message.get("baseSize"))
    width = _number(size.get("width")) or IMAGEMAP_WIDTH
    height = _number(size.get("height")) or width
    base = str(message.get("baseUrl", "")).rstrip("/")
    areas = "".join(
        _imagemap_area(action, width, height)
        for action in message.get("actions") or []
        if isinstance(action, dict)
    )
    # LINE fetches `{baseUrl}/1040` for the widest screens: the image drawn here.
    caption = (
        f"{_file_name(base)}/{IMAGEMAP_WIDTH} · {_plain_number(width)} × {_plain_number(height)}"
    )
    frame = _media(
        f"{base}/{IMAGEMAP_WIDTH}",
        "lp-imap",
        label="",
        style=f"aspect-ratio:{_plain_number(width)}/{_plain_number(height)}",
        overlay=areas,
    )
    return (
        f"{_open('IMAGEMAP', 'lp-imagemap')}{frame}"
        f"<div class='lp-caption'>{_e(caption)}</div></div>"
    )


def imagemap_box(area: Mapping[str, Any], width: float, height: float) -> dict[str, float]:
    """An action area as percentages of the base size (what CSS positions it by)."""

    def pct(key: str, total: float) -> float:
        return round(100 * (_number(area.get(key)) or 0) / total, 4) if total else 0.0

    return {
        "left": pct("x", width),
        "top": pct("y", height),
        "width": pct("width", width),
        "height": pct("height", height),
    }


def _imagemap_area(action: Mapping[str, Any], width: float, height: float) -> str:
    area = _mapping(action.get("area"))
    box = imagemap_box(area, width, height)
    style = ";".join(f"{key}:{_plain_number(value)}%" for key, value in box.items())
    kind = str(action.get("type", ""))
    if kind == "URI":
        uri = str(action.get("linkUri", ""))
        label, does = "↗ " + (urlsplit(uri).hostname or uri), f"Opens {uri}"
    else:
        text = str(action.get("text", ""))
        label, does = "💬 " + text, f"Sends the message: {text}"
    return (
        f"<div class='lp-area' data-action-type='{_e(kind)}' style='{style}' title='{_e(does)}'>"
        f"<span class='lp-area-label'>{_e(label)}</span></div>"
    )


def _template(message: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(message.get("template"))


def _mapping(value: object) -> Mapping[str, Any]:
    """A nested object, or an empty one: a failed body may hold anything."""
    return value if isinstance(value, dict) else {}


def _template_message(message: Mapping[str, Any]) -> str:
    template = _template(message)
    kind = str(template.get("type", ""))
    extra = f" data-template='{_e(kind)}'"
    if kind == "CAROUSEL":
        columns = "".join(
            _template_card(column)
            for column in template.get("columns") or []
            if isinstance(column, dict)
        )
        inner = f"<div class='lp-scroller'>{columns}</div>"
    elif kind == "CONFIRM":
        inner = (
            "<div class='lp-tcard lp-confirm-card'>"
            f"<div class='lp-tbody'><p class='lp-ttext'>{_e(template.get('text', ''))}</p></div>"
            f"{_actions(template.get('actions'), 'lp-side-by-side')}</div>"
        )
    else:
        inner = _template_card(template)
    return f"{_open('TEMPLATE', 'lp-template lp-' + kind.lower(), extra)}{inner}</div>"


def _template_card(card: Mapping[str, Any]) -> str:
    """A BUTTONS template or one carousel column: image, title, text, actions."""
    parts = ["<div class='lp-tcard'>"]
    thumb = card.get("thumbnailImageUrl")
    if thumb:
        parts.append(_media(str(thumb), "lp-thumb"))
    parts.append("<div class='lp-tbody'>")
    if card.get("title"):
        parts.append(f"<p class='lp-ttitle'>{_e(card['title'])}</p>")
    parts.append(f"<p class='lp-ttext'>{_e(card.get('text', ''))}</p></div>")
    parts.append(_actions(card.get("actions"), "lp-stacked"))
    parts.append("</div>")
    return "".join(parts)


def _actions(actions: object, layout: str) -> str:
    buttons = (
        "".join(_action(a) for a in actions if isinstance(a, dict))
        if isinstance(actions, list)
        else ""
    )
    return f"<div class='lp-actions {layout}'>{buttons}</div>"


def _action(action: Mapping[str, Any]) -> str:
    """A template button: the label; what it does on hover (and as a user reply)."""
    kind = str(action.get("type", ""))
    reply = ""
    if kind == "URI":
        does = f"Opens {action.get('uri', '')}"
    elif kind == "POSTBACK":
        does = f"Postback data: {action.get('data', '')}"
    else:
        text = str(action.get("text", ""))
        does = f"Sends the message: {text}"
        # Tapping it makes the user say this: shown as their green bubble on hover.
        reply = f"<span class='lp-reply' aria-hidden='true'>{_e(text)}</span>"
    return (
        f"<button type='button' class='lp-action' data-action-type='{_e(kind)}' title='{_e(does)}'>"
        f"<span class='lp-label'>{_e(action.get('label', ''))}</span>{reply}</button>"
    )


def _unknown(message: Mapping[str, Any]) -> str:
    kind = str(message.get("type", "?"))
    return f"{_open(kind, 'lp-unknown')}<div class='lp-bubble'>({_e(kind)} message)</div></div>"


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "TEXT": _text,
    "IMAGE": _image,
    "VIDEO": _video,
    "AUDIO": _audio,
    "LOCATION": _location,
    "STICKER": _sticker,
    "IMAGEMAP": _imagemap,
    "TEMPLATE": _template_message,
}


# --------------------------------------------------------------------------- #
# Small helpers


def _media(
    url: str,
    css: str,
    *,
    label: str | None = None,
    title: str | None = None,
    style: str = "",
    overlay: str = "",
) -> str:
    """A placeholder naming the file, with the image drawn over it if it loads.

    A CSS background (not <img>) so that a failed load shows the placeholder,
    not a broken-image icon. `style` is for the frame (its aspect ratio).
    """
    shown = label if label is not None else _file_name(url)
    image = f'background-image:url("{_css_url(url)}")' if url else ""
    frame_style = f" style='{_e(style)}'" if style else ""
    return (
        f"<div class='lp-media {css}' title='{title or _e(url)}'{frame_style}>"
        f"<span class='lp-ph'><span class='lp-ph-icon' aria-hidden='true'></span>{_e(shown)}</span>"
        f"<span class='lp-img' style='{_e(image)}'></span>{overlay}</div>"
    )


def _css_url(url: str) -> str:
    """The URL made safe inside url("…"): quotes, backslashes, spaces, newlines encoded."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def _file_name(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return name or parts.hostname or url


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _plain_number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _duration(milliseconds: object) -> str:
    """LINE's m:ss for an audio clip's length in milliseconds."""
    number = _number(milliseconds)
    if number is None or number < 0:
        return "-:--"
    seconds = int(number + 500) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


# --------------------------------------------------------------------------- #
# The page's frame and style

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · linepress preview</title>
<style>{css}</style>
</head>
<body class="lp-page">
{header}
<main>{body}</main>
</body>
</html>
"""

_CSS = """
:root {
  --lp-green: #06c755; --lp-chat: #8cabd8; --lp-bubble: #ffffff; --lp-reply: #8de055;
  --lp-link: #3b6ac4; --lp-ink: #1e2430; --lp-muted: #7b8494; --lp-line: #e3e7ee;
  --lp-bad: #d93025; --lp-warn: #b26a00;
  --lp-font: system-ui, -apple-system, "Segoe UI", "Helvetica Neue", "Hiragino Sans",
    "Noto Sans", "Noto Sans CJK JP", "Noto Sans Thai", "Noto Color Emoji", sans-serif;
  --lp-mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body.lp-page { margin: 0; background: #eef1f5; color: var(--lp-ink); font: 14px/1.45 var(--lp-font); }
main { max-width: 1200px; margin: 0 auto; padding: 0 24px 40px; }
.lp-head { max-width: 1200px; margin: 0 auto; padding: 22px 24px 10px; display: flex; gap: 14px; align-items: center; }
.lp-logo { background: var(--lp-green); color: #fff; font-weight: 800; font-size: 13px; letter-spacing: .5px;
  border-radius: 12px; width: 46px; height: 46px; display: grid; place-items: center; }
.lp-head h1 { font-size: 20px; margin: 0; }
.lp-summary { margin: 2px 0 0; color: var(--lp-muted); }
.lp-bad { color: var(--lp-bad); }
.lp-fatal { max-width: 1152px; margin: 8px auto 16px; background: #fdecea; border: 1px solid #f3b6b0;
  border-left: 6px solid var(--lp-bad); border-radius: 10px; padding: 12px 16px; }
.lp-fatal ul { margin: 6px 0 0; padding-left: 18px; font-family: var(--lp-mono); font-size: 12.5px; white-space: pre-wrap; overflow-wrap: anywhere; }
.lp-section-head { margin: 18px 0 10px; }
.lp-section-head h2 { font-size: 15px; font-weight: 600; margin: 0; color: #3c4350; }
.lp-section-head code { font-family: var(--lp-mono); font-size: 13px; background: #fff; border-radius: 5px; padding: 1px 6px; }
.lp-about { margin: 4px 0 0; color: var(--lp-muted); }

/* a card: the phone on the left, what it came from on the right */
.lp-card { display: grid; grid-template-columns: 360px minmax(0, 1fr); background: #fff; border-radius: 14px;
  box-shadow: 0 1px 2px rgba(20,30,50,.08), 0 4px 16px rgba(20,30,50,.06); margin: 0 0 18px; overflow: hidden; }
.lp-card.lp-failed { box-shadow: 0 0 0 2px var(--lp-bad), 0 4px 16px rgba(217,48,37,.12); }

/* the phone */
.lp-phone { display: flex; flex-direction: column; background: var(--lp-chat); min-height: 260px; }
.lp-bar { display: flex; align-items: center; gap: 8px; background: #1f2a3c; color: #fff; padding: 9px 12px; }
.lp-back { font-size: 24px; line-height: 1; opacity: .8; }
.lp-bar-text { display: flex; flex-direction: column; min-width: 0; }
.lp-bar-text b { font-size: 14px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.lp-bar-text small { font-size: 11px; opacity: .65; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.lp-chat { position: relative; flex: 1; padding: 14px 12px 18px; }
.lp-day { display: block; width: max-content; margin: 0 auto 12px; background: rgba(0,0,0,.16); color: #fff;
  font-size: 11px; border-radius: 999px; padding: 1px 10px; }
.lp-input { display: flex; align-items: center; gap: 10px; background: #f7f8fa; padding: 7px 12px; border-top: 1px solid #d9dee6; }
.lp-plus { color: #8a93a3; font-size: 22px; line-height: 1; font-weight: 300; }
.lp-input-box { flex: 1; background: #fff; border: 1px solid #e3e7ee; border-radius: 999px; padding: 5px 12px; color: #a0a7b3; font-size: 13px; }
.lp-in { display: flex; align-items: flex-start; gap: 8px; }
.lp-avatar { flex: none; width: 34px; height: 34px; border-radius: 50%; background: var(--lp-green); color: #fff;
  font-size: 11px; font-weight: 700; display: grid; place-items: center; border: 2px solid rgba(255,255,255,.7); }
.lp-message { min-width: 0; max-width: calc(100% - 42px); }
.lp-bubble { position: relative; background: var(--lp-bubble); border-radius: 18px; padding: 9px 13px;
  white-space: pre-wrap; overflow-wrap: anywhere; font-size: 14.5px; line-height: 1.42; display: inline-block; max-width: 100%; }
.lp-text .lp-bubble::before, .lp-audio-bar::before { content: ""; position: absolute; left: -6px; top: 10px;
  border: 7px solid transparent; border-right-color: var(--lp-bubble); border-left: 0; }
.lp-alt { margin: 0 10px 10px; background: rgba(255,255,255,.92); border-radius: 10px; padding: 7px 10px;
  font-size: 12px; color: #333; box-shadow: 0 1px 3px rgba(0,0,0,.12); overflow-wrap: anywhere; }
.lp-alt-tag { display: inline-block; font-size: 10px; text-transform: uppercase; letter-spacing: .4px;
  color: #fff; background: #5c6b80; border-radius: 4px; padding: 0 5px; margin-right: 6px; }

/* media: a labelled placeholder, and the image over it when it loads */
.lp-media { position: relative; overflow: hidden; border-radius: 16px;
  background: repeating-linear-gradient(135deg, #e9edf3 0 12px, #dfe4ec 12px 24px); }
.lp-img { position: absolute; inset: 0; background-size: cover; background-position: center; }
.lp-ph { position: absolute; inset: 0; display: flex; flex-direction: column; gap: 6px; align-items: center;
  justify-content: center; padding: 8px; color: #67758a; font-size: 12px; text-align: center; overflow-wrap: anywhere; }
.lp-ph-icon { width: 26px; height: 20px; border: 2px solid #8d9ab0; border-radius: 4px; position: relative; }
.lp-ph-icon::after { content: ""; position: absolute; left: 3px; bottom: 2px; border: 6px solid transparent;
  border-bottom: 8px solid #8d9ab0; border-top: 0; }
.lp-photo { width: 240px; max-width: 100%; aspect-ratio: 4 / 3; }
.lp-video .lp-ph { justify-content: flex-end; padding-bottom: 12px; }
.lp-video .lp-ph-icon, .lp-imap .lp-ph-icon { display: none; }
.lp-caption { font-size: 11px; color: #fff; opacity: .85; margin: 3px 0 0 4px; }
.lp-play-badge { position: absolute; left: 50%; top: 50%; width: 52px; height: 52px; margin: -26px 0 0 -26px;
  border-radius: 50%; background: rgba(0,0,0,.5); border: 2px solid rgba(255,255,255,.9); }
.lp-play-badge::after { content: ""; position: absolute; left: 19px; top: 14px; border: 11px solid transparent;
  border-left: 17px solid #fff; border-right: 0; }

/* audio */
.lp-audio-bar { display: flex !important; align-items: center; gap: 10px; width: 210px; }
.lp-audio-play { flex: none; width: 30px; height: 30px; border-radius: 50%; background: var(--lp-green); position: relative; }
.lp-audio-play::after { content: ""; position: absolute; left: 11px; top: 8px; border: 7px solid transparent;
  border-left: 11px solid #fff; border-right: 0; }
.lp-audio-track { flex: 1; height: 4px; border-radius: 2px; background: #d5dbe4; position: relative; }
.lp-audio-track span { position: absolute; left: 0; top: -4px; width: 12px; height: 12px; border-radius: 50%; background: #9aa6b8; }
.lp-duration { font-size: 12.5px; color: #555; font-variant-numeric: tabular-nums; }

/* location */
.lp-loc { width: 250px; max-width: 100%; background: #fff; border-radius: 16px; overflow: hidden; }
.lp-map { height: 110px; position: relative; background-color: #e6efe3;
  background-image: linear-gradient(90deg, transparent 46%, #fff 46% 50%, transparent 50%),
    linear-gradient(0deg, transparent 60%, #fff 60% 64%, transparent 64%),
    linear-gradient(30deg, transparent 30%, #f6e7b0 30% 33%, transparent 33%),
    repeating-linear-gradient(0deg, #dbe7d6 0 1px, transparent 1px 22px),
    repeating-linear-gradient(90deg, #dbe7d6 0 1px, transparent 1px 22px); }
.lp-pin { position: absolute; left: 50%; top: 50%; width: 24px; height: 24px; margin: -26px 0 0 -12px;
  background: #e5483b; border-radius: 50% 50% 50% 0; transform: rotate(-45deg); box-shadow: 0 2px 4px rgba(0,0,0,.3); }
.lp-pin::after { content: ""; position: absolute; left: 7px; top: 7px; width: 10px; height: 10px; border-radius: 50%; background: #fff; }
.lp-loc-text { display: flex; flex-direction: column; padding: 9px 12px 11px; gap: 2px; overflow-wrap: anywhere; }
.lp-loc-text b { font-size: 14px; }
.lp-loc-text span { font-size: 12.5px; color: #555; }
.lp-loc-text small { font-size: 11px; color: var(--lp-muted); font-family: var(--lp-mono); }

/* sticker: no bubble, as LINE draws them */
.lp-sticker-frame { width: 136px; height: 136px; border: 2px dashed rgba(255,255,255,.85); border-radius: 20px;
  display: flex; flex-direction: column; align-items: center; justify-content: center; gap: 8px;
  color: #fff; text-align: center; font-size: 11.5px; line-height: 1.3; background: rgba(255,255,255,.12); }
.lp-sticker-face { width: 54px; height: 54px; border-radius: 50%; background: #ffd45c; position: relative;
  box-shadow: inset 0 -3px 0 rgba(0,0,0,.08); }
.lp-sticker-face::before { content: ""; position: absolute; left: 15px; top: 18px; width: 6px; height: 8px;
  border-radius: 50%; background: #4a3a1a; box-shadow: 18px 0 0 #4a3a1a; }
.lp-sticker-face::after { content: ""; position: absolute; left: 15px; top: 28px; width: 24px; height: 12px;
  border: 3px solid #4a3a1a; border-top: 0; border-radius: 0 0 14px 14px; }

/* imagemap: the 1040-wide base image, every action area outlined */
.lp-imap { width: 270px; max-width: 100%; border-radius: 14px; }
.lp-area { position: absolute; border: 2px dashed rgba(59,106,196,.9); background: rgba(59,106,196,.10);
  display: flex; align-items: flex-start; justify-content: flex-start; padding: 4px; overflow: hidden; }
.lp-area[data-action-type="MESSAGE"] { border-color: rgba(6,150,70,.9); background: rgba(6,199,85,.10); }
.lp-area-label { background: rgba(255,255,255,.95); border-radius: 6px; padding: 1px 6px; font-size: 11px;
  max-width: 100%; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; box-shadow: 0 1px 2px rgba(0,0,0,.15); }

/* templates */
.lp-tcard { width: 240px; background: #fff; border-radius: 16px; overflow: hidden; flex: none;
  display: flex; flex-direction: column; }
.lp-thumb { border-radius: 0; aspect-ratio: 1.51 / 1; }
.lp-tbody { padding: 11px 14px 10px; flex: 1; }
.lp-ttitle { margin: 0 0 3px; font-weight: 700; font-size: 14.5px; overflow-wrap: anywhere; }
.lp-ttext { margin: 0; font-size: 13px; color: #555; white-space: pre-wrap; overflow-wrap: anywhere; }
.lp-confirm-card .lp-ttext { text-align: center; color: var(--lp-ink); font-size: 14px; padding: 6px 0; }
.lp-actions { display: flex; flex-direction: column; }
.lp-actions.lp-side-by-side { flex-direction: row; }
.lp-action { appearance: none; border: 0; border-top: 1px solid var(--lp-line); background: #fff; color: var(--lp-link);
  font: 600 13.5px/1.3 var(--lp-font); padding: 11px 10px; cursor: pointer; text-align: center; overflow-wrap: anywhere; }
.lp-side-by-side .lp-action { flex: 1; }
.lp-side-by-side .lp-action + .lp-action { border-left: 1px solid var(--lp-line); }
.lp-action:hover, .lp-action:focus-visible { background: #f1f5fd; outline: none; }
.lp-reply { display: none; }
.lp-action:hover .lp-reply, .lp-action:focus .lp-reply { display: block; position: absolute; right: 12px; bottom: 12px;
  max-width: 70%; background: var(--lp-reply); color: #111; border-radius: 18px; padding: 8px 13px; text-align: left;
  font-weight: 400; font-size: 14px; white-space: pre-wrap; box-shadow: 0 2px 6px rgba(0,0,0,.18); z-index: 2; }
.lp-wide .lp-message { max-width: none; flex: 1; margin-right: -12px; }
.lp-scroller { display: flex; gap: 9px; overflow-x: auto; scroll-snap-type: x mandatory; padding: 0 12px 8px 0;
  scrollbar-width: thin; }
.lp-scroller .lp-tcard { scroll-snap-align: start; width: 226px; }
.lp-unknown .lp-bubble { font-style: italic; color: var(--lp-muted); }

/* a recipient that does not compile */
.lp-not-sent { background: #fff; border: 2px solid var(--lp-bad); border-radius: 14px; padding: 12px 14px; color: var(--lp-bad); }
.lp-not-sent b { display: block; font-size: 16px; }
.lp-not-sent span { font-size: 12.5px; }
.lp-not-sent ul { margin: 8px 0 0; padding-left: 18px; color: #5a1c17; font-size: 13px; overflow-wrap: anywhere; }

/* the right-hand side */
.lp-info { padding: 14px 18px 16px; min-width: 0; display: flex; flex-direction: column; gap: 10px; }
.lp-info-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; }
.lp-info-head h3 { margin: 0; font-size: 17px; }
.lp-badge { font-size: 11px; font-weight: 700; border-radius: 999px; padding: 2px 9px; text-transform: uppercase; letter-spacing: .4px; }
.lp-badge-ok { background: #e3f8ec; color: #067a38; }
.lp-badge-bad { background: #fdecea; color: var(--lp-bad); }
.lp-where { color: var(--lp-muted); font-family: var(--lp-mono); font-size: 12px; }
.lp-reasons { list-style: none; display: flex; flex-wrap: wrap; gap: 6px; margin: 0; padding: 0; }
.lp-reasons li { background: #fff5d6; color: #6b5000; border: 1px solid #f1dc9a; border-radius: 999px; padding: 1px 10px; font-size: 12.5px; }
.lp-problems { margin: 0; padding: 0; list-style: none; display: flex; flex-direction: column; gap: 6px; }
.lp-problem { font-family: var(--lp-mono); font-size: 12.5px; border-radius: 8px; padding: 7px 10px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.lp-problem.lp-error { background: #fdecea; color: #8c1d14; border-left: 4px solid var(--lp-bad); }
.lp-problem.lp-warning { background: #fff4e0; color: #6b4200; border-left: 4px solid var(--lp-warn); }
.lp-panes { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.15fr); gap: 14px; align-items: start; }
.lp-pane h4 { margin: 0 0 6px; font-size: 11px; text-transform: uppercase; letter-spacing: .6px; color: var(--lp-muted); }
.lp-fields { width: 100%; border-collapse: collapse; font-size: 13px; }
.lp-fields th, .lp-fields td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #eef0f4; }
.lp-fields th { font-weight: 500; color: #596273; white-space: nowrap; width: 1%; font-family: var(--lp-mono); font-size: 12px; }
.lp-fields td { white-space: pre-wrap; overflow-wrap: anywhere; }
.lp-fields tr.lp-hot th, .lp-fields tr.lp-hot td { background: #fff8e1; }
.lp-muted { color: var(--lp-muted); }
.lp-json-text { margin: 0; background: #f6f8fb; border: 1px solid #e6eaf0; border-radius: 8px; padding: 10px 12px;
  font: 11.5px/1.5 var(--lp-mono); white-space: pre-wrap; overflow-wrap: anywhere; max-height: 300px; overflow: auto; }
.lp-panes.lp-one { grid-template-columns: minmax(0, 1fr); }
@media (max-width: 860px) {
  .lp-card { grid-template-columns: minmax(0, 1fr); }
  .lp-panes { grid-template-columns: minmax(0, 1fr); }
}
"""

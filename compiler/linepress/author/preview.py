"""An HTML preview: each picked recipient's message drawn the way LINE shows it.

`write_preview()` is the `linepress preview` command as a function: it picks the
rows (`linepress.author.select`), compiles them, and writes one self-contained
page. `build_preview()` turns a compiler and its picked rows into that page.

The markup is Jinja templates in `page/` (the base `page.html.j2`, one partial
per message kind in `page/messages/`), rendered with autoescape on; the style
sheet `page/preview.css` is inlined into each page. This module computes what
the templates show (numbers, boxes, labels); the templates only lay it out.

The page needs no network: CSS is inline, there is no script at all (a Content
Security Policy forbids any), and the only URLs are the message's own media,
drawn as CSS backgrounds over a placeholder that names the file, so a missing
image leaves a labelled frame instead of a broken-image icon. Everything from
the definition or the data is HTML-escaped: recipient data is untrusted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Environment, TemplateNotFound
from markupsafe import Markup

from linepress.author.lint import Linter
from linepress.author.message_views import (
    cell,
    css_url,
    duration,
    file_name,
    has_carousel,
    imagemap,
    imagemap_box,
    is_carousel,
    message_template,
    pretty_json,
)
from linepress.author.select import Selected, select_rows, value_text, without_data

__all__ = [
    "IMAGES",
    "Card",
    "LivePage",
    "PreviewRequest",
    "Rendered",
    "Section",
    "build_page",
    "build_preview",
    "compile_cards",
    "content_security_policy",
    "imagemap_box",  # where CSS puts an imagemap area (from message_views)
    "page_css",
    "render_preview",
    "write_page",
    "write_preview",
]
from linepress.errors import LinepressError, Location, Problem
from linepress.output import AtomicOutput
from linepress.pipeline import Compiler, Result, open_data
from linepress.recipients.records import BadRecord, ReadOptions
from linepress.report import ProblemLog

#: Extra problems for a compiled recipient (lint warnings), shown on its card.
WarningsFor = Callable[[Result], Iterable[Problem]]

#: `images` values: draw a labelled placeholder (no network), or fetch the media too.
IMAGES = ("placeholder", "fetch")

# No script may run, whatever the data holds. Media links often carry recipient IDs
# (tracking pixels): nothing is fetched unless `images="fetch"` asks for it.
_CSP = "default-src 'none'; img-src {img}; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def content_security_policy(images: str = "placeholder", script_nonce: str | None = None) -> str:
    """The page's Content-Security-Policy: no network, no script (but one with `script_nonce`).

    `images="fetch"` lets the message's own media load; a served live page gets
    its one reload script by nonce and may ask its server (`connect-src 'self'`).
    """
    policy = _CSP.format(img="https: http: data:" if images == "fetch" else "'none'")
    if script_nonce is not None:
        policy += f"; script-src 'nonce-{script_nonce}'; connect-src 'self'"
    return policy


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

    @property
    def description(self) -> str | None:
        """The definition's `description`, shown under its name."""
        description = getattr(self.compiler.definition, "description", None)
        return None if description is None else str(description)


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
    sections: Sequence[Section],
    *,
    problems: Sequence[Problem] = (),
    title: str | None = None,
    images: str = "placeholder",
    live: LivePage | None = None,
) -> str:
    """The page for one or more definitions, with run-wide problems on top.

    `images`: "placeholder" (default: nothing is fetched) or "fetch" (the media
    are drawn over their placeholders). `live`: the served page's reload script.
    """
    if images not in IMAGES:
        raise ValueError(f"images must be one of {IMAGES}, not {images!r}")
    if title is None:
        title = ", ".join(s.compiler.name for s in sections) or "linepress preview"
    values = _page_values(title, sections, problems)
    values["fetch_images"] = images == "fetch"
    values["live"] = live
    values["csp"] = content_security_policy(images, live.nonce if live else None)
    page = _templates().get_template("page.html.j2").render(values)
    return page + "\n"


@dataclass(frozen=True, slots=True)
class LivePage:
    """What a page served by `linepress preview --watch` needs to reload itself.

    `version` is the render's number; the script asks `wait_path` (a long poll
    answering with the next version) and reloads when it changes. `nonce` is the
    CSP nonce that lets this one script run, new for every render.
    """

    version: int
    nonce: str
    wait_path: str = "/wait"


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    """What `linepress preview` was asked to show: a definition, its data, which rows."""

    definition: str | Path
    data: str | None = None
    data_format: str | None = None
    delimiter: str | None = None
    rows: Sequence[int] | None = None
    sample: int | None = None
    edge_cases: bool = False
    images: str = "placeholder"
    #: Encoding, worksheet, record size cap of the data.
    reading: ReadOptions | None = None

    def files(self, compiler: Compiler | None = None) -> list[Path]:
        """The files the page is drawn from: the definition, the data, the imported
        macro files found next to the definition (what `--watch` watches)."""
        definition = Path(self.definition)
        found = [definition]
        if self.data is not None and self.data != "-":
            found.append(Path(self.data))
        imports = compiler.definition.imports if compiler is not None else {}
        for target in imports.values():
            candidate = definition.parent / target
            if candidate.is_file():
                found.append(candidate)
        return found


@dataclass(slots=True)
class Rendered:
    """One render of a preview: the page, its problems, and the files it read."""

    page: str
    log: ProblemLog
    files: list[Path]


def render_preview(
    request: PreviewRequest,
    *,
    warnings_for: WarningsFor | None = None,
    live: LivePage | None = None,
) -> Rendered:
    """Pick, compile and draw the recipients `request` asks for, into one page.

    Raises nothing for user mistakes: definition, data and selection problems go
    into the log and onto the page (so the reader sees why). Failing recipients
    are in the log too.
    """
    log = ProblemLog(limit=0)
    page_problems: list[Problem] = []
    sections: list[Section] = []
    compiler: Compiler | None = None
    try:
        compiler = Compiler(request.definition)
        if warnings_for is None:
            linter = Linter(compiler)
            static = linter.static()
            page_problems.extend(static)
            log.add(static)
            warnings_for = linter.row
        selected = _select(
            compiler.key_names,
            request.data,
            request.data_format,
            request.delimiter,
            request.rows,
            request.sample,
            request.edge_cases,
            request.reading,
            log,
            page_problems,
        )
        cards = compile_cards(compiler, selected, warnings_for)
        mode = _mode_name(request.data, request.rows, request.sample, request.edge_cases)
        if not mode and cards:  # the first rows: "all 3 rows" or "first 10 rows (...)"
            mode = cards[0].selected.reasons[0]
        sections.append(Section(compiler, cards, request.data, mode))
    except LinepressError as exc:
        page_problems.extend(exc.problems)
        log.add(exc.problems)
    for section in sections:
        for card in section.cards:
            log.rows += 1
            if not card.result.ok:
                log.failed_rows += 1
            log.add(card.problems)
    title = Path(request.definition).name
    page = build_page(
        sections, problems=page_problems, title=title, images=request.images, live=live
    )
    return Rendered(page, log, request.files(compiler))


def write_preview(
    definition: str | Path,
    data: str | None,
    *,
    data_format: str | None = None,
    delimiter: str | None = None,
    rows: Sequence[int] | None = None,
    sample: int | None = None,
    edge_cases: bool = False,
    images: str = "placeholder",
    out: Path,
    warnings_for: WarningsFor | None = None,
    reading: ReadOptions | None = None,
) -> ProblemLog:
    """`linepress preview`: pick, compile and draw recipients into the page `out`.

    As `render_preview`, then the page is written whole or not at all (a path
    that cannot be written is one more problem in the returned log).
    """
    request = PreviewRequest(
        definition, data, data_format, delimiter, rows, sample, edge_cases, images, reading
    )
    rendered = render_preview(request, warnings_for=warnings_for)
    write_page(out, rendered.page, rendered.log, inputs=(definition, data))
    return rendered.log


# --------------------------------------------------------------------------- #
# Running the command


def _select(
    keys: frozenset[str],
    data: str | None,
    data_format: str | None,
    delimiter: str | None,
    rows: Sequence[int] | None,
    sample: int | None,
    edge_cases: bool,
    reading: ReadOptions | None,
    log: ProblemLog,
    page_problems: list[Problem],
) -> list[Selected]:
    if data is None:
        return without_data()
    with open_data(data, data_format, delimiter, reading=reading) as source:
        source.key_columns(keys)  # the columns that make `to`/`from`, as compile checks them
        try:
            return select_rows(source, rows=rows, sample=sample, edge_cases=edge_cases)
        finally:  # how the data was read shows on the page too
            page_problems.extend(source.notes)
            log.add(source.notes)
            log.blank_rows += source.blank_rows


def _mode_name(data: str | None, rows: object, sample: int | None, edge_cases: bool) -> str:
    if data is None:
        return "no data"
    if rows is not None:
        return "rows asked for"
    if sample is not None:
        return f"sample of {sample}"
    return "edge cases" if edge_cases else ""


def write_page(
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
# The templates

#: The page's templates and style sheet, shipped inside the package.
PAGE_DIR = Path(__file__).resolve().parent / "page"


class _PageLoader(BaseLoader):
    """Templates from `page/`, their newlines and indentation dropped.

    The templates are indented for reading; dropped, that whitespace cannot leak
    into the page (a text bubble keeps white space as LINE does: `pre-wrap`).
    """

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = PAGE_DIR / template
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            raise TemplateNotFound(template) from None
        return _NEWLINE_INDENT.sub("", text), str(path), lambda: False


_NEWLINE_INDENT = re.compile(r"\n[ \t]*")


@cache
def _templates() -> Environment:
    """The page's Jinja environment: autoescape on, so every value is escaped."""
    env = Environment(loader=_PageLoader(), autoescape=True, auto_reload=False)
    env.filters.update(
        cell=cell,
        css_url=css_url,
        duration=duration,
        file_name=file_name,
        imagemap=imagemap,
        is_carousel=is_carousel,
        has_carousel=has_carousel,
        message_template=message_template,
        pretty_json=pretty_json,
        recipient=_recipient_of,
    )
    env.tests["bad_record"] = lambda value: isinstance(value, BadRecord)
    return env


@cache
def page_css() -> str:
    """The page's style sheet (`page/preview.css`), inlined into every page."""
    return (PAGE_DIR / "preview.css").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- #
# Page and cards: the markup is in `page/`, what it needs is computed here


def _page_values(
    title: str, sections: Sequence[Section], problems: Sequence[Problem]
) -> dict[str, Any]:
    cards = [card for section in sections for card in section.cards]
    return {
        "title": title,
        "css": Markup(page_css()),
        "recipients": f"{len(cards)} recipient{'s' if len(cards) != 1 else ''}",
        "failed": sum(not card.result.ok for card in cards),
        # Errors stop the page ("nothing to preview" when no card is drawn);
        # warnings (lint) sit beside working cards as warnings.
        "errors": [p for p in problems if p.severity != "warning"],
        "warnings": [p for p in problems if p.severity == "warning"],
        "has_cards": bool(cards),
        "sections": sections,
    }


def _recipient_of(card: Card) -> str:
    fields = card.result.fields or {}
    return value_text(fields.get("to") or fields.get("user_id")) or "?"

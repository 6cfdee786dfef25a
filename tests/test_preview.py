"""`linepress preview`: row selection, the HTML page, and the page in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from linepress.author.preview import (
    Card,
    Section,
    build_page,
    build_preview,
    compile_cards,
    imagemap_box,
    write_preview,
)
from linepress.author.select import Selected, parse_rows, select_rows, without_data
from linepress.errors import Location, UsageError
from linepress.pipeline import Compiler, Result
from linepress.recipients.records import Record, open_records

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "examples" / "campaign" / "definition.yaml"
RECIPIENTS = ROOT / "examples" / "campaign" / "recipients.csv"
RECIPIENTS_JSONL = ROOT / "examples" / "campaign" / "recipients.jsonl"
DOC = sorted((ROOT / "examples" / "doc").glob("*.yaml"))
SCREENSHOT = ROOT / "docs" / "preview.png"

SCRIPT_NAME = "<script>window.__pwned = 1</script>"
IMG_NAME = '<img src=x onerror="window.__pwned = 2">'
GREETING = 'from: APP\nmessage:\n  type: TEXT\n  text: "Hi {{ name }},\\nyour code: {{ code }}"\n'


def records(*rows: dict[str, object]) -> Iterator[Record]:
    for number, fields in enumerate(rows, start=1):
        yield Record(number, Location("data.jsonl", number), fields)


def picked(selection: list[Selected]) -> dict[int | None, list[str]]:
    return {s.row: s.reasons for s in selection}


@pytest.fixture
def greeting(tmp_path: Path) -> Path:
    definition = tmp_path / "greeting.yaml"
    definition.write_text(GREETING)
    data = tmp_path / "people.jsonl"
    people = [
        {"to": "U1", "name": SCRIPT_NAME, "code": "A1"},
        {"to": "U2", "name": "x" * 5001, "code": "B2"},  # too long: this row fails
        {"to": "U3", "name": IMG_NAME, "code": "'\"&<>"},
    ]
    data.write_text("".join(json.dumps(p) + "\n" for p in people))
    return definition


# --------------------------------------------------------------------------- #
# Row selection


def test_rows_picks_those_records_in_row_order() -> None:
    with open_records(RECIPIENTS) as source:
        selection = select_rows(source, rows=[20, 1, 7, 7])
    assert picked(selection) == {1: ["asked for"], 7: ["asked for"], 20: ["asked for"]}
    assert selection[0].record is not None and isinstance(selection[0].record, Record)
    assert selection[0].record.fields["name"] == "佐藤 花子"


def test_rows_that_do_not_exist_are_named() -> None:
    with open_records(RECIPIENTS) as source, pytest.raises(UsageError) as caught:
        select_rows(source, rows=[3, 40, 26])
    message = caught.value.problems[0].format()
    assert "rows 26, 40 do not exist: the data has 25 rows" in message
    assert str(RECIPIENTS) in message


def test_rows_stop_reading_once_found() -> None:
    def stream() -> Iterator[Record]:
        yield from records({"a": "1"}, {"a": "2"})
        raise AssertionError("read past the last row asked for")

    assert [s.row for s in select_rows(stream(), rows=[2])] == [2]


def test_parse_rows() -> None:
    assert list(parse_rows("1,7, 20-22")) == [1, 7, 20, 21, 22]
    for bad in ("", "1,x", "5-3", "-1"):
        with pytest.raises(UsageError):
            parse_rows(bad)
    with pytest.raises(UsageError, match="count from 1"):
        select_rows(records({"a": "1"}), rows=[0])


def test_sample_is_a_deterministic_spread_in_row_order() -> None:
    def sample() -> list[int | None]:
        with open_records(RECIPIENTS) as source:
            return [s.row for s in select_rows(source, sample=6)]

    first = sample()
    assert first == sample()
    assert len(first) == 6 and first == sorted(first) and len(set(first)) == 6
    assert first != [1, 2, 3, 4, 5, 6]  # a spread, not the head of the file
    many = select_rows(records(*({"n": str(i)} for i in range(1000))), sample=5)
    assert max(s.row or 0 for s in many) > 100
    assert picked(select_rows(records({"a": "1"}, {"a": "2"}), sample=10)) == {
        1: ["sample: 2 of 2 rows"],
        2: ["sample: 2 of 2 rows"],
    }
    with pytest.raises(UsageError):
        select_rows(records({"a": "1"}), sample=0)


def test_edge_cases_on_the_campaign() -> None:
    with open_records(RECIPIENTS) as source:
        selection = select_rows(source, edge_cases=True)
    reasons = picked(selection)
    rows = [s.row for s in selection]
    assert rows == sorted(rows) and len(rows) == len(set(rows))
    assert len(rows) < 25
    # The longest name (by graphemes), one row per empty optional column...
    assert "longest name (49 chars)" in reasons[16]
    assert "empty coupon" in reasons[2]
    assert "empty lang" in reasons[14]
    # ...and every language variant, each shown once.
    langs = sorted(r for rs in reasons.values() for r in rs if r.startswith("lang = "))
    assert langs == sorted(
        f"lang = {v}" for v in ("ja", "ja-JP", "th", "th-TH", "en", "en-GB", "EN")
    )
    assert "lang = th" in reasons[6]
    tiers = {r for rs in reasons.values() for r in rs if r.startswith("member tier = ")}
    assert len(tiers) == 4
    # ID-like columns (every value as long as the next) are not "longest".
    assert not any("user_id" in r for rs in reasons.values() for r in rs)
    sixteen = next(s for s in selection if s.row == 16)
    assert "name" in sixteen.columns


def test_edge_cases_count_graphemes_and_skip_many_valued_columns() -> None:
    family = "👩\u200d👩\u200d👧"  # one grapheme, five code points
    rows = [{"name": family, "lang": "en", "id": f"U{i:02d}", "n": str(i)} for i in range(26)]
    rows[3]["name"] = "Ann"
    rows[5]["lang"] = "th"
    selection = select_rows(records(*rows), edge_cases=True)
    reasons = picked(selection)
    assert "longest name (3 chars)" in reasons[4]
    assert "lang = th" in reasons[6]
    assert not any(r.startswith("n = ") for rs in reasons.values() for r in rs)  # 26 values


def test_edge_cases_on_json_values_and_unreadable_rows(tmp_path: Path) -> None:
    with open_records(RECIPIENTS_JSONL) as source:
        reasons = picked(select_rows(source, edge_cases=True))
    assert any("empty coupon" in rs for rs in reasons.values())
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("to,name\nU1,Ann\nU2\nU3,Bob\n")
    with open_records(ragged) as source:
        reasons = picked(select_rows(source, edge_cases=True))
    assert reasons == {1: ["first row (no row stands out)"], 2: ["cannot be read"]}


def test_one_selection_mode_at_a_time() -> None:
    with pytest.raises(UsageError, match="one of"):
        select_rows(records({"a": "1"}), rows=[1], edge_cases=True)
    default = select_rows(records(*({"a": str(i)} for i in range(30))))
    assert [s.row for s in default] == list(range(1, 11))


# --------------------------------------------------------------------------- #
# The page


class _Resources(HTMLParser):
    """Every place a page could load something from, and every script."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            if name in ("src", "href", "srcset", "poster", "data") and value:
                self.loads.append(value)
            if name == "style" and value:
                self.loads.extend(_css_loads(value))
        if tag == "meta" and values.get("http-equiv") == "refresh":
            self.loads.append(values.get("content") or "")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.loads.extend(_css_loads(data))


def _css_loads(css: str) -> list[str]:
    found = re.findall(r"url\(\s*[\"']?([^\"')]*)", css)
    found += re.findall(r"@import\s+[\"']?([^\"';\s]+)", css)
    return found


def media_urls(body: Any) -> set[str]:
    """The media a body references (what the page may load, and nothing else)."""
    urls: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("url", "thumbnailUrl", "thumbnailImageUrl") and isinstance(value, str):
                urls.add(value)
            elif key == "baseUrl" and isinstance(value, str):
                urls.add(value.rstrip("/") + "/1040")
            else:
                urls |= media_urls(value)
    elif isinstance(body, list):
        for item in body:
            urls |= media_urls(item)
    return urls


def every_kind_page(greeting: Path, images: str = "placeholder") -> tuple[str, set[str]]:
    """Every documented kind, the campaign's edge cases, and hostile data."""
    sections = []
    for path in DOC:
        compiler = Compiler(path)
        sections.append(Section(compiler, compile_cards(compiler, without_data())))
    campaign = Compiler(CAMPAIGN)
    with open_records(RECIPIENTS) as source:
        picks = select_rows(source, edge_cases=True)
    sections.append(Section(campaign, compile_cards(campaign, picks), str(RECIPIENTS)))
    hostile = Compiler(greeting)
    with open_records(greeting.parent / "people.jsonl") as source:
        picks = select_rows(source, rows=[1, 2, 3])
    sections.append(Section(hostile, compile_cards(hostile, picks)))
    media = {
        url for s in sections for card in s.cards for url in media_urls(card.result.body or {})
    }
    return build_page(sections, title="every kind", images=images), media


def test_page_is_self_contained(greeting: Path) -> None:
    page, _ = every_kind_page(greeting)
    resources = _Resources()
    resources.feed(page)
    assert resources.scripts == 0
    assert resources.handlers == []
    # By default nothing at all is fetched: media links often carry recipient IDs.
    assert resources.loads == []
    assert "default-src 'none'; img-src 'none'" in unescape(page)  # the Content-Security-Policy
    assert "@import" not in page and "<link" not in page


def test_images_fetch_loads_only_the_bodies_media(greeting: Path) -> None:
    page, media = every_kind_page(greeting, images="fetch")
    resources = _Resources()
    resources.feed(page)
    assert resources.scripts == 0
    assert resources.loads and set(resources.loads) <= media
    assert "img-src https: http: data:" in unescape(page)


def test_recipient_data_is_escaped_everywhere(greeting: Path) -> None:
    page = build_preview(Compiler(greeting), _all_people(greeting))
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "onerror" not in _tags(page)
    # Shown literally: in the bubble, the data table and the JSON body.
    assert page.count("&lt;script&gt;window.__pwned = 1&lt;/script&gt;") == 3
    # (Jinja's autoescape spells quotes &#34; and &#39;)
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;" in page
    assert "&#39;&#34;&amp;&lt;&gt;" in page


def _tags(page: str) -> str:
    """The markup without text: where an injected attribute would have to be."""
    return " ".join(re.findall(r"<[^>]*>", page))


def _all_people(greeting: Path) -> list[Selected]:
    with open_records(greeting.parent / "people.jsonl") as source:
        return select_rows(source, rows=[1, 2, 3])


def test_failing_row_gets_a_card_with_its_errors(greeting: Path) -> None:
    page = build_preview(Compiler(greeting), _all_people(greeting))
    card = re.search(
        r"<article class='lp-card lp-failed'[^>]*data-row='2'.*?</article>", page, re.S
    )
    assert card is not None
    assert "lp-not-sent" in card[0]
    assert "must be at most 5000 characters" in card[0]
    assert "row 2" in card[0]  # Problem.format() with its row
    assert "characters in all" in card[0]  # the 5001-character name is cut in the table
    assert page.count("class='lp-card lp-ok'") == 2


def test_each_kind_has_its_element() -> None:
    expected = {
        "01-text.yaml": "data-kind='TEXT'",
        "02-image.yaml": "data-kind='IMAGE'",
        "03-video.yaml": "lp-play-badge",
        "04-audio.yaml": "<span class='lp-duration'>4:00</span>",
        "05-location.yaml": "48.85837, 2.294481",
        "06-sticker.yaml": "package 1<br>sticker 1",
        "07-imagemap.yaml": "↗ example.url",
        "08-template_buttons.yaml": "title='Postback data: Postback action data'",
        "09-template_confirm.yaml": "lp-side-by-side",
        "10-template_carousel.yaml": "data-template='CAROUSEL'",
    }
    for path in DOC:
        page = build_preview(Compiler(path), without_data())
        assert expected[path.name] in page, path.name
        assert "data-static='true'" in page
    buttons = build_preview(Compiler(DOC[7]), without_data())
    assert "title='Opens http://infobip.com'" in buttons
    assert "title='Sends the message: Message action text'" in buttons
    assert "thumbnail</span>" in buttons  # the placeholder names the file


def test_imagemap_areas_are_percentages_of_base_size() -> None:
    assert imagemap_box({"x": 520, "y": 0, "width": 520, "height": 1040}, 1040, 1040) == {
        "left": 50.0,
        "top": 0.0,
        "width": 50.0,
        "height": 100.0,
    }
    assert imagemap_box({"x": 0, "y": 350, "width": 1040, "height": 350}, 1040, 700) == {
        "left": 0.0,
        "top": 50.0,
        "width": 100.0,
        "height": 50.0,
    }
    compiler = Compiler(DOC[6])
    page = build_page([Section(compiler, compile_cards(compiler, without_data()))], images="fetch")
    assert "style='left:0%;top:0%;width:50%;height:100%'" in page
    assert "style='left:50%;top:0%;width:50%;height:100%'" in page
    assert "aspect-ratio:1040/1040" in page
    assert 'background-image:url("https://example.url/base/1040")' in page
    assert "💬 Message text" in page


def test_media_urls_cannot_break_out_of_css() -> None:
    compiler = Compiler(DOC[1])
    url = 'https://example.com/a")</style><script>x()</script>\\'
    body = {"from": "A", "to": "B", "message": {"type": "IMAGE", "url": url, "thumbnailUrl": url}}
    card = Card(Selected(None, ["crafted"]), Result(None, body=body))
    page = build_page([Section(compiler, [card])], images="fetch")
    assert "<script" not in page
    assert 'url("https://example.com/a%22)%3C/style%3E%3Cscript%3Ex()%3C/script%3E%5C"' in page


def test_page_is_deterministic(greeting: Path) -> None:
    assert every_kind_page(greeting)[0] == every_kind_page(greeting)[0]


# --------------------------------------------------------------------------- #
# write_preview: what the command does


def test_write_preview_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "preview.html"
    log = write_preview(CAMPAIGN, str(RECIPIENTS), edge_cases=True, out=out)
    assert log.ok and log.rows >= 10
    page = out.read_text()
    assert page.count("data-template='CAROUSEL'") == log.rows
    assert "longest name (49 chars)" in page
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_write_preview_without_data(tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    assert write_preview(DOC[0], None, out=out).ok
    assert "Hello, World!" in out.read_text()


def test_write_preview_reports_instead_of_raising(tmp_path: Path, greeting: Path) -> None:
    out = tmp_path / "p.html"
    log = write_preview(tmp_path / "missing.yaml", None, out=out)
    assert not log.ok and "no such file" in log.kept[0].format()
    assert "<b>Nothing to preview</b>" in out.read_text()

    (tmp_path / "bad.yaml").write_text("message:\n  type: TEXT\n  txet: hi\n")
    log = write_preview(tmp_path / "bad.yaml", None, out=out)
    assert not log.ok and "<b>Nothing to preview</b>" in out.read_text()

    log = write_preview(CAMPAIGN, str(RECIPIENTS), rows=[2, 99], out=out)
    assert [p.message for p in log.kept] == ["row 99 does not exist: the data has 25 rows"]

    log = write_preview(CAMPAIGN, str(tmp_path / "nope.csv"), out=out)
    assert "no such file" in log.kept[0].format()

    log = write_preview(greeting, str(greeting.parent / "people.jsonl"), out=out)
    assert (log.rows, log.failed_rows) == (3, 1)
    assert "lp-not-sent" in out.read_text()

    log = write_preview(DOC[0], None, out=tmp_path / "no" / "dir.html")
    assert "cannot write the preview" in log.kept[0].format()


def test_warnings_are_shown_on_the_card() -> None:
    from linepress.errors import Problem

    def lint(result: Result) -> list[Problem]:
        return [Problem("thumbnail has no file extension", severity="warning", code="lint")]

    page = build_preview(Compiler(DOC[7]), without_data(), warnings_for=lint)
    assert "lp-problem lp-warning" in page
    assert "warning: thumbnail has no file extension" in page


# --------------------------------------------------------------------------- #
# In a real browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# No network beyond the package registries: Chromium must not try its own services.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

VISIBLE = """el => {
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  return box.width > 0 && box.height > 0 && style.display !== 'none'
    && style.visibility !== 'hidden' && style.opacity !== '0';
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    in_ci = os.environ.get("CI") == "true"
    if not os.path.exists(CHROMIUM):
        if in_ci:
            pytest.fail(f"CI needs Chromium at {CHROMIUM} for the preview tests")
        pytest.skip("Chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            pytest.fail("CI needs the playwright package (test extras) for the preview tests")
        pytest.skip("the playwright package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def open_page(browser: Any, path: Path, width: int = 1200) -> tuple[Any, list[str]]:
    """The page from disk, every network request recorded and refused."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    requested: list[str] = []

    def refuse(route: Any) -> None:
        requested.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^(https?|wss?|ftp):"), refuse)
    page.goto(path.as_uri(), wait_until="load")
    return page, requested


def test_every_kind_is_visible_in_chromium(browser: Any, tmp_path: Path, greeting: Path) -> None:
    html, _ = every_kind_page(greeting)
    path = tmp_path / "every-kind.html"
    path.write_text(html, encoding="utf-8")
    page, requested = open_page(browser, path)
    try:
        selectors = [
            "[data-kind=TEXT]",
            "[data-kind=IMAGE]",
            "[data-kind=VIDEO] .lp-play-badge",
            "[data-kind=AUDIO] .lp-duration",
            "[data-kind=LOCATION]",
            "[data-kind=STICKER]",
            "[data-kind=IMAGEMAP] .lp-area",
            "[data-template=BUTTONS] .lp-action",
            "[data-template=CONFIRM] .lp-action",
            "[data-template=CAROUSEL] .lp-tcard",
            ".lp-card.lp-failed .lp-not-sent",
        ]
        for selector in selectors:
            element = page.locator(selector).first
            assert element.count() == 1, selector
            assert element.evaluate(VISIBLE), f"{selector} is not visible"

        # No script from the data ran; it is shown as text instead.
        assert page.evaluate("typeof window.__pwned") == "undefined"
        bubbles = page.locator("[data-kind=TEXT] .lp-bubble").all_inner_texts()
        assert f"Hi {SCRIPT_NAME},\nyour code: A1" in bubbles
        assert f"Hi {IMG_NAME},\nyour code: '\"&<>" in bubbles

        # Imagemap areas sit where baseSize says: left and right halves.
        frame = page.locator("[data-kind=IMAGEMAP] .lp-imap").bounding_box()
        left, right = (a.bounding_box() for a in page.locator(".lp-area").all()[:2])
        assert abs(left["width"] - frame["width"] / 2) < 1.5
        assert abs(right["x"] - (frame["x"] + frame["width"] / 2)) < 1.5
        assert abs(left["height"] - frame["height"]) < 1.5

        # At 1,200 px the carousel is a strip with every card in view...
        scroller = page.locator("[data-template=CAROUSEL] .lp-scroller").last
        assert scroller.evaluate(EVERY_CARD_IN_VIEW)
        # ...and on a narrow screen it scrolls sideways rather than squeezing its cards.
        page.set_viewport_size({"width": 420, "height": 900})
        assert scroller.evaluate("el => el.scrollWidth > el.clientWidth")
        assert scroller.locator(".lp-tcard").first.evaluate(VISIBLE)
        assert scroller.locator(".lp-tcard").first.bounding_box()["width"] > 200
        page.set_viewport_size({"width": 1200, "height": 900})

        # Hovering a MESSAGE button shows what the user would send, as their bubble.
        button = page.locator("[data-template=CONFIRM] .lp-action").first
        button.hover()
        assert button.locator(".lp-reply").evaluate(VISIBLE)

        # Nothing was asked for: the media are drawn as placeholders.
        assert requested == []
    finally:
        page.close()


def test_images_fetch_asks_only_for_the_bodies_media(
    browser: Any, tmp_path: Path, greeting: Path
) -> None:
    html, media = every_kind_page(greeting, images="fetch")
    path = tmp_path / "fetch.html"
    path.write_text(html, encoding="utf-8")
    page, requested = open_page(browser, path)
    try:
        # Only the bodies' own media were asked for (and refused: no network here).
        assert requested and set(requested) <= media
    finally:
        page.close()


FIDELITY = ROOT / "tests" / "data" / "preview" / "fidelity.yaml"
FIDELITY_DATA = ROOT / "tests" / "data" / "preview" / "fidelity.jsonl"

EVERY_CARD_IN_VIEW = """el => {
  const strip = el.getBoundingClientRect();
  const cards = [...el.querySelectorAll('.lp-tcard')];
  return cards.length > 1 && cards.every(card => {
    const box = card.getBoundingClientRect();
    return box.left >= strip.left - 1 && box.right <= strip.right + 1;
  });
}"""

ONE_LINE = """el => {
  const style = getComputedStyle(el);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
  return el.getBoundingClientRect().height < line * 1.5 && style.whiteSpace === 'nowrap';
}"""

ONE_LINE_CLIPPED = """el => {
  const style = getComputedStyle(el);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
  return el.getBoundingClientRect().height < line * 1.5
    && style.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth;
}"""


def test_fidelity_in_chromium(browser: Any, tmp_path: Path) -> None:
    """As LINE: long titles and labels clipped to one line with an ellipsis, line breaks
    kept in texts, every carousel card in view, rows with line breaks among the edge cases."""
    out = tmp_path / "fidelity.html"
    assert write_preview(FIDELITY, str(FIDELITY_DATA), edge_cases=True, out=out).ok
    page, requested = open_page(browser, out)
    try:
        first = page.locator("article[data-row='1']")
        title = first.locator(".lp-ttitle").first
        assert title.inner_text() == "Limited spring matcha sweets gift set XL"  # 40 characters
        assert title.evaluate(ONE_LINE_CLIPPED)
        labels = first.locator(".lp-action .lp-label")
        assert (
            labels.first.inner_text() == "春の抹茶スイーツギフトセットを今すぐ見る"
        )  # 20 characters
        assert labels.first.evaluate(ONE_LINE)
        wide = first.locator(".lp-action .lp-label", has_text="WWWWW")
        assert wide.inner_text() == "W" * 20  # 20 characters, wider than the card
        assert wide.evaluate(ONE_LINE_CLIPPED)
        # A short title is not clipped.
        short = first.locator(".lp-ttitle").nth(1)
        assert short.evaluate("el => el.scrollWidth <= el.clientWidth")

        text = first.locator(".lp-ttext").first
        assert text.inner_text() == "Line one\nLine two\nLine three"
        assert first.locator(".lp-scroller").evaluate(EVERY_CARD_IN_VIEW)

        # Row 2's name holds a line break: an edge case, and kept in the notification.
        second = page.locator("article[data-row='2']")
        assert "name has line breaks (2 lines)" in second.locator(".lp-reasons").inner_text()
        assert second.locator(".lp-alt").inner_text().endswith("Taro\nSato, four picks for you")
        assert requested == []
    finally:
        page.close()


def test_first_rows_of_a_short_file_say_so(tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    assert write_preview(FIDELITY, str(FIDELITY_DATA), out=out).ok
    page = out.read_text()
    assert "first 10 rows" not in page
    assert page.count("<li>all 3 rows</li>") == 3


def test_lint_warnings_are_warnings_not_nothing_to_preview(tmp_path: Path) -> None:
    definition = tmp_path / "w.yaml"
    definition.write_text(
        "from: A\nto: U\nmessage: {type: IMAGE, url: 'https://x.example/pic',"
        " thumbnailUrl: 'https://x.example/pic.jpg'}\n"
    )
    out = tmp_path / "p.html"
    log = write_preview(definition, None, out=out)
    assert log.ok and log.warnings == 1
    page = out.read_text()
    assert "Nothing to preview" not in page and "class='lp-fatal'" not in page
    assert "<div class='lp-warnings' role='status'><b>1 warning</b>" in page
    assert "class='lp-card lp-ok'" in page


def test_screenshot_for_the_readme(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/preview.png: the campaign carousel and a few kinds, as a reader sees them.

    Written to docs/ only with LINEPRESS_SCREENSHOT=1 (it needs CJK, Thai and emoji
    fonts to look right), so an ordinary test run leaves the working tree alone.
    """
    monkeypatch.chdir(ROOT)  # paths on the page as a user in the repository types them
    campaign = Compiler("examples/campaign/definition.yaml")
    data = "examples/campaign/recipients.csv"
    with open_records(data) as source:
        picks = [s for s in select_rows(source, edge_cases=True) if s.row == 16]
    sections = [Section(campaign, compile_cards(campaign, picks), data, "edge cases")]
    for name in ("07-imagemap.yaml", "09-template_confirm.yaml"):
        compiler = Compiler(f"examples/doc/{name}")
        sections.append(Section(compiler, compile_cards(compiler, without_data())))
    path = tmp_path / "showcase.html"
    path.write_text(build_page(sections, title="examples/campaign/definition.yaml"))
    page, _ = open_page(browser, path)
    try:
        target = SCREENSHOT if os.environ.get("LINEPRESS_SCREENSHOT") == "1" else tmp_path / "p.png"
        target.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000
    finally:
        page.close()


# --------------------------------------------------------------------------- #
# Live: preview --watch


@pytest.fixture
def live_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    macros = tmp_path / "macros.j2"
    macros.write_text("{% macro hello(name) %}Hello {{ name }}{% endmacro %}")
    definition = tmp_path / "live.yaml"
    definition.write_text(
        "imports: {m: macros.j2}\nfrom: APP\n"
        "message: {type: TEXT, text: '{{ m.hello(name) }}, spring sale'}\n"
    )
    data = tmp_path / "people.csv"
    data.write_text("to,name\nU1,Hana\n")
    return definition, data, macros


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "linepress", "preview", *args, "--watch"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    match = re.match(r"serving (http://127\.0\.0\.1:\d+/[\w-]+/) ", first)
    assert match, first
    return process, match[1]


def _needs_watchfiles() -> None:
    try:
        import watchfiles  # noqa: F401  (a dependency: an older checkout's venv may lack it)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs watchfiles (a dependency) for preview --watch")
        pytest.skip("watchfiles is not installed: pip install -e '.[test]'")


def _stop(process: subprocess.Popen[str]) -> str:
    """Ctrl-C the server; what it printed on stderr after its first line."""
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert process.stderr is not None
    rest = process.stderr.read()
    process.stderr.close()
    return rest


def test_watch_serves_on_loopback_and_the_page_follows_edits(
    browser: Any, live_files: tuple[Path, Path, Path]
) -> None:
    _needs_watchfiles()
    definition, data, macros = live_files
    process, url = _serve(str(definition), "--data", str(data))
    page = browser.new_page()
    try:
        page.goto(url)
        bubble = page.locator("[data-kind=TEXT] .lp-bubble")
        assert bubble.inner_text() == "Hello Hana, spring sale"

        # Edit the definition, then the data, then the imported macros: the open page
        # redraws itself each time, nobody touches the browser.
        definition.write_text(definition.read_text().replace("spring sale", "summer sale"))
        page.wait_for_function(
            "() => document.querySelector('[data-kind=TEXT] .lp-bubble')"
            "?.innerText === 'Hello Hana, summer sale'"
        )
        data.write_text("to,name\nU1,Yuki\n")
        page.wait_for_function(
            "() => document.querySelector('[data-kind=TEXT] .lp-bubble')"
            "?.innerText === 'Hello Yuki, summer sale'"
        )
        macros.write_text("{% macro hello(name) %}Hi {{ name }}{% endmacro %}")
        page.wait_for_function(
            "() => document.querySelector('[data-kind=TEXT] .lp-bubble')"
            "?.innerText === 'Hi Yuki, summer sale'"
        )
        # A mistake shows on the page too, and its fix brings the card back.
        definition.write_text("from: APP\nmessage: {type: TEXT, txet: x}\n")
        page.wait_for_selector("text=Nothing to preview")
        definition.write_text("from: APP\nmessage: {type: TEXT, text: 'back {{ name }}'}\n")
        page.wait_for_function(
            "() => document.querySelector('[data-kind=TEXT] .lp-bubble')?.innerText === 'back Yuki'"
        )
        # The served page keeps its CSP: one script, allowed by a nonce.
        policy = page.evaluate(
            "() => document.querySelector('meta[http-equiv=Content-Security-Policy]').content"
        )
        assert "script-src 'nonce-" in policy and "default-src 'none'" in policy
        assert page.locator("script").count() == 1
    finally:
        page.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == 0


def test_watch_needs_a_data_file_and_out_or_watch(live_files: tuple[Path, Path, Path]) -> None:
    from click.testing import CliRunner

    from linepress.cli.main import main

    definition = live_files[0]
    result = CliRunner().invoke(main, ["preview", str(definition)])
    assert result.exit_code == 2
    assert "give --out FILE.html to write the page, or --watch to serve it" in result.output
    result = CliRunner().invoke(main, ["preview", str(definition), "--data", "-", "--watch"])
    assert result.exit_code == 2
    assert "give a file, not -" in result.output


def _reset(url: str, request: str) -> None:
    """Send `request` for `url`'s server, then drop the connection hard (a closed tab)."""
    import socket
    import struct

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as client:
        client.sendall(request.encode())
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _edit_until_drawn(process: subprocess.Popen[str], path: Path, old: str, new: str) -> None:
    """Edit `path` until the server says it drew again.

    The watcher starts just after the server prints its address, so one save may
    come before it looks: save again while no redraw has been reported.
    """
    import select

    assert process.stderr is not None
    text = path.read_text()
    path.write_text(text.replace(old, new))
    while True:
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        if not ready:
            path.write_text(text.replace(old, new) + "\n")  # another save event
            continue
        line = process.stderr.readline()
        assert line, "the server stopped"
        if "drawn:" in line and "(version 1)" not in line:
            return


def test_watch_is_silent_when_a_tab_goes_away(live_files: tuple[Path, Path, Path]) -> None:
    """A closed or reloaded tab, mid-page or mid long poll, is normal: no traceback."""
    _needs_watchfiles()
    definition, data, _ = live_files
    process, url = _serve(str(definition), "--data", str(data))
    assert process.stderr is not None
    try:
        host = f"Host: {urlsplit(url).netloc}"
        _reset(url, f"GET {urlsplit(url).path}wait?version=1 HTTP/1.1\r\n{host}\r\n\r\n")
        _reset(url, f"GET {urlsplit(url).path} HTTP/1.1\r\n{host}\r\n\r\n")
        _edit_until_drawn(process, definition, "spring sale", "summer sale")
        with urlopen(url) as answer:  # still serving, the new text
            assert "summer sale" in answer.read().decode()
    finally:
        rest = _stop(process)
    assert "Traceback" not in rest and "Error" not in rest, rest
    assert process.returncode == 0


def test_watch_serves_only_its_secret_path_to_loopback_hosts(
    live_files: tuple[Path, Path, Path],
) -> None:
    """DNS rebinding (a foreign Host) gets 403; a guessed path (no token) gets 404."""
    import http.client

    _needs_watchfiles()
    definition, data, _ = live_files
    process, url = _serve(str(definition), "--data", str(data))
    parts = urlsplit(url)
    assert parts.port is not None
    try:

        def status(path: str, host: str) -> int:
            connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=30)
            connection.request("GET", path, headers={"Host": host})
            code = connection.getresponse().status
            connection.close()
            return code

        assert status(parts.path, parts.netloc) == 200
        assert status(parts.path, f"localhost:{parts.port}") == 200
        assert status(parts.path, f"attacker.example:{parts.port}") == 403
        assert status(parts.path + "wait?version=0", "attacker.example") == 403
        assert status("/", parts.netloc) == 404
        assert status("/wait?version=0", parts.netloc) == 404
    finally:
        _stop(process)


def test_watch_refuses_data_it_cannot_read_twice(
    live_files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A pipe or FIFO as --data would be empty (or block) on the second read: exit 2 up front."""
    from click.testing import CliRunner

    from linepress.cli.main import main

    definition = live_files[0]
    fifo = tmp_path / "people.fifo"
    os.mkfifo(fifo)
    result = CliRunner().invoke(main, ["preview", str(definition), "--data", str(fifo), "--watch"])
    assert result.exit_code == 2, result.output
    assert "is not a regular file" in result.output


def test_preview_refuses_to_write_over_its_input(live_files: tuple[Path, Path, Path]) -> None:
    """`--out` naming the data or the definition is a usage error (2), with --watch too."""
    from click.testing import CliRunner

    from linepress.cli.main import main

    definition, data, _ = live_files
    for extra in ([], ["--watch"]):
        for target in (data, definition):
            args = ["preview", str(definition), "--data", str(data), "--out", str(target)]
            result = CliRunner().invoke(main, args + extra)
            assert result.exit_code == 2, result.output
            assert "is also an input of this command" in result.output
    assert data.read_text() == "to,name\nU1,Hana\n"


def test_watch_on_a_link_loop_shows_the_located_error(tmp_path: Path) -> None:
    """A definition that is a symlink loop: the same located error as without --watch."""
    _needs_watchfiles()
    loop = tmp_path / "loop.yaml"
    loop.symlink_to("loop.yaml")
    data = tmp_path / "people.csv"
    data.write_text("to,name\nU1,Hana\n")
    process, _url = _serve(str(loop), "--data", str(data))
    assert process.stderr is not None
    try:
        printed = ""
        while "drawn:" not in printed:  # the first render is reported, then it watches
            line = process.stderr.readline()
            assert line, "the server stopped"
            printed += line
    finally:
        rest = _stop(process)
    assert "loop.yaml: cannot read: Too many levels of symbolic links" in printed
    assert "internal error" not in rest and process.returncode == 0


def test_warnings_and_row_labels_in_chromium(browser: Any, tmp_path: Path) -> None:
    """A definition with only lint warnings shows its card and the warnings as warnings;
    the cards of a 3-row file say "all 3 rows"."""
    definition = tmp_path / "w.yaml"
    definition.write_text(
        "from: A\nmessage: {type: IMAGE, url: 'https://x.example/pic?u={{ to }}',"
        " thumbnailUrl: 'https://x.example/pic.jpg'}\n"
    )
    data = tmp_path / "three.csv"
    data.write_text("to\nU1\nU2\nU3\n")
    out = tmp_path / "w.html"
    write_preview(definition, str(data), out=out)
    page, requested = open_page(browser, out)
    try:
        assert page.locator(".lp-fatal").count() == 0
        warnings = page.locator(".lp-warnings")
        assert warnings.evaluate(VISIBLE)
        assert "warning" in warnings.inner_text()
        assert page.locator("text=Nothing to preview").count() == 0
        assert page.locator("article.lp-card").count() == 3
        assert page.locator(".lp-reasons li").all_inner_texts() == ["all 3 rows"] * 3
        assert requested == []  # the tracking-style links were not fetched
    finally:
        page.close()


@pytest.mark.parametrize("command", ["preview", "compile"])
def test_rows_report_the_csv_error_that_swallowed_them(tmp_path: Path, command: str) -> None:
    """An unclosed quote on line 2 eats the rows after it: `--rows 1,2` names that error."""
    from click.testing import CliRunner

    from linepress.cli.main import main

    definition = tmp_path / "d.yaml"
    definition.write_text("from: APP\nmessage: {type: TEXT, text: 'hi {{ name }}'}\n")
    data = tmp_path / "people.csv"
    data.write_text('to,name\n"U1,Hana\nU2,Yuki\n')
    args = [command, str(definition), "--data", str(data), "--rows", "1,2"]
    args += ["-o", str(tmp_path / ("p.html" if command == "preview" else "b.jsonl"))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    unclosed = next(i for i, line in enumerate(lines) if "is never closed" in line)
    missing = next(i for i, line in enumerate(lines) if "row 2 does not exist" in line)
    assert f"{data}:2:" in lines[unclosed] and unclosed < missing

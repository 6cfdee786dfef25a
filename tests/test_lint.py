"""Lint warnings: one rule at a time (a case that warns, one that does not), then the
example campaign as a whole."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from linepress.author.lint import Linter
from linepress.definition import parse_definition
from linepress.errors import Location, Problem
from linepress.pipeline import Compiler, Result, open_data
from linepress.recipients.records import Record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def compiler(text: str) -> Compiler:
    return Compiler(parse_definition(text, "def.yaml"))


def results(comp: Compiler, rows: Sequence[dict[str, Any]]) -> Iterator[Result]:
    """Streamed, as the CLI does: a result must be linted before the next one renders."""
    records = (Record(n, Location("data.csv", n + 1), row) for n, row in enumerate(rows, 1))
    return comp.compile_records(records)


def run(
    text: str, rows: Sequence[dict[str, Any]] = (), columns: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[str]]:
    """(static, per-row, finish) warnings, formatted."""
    comp = compiler(text)
    linter = Linter(comp, columns, data_name="data.csv" if columns is not None else None)
    static = linter.static()
    per_row: list[Problem] = []
    for result in results(comp, rows):
        assert result.ok, result.problems
        per_row += linter.row(result)
    finish = linter.finish()
    for problem in (*static, *per_row, *finish):
        assert problem.severity == "warning"
        assert problem.code.startswith("lint-")
    return [p.format() for p in static], [p.format() for p in per_row], [p.format() for p in finish]


# -- lint-media-extension ---------------------------------------------------

IMAGE = """\
from: APP
to: U1
message:
  type: IMAGE
  url: "{url}"
  thumbnailUrl: "https://cdn.example/thumb.PNG?v=2#top"
"""


def test_media_link_without_its_extension_warns_once_statically() -> None:
    static, per_row, _ = run(IMAGE.format(url="https://cdn.example/banner"), [{}, {}])
    assert static == [
        "def.yaml:5:8: message.url: warning: an image link should end in .jpg, .jpeg or .png: "
        "LINE shows only JPEG or PNG images; link to the file itself "
        "(found 'https://cdn.example/banner')"
    ]
    assert per_row == []  # a static value is not checked again for every recipient


def test_media_link_with_its_extension_is_fine_in_any_case_and_with_a_query() -> None:
    assert run(IMAGE.format(url="https://cdn.example/banner.JPEG?w=1040"), [{}]) == ([], [], [])


VIDEO = """\
from: APP
to: U1
message:
  type: VIDEO
  url: "https://cdn.example/{{ clip | urlencode }}"
  thumbnailUrl: "https://cdn.example/{{ clip | urlencode }}.jpg"
"""


def test_rendered_media_link_is_checked_per_recipient() -> None:
    static, per_row, _ = run(VIDEO, [{"clip": "intro.mp4"}, {"clip": "intro.mov"}])
    assert static == []
    assert per_row == [
        "def.yaml:5:8: row 2 (data.csv:3): message.url: warning: a video link should end in "
        ".mp4: LINE shows only MP4 videos; link to the file itself "
        "(found 'https://cdn.example/intro.mov')"
    ]


# -- lint-unused-column -----------------------------------------------------

COLUMNS = """\
from: APP
message:
  type: TEXT
  text: "Hi {{ name }} ({{ row['member tier'] }}, {{ row.city }}, {{ row.get('zip') }})"
"""


def test_unused_column_warns_at_the_data_header() -> None:
    columns = ["to", "name", "member tier", "city", "zip", "coupon", "last order"]
    static, _, _ = run(COLUMNS, columns=columns)
    assert static == [
        "data.csv:1: warning: column 6 `coupon` is not used by any template; remove it from "
        "the data, or use it as {{ coupon }}",
        "data.csv:1: warning: column 7 `last order` is not used by any template; remove it "
        "from the data, or use it as {{ row['last order'] }}",
    ]


def test_columns_are_all_used_when_a_template_reads_the_whole_record() -> None:
    whole = COLUMNS.replace("{{ name }}", "{{ row | tojson }}")
    assert run(whole, columns=["to", "name", "coupon"]) == ([], [], [])
    items = COLUMNS.replace("{{ name }}", "{% for k, v in row.items() %}{{ v }}{% endfor %}")
    assert run(items, columns=["to", "name", "coupon"]) == ([], [], [])


def test_to_column_is_unused_when_the_body_has_its_own_to() -> None:
    static, _, _ = run("to: '{{ user }}'\n" + COLUMNS, columns=["to", "user", "name"])
    assert static == [
        "data.csv:1: warning: column 1 `to` is not used by any template; remove it from the "
        "data, or use it as {{ to }}"
    ]


def test_unused_column_without_a_data_name_points_at_the_definition() -> None:
    linter = Linter(compiler(COLUMNS), ["to", "name", "member tier", "city", "zip", "extra"])
    [problem] = linter.static()
    assert problem.location == Location("def.yaml", 1, 1)
    assert problem.code == "lint-unused-column"


# -- lint-cut-text ----------------------------------------------------------

CUT = """\
from: APP
to: U1
message:
  type: TEXT
  text: "Hi {{ name | truncate(10, true, '…', 0) }}, spring is here."
"""


def test_truncate_that_cut_warns_per_recipient_and_sums_up_at_the_end() -> None:
    names = ["Ann", "Maximilian Alexander", "Bo", "Christopher Robin"]
    _, per_row, finish = run(CUT, [{"name": n} for n in names])
    assert per_row == [
        "def.yaml:5:9: row 2 (data.csv:3): message.text: warning: text was cut by truncate(10) "
        "for this recipient (20 → 10 characters)",
        "def.yaml:5:9: row 4 (data.csv:5): message.text: warning: text was cut by truncate(10) "
        "for this recipient (17 → 10 characters)",
    ]
    assert finish == [
        "def.yaml:5:9: message.text: warning: text was cut by truncate(10) for 2 of 4 "
        "recipients (rows 2, 4); check that the cut text still reads well, or make room for "
        "the longest values"
    ]


def test_truncate_that_never_cut_says_nothing() -> None:
    assert run(CUT, [{"name": "Ann"}, {"name": "Bo"}]) == ([], [], [])


def test_finish_counts_with_thousands_separators_and_lists_a_few_rows() -> None:
    comp = compiler(CUT)
    linter = Linter(comp)
    rows = [{"name": "Maximilian Alexander" if n % 1000 == 7 else "Ann"} for n in range(10_000)]
    for result in results(comp, rows):
        linter.row(result)
    [summary] = linter.finish()
    assert "for 10 of 10,000 recipients (rows 8, 1008, 2008, 3008, 4008, …)" in summary.message


def test_probe_changes_no_output_and_installs_once() -> None:
    rows = [{"name": "Maximilian Alexander"}, {"name": "Ann"}]
    plain = [r.json() for r in results(compiler(CUT), rows)]
    comp = compiler(CUT)
    first, second = Linter(comp), Linter(comp)
    probed_filter = comp.renderer.env.filters["truncate"]
    assert Linter(comp).renderer.env.filters["truncate"] is probed_filter  # not wrapped twice
    warnings = []
    output = []
    for result in results(comp, rows):
        output.append(result.json())
        warnings.append((len(first.row(result)), len(second.row(result))))
    assert output == plain
    assert warnings == [(1, 1), (0, 0)]


# -- lint-imagemap-area -----------------------------------------------------

IMAGEMAP = """\
from: APP
to: U1
message:
  type: IMAGEMAP
  baseUrl: "https://cdn.example/map"
  altText: Sale
  baseSize: {{width: 1040, height: 700}}
  actions:
    - type: MESSAGE
      text: Left
      area: {{x: 0, y: 0, width: 520, height: 700}}
    - type: MESSAGE
      text: Right
      area: {{x: {x}, y: 0, width: 520, height: 700}}
"""


def test_area_outside_the_base_size_warns() -> None:
    static, _, _ = run(IMAGEMAP.format(x=600))
    assert static == [
        "def.yaml:14:13: message.actions[1].area: warning: action area reaches past the right "
        "edge of the image: x + width = 1120 but baseSize.width is 1040; the part outside "
        "cannot be tapped, keep x + width at most 1040"
    ]


def test_area_inside_the_base_size_is_fine() -> None:
    assert run(IMAGEMAP.format(x=520)) == ([], [], [])
    documented = Compiler(EXAMPLES / "doc" / "07-imagemap.yaml")
    assert Linter(documented).static() == []


def test_area_from_data_is_checked_per_recipient() -> None:
    static, per_row, _ = run(IMAGEMAP.format(x='"{{ x }}"'), [{"x": "520"}, {"x": "521"}])
    assert static == []
    assert per_row == [
        "def.yaml:14:13: row 2 (data.csv:3): message.actions[1].area: warning: action area "
        "reaches past the right edge of the image: x + width = 1041 but baseSize.width is "
        "1040; the part outside cannot be tapped, keep x + width at most 1040"
    ]


# -- lint-url-not-encoded ---------------------------------------------------

URI = """\
from: APP
to: U1
vars:
  shop: "https://shop.example"
  campaign: spring
message:
  type: TEMPLATE
  altText: Sale
  template:
    type: CONFIRM
    text: Come?
    actions:
      - {{type: URI, label: Yes, uri: "{uri}"}}
      - {{type: MESSAGE, label: No, text: No}}
"""


def test_recipient_data_in_a_query_without_urlencode_warns() -> None:
    static, _, _ = run(URI.format(uri="{{ shop }}/sale?c={{ campaign }}&id={{ member_id }}"))
    assert static == [
        "def.yaml:13:38: message.template.actions[0].uri: warning: `member_id` puts recipient "
        "data into the link's query without `| urlencode`: a space, `&`, `?`, `#` or `/` in it "
        "would change the link; end that expression with `| urlencode`"
    ]
    static, _, _ = run(URI.format(uri="https://x.example/u/{{ row['user id'] | lower }}"))
    assert [s.split(": warning: ")[1][:40] for s in static] == [
        "`row['user id']` puts recipient data int"
    ]


def test_encoded_data_constants_and_whole_links_are_fine() -> None:
    for uri in [
        "{{ shop }}/sale?c={{ campaign }}&id={{ member_id | urlencode }}",
        "{{ link }}",
        "https://{{ region }}.shop.example/sale",
        "{{ shop }}/p/{{ points | int }}{% if coupon %}?c={{ coupon | urlencode }}{% endif %}",
        "tel:{{ phone }}",
    ]:
        assert run(URI.format(uri=uri)) == ([], [], []), uri


# -- the example campaign ---------------------------------------------------


def test_example_campaign_warnings() -> None:
    campaign = EXAMPLES / "campaign"
    comp = Compiler(campaign / "definition.yaml")
    data = campaign / "recipients.csv"
    with open_data(data, None, None) as source:
        linter = Linter(comp, source.columns, data_name=str(data))
        static = [p.format().split(": ", 1)[1] for p in linter.static()]
        per_row = [p for result in comp.compile_records(source) for p in linter.row(result)]
    finish = [p.format().split(": ", 1)[1] for p in linter.finish()]
    # Every column is used, links are encoded, areas fit: only deliberate cuts remain.
    assert static == []
    assert {p.code for p in per_row} == {"lint-cut-text"}
    assert len(per_row) == 24
    assert [f.split("; check")[0] for f in finish] == [
        "message.template.columns[1].actions[0].label: warning: text was cut by truncate(15) "
        "for 11 of 25 recipients (rows 6, 9, 10, 11, 12, …)",
        "message.template.columns[0].text: warning: text was cut by truncate(14) "
        "for 9 of 25 recipients (rows 7, 8, 11, 12, 13, …)",
        "message.template.columns[1].title: warning: text was cut by truncate(28) "
        "for 2 of 25 recipients (rows 12, 16)",
        "message.template.columns[1].text: warning: text was cut by truncate(24) "
        "for 2 of 25 recipients (rows 12, 16)",
    ]


# -- variants and repeated list items ----------------------------------------

VARIANTS = """\
from: APP
to: U1
variants:
  by: lang
  fallback: en
  messages:
    ja:
      type: IMAGE
      url: "https://cdn.example/banner-ja"
      thumbnailUrl: "https://cdn.example/banner-ja.png"
    en:
      type: IMAGE
      url: "https://cdn.example/{{ file | urlencode }}"
      thumbnailUrl: "https://cdn.example/banner-en.png"
"""


def test_variants_are_linted_each_at_its_own_lines() -> None:
    rows = [
        {"lang": "ja", "file": "x"},
        {"lang": "", "file": "b.gif"},
        {"lang": "en", "file": "b.png"},
    ]
    static, per_row, _ = run(VARIANTS, rows, columns=["lang", "file", "extra"])
    assert static == [
        "def.yaml:9:12: message.url: warning: an image link should end in .jpg, .jpeg or .png: "
        "LINE shows only JPEG or PNG images; link to the file itself "
        "(found 'https://cdn.example/banner-ja')",
        "data.csv:1: warning: column 3 `extra` is not used by any template; remove it from the "
        "data, or use it as {{ extra }}",
    ]
    assert per_row == [
        "def.yaml:13:12: row 2 (data.csv:3): message.url: warning: an image link should end in "
        ".jpg, .jpeg or .png: LINE shows only JPEG or PNG images; link to the file itself "
        "(found 'https://cdn.example/b.gif')"
    ]


REPEATED = """\
from: APP
to: U1
message:
  type: TEMPLATE
  altText: Picks
  template:
    type: CAROUSEL
    columns:
      - $for: p in products
        thumbnailImageUrl: "{{ p.img }}"
        title: "{{ p.name | truncate(10, true, '…', 0) }}"
        text: Picked for you
        actions:
          - {type: MESSAGE, label: Ask, text: Tell me more}
"""


def test_repeated_items_are_located_at_their_template_item() -> None:
    products = [
        {"img": "https://x.example/a.jpg", "name": "Matcha Sweets Box"},
        {"img": "https://x.example/b.gif", "name": "Yuzu Cream"},
    ]
    _, per_row, finish = run(REPEATED, [{"products": products}, {"products": products[1:]}])
    assert per_row == [
        "def.yaml:10:28: row 1 (data.csv:2): message.template.columns[1].thumbnailImageUrl: "
        "warning: an image link should end in .jpg, .jpeg or .png: LINE shows only JPEG or PNG "
        "images; link to the file itself (found 'https://x.example/b.gif')",
        "def.yaml:11:16: row 1 (data.csv:2): message.template.columns[0].title: warning: text "
        "was cut by truncate(10) for this recipient (17 → 10 characters)",
        "def.yaml:10:28: row 2 (data.csv:3): message.template.columns[0].thumbnailImageUrl: "
        "warning: an image link should end in .jpg, .jpeg or .png: LINE shows only JPEG or PNG "
        "images; link to the file itself (found 'https://x.example/b.gif')",
    ]
    assert [f.split("; check")[0] for f in finish] == [
        "def.yaml:11:16: message.template.columns[0].title: warning: text was cut by "
        "truncate(10) for 1 of 2 recipients (row 1)"
    ]


def test_a_comment_after_unquoted_text_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    """`text: 50% off # today only` sends "50% off": check warns and quotes the line."""
    import json

    from click.testing import CliRunner

    from linepress.cli.main import main

    head = "from: APP\nto: U1\nmessage:\n  type: TEXT\n"
    definition = tmp_path / "c.yaml"
    definition.write_text(head + "  text: 50% off # today only\n")
    result = CliRunner().invoke(main, ["check", str(definition)])
    assert result.exit_code == 0
    assert "c.yaml:5:9: message.text: warning: ` #` starts a YAML comment" in result.output
    assert 'text: "50% off # today only"' in result.output
    definition.write_text(head + '  text: "50% off # today only"  # a real comment\n')
    result = CliRunner().invoke(main, ["check", str(definition)])
    assert "warning" not in result.output
    out = tmp_path / "b.json"
    CliRunner().invoke(main, ["compile", str(definition), "-o", str(out)])
    assert "50% off # today only" in json.dumps(json.loads(out.read_text().splitlines()[0]))

"""Recipient lists: the second review of issue 12, each fixed as a kind, through the real CLI.

Workbooks with chart sheets, formulas with no saved value, hidden sheets; the encoding
hint when a file holds too few non-ASCII characters to tell encodings apart.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main

DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "def.yaml").write_text(DEFINITION)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def texts(result: Result) -> list[str]:
    import json

    return [json.loads(line)["message"]["text"] for line in result.stdout.splitlines()]


# ------------------------------------------------------------- chart sheets


@pytest.mark.parametrize("position", [0, 1])
def test_a_chart_sheet_is_skipped_not_a_crash(project: Path, position: int) -> None:
    book = openpyxl.Workbook()
    book.active.title = "List"
    for row in [["to", "name"], ["U1", "Ann"]]:
        book.active.append(row)
    book.create_chartsheet("Chart", position)
    book.save(project / "list.xlsx")
    for extra in ([], ["--sheet", "List"]):
        result = run("compile", "def.yaml", "--data", "list.xlsx", *extra)
        assert result.exit_code == 0, result.output
        assert texts(result) == ["Hi Ann"]
    chart = run("compile", "def.yaml", "--data", "list.xlsx", "--sheet", "Chart")
    assert chart.exit_code == 1
    assert "list.xlsx: 'Chart' is a chart sheet, not a worksheet: its sheets are 'List'" in (
        chart.stderr
    )


# ------------------------------------------------ formulas with no saved value


@pytest.mark.parametrize(
    ("column", "formula", "cell"),
    [("name", '=UPPER("ann")', "B2"), ("to", '="U"&C2', "A2")],
)
def test_a_formula_with_no_saved_value_is_a_located_error(
    project: Path, column: str, formula: str, cell: str
) -> None:
    book = openpyxl.Workbook()  # openpyxl, like pandas and most CRMs, saves no values
    sheet = book.active
    sheet.append(["to", "name", "id"])
    sheet.append(["U1", "Ann", "1"])
    sheet.append(["U2", "Bo", "2"])
    sheet[cell] = formula
    book.save(project / "list.xlsx")
    result = run("compile", "def.yaml", "--data", "list.xlsx", "--keep-going")
    assert result.exit_code == 1
    assert texts(result) == ["Hi Bo"]
    assert (
        f"list.xlsx:2:{ord(cell[0]) - 64}: row 1 (list.xlsx:2): cell Sheet!{cell} ({column}) "
        f"holds the formula '{formula}' with no saved value"
    ) in result.stderr
    assert "open and save it in Excel, or export the values" in result.stderr


def test_a_formula_whose_saved_value_is_empty_text_is_empty(project: Path) -> None:
    # As Excel saves a formula that gives "": typed str, an empty <v>.
    import zipfile

    book = openpyxl.Workbook()
    book.active.append(["to", "name"])
    book.active.append(["U1", "x"])
    book.save(project / "base.xlsx")
    with zipfile.ZipFile(project / "base.xlsx") as source:
        parts = {n: source.read(n) for n in source.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    start = xml.index('<c r="B2"')
    end = xml.index("</c>", start) + 4
    xml = xml[:start] + '<c r="B2" t="str"><f>TRIM(" ")</f><v></v></c>' + xml[end:]
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(project / "list.xlsx", "w") as out:
        for part, data in parts.items():
            out.writestr(part, data)
    result = run("compile", "def.yaml", "--data", "list.xlsx")
    assert result.exit_code == 0, result.output
    assert texts(result) == ["Hi "]


# ------------------------------------------------------------- hidden sheets


def test_the_first_visible_sheet_is_read_and_named(project: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Lookup"
    book.active.append(["junk"])
    book.active.sheet_state = "hidden"
    members = book.create_sheet("Members")
    for row in [["to", "name"], ["U1", "Ann"]]:
        members.append(row)
    book.create_sheet("Notes").append(["nothing"])
    book.save(project / "list.xlsx")
    result = run("compile", "def.yaml", "--data", "list.xlsx")
    assert result.exit_code == 0, result.output
    assert texts(result) == ["Hi Ann"]
    assert (
        "list.xlsx: warning: read worksheet 'Members', the first visible of 'Lookup', "
        "'Members', 'Notes'; hidden sheets are not read by default ('Lookup')"
    ) in result.stderr
    named = run("compile", "def.yaml", "--data", "list.xlsx", "--sheet", "Members")
    assert named.exit_code == 0 and "read worksheet" not in named.stderr
    hidden = run("compile", "def.yaml", "--data", "list.xlsx", "--sheet", "Lookup")
    assert "no recipients" in hidden.stderr  # read when asked for: only a header


# ------------------------------------------------------------- encoding hint


def _alphabet(codec: str) -> str:
    """Characters people write names in, for each codec's language (by its byte ranges)."""
    if codec == "cp874":
        return "".join(map(chr, range(0x0E01, 0x0E2F))) + "ะาำเแโใไ"
    if codec == "cp1252":
        return "ÀÁÂÄÇÈÉÊËÍÎÏÑÓÔÖÙÚÛÜßàáâäçèéêëíîïñóôöùúûüÿ"
    if codec in ("cp932", "euc_jp"):
        kana = "".join(map(chr, range(0x3041, 0x3094))) + "".join(map(chr, range(0x30A1, 0x30F7)))
        halfwidth = "".join(map(chr, range(0xFF66, 0xFF9E)))
        kanji = bytes(b for i in range(0xB0, 0xCF) for b in (i, 0xA1, i, 0xC0, i, 0xE0))
        return kana + halfwidth + kanji.decode("euc_jp")
    lead, table = {
        "cp949": (range(0xB0, 0xC8), "euc_kr"),
        "gb18030": (range(0xB0, 0xD8), "gb2312"),
        "cp950": (range(0xA4, 0xC6), "big5"),
    }[codec]
    return bytes(b for i in lead for b in (i, 0xA1, i, 0xB5, i, 0xD0)).decode(table)


@pytest.mark.parametrize(
    "codec", ["cp932", "euc_jp", "cp949", "gb18030", "cp950", "cp874", "cp1252"]
)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_hint_for_a_few_characters_names_the_right_encoding_among_others(
    codec: str, data: st.DataObject
) -> None:
    from linepress.recipients.guess import encoding_hint

    # One name of up to three letters among ASCII ones: too little to tell encodings apart.
    name = data.draw(st.text(alphabet=_alphabet(codec), min_size=1, max_size=3))
    names = [data.draw(st.sampled_from(["Ann", "Bo", "Sato"])), name]
    text = "to,name\r\n" + "".join(f"U{i},{n}\r\n" for i, n in enumerate(names))
    hint = encoding_hint(text.encode(codec))
    assert hint is not None
    assert f"--encoding {codec}" in hint, hint
    # (so a hint naming one encoding, when only one fits, names the right one)


def test_half_width_katakana_names_say_shift_jis_first(project: Path) -> None:
    text = "to,name\r\nU0,Sato\r\nU1,Suzuki\r\nU2,ｻﾄｳ\r\n"
    (project / "list.csv").write_bytes(text.encode("cp932"))
    refused = run("compile", "def.yaml", "--data", "list.csv")
    assert refused.exit_code == 1
    assert "too few non-ASCII characters to tell its encoding" in refused.stderr
    hint = refused.stderr.split("too few", 1)[1]
    assert hint.index("--encoding cp932") < hint.index("--encoding cp874")
    # With more of them there is evidence enough: Shift_JIS, and following it reads the names.
    text += "U3,ｽｽﾞｷ ﾀﾛｳ\r\n"
    (project / "list.csv").write_bytes(text.encode("cp932"))
    refused = run("compile", "def.yaml", "--data", "list.csv")
    assert "pass --encoding cp932" in refused.stderr or "(--encoding cp932)" in refused.stderr
    assert "looks like TIS-620" not in refused.stderr, refused.stderr
    followed = run("compile", "def.yaml", "--data", "list.csv", "--encoding", "cp932")
    assert texts(followed)[-1] == "Hi ｽｽﾞｷ ﾀﾛｳ"

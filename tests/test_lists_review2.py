"""Recipient lists: the second review of issue 12, each fixed as a kind, through the real CLI.

Workbooks with chart sheets, formulas with no saved value, hidden sheets.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

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

"""Recipient lists: the reviewer's findings on issue 12, each fixed as a kind, through the real CLI.

The record cap per record (not per field), the delimiter rule for headers with
quoted names or a trailing delimiter, UTF-16 without a byte order mark, options
that do not apply to the data (a usage error, never ignored), and sheet names
quoted in cell references the way Excel writes them.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.recipients.encoding import utf16_order
from linepress.recipients.xlsx import cell_reference

DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "def.yaml").write_text(DEFINITION)
    return tmp_path


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def texts(result: Result) -> list[str]:
    import json

    return [json.loads(line)["message"]["text"] for line in result.stdout.splitlines()]


def workbook(path: Path, rows: list[list[object]], title: str = "Sheet1") -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)


# ------------------------------------------------------- the cap is per record


def test_a_record_of_many_large_quoted_fields_is_capped_while_read(project: Path) -> None:
    # Every field (and every line) is under the cap; the record is 37 times over it.
    field = '"' + "y" * 30_000 + "\n" + "y" * 30_000 + '"'
    columns = ",".join(f"c{i}" for i in range(160))
    with (project / "wide.csv").open("w") as out:
        out.write(f"to,name,{columns}\nU1,Ann,{','.join(['z'] * 160)}\n")
        out.write("U2,Bob," + ",".join([field] * 160) + "\nU3,Cy," + ",".join(["z"] * 160) + "\n")
    run("compile", "def.yaml")  # modules loaded on first use are not the record's memory
    tracemalloc.start()
    try:
        result = run("compile", "def.yaml", "--data", "wide.csv", "--max-record-size", "256K")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "wide.csv:3: the record starting on line 3 is larger than 256 KiB, the cap on one "
        "record (all its fields and separators)"
    ), result.stderr[:300]
    assert result.stdout == ""
    assert peak < 4 * 1024 * 1024  # the cap and read-ahead, not the 9.6 MB record
    # Within a larger cap it is an ordinary record.
    ok = run("compile", "def.yaml", "--data", "wide.csv", "--max-record-size", "16M")
    assert ok.exit_code == 0, ok.stderr[:300]
    assert texts(ok) == ["Hi Ann", "Hi Bob", "Hi Cy"]


def test_a_utf16_record_over_the_cap_is_capped_too(project: Path) -> None:
    field = '"' + "y" * 30_000 + "\n" + "y" * 30_000 + '"'
    text = "to\tname\ta\tb\tc\td\nU1\tAnn\t" + "\t".join([field] * 4) + "\n"
    (project / "list.txt").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    result = run("compile", "def.yaml", "--data", "list.txt", "--max-record-size", "100K")
    assert result.exit_code == 1
    assert "list.txt:2: the record starting on line 2 is larger than 100 KiB" in result.stderr


# ------------------------------------------------------------ the delimiter rule


@pytest.mark.parametrize(
    ("header", "row", "delimiter"),
    [
        ('to;"last, first"', 'U1;"Ann, A"', ";"),
        ("to;name;", "U1;Ann;", ";"),
        ('"to"|"name"', "U1|Ann", "|"),
        ("to\tname\t", "U1\tAnn\t", "\t"),
    ],
)
def test_a_header_with_quoted_names_or_a_trailing_delimiter_is_recognised(
    project: Path, header: str, row: str, delimiter: str
) -> None:
    (project / "list.csv").write_text(f"{header}\n{row}\n")
    refused = run("compile", "def.yaml", "--data", "list.csv")
    assert refused.exit_code == 1
    flag = "tab" if delimiter == "\t" else f"'{delimiter}'"
    assert f"use --delimiter {flag}" in refused.stderr, refused.stderr
    (project / "list.txt").write_text(f"{header}\n{row}\n")
    read = run("check", "def.yaml", "--data", "list.txt")
    spelled = "tab" if delimiter == "\t" else f"'{delimiter}'"
    assert f"warning: read as {spelled}-separated" in read.stderr, read.stderr


NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_ ]{0,10}[A-Za-z0-9_]", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(NAME, min_size=2, max_size=6, unique_by=str.strip),
    delimiter=st.sampled_from([";", "\t", "|"]),
    quoted=st.lists(st.booleans(), min_size=6, max_size=6),
    comma=st.booleans(),
    trailing=st.booleans(),
)
def test_any_header_of_names_joined_by_another_delimiter_is_detected(
    names: list[str], delimiter: str, quoted: list[bool], comma: bool, trailing: bool
) -> None:
    from linepress.recipients.delimited import _choose
    from linepress.recipients.source import Tally

    cells = []
    for name, quote in zip(names, quoted, strict=False):
        if quote:  # a quoted name may hold a comma
            cells.append('"' + (name + ", x" if comma else name) + '"')
        else:
            cells.append(name)
    header = delimiter.join(cells) + (delimiter if trailing else "") + "\r\n"
    tally = Tally()
    assert _choose(header, ",", "f", 1, tally, declared=False) == delimiter
    assert len(tally.notes) == 1


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(
        st.text(st.characters(blacklist_characters='",\r\n'), max_size=8), min_size=2, max_size=6
    )
)
def test_a_plain_comma_csv_header_is_never_read_with_another_delimiter(cells: list[str]) -> None:
    from linepress.recipients.delimited import _choose
    from linepress.recipients.source import Tally

    header = ",".join(cells) + "\n"
    if sum(bool(c.strip()) for c in cells) < 2:
        return  # not two columns under ',': not a comma header
    assert _choose(header, ",", "f", 1, Tally(), declared=True) == ","


# ------------------------------------------------------- UTF-16 without a BOM


@pytest.mark.parametrize(("codec", "order"), [("utf-16-le", "LE"), ("utf-16-be", "BE")])
@pytest.mark.parametrize("names", [["Ann", "Bob"], ["田中 太郎", "佐藤 花子"], ["一二", "丁七"]])
def test_utf16_without_a_byte_order_mark_is_named_with_the_flag(
    project: Path, codec: str, order: str, names: list[str]
) -> None:
    text = "to,name\r\n" + "".join(f"U{i},{n}\r\n" for i, n in enumerate(names))
    (project / "list.csv").write_bytes(text.encode(codec))
    refused = run("compile", "def.yaml", "--data", "list.csv")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        f"list.csv:1: looks like UTF-16 {order} text without a byte order mark"
    ), refused.stderr
    assert f"pass --encoding {codec}" in refused.stderr
    read = run("compile", "def.yaml", "--data", "list.csv", "--encoding", codec)
    assert read.exit_code == 0, read.stderr
    assert texts(read) == [f"Hi {n}" for n in names]


def test_eight_bit_text_is_never_taken_for_utf16() -> None:
    for codec, text in [
        ("utf-8", "to,name\nU1,田中\n"),
        ("cp932", "to,name\nU1,田中\n"),
        ("cp874", "to,name\nU1,สมชาย\n"),
        ("latin-1", "to,name\nU1,Zoë\n"),
    ]:
        assert utf16_order(text.encode(codec)) is None, codec


# ------------------------------------------------- options that do not apply


@pytest.mark.parametrize(
    ("name", "flags", "says"),
    [
        ("list.xlsx", ["--encoding", "cp932"], "--encoding applies to CSV/TSV"),
        ("list.xlsx", ["--delimiter", ";"], "--delimiter applies to CSV/TSV"),
        ("list.jsonl", ["--encoding", "cp932"], "--encoding applies to CSV/TSV"),
        ("list.json", ["--delimiter", ";"], "--delimiter applies to CSV/TSV"),
        ("list.csv", ["--sheet", "Members"], "--sheet applies to .xlsx"),
        ("list.txt", ["--sheet", "Members"], "--sheet applies to .xlsx"),
    ],
)
@pytest.mark.parametrize(
    "command", [["compile"], ["check"], ["preview", "--out", "p.html"], ["send", "--dry-run"]]
)
def test_an_option_that_does_not_apply_to_the_data_is_a_usage_error(
    project: Path, name: str, flags: list[str], says: str, command: list[str]
) -> None:
    workbook(project / "list.xlsx", [["to", "name"], ["U1", "Ann"]])
    (project / "list.csv").write_text("to,name\nU1,Ann\n")
    (project / "list.txt").write_text("to,name\nU1,Ann\n")
    (project / "list.json").write_text('[{"to": "U1", "name": "Ann"}]')
    (project / "list.jsonl").write_text('{"to": "U1", "name": "Ann"}\n')
    result = run(command[0], "def.yaml", "--data", name, *flags, *command[1:])
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert f"leave out {flags[0]}" in result.stderr
    assert not (project / "p.html").exists()


def test_options_that_apply_are_accepted_and_stdin_is_checked_once_sniffed(project: Path) -> None:
    workbook(project / "list.xlsx", [["to", "name"], ["U1", "Ann"]], title="Members")
    assert texts(run("compile", "def.yaml", "--data", "list.xlsx", "--sheet", "Members")) == [
        "Hi Ann"
    ]
    (project / "list.txt").write_text("to;name\nU1;Ann\n")
    assert texts(run("compile", "def.yaml", "--data", "list.txt", "--delimiter", ";")) == ["Hi Ann"]
    piped = run("compile", "def.yaml", "--data", "-", "--sheet", "Members", input=b"to\nU1\n")
    assert piped.exit_code == 2, piped.output
    assert "--sheet applies to .xlsx data only, and <stdin> is read as CSV" in piped.stderr


# ------------------------------------------- cell references, the way Excel writes them


@pytest.mark.parametrize(
    ("sheet", "ref"),
    [
        ("Sheet1", "Sheet1!C7"),
        ("My Sheet", "'My Sheet'!C7"),
        ("It's", "'It''s'!C7"),
        ("2024", "'2024'!C7"),
        ("A1", "'A1'!C7"),
        ("R2C3", "'R2C3'!C7"),
        ("Sheet-1", "'Sheet-1'!C7"),
        ("名簿", "名簿!C7"),
    ],
)
def test_sheet_names_are_quoted_in_cell_references_as_excel_does(sheet: str, ref: str) -> None:
    assert cell_reference(sheet, 2, 7) == ref


def test_a_cell_reference_in_an_error_quotes_the_sheet_name(project: Path) -> None:
    workbook(project / "list.xlsx", [["to", "name"], ["U1", "Ann"], [66812300000, "Bo"]], "It's")
    result = run("compile", "def.yaml", "--data", "list.xlsx", "--keep-going")
    assert result.exit_code == 1
    assert "cell 'It''s'!A3 (to) holds a number" in result.stderr


def test_a_delimiter_ending_every_line_is_no_column(project: Path) -> None:
    (project / "list.csv").write_text("to;name;\r\nU1;Ann;\r\nU2;Bob;stray\r\nU3;Cy\r\n")
    result = run("compile", "def.yaml", "--data", "list.csv", "--delimiter", ";", "--keep-going")
    assert result.exit_code == 1
    assert texts(result) == ["Hi Ann", "Hi Cy"]
    assert "list.csv:3: row 2: has 3 fields but the header has 2" in result.stderr

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


# ------------------------------------------- .xlsx cells as a person sees them


def _raw_cells(path: Path, cells: dict[str, str]) -> None:
    """Replace cells of sheet1 by raw XML (error values, odd serials openpyxl will not write)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as book:
        parts = {item: book.read(item) for item in book.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for ref, xml in cells.items():
        sheet, count = re.subn(rf'<c r="{ref}"[^>]*?(/>|>.*?</c>)', xml, sheet)
        assert count == 1, ref
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as book:
        for item, data in parts.items():
            book.writestr(item, data)


def test_xlsx_numbers_follow_their_number_format(project: Path) -> None:
    import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["to", "name", "zip", "rate", "price", "big", "noise", "day", "at", "postal"])
    sheet.append(
        [
            "U1",
            "Ann",
            123,
            0.125,
            1234.5,
            12345678901234567,
            1100.0000000000002,
            datetime.date(2024, 3, 31),
            datetime.datetime(2024, 3, 31, 14, 5),
            1500042,
        ]
    )
    for ref, code in {
        "C2": "00000",
        "D2": "0.0%",
        "E2": '"$"#,##0.00',
        "H2": 'yyyy"年"m"月"d"日"',
        "I2": "h:mm AM/PM",
        "J2": "000-0000",
    }.items():
        sheet[ref].number_format = code
    book.save(project / "list.xlsx")
    (project / "all.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: '{{ zip }}|{{ rate }}|{{ price }}|{{ big }}|"
        "{{ noise }}|{{ day }}|{{ at }}|{{ postal }}'}\n"
    )
    for command in (["compile"], ["preview", "--out", "p.html"]):
        result = run(command[0], "all.yaml", "--data", "list.xlsx", *command[1:])
        assert result.exit_code == 0, result.stderr
    shown = "00123|12.5%|$1,234.50|12345678901234600|1100|2024年3月31日|2:05 PM|150-0042"
    assert texts(run("compile", "all.yaml", "--data", "list.xlsx")) == [shown]
    assert "12345678901234600" in (project / "p.html").read_text()


def test_xlsx_error_cells_and_impossible_dates_are_located_errors(project: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["to", "name", "score"])
    sheet.append(["U1", "Ann", 1])
    sheet.append(["U2", "Bob", 2])
    sheet.append(["U3", "Cy", 3])
    sheet.append(["U4", "Di", 4])
    sheet.append(["U5", "Ed", 5])
    sheet["C4"].number_format = "yyyy-mm-dd"
    book.save(project / "list.xlsx")
    _raw_cells(
        project / "list.xlsx",
        {
            "C2": '<c r="C2" t="e"><v>#N/A</v></c>',
            "C3": '<c r="C3" t="e"><v>#DIV/0!</v></c>',
            "C4": f'<c r="C4" s="{_date_style(project / "list.xlsx")}"><v>-7</v></c>',
            "C6": '<c r="C6" t="d"><v>2024-13-45</v></c>',
        },
    )
    for command in (["compile", "--keep-going"], ["check"], ["send", "--dry-run", "--keep-going"]):
        result = run(command[0], "def.yaml", "--data", "list.xlsx", *command[1:])
        assert result.exit_code == 1, result.output
        assert "cell Sheet1!C2 (score) holds the error #N/A" in result.stderr
        assert "cell Sheet1!C3 (score) holds the error #DIV/0!" in result.stderr
        assert "cell Sheet1!C4 (score) is formatted as a date but holds -7" in result.stderr
        assert "cell Sheet1!C6 (score) is stored as a date but holds '2024-13-45'" in (
            result.stderr
        )
        # openpyxl's own warning ("is marked as a date but ...") never reaches stderr raw.
        assert "UserWarning" not in result.stderr and "marked as a date" not in result.stderr
    assert texts(run("compile", "def.yaml", "--data", "list.xlsx", "--keep-going")) == ["Hi Di"]


def _date_style(path: Path) -> str:
    """The style index openpyxl gave the date-formatted cell C4."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    match = re.search(r'<c r="C4" s="(\d+)"', sheet)
    assert match is not None
    return match[1]


# ------------------------------- a numeric .xlsx cell reaching `to` by any column


@pytest.mark.parametrize(
    ("definition", "column"),
    [
        ("from: APP\nto: '{{ phone }}'\n", "phone"),
        ("from: APP\nto: '+{{ key }}'\nvars: {key: '{{ tel }}'}\n", "tel"),
        ("to: '{{ phone }}'\nfrom: '{{ sender }}'\n", "sender"),
    ],
)
def test_a_numeric_cell_feeding_to_or_from_is_a_located_error(
    project: Path, definition: str, column: str
) -> None:
    (project / "keys.yaml").write_text(
        definition + "message: {type: TEXT, text: 'Hi {{ name }}'}\n"
    )
    rows: list[list[object]] = [
        ["name", "phone", "tel", "sender", "points"],
        ["Ann", "0812345678", "0812345678", "APP", 7],
        ["Bo", "0812345679", "0812345679", "APP", 8],
    ]
    rows[2][rows[0].index(column)] = 66812345679
    workbook(project / "list.xlsx", rows, title="My List")
    column_letter = "ABCDE"[rows[0].index(column)]
    ref = f"'My List'!{column_letter}3"
    for command in (
        ["compile", "--keep-going"],
        ["check"],
        ["preview", "--out", "p.html"],
        ["send", "--dry-run", "--keep-going"],
    ):
        result = run(command[0], "keys.yaml", "--data", "list.xlsx", *command[1:])
        assert f"cell {ref} ({column}) holds a number, not text" in result.stderr, (
            command,
            result.output,
        )
        assert "(found 66812345679)" in result.stderr
    compiled = run("compile", "keys.yaml", "--data", "list.xlsx", "--keep-going")
    assert texts(compiled) == ["Hi Ann"]  # `points`, a number no key reads, is fine


def test_a_numeric_cell_no_key_reads_is_an_ordinary_value(project: Path) -> None:
    workbook(project / "list.xlsx", [["to", "name", "phone"], ["U1", "Ann", 66812345679]])
    (project / "p.yaml").write_text("from: APP\nmessage: {type: TEXT, text: 'Call {{ phone }}'}\n")
    assert texts(run("compile", "p.yaml", "--data", "list.xlsx")) == ["Call 66812345679"]


# ------------------------------------------------ the encoding hint, neighbours too

NAMES = {
    "ja": ["田中 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "東京都渋谷区"],
    "ko": ["김민준", "이서연", "박지훈", "최유나", "서울특별시 강남구"],
    "zh-TW": ["陳大文", "林小美", "王建民", "台北市信義區"],
    "zh-CN": ["张伟", "王芳", "李娜", "北京市朝阳区"],
    "th": ["สมชาย ใจดี", "สมหญิง รักไทย", "ประยุทธ์ มั่นคง"],
    "fr": ["Zoë Dupré", "François Müller", "José Peña"],
}


@pytest.mark.parametrize(
    ("codec", "language", "flag"),
    [
        ("cp932", "ja", "cp932"),
        ("euc_jp", "ja", "euc_jp"),
        ("cp949", "ko", "cp949"),
        ("euc_kr", "ko", "cp949"),
        ("cp950", "zh-TW", "cp950"),
        ("big5", "zh-TW", "cp950"),
        ("gbk", "zh-CN", "gb18030"),
        ("cp874", "th", "cp874"),
        ("tis_620", "th", "cp874"),
        ("latin-1", "fr", "cp1252"),
        ("cp1252", "fr", "cp1252"),
    ],
)
@pytest.mark.parametrize("rows", [2, 5])
def test_the_encoding_hint_is_right_and_following_it_reads_the_names(
    project: Path, codec: str, language: str, flag: str, rows: int
) -> None:
    names = NAMES[language][:rows]
    text = "to,name\r\n" + "".join(f"U{i},{n}\r\n" for i, n in enumerate(names))
    (project / "list.csv").write_bytes(text.encode(codec))
    refused = run("compile", "def.yaml", "--data", "list.csv")
    assert refused.exit_code == 1
    assert f"pass --encoding {flag}" in refused.stderr, refused.stderr  # one answer, the right one
    followed = run("compile", "def.yaml", "--data", "list.csv", "--encoding", flag)
    assert followed.exit_code == 0, followed.stderr
    assert texts(followed) == [f"Hi {n}" for n in names]


def test_where_the_bytes_fit_several_encodings_the_hint_names_them_all() -> None:
    from linepress.recipients.guess import encoding_hint

    # Two characters of GB2312 level 1 that are also level-1 kanji in EUC-JP and
    # Hangul in EUC-KR: nothing tells them apart, so no single answer is given.
    sample = b"to,name\r\nU1," + bytes([0xB0, 0xA1, 0xB0, 0xA2]) + b"\r\n"
    hint = encoding_hint(sample)
    assert hint is not None
    assert "pass --encoding" not in hint  # never one answer
    assert "too few non-ASCII characters to tell its encoding" in hint
    for flag in ("gb18030", "euc_jp", "cp949"):
        assert f"--encoding {flag}" in hint

"""Recipient lists as marketers have them, through the real CLI.

Excel's CSV in the local code page (cp932, cp874, Big5, GBK), its "Unicode Text"
(UTF-16 with tabs), `;`-separated CSV, trailing `,,` rows, .xlsx workbooks with
numbers, dates and a damaged `to`, huge cells and a line that never ends.
"""

from __future__ import annotations

import datetime
import io
import json
import random
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.recipients import xlsx_strings
from linepress.recipients.records import open_records
from linepress.recipients.xlsx import cell_text, column_letter

DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"
JAPANESE = [("U1", "田中 太郎"), ("U2", "佐藤 花子"), ("U3", "鈴木 一郎"), ("U4", "高橋 美咲")]
THAI = [("U1", "สมชาย ใจดี"), ("U2", "สมหญิง รักไทย"), ("U3", "ประยุทธ์ มั่นคง")]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "def.yaml").write_text(DEFINITION)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def quiet(result: Result) -> str:
    """stderr without the warning that toy keys (`U1`) look like no LINE user ID."""
    return "".join(
        line
        for line in result.stderr.splitlines(keepends=True)
        if "looks like none of a LINE user ID" not in line
    )


def texts(result: Result) -> list[str]:
    return [json.loads(line)["message"]["text"] for line in result.stdout.splitlines()]


def csv_bytes(rows: list[tuple[str, str]], encoding: str, sep: str = ",") -> bytes:
    lines = [f"to{sep}name"] + [f"{to}{sep}{name}" for to, name in rows]
    return "\r\n".join([*lines, ""]).encode(encoding)


# ------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    ("rows", "codec", "hint"),
    [
        (JAPANESE, "cp932", "looks like Shift_JIS (Japanese): pass --encoding cp932"),
        (THAI, "cp874", "looks like TIS-620 (Thai): pass --encoding cp874"),
        (
            [("U1", "陳大文"), ("U2", "林小美"), ("U3", "王建民")],
            "cp950",
            "looks like Big5 (Traditional Chinese): pass --encoding cp950",
        ),
        (
            [("U1", "张伟"), ("U2", "王芳"), ("U3", "李娜"), ("U4", "北京市")],
            "gb18030",
            "looks like GBK (Simplified Chinese): pass --encoding gb18030",
        ),
    ],
)
def test_excel_code_pages_are_read_with_encoding_and_hinted_without(
    project: Path, rows: list[tuple[str, str]], codec: str, hint: str
) -> None:
    (project / "list.csv").write_bytes(csv_bytes(rows, codec))
    refused = run("compile", "def.yaml", "--data", "list.csv")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    # Located at the first bad byte, and naming the flag to pass.
    assert refused.stderr.startswith("list.csv:2:4: is not UTF-8 text: byte 0x")
    assert hint in refused.stderr
    read = run("compile", "def.yaml", "--data", "list.csv", "--encoding", codec)
    assert read.exit_code == 0, read.stderr
    assert texts(read) == [f"Hi {name}" for _, name in rows]
    # check and preview take the same flag.
    assert run("check", "def.yaml", "--data", "list.csv", "--encoding", codec).exit_code == 0
    shown = run("preview", "def.yaml", "--data", "list.csv", "--encoding", codec, "--out", "p.html")
    assert shown.exit_code == 0, shown.stderr
    assert rows[0][1] in (project / "p.html").read_text()


def test_a_wrong_encoding_is_a_located_error_and_an_unknown_one_a_usage_error(
    project: Path,
) -> None:
    (project / "list.csv").write_bytes(csv_bytes(THAI, "cp874"))
    wrong = run("compile", "def.yaml", "--data", "list.csv", "--encoding", "cp932")
    assert wrong.exit_code == 1
    # Thai bytes can be valid cp932 (as mojibake): the first line where they are not.
    assert wrong.stderr.startswith("list.csv:4:11: is not cp932 text: byte 0xEC at line 4")
    unknown = run("compile", "def.yaml", "--data", "list.csv", "--encoding", "klingon")
    assert unknown.exit_code == 2
    assert "unknown text encoding 'klingon'" in unknown.stderr


def test_excel_unicode_text_utf16_with_tabs_is_read_without_flags(project: Path) -> None:
    (project / "export.txt").write_bytes(b"\xff\xfe" + csv_bytes(THAI, "utf-16-le", "\t"))
    result = run("compile", "def.yaml", "--data", "export.txt")
    assert result.exit_code == 0, result.stderr
    assert texts(result) == [f"Hi {name}" for _, name in THAI]
    assert "read as tab-separated" in result.stderr  # .txt: the delimiter came from the header
    (project / "export.tsv").write_bytes(b"\xfe\xff" + csv_bytes(THAI, "utf-16-be", "\t"))
    tsv = run("compile", "def.yaml", "--data", "export.tsv")
    assert (tsv.exit_code, quiet(tsv)) == (0, "")
    assert texts(tsv) == texts(result)


def test_a_byte_order_mark_contradicting_encoding_is_refused(project: Path) -> None:
    (project / "u16.csv").write_bytes("to,name\nU1,Ann\n".encode("utf-16"))
    result = run("compile", "def.yaml", "--data", "u16.csv", "--encoding", "cp932")
    assert result.exit_code == 1
    assert "starts with a UTF-16 byte order mark" in result.stderr


@given(
    names=st.lists(
        st.text(
            st.characters(
                codec="cp932",
                exclude_categories=("Cc", "Cs", "Zl", "Zp"),
                exclude_characters="¢£¬‖−〜",
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=6,
    ),
    codec=st.sampled_from(["cp932", "utf-16", "utf-8-sig"]),
)
@settings(max_examples=60, deadline=None)
def test_any_text_in_an_encoding_reads_back_the_same(names: list[str], codec: str) -> None:
    quoted = ['"' + name.replace('"', '""') + '"' for name in names]
    data = "\n".join(["id,name", *(f"{i},{q}" for i, q in enumerate(quoted))]).encode(codec)
    encoding = None if codec in ("utf-16", "utf-8-sig") else codec
    with open_records("-", stdin=io.BytesIO(data), format="csv", encoding=encoding) as src:
        got = [r.fields for r in src]  # type: ignore[union-attr]
    # Every row has an id, so none is blank, whatever its name (" " included).
    expected = [{"id": str(i), "name": n} for i, n in enumerate(names)]
    assert got == expected


# ----------------------------------------------------------------- delimiters


def test_a_semicolon_csv_is_refused_with_the_flag_and_a_txt_export_read_and_announced(
    project: Path,
) -> None:
    # Excel in a decimal-comma locale; one name holds a comma (realworld case 17).
    rows = "user_id;nama;poin\nU1;Budi;1.250\nU2;Agus, S.Kom;75,5\n"
    (project / "list.csv").write_text(rows)
    (project / "id.yaml").write_text(
        "from: APP\nto: '{{ user_id }}'\nmessage: {type: TEXT, text: '{{ nama }} {{ poin }}'}\n"
    )
    # A .csv says ','; a header that is plainly ';'-separated is the real cause, named
    # with its fix, and nothing is compiled (no undefined-variable errors on every row).
    refused = run("compile", "id.yaml", "--data", "list.csv")
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert refused.stderr.splitlines()[0] == (
        "list.csv:1: the header row looks ';'-separated (3 column names separated by ';', "
        "no ','): use --delimiter ';'"
    )
    assert "undefined" not in refused.stderr
    said = run("compile", "id.yaml", "--data", "list.csv", "--delimiter", ";")
    assert (said.exit_code, quiet(said)) == (0, "")
    assert texts(said) == ["Budi 1.250", "Agus, S.Kom 75,5"]
    # A .txt export declares nothing: read with the header's delimiter, and said so.
    (project / "list.txt").write_text(rows)
    announced = run("compile", "id.yaml", "--data", "list.txt")
    assert announced.exit_code == 0, announced.stderr
    assert (announced.stdout, texts(announced)) == (said.stdout, texts(said))
    assert quiet(announced) == (
        "list.txt:1: warning: read as ';'-separated: the header row has no ',' but 3 column "
        "names separated by ';' (pass --delimiter ';' to say so, or --delimiter ',' for one "
        "column)\n"
    )
    forced = run("compile", "id.yaml", "--data", "list.csv", "--delimiter", ",")
    assert forced.exit_code == 1 and "user_id" in forced.stderr


def test_excel_sep_line_names_the_delimiter(project: Path) -> None:
    (project / "list.csv").write_text("sep=|\nto|name\nU1|Ann\n")
    result = run("compile", "def.yaml", "--data", "list.csv")
    assert (result.exit_code, quiet(result)) == (0, "")
    assert texts(result) == ["Hi Ann"]


def test_a_header_that_splits_two_ways_is_refused_with_the_flags(project: Path) -> None:
    (project / "list.csv").write_text("to;name|city\nU1;Ann|Osaka\n")
    result = run("compile", "def.yaml", "--data", "list.csv")
    assert result.exit_code == 1
    assert "list.csv:1: the header row is one name under ','" in result.stderr
    assert "--delimiter ';' and --delimiter '|'" in result.stderr


def test_a_one_column_list_stays_one_column(project: Path) -> None:
    (project / "static.yaml").write_text("from: APP\nmessage: {type: TEXT, text: hi}\n")
    (project / "list.csv").write_text("to\nU1\nU2\n")
    result = run("compile", "static.yaml", "--data", "list.csv")
    assert (result.exit_code, quiet(result)) == (0, "")
    assert len(result.stdout.splitlines()) == 2


# ----------------------------------------------------------------- blank rows


def test_excel_trailing_blank_rows_are_skipped_and_counted(project: Path) -> None:
    (project / "list.csv").write_text(
        "to,name,city\r\nU1,Ann,Osaka\r\n, ,\r\nU2,Bob,Kyoto\r\n,,\r\n"
    )
    result = run("compile", "def.yaml", "--data", "list.csv")
    assert result.exit_code == 0
    assert texts(result) == ["Hi Ann", "Hi Bob"]
    assert quiet(result) == "linepress: skipped 2 blank rows\n"
    checked = run("check", "def.yaml", "--data", "list.csv", "--error-format", "json")
    report = json.loads(checked.stderr[: checked.stderr.rindex("}") + 1])
    assert (report["rows"], report["blank_rows"]) == (2, 2)
    said = run("check", "def.yaml", "--data", "list.csv")
    assert "; skipped 2 blank rows" in said.stdout + said.stderr, said.output
    # Row numbers count recipients, so the blank row does not shift them.
    (project / "bad.csv").write_text("to,name\n,\nU1,\nU2,{{x}}\n")
    (project / "strict.yaml").write_text("from: APP\nmessage: {type: TEXT, text: '{{ name }}'}\n")
    failed = run("compile", "strict.yaml", "--data", "bad.csv")
    assert "row 1 (bad.csv:3)" in failed.stderr
    assert "skipped 1 blank row" in failed.stderr


# -------------------------------------------------------------- record sizes


def test_a_200_kb_cell_is_read(project: Path) -> None:
    note = "x" * 200_000
    (project / "list.csv").write_text(f'to,name,note\nU1,Ann,{note}\nU2,Bob,"{note}\n{note}"\n')
    result = run("compile", "def.yaml", "--data", "list.csv")
    assert result.exit_code == 0, result.stderr[:500]
    assert texts(result) == ["Hi Ann", "Hi Bob"]


def test_a_line_over_the_cap_is_a_located_error_in_bounded_memory(project: Path) -> None:
    with (project / "huge.csv").open("wb") as out:
        out.write(b"to,name\nU1,Ann\n")
        for _ in range(64):  # 8 MiB without a line break
            out.write(b"y" * (128 * 1024))
    tracemalloc.start()
    try:
        result = run("compile", "def.yaml", "--data", "huge.csv", "--max-record-size", "256K")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "huge.csv:3: line 3 is longer than 256 KiB, the cap on one record"
    )
    assert peak < 4 * 1024 * 1024  # the cap, not the 8 MiB line
    too_small = run("compile", "def.yaml", "--data", "huge.csv", "--max-record-size", "0")
    assert too_small.exit_code == 2


#: (file name, what comes before the huge part, the huge part (repeated 64 times), the error)
HUGE_JSON = [
    (
        "list.jsonl",
        b'{"to": "U1", "name": "Ann"}\n{"to": "U2", "name": "',
        b"y" * (128 * 1024),
        "list.jsonl:2: line 2 is longer than 256 KiB, the cap on one record: raise it with "
        "--max-record-size if the line is right (is this a JSON Lines file?)",
    ),
    (
        "list.json",
        b'[{"to": "U1", "name": "Ann"},\n  {"to": "U2",\n "name": "',
        b"y" * (128 * 1024),
        "list.json:2:3: record 2 is larger than 256 KiB, the cap on one record",
    ),
    (  # many small values: the decoder succeeds on none until the end
        "list.json",
        b'[{"to": "U1", "name": "Ann"}, {"to": "U2", "names": [',
        b'"y", ' * (128 * 1024 // 5),
        "list.json:1:31: record 2 is larger than 256 KiB, the cap on one record",
    ),
    (  # too deep for Python's decoder: measured by counting brackets
        "list.json",
        b'[{"to": "U1", "name": "Ann"}, {"to": "U2", "deep": ',
        b"[" * (128 * 1024),
        "list.json:1:31: record 2 is larger than 256 KiB, the cap on one record",
    ),
    (  # a number past Python's digit limit: measured digit by digit
        "list.json",
        b'[{"to": "U1", "name": "Ann"},\n',
        b"7" * (128 * 1024),
        "list.json:2:1: record 2 is larger than 256 KiB, the cap on one record",
    ),
]


@pytest.mark.parametrize(("name", "head", "huge", "error"), HUGE_JSON)
def test_a_json_record_over_the_cap_is_a_located_error_in_bounded_memory(
    project: Path, name: str, head: bytes, huge: bytes, error: str
) -> None:
    with (project / name).open("wb") as out:
        out.write(head)
        for _ in range(64):  # 8 MiB, and the record never ends
            out.write(huge)
    tracemalloc.start()
    try:
        result = run("compile", "def.yaml", "--data", name, "--max-record-size", "256K")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1
    assert result.stderr.startswith(error), result.stderr[:400]
    assert "Hi Ann" not in result.stdout  # a file-level error: nothing is compiled
    assert peak < 4 * 1024 * 1024  # the cap, not the 8 MiB record


def test_the_json_cap_counts_bytes_and_spares_records_within_it(project: Path) -> None:
    wide = "名前" * 700  # 1,400 characters, 4,200 bytes of UTF-8
    (project / "list.json").write_text(
        json.dumps([{"to": "U1", "name": "Ann"}, {"to": "U2", "name": wide}], ensure_ascii=False)
    )
    over = run("compile", "def.yaml", "--data", "list.json", "--max-record-size", "4K")
    assert over.exit_code == 1
    assert "record 2 is larger than 4 KiB" in over.stderr
    within = run("compile", "def.yaml", "--data", "list.json", "--max-record-size", "5K")
    assert within.exit_code == 0, within.stderr
    assert texts(within) == ["Hi Ann", f"Hi {wide}"]
    (project / "list.jsonl").write_text(
        f'{{"to": "U1", "name": "{wide}"}}\n{{"to": "U2", "name": "Bob"}}\n', encoding="utf-8"
    )
    lines = run("compile", "def.yaml", "--data", "list.jsonl", "--max-record-size", "4K")
    assert lines.stderr.startswith("list.jsonl:1: line 1 is longer than 4 KiB")
    assert run("compile", "def.yaml", "--data", "list.jsonl").exit_code == 0


# ------------------------------------------------------------ repeated JSON keys


def test_a_repeated_key_in_a_json_record_is_a_located_bad_row(project: Path) -> None:
    (project / "list.jsonl").write_text(
        '{"to": "U1", "name": "Ann"}\n'
        '{"to": "U1", "name": "Bob", "to": "U2"}\n'
        '{"to": "U3", "name": "Cy", "link": "https://x/y", "address": {"city": "A", "city": "B"}}\n'
        '{"to": "U4", "name": "Di", "at": "10:00", "\\u0074o": "U4"}\n'
        '{"to": "U5", "name": "Eve", "at": "10:00", "nested": {"to": "U9"}}\n'
    )
    lines = run("compile", "def.yaml", "--data", "list.jsonl", "--keep-going")
    assert lines.exit_code == 1
    assert texts(lines) == ["Hi Ann", "Hi Eve"]
    errors = lines.stderr.splitlines()
    assert errors[0] == (
        "list.jsonl:2:29: row 2 (list.jsonl:2): to: has the key 'to' twice in one object "
        "(first 'U1', then 'U2'): JSON would keep only the last, and the other would be lost "
        "without a word; remove or rename one"
    )
    assert errors[1].startswith("list.jsonl:3:76: row 3 (list.jsonl:3): address.city: ")
    assert "(first 'A', then 'B')" in errors[1]
    # Written with an escape: found all the same, placed at the record's start.
    assert errors[2].startswith("list.jsonl:4:1: row 4 (list.jsonl:4): to: has the key 'to'")
    (project / "list.json").write_text(
        '[{"to": "U1", "name": "Ann"},\n {"to": "U1",\n  "name": "Bob",\n  "to": "U2"},'
        ' {"to": "U5", "name": "E", "x": [{"a": 1, "a": 2}]}]'
    )
    array = run("compile", "def.yaml", "--data", "list.json", "--keep-going")
    assert array.exit_code == 1
    assert texts(array) == ["Hi Ann"]
    errors = array.stderr.splitlines()
    assert errors[0].startswith("list.json:4:3: row 2 (list.json:2): to: has the key 'to' twice")
    assert errors[1].startswith("list.json:4:57: row 3 (list.json:4): x[0].a: has the key 'a'")
    for command in (["check"], ["preview", "--out", "p.html"], ["send", "--dry-run"]):
        other = run(command[0], "def.yaml", "--data", "list.jsonl", *command[1:])
        assert other.exit_code == 1, (command, other.stderr)
        assert "has the key 'to' twice" in other.stderr, command


def _json_object(draw: st.DrawFn, depth: int) -> tuple[str, bool]:
    """(JSON text of an object whose keys may repeat, whether any object in it repeats one)."""
    keys = draw(st.lists(st.sampled_from(["to", "name", "a", "é", "x:y"]), max_size=5))
    repeats = len(set(keys)) != len(keys)
    parts = []
    for key in keys:
        if depth < 2 and draw(st.booleans()):
            text, inner = _json_object(draw, depth + 1)
            repeats = repeats or inner
        else:
            text = json.dumps(draw(st.sampled_from(["U1", "a:b", 7, None, [1, ":"]])))
        parts.append(f"{json.dumps(key, ensure_ascii=draw(st.booleans()))}: {text}")
    return "{" + ", ".join(parts) + "}", repeats


@st.composite
def json_objects(draw: st.DrawFn) -> tuple[str, bool]:
    return _json_object(draw, 0)


@given(record=json_objects())
@settings(max_examples=200, deadline=None)
def test_a_record_is_refused_exactly_when_an_object_in_it_repeats_a_key(
    record: tuple[str, bool],
) -> None:
    text, repeats = record
    for data, fmt in ((text, "jsonl"), (f"[{text}]", "json")):
        source = open_records("-", format=fmt, stdin=io.BytesIO(data.encode()))  # type: ignore[arg-type]
        with source:
            (item,) = list(source)
        if repeats:
            assert item.problem.code == "data-json-duplicate-key", data  # type: ignore[union-attr]
        else:
            assert item.fields == json.loads(text), data  # type: ignore[union-attr]


def test_a_quoted_record_over_the_cap_stops_the_file(project: Path) -> None:
    # Where an oversized quoted cell ends is not known without reading it: the file
    # stops there (located), since reading on would take the cell's lines for rows.
    big = "z" * 3000
    (project / "list.csv").write_text(f'to,name\nU1,"{big}\n{big}"\nU2,Bob\n')
    result = run(
        "compile", "def.yaml", "--data", "list.csv", "--max-record-size", "4K", "--keep-going"
    )
    assert result.exit_code == 1
    assert texts(result) == []
    assert result.stderr.startswith("list.csv:2: ")
    assert "larger than the cap on one record (4,096 characters" in result.stderr


# ------------------------------------------- every command reads every form


def _write_form(project: Path, form: str) -> tuple[str, list[str], list[str]]:
    """One list form of the issue: (file name, flags it needs, the names it holds)."""
    if form == "cp932":
        (project / "list.csv").write_bytes(csv_bytes(JAPANESE, "cp932"))
        return "list.csv", ["--encoding", "cp932"], [n for _, n in JAPANESE]
    if form == "cp874":
        (project / "list.csv").write_bytes(csv_bytes(THAI, "cp874"))
        return "list.csv", ["--encoding", "cp874"], [n for _, n in THAI]
    if form == "utf-16 tsv":
        (project / "list.txt").write_bytes(b"\xff\xfe" + csv_bytes(JAPANESE, "utf-16-le", "\t"))
        return "list.txt", [], [n for _, n in JAPANESE]
    if form == "semicolon":
        (project / "list.csv").write_bytes(csv_bytes(THAI, "utf-8", ";"))
        return "list.csv", ["--delimiter", ";"], [n for _, n in THAI]
    if form == "trailing rows":
        (project / "list.csv").write_bytes(csv_bytes(JAPANESE, "utf-8") + b",\r\n,\r\n")
        return "list.csv", [], [n for _, n in JAPANESE]
    if form == "xlsx":
        workbook(
            project / "list.xlsx", [["to", "name", "points"], ["U1", "Ann", 7], ["U2", "Bo", 1.5]]
        )
        return "list.xlsx", [], ["Ann", "Bo"]
    if form == "200 KB cell":
        note = "n" * 200_000
        (project / "list.csv").write_text(f"to,name,note\nU1,Ann,{note}\nU2,Bob,{note}\n")
        return "list.csv", [], ["Ann", "Bob"]
    assert form == "jsonl"
    (project / "list.jsonl").write_text(
        "".join(json.dumps({"to": to, "name": n}, ensure_ascii=False) + "\n" for to, n in THAI)
    )
    return "list.jsonl", [], [n for _, n in THAI]


@pytest.mark.parametrize(
    "form",
    ["cp932", "cp874", "utf-16 tsv", "semicolon", "trailing rows", "xlsx", "200 KB cell", "jsonl"],
)
def test_compile_check_preview_and_send_read_each_form_alike(project: Path, form: str) -> None:
    name, flags, names = _write_form(project, form)
    compiled = run("compile", "def.yaml", "--data", name, *flags)
    assert compiled.exit_code == 0, compiled.stderr
    assert texts(compiled) == [f"Hi {n}" for n in names]
    checked = run("check", "def.yaml", "--data", name, *flags)
    assert checked.exit_code == 0, checked.stderr
    assert f"ok: 1 definition, {len(names)} recipients" in checked.stderr
    shown = run("preview", "def.yaml", "--data", name, *flags, "--out", "p.html")
    assert shown.exit_code == 0, shown.stderr
    page = (project / "p.html").read_text()
    assert all(n in page for n in names), form
    sent = run("send", "def.yaml", "--data", name, *flags, "--dry-run")
    assert sent.exit_code == 0, sent.stderr
    assert f"campaign: {len(names)} recipients: dry-run {len(names)}" in sent.stderr


@pytest.mark.parametrize(
    "command", [["check"], ["preview", "--out", "p.html"], ["send", "--dry-run"]]
)
def test_a_record_over_the_cap_stops_every_command_alike(project: Path, command: list[str]) -> None:
    (project / "list.csv").write_text("to,name\nU1,Ann\nU2," + "y" * 5000 + "\n")
    (project / "list.json").write_text('[{"to": "U1", "name": "' + "y" * 5000 + '"}]')
    for name, error in (
        ("list.csv", "list.csv:3: line 3 is longer than 4 KiB"),
        ("list.json", "list.json:1:2: record 1 is larger than 4 KiB"),
    ):
        result = run(
            command[0], "def.yaml", "--data", name, "--max-record-size", "4K", *command[1:]
        )
        assert result.exit_code == 1, (command, name)
        assert error in result.stderr, (command, result.stderr)


# ----------------------------------------------------------------------- xlsx


def workbook(path: Path, rows: list[list[object]], title: str = "Sheet1") -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.create_sheet("Other").append(["to", "name"])
    book.save(path)


XLSX_ROWS: list[list[object]] = [
    ["to", "name", "points", "joined", "member", "ratio"],
    ["U1", "田中", 1250, datetime.date(2024, 3, 31), True, 0.25],
    [None, None, None, None, None, None],
    ["U2", "Siti", 75.0, datetime.datetime(2024, 1, 2, 9, 30), False, None],
    [66812300000, "Damaged", 1, None, None, None],
]


def test_xlsx_cells_read_as_a_person_sees_them(project: Path) -> None:
    workbook(project / "list.xlsx", XLSX_ROWS)
    (project / "all.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: '{{ name }}|{{ points }}|{{ joined }}|"
        "{{ member }}|{{ ratio }}'}\n"
    )
    result = run("compile", "all.yaml", "--data", "list.xlsx", "--keep-going")
    assert result.exit_code == 1
    # openpyxl gives a datetime the format yyyy-mm-dd h:mm:ss: shown as Excel shows it.
    assert texts(result) == ["田中|1250|2024-03-31|true|0.25", "Siti|75|2024-01-02 9:30:00|false|"]
    # The numeric `to` is named the way Excel shows the cell, with its row.
    assert (
        "list.xlsx:5:1: row 3 (list.xlsx:5): cell Sheet1!A5 (to) holds a number, not text"
        in result.stderr
    )
    assert "(found 66812300000)" in result.stderr
    assert "skipped 1 blank row" in result.stderr


def test_xlsx_sheet_choice_and_errors(project: Path) -> None:
    workbook(project / "list.xlsx", [["to", "name"], ["U1", "Ann"]], title="Members")
    other = run("compile", "def.yaml", "--data", "list.xlsx", "--sheet", "Other")
    assert (other.exit_code, other.stdout) == (0, "")  # a header and no rows
    first = run("compile", "def.yaml", "--data", "list.xlsx")
    assert texts(first) == ["Hi Ann"]
    missing = run("compile", "def.yaml", "--data", "list.xlsx", "--sheet", "Nope")
    assert missing.exit_code == 1
    assert "list.xlsx: has no worksheet 'Nope': its sheets are 'Members', 'Other'" in (
        missing.stderr
    )
    (project / "fake.xlsx").write_text("to,name\nU1,Ann\n")
    fake = run("compile", "def.yaml", "--data", "fake.xlsx")
    assert fake.exit_code == 1 and "is not an .xlsx workbook" in fake.stderr
    (project / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    old = run("compile", "def.yaml", "--data", "old.xls")
    assert old.exit_code == 1 and "save it from Excel as .xlsx" in old.stderr


def test_xlsx_from_stdin_and_through_check_preview_and_send(project: Path) -> None:
    workbook(project / "list.xlsx", [["to", "name"], ["U1", "Ann"], ["U2", "Bob"]])
    piped = CliRunner().invoke(
        main, ["compile", "def.yaml", "--data", "-"], input=(project / "list.xlsx").read_bytes()
    )
    assert texts(piped) == ["Hi Ann", "Hi Bob"]
    assert run("check", "def.yaml", "--data", "list.xlsx").exit_code == 0
    shown = run("preview", "def.yaml", "--data", "list.xlsx", "--out", "p.html")
    assert shown.exit_code == 0 and "Bob" in (project / "p.html").read_text()
    sent = run("send", "def.yaml", "--data", "list.xlsx", "--dry-run")
    assert sent.exit_code == 0, sent.stderr
    assert "campaign: 2 recipients: dry-run 2" in sent.stderr


def test_xlsx_rows_and_cells_without_references_are_read_in_order(project: Path) -> None:
    """Some writers leave out `r="B7"` (optional in the format): position decides."""
    import re
    import zipfile

    workbook(project / "list.xlsx", XLSX_ROWS)
    with zipfile.ZipFile(project / "list.xlsx") as book:
        parts = {item: book.read(item) for item in book.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    # Rows count from the first <row> (openpyxl writes the blank row 3 as an empty one).
    parts["xl/worksheets/sheet1.xml"] = re.sub(r' r="[A-Z]*[0-9]+"', "", sheet).encode()
    with zipfile.ZipFile(project / "bare.xlsx", "w") as book:
        for item, data in parts.items():
            book.writestr(item, data)
    (project / "all.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: '{{ name }}|{{ points }}|{{ joined }}'}\n"
    )
    result = run("compile", "all.yaml", "--data", "bare.xlsx", "--keep-going")
    assert texts(result) == ["田中|1250|2024-03-31", "Siti|75|2024-01-02 9:30:00"]
    assert "bare.xlsx:5:1: row 3 (bare.xlsx:5): cell Sheet1!A5 (to) holds a number" in (
        result.stderr
    )


def test_shared_strings_past_the_in_memory_part_come_from_disk(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[list[object]] = [["to", "name"]] + [
        [f"U{i}", f"名前 {i} " * (i % 3)] for i in range(40)
    ]
    workbook(project / "list.xlsx", rows)
    in_memory = run("compile", "def.yaml", "--data", "list.xlsx")
    monkeypatch.setattr(xlsx_strings, "IN_MEMORY", 5)
    monkeypatch.setattr(xlsx_strings, "BLOCK", 4)  # many blocks, more than the cache holds
    monkeypatch.setattr(xlsx_strings, "CACHED_BLOCKS", 2)
    spilled = run("compile", "def.yaml", "--data", "list.xlsx")
    assert spilled.exit_code == 0, spilled.stderr
    assert spilled.stdout == in_memory.stdout
    assert texts(spilled)[38] == "Hi 名前 38 名前 38 "  # row 39: past the 5 kept in memory


@given(
    strings=st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"])), max_size=60),
    in_memory=st.integers(0, 8),
    block=st.integers(1, 5),
    order=st.randoms(use_true_random=False),
)
@settings(deadline=None)  # it writes and reads a file per example: slow on a loaded machine
def test_spilled_strings_answer_any_index_in_any_order(
    strings: list[str], in_memory: int, block: int, order: random.Random
) -> None:
    from xml.sax.saxutils import escape

    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    items = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in strings)
    xml = f'<sst xmlns="{ns}">{items}</sst>'.encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xlsx_strings, "BLOCK", block)
        patch.setattr(xlsx_strings, "CACHED_BLOCKS", 2)
        table = xlsx_strings.SpilledStrings(io.BytesIO(xml), in_memory=in_memory)
        try:
            assert len(table) == len(strings)
            indexes = list(range(len(strings))) * 2
            order.shuffle(indexes)
            assert [table[i] for i in indexes] == [strings[i] for i in indexes]
            with pytest.raises(IndexError):
                table[len(strings)]
        finally:
            table.close()


def test_cell_text_and_column_letters() -> None:
    assert [cell_text(v) for v in (None, "x", True, 7, 7.0, 0.1, -3.5, 1e20)] == [
        "",
        "x",
        "true",
        "7",
        "7",
        "0.1",
        "-3.5",
        "1e+20",
    ]
    assert cell_text(datetime.datetime(2024, 5, 6)) == "2024-05-06"
    assert cell_text(datetime.time(8, 15)) == "08:15:00"
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_a_codec_that_refuses_the_whole_file_is_a_located_error(tmp_path: Path) -> None:
    # `--encoding utf-16` on a file without a byte order mark: the codec refuses the
    # stream as a whole (UnicodeError, not UnicodeDecodeError).
    data = tmp_path / "nobom.csv"
    data.write_bytes("to,name\nU2f82285c433b51a87559a7c55318b9c9,Ken\n".encode("utf-16-le"))
    definition = tmp_path / "d.yaml"
    definition.write_text('message: {type: TEXT, text: "Hi {{ name }}"}\nfrom: "@s"\n')
    done = CliRunner().invoke(
        main, ["compile", str(definition), "--data", str(data), "--encoding", "utf-16"]
    )
    assert done.exit_code == 1, done.output
    assert f"{data}:1: cannot be read as utf-16 text" in done.output
    assert "--encoding utf-16-le" in done.output
    assert "internal error" not in done.output


def test_a_cell_over_the_cap_stops_the_file_instead_of_reading_the_cell_as_rows(
    tmp_path: Path,
) -> None:
    # The rest of an oversized quoted cell must never become rows (or recipients).
    pasted = "".join("x" * 400 + "\n" for _ in range(1500))
    data = tmp_path / "paste.csv"
    data.write_text(
        'to,name\nU2f82285c433b51a87559a7c55318b9c9,"'
        + pasted
        + 'Udeadbeefdeadbeefdeadbeefdeadbeef,Eve\n"\n'
    )
    definition = tmp_path / "d.yaml"
    definition.write_text('message: {type: TEXT, text: "Hi {{ name }}"}\nfrom: "@s"\n')
    command = ["compile", str(definition), "--data", str(data), "--keep-going"]
    done = CliRunner().invoke(main, [*command, "--max-record-size", "500K"])
    assert done.exit_code == 1, done.output
    assert "Udeadbeef" not in done.output
    assert f"{data}:2: a field is larger than the cap on one record" in done.output
    assert done.output.count("\n") < 5  # one error, not one per line of the cell


@pytest.mark.parametrize("size", ["99999999999G", "3G", "0"])
def test_a_record_cap_out_of_range_is_a_usage_error(tmp_path: Path, size: str) -> None:
    definition = tmp_path / "d.yaml"
    definition.write_text('message: {type: TEXT, text: "Hi"}\nfrom: "@s"\nto: U1\n')
    done = CliRunner().invoke(main, ["compile", str(definition), "--max-record-size", size])
    assert done.exit_code == 2, done.output
    assert "from 1 byte to 2G" in done.output


def test_a_workbook_saved_under_a_csv_name_is_named_for_what_it_is(project: Path) -> None:
    workbook(project / "list.csv", [["to", "name"], ["U1", "Ann"]])
    for command in ("compile", "check"):
        result = run(command, "def.yaml", "--data", "list.csv")
        assert result.exit_code == 1, result.output
        assert "list.csv: is an Excel workbook (.xlsx), not CSV text" in result.stderr
        assert "UTF-8" not in result.stderr
    renamed = run("compile", "def.yaml", "--data", "list.csv", "--data-format", "xlsx")
    assert renamed.exit_code == 0, renamed.stderr
    assert texts(renamed) == ["Hi Ann"]

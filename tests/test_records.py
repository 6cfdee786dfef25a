"""Reading recipient data: CSV, JSON and JSON Lines, streamed, with positions."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.errors import DataError, Location, UsageError
from linepress.recipients import records
from linepress.recipients.records import BadRecord, Record, open_records
from linepress.recipients.source import make_record


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def read_all(source: object, **options: object) -> list[Record | BadRecord]:
    with open_records(source, **options) as src:  # type: ignore[arg-type]
        return list(src)


def good(items: list[Record | BadRecord]) -> list[dict[str, object]]:
    assert all(isinstance(item, Record) for item in items), items
    return [dict(item.fields) for item in items]


def error_of(source: object, **options: object) -> DataError:
    with pytest.raises(DataError) as caught:
        read_all(source, **options)
    return caught.value


# ------------------------------------------------------------------ CSV


def test_csv_fields_numbers_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", "name,email\nKen,ken@example.com\nAi,ai@example.com\n")
    items = read_all(path)
    assert items == [
        Record(1, Location(str(path), 2), {"name": "Ken", "email": "ken@example.com"}),
        Record(2, Location(str(path), 3), {"name": "Ai", "email": "ai@example.com"}),
    ]


def test_bom_and_no_bom_give_the_same_fields(tmp_path: Path) -> None:
    text = '"name","tier"\r\nKen,gold\r\n'
    plain = write(tmp_path, "plain.csv", text)
    excel = write(tmp_path, "excel.csv", b"\xef\xbb\xbf" + text.encode())
    assert good(read_all(plain)) == good(read_all(excel)) == [{"name": "Ken", "tier": "gold"}]
    assert open_records(excel).columns == ("name", "tier")


def test_quoted_commas_and_multiline_fields_keep_start_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "q.csv",
        'name,note\n"Tanaka, Ken","line one\nline two\nline three"\nAi,"x, y"\n\nBo,"a\n"\n',
    )
    items = read_all(path)
    assert [(r.number, r.location.line) for r in items] == [(1, 2), (2, 5), (3, 7)]
    assert good(items) == [
        {"name": "Tanaka, Ken", "note": "line one\nline two\nline three"},
        {"name": "Ai", "note": "x, y"},
        {"name": "Bo", "note": "a\n"},
    ]
    assert all(r.location.column is None for r in items)


def test_delimiter_option(tmp_path: Path) -> None:
    path = write(tmp_path, "semi.csv", "name;city\nKen;Tokyo, Japan\n")
    assert good(read_all(path, delimiter=";")) == [{"name": "Ken", "city": "Tokyo, Japan"}]


def test_tsv_defaults_to_tab(tmp_path: Path) -> None:
    path = write(tmp_path, "people.tsv", "name\tcity\nKen\tTokyo, Japan\n")
    assert good(read_all(path)) == [{"name": "Ken", "city": "Tokyo, Japan"}]


def test_header_names_are_stripped_and_need_not_be_identifiers(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", " first name , 会員等級 \nKen,gold\n")
    src = open_records(path)
    assert src.columns == ("first name", "会員等級")
    assert good(read_all(path)) == [{"first name": "Ken", "会員等級": "gold"}]


def test_ragged_rows_are_bad_records_and_reading_goes_on(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n1,2,3,4\n1,2\n7,8,9\n")
    items = read_all(path)
    assert [type(i).__name__ for i in items] == ["Record", "BadRecord", "BadRecord", "Record"]
    extra, short = items[1], items[2]
    assert isinstance(extra, BadRecord) and isinstance(short, BadRecord)
    assert (extra.number, extra.location) == (2, Location(str(path), 3))
    assert extra.problem.message.startswith("has 4 fields but the header has 3")
    assert extra.problem.row == 2
    assert extra.problem.data_location == Location(str(path), 3)
    assert (short.number, short.location.line) == (3, 4)
    assert str(short.problem) == f"{path}:4: row 3: has 2 fields but the header has 3"
    assert items[3] == Record(4, Location(str(path), 5), {"a": "7", "b": "8", "c": "9"})


def test_blank_lines_are_not_records(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "\n\na,b\n\n1,2\n   \n\n3,4\n\n")
    items = read_all(path)
    assert [(r.number, r.location.line) for r in items] == [(1, 5), (2, 8)]


def test_unclosed_quote_is_a_bad_record(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", 'a,b\n1,2\n3,"oops\n4,5\n')
    items = read_all(path)
    assert isinstance(items[0], Record)
    bad = items[1]
    assert isinstance(bad, BadRecord) and bad.location.line == 3
    assert "never closed" in bad.problem.message


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("name,email,name\n", ["column 3", "'name'", "repeats column 1"]),
        ("name, ,email\n", ["column 2", "has no name"]),
    ],
)
def test_bad_header(tmp_path: Path, header: str, words: list[str]) -> None:
    path = write(tmp_path, "h.csv", header + "1,2,3\n")
    err = error_of(path)
    assert err.problems[0].location == Location(str(path), 1)
    for word in words:
        assert word in str(err)


def test_empty_csv(tmp_path: Path) -> None:
    for data in (b"", b"\xef\xbb\xbf", b"\n\n"):
        path = write(tmp_path, "e.csv", data)
        assert "is empty: expected a header row" in str(error_of(path))


def test_header_only_is_zero_records(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "name,email\n")
    with open_records(path) as src:
        assert src.columns == ("name", "email")
        assert list(src) == []


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    err = error_of(missing)
    assert str(err) == f"{missing}: no such file"
    assert "is a directory" in str(error_of(tmp_path))


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: the tests may run as root, who can read a chmod 0 file.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(records, "open", refuse, raising=False)
    path = write(tmp_path, "p.csv", "a\n1\n")
    assert str(error_of(path)) == f"{path}: permission denied: cannot read it"


def test_invalid_utf8_names_the_line_and_offset(tmp_path: Path) -> None:
    data = b"name,city\nKen,Tokyo\nAi,Cura\xe7ao\n"
    path = write(tmp_path, "latin1.csv", data)
    err = error_of(path)
    problem = err.problems[0]
    assert problem.location == Location(str(path), 3, 8)
    offset = data.index(b"\xe7")
    assert f"line 3, byte offset {offset}" in problem.message
    assert "0xE7" in problem.message


def test_invalid_utf8_in_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", b"na\xffme\n1\n")
    assert error_of(path).problems[0].location == Location(str(path), 1, 3)


def test_utf16_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "u16.csv", "name\nKen\n".encode("utf-16"))
    assert good(read_all(path)) == [{"name": "Ken"}]
    json_path = write(tmp_path, "u16.json", '[{"a": 1}]'.encode("utf-16"))
    assert "is UTF-16 text, not UTF-8: JSON must be UTF-8" in str(error_of(json_path))


def test_columns_before_iteration_reuses_the_open_reader() -> None:
    src = open_records("-", stdin=io.BytesIO(b"a,b\n1,2\n"))
    assert src.columns == ("a", "b")
    assert good(list(src)) == [{"a": "1", "b": "2"}]
    with pytest.raises(RuntimeError):
        list(src)


def test_closing_stops_iteration(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "a\n1\n2\n3\n")
    with open_records(path) as src:
        rows = iter(src)
        assert next(rows).number == 1
    assert list(rows) == []


def test_files_can_be_read_twice(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "a\n1\n")
    src = open_records(path)
    assert list(src) == list(src)


def test_fast_records_equal_normal_ones() -> None:
    made = make_record(3, "d.csv", 7, {"a": 1})
    assert made == Record(3, Location("d.csv", 7), {"a": 1})
    assert hash(made.location) == hash(Location("d.csv", 7))


@given(
    rows=st.lists(
        st.lists(
            st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
            min_size=3,
            max_size=3,
        ),
        max_size=8,
    ),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
@settings(max_examples=150, deadline=None)
def test_csv_round_trip_with_start_lines(rows: list[list[str]], delimiter: str) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["a", "b", "c"])
    starts = []
    for row in rows:
        starts.append(out.getvalue().count("\n") + 1)
        writer.writerow(row)
    data = out.getvalue().encode()
    with open_records("-", stdin=io.BytesIO(data), format="csv", delimiter=delimiter) as src:
        items = list(src)
    # Rows whose cells are all blank are skipped and counted, not recipients.
    kept = [(row, start) for row, start in zip(rows, starts, strict=True) if "".join(row).strip()]
    assert good(items) == [dict(zip("abc", row, strict=True)) for row, _ in kept]
    assert [(r.number, r.location.line) for r in items] == [
        (n, start) for n, (_, start) in enumerate(kept, 1)
    ]
    assert src.blank_rows == len(rows) - len(kept)


def test_bad_options() -> None:
    with pytest.raises(UsageError):
        open_records("x.csv", delimiter=";;")
    with pytest.raises(UsageError):
        open_records("x.csv", format="xml")  # type: ignore[arg-type]


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("id,name,email,tier\n")
        out.writelines(f"{i},Name {i},user{i}@example.com,gold\n" for i in range(200_000))
    assert path.stat().st_size > 5_000_000
    tracemalloc.start()
    try:
        count = 0
        for record in open_records(path):
            count += isinstance(record, Record)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 2_000_000, f"peak {peak} bytes: records are being held"


# ----------------------------------------------------------------- JSON


def test_json_array_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.json",
        '[\n  {"name": "Ken", "points": 3},\n  {\n    "name": "Ai"\n  }, {"name": "Bo"}\n]\n',
    )
    items = read_all(path)
    assert [(r.number, r.location.line) for r in items] == [(1, 2), (2, 3), (3, 5)]
    assert good(items) == [{"name": "Ken", "points": 3}, {"name": "Ai"}, {"name": "Bo"}]
    assert open_records(path).columns is None


def test_json_streams_with_chunks_smaller_than_an_element(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "CHUNK_SIZE", 7)
    rows: list[dict[str, object]] = [
        {"name": "Tanaka Ken", "note": "x" * 5_000, "tags": ["a", {"b": [1, 2.5, None]}]},
        {"name": "会員", "emoji": '🍣é\\"', "n": 12345678901234567890, "t": True},
    ]
    # A third element written by hand: escapes (a surrogate pair) on one line.
    text = json.dumps(rows, indent=1, ensure_ascii=False)[:-2]
    text += ',\n {"escaped": "\\ud83c\\udf63 \\u0041", "neg": -1.5e-3, "f": false}\n]'
    rows.append({"escaped": "🍣 A", "neg": -0.0015, "f": False})
    path = write(tmp_path, "chunks.json", "\ufeff" + text)
    items = read_all(path)
    assert good(items) == rows
    assert [r.location.line for r in items] == [
        n + 1 for n, line in enumerate(text.splitlines()) if line.startswith(" {")
    ]


def test_json_top_level_numbers_split_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "CHUNK_SIZE", 2)
    items = read_all("-", stdin=io.BytesIO(b'[12345.5, {"a": 1}, true]'), format="json")
    assert [type(i).__name__ for i in items] == ["BadRecord", "Record", "BadRecord"]
    assert items[0].problem.found == "12345.5"  # type: ignore[union-attr]


@given(
    rows=st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
                max_leaves=5,
            ),
            max_size=4,
        ),
        max_size=5,
    ),
    chunk=st.integers(1, 40),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_json_chunking_never_changes_the_result(
    rows: list[dict[str, object]], chunk: int, indent: int | None, ascii_only: bool
) -> None:
    data = json.dumps(rows, indent=indent, ensure_ascii=ascii_only).encode()
    saved = records.CHUNK_SIZE
    records.CHUNK_SIZE = chunk
    try:
        items = read_all("-", stdin=io.BytesIO(data), format="json")
    finally:
        records.CHUNK_SIZE = saved
    assert good(items) == rows


class CountingBytesIO(io.BytesIO):
    reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads += 1
        return super().read(size)


def test_json_long_string_is_read_in_doubling_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 1 MB element read 1 KiB at a time: re-parsing after every chunk would
    # be quadratic (about 1000 reads and parses); doubling the window each
    # retry needs about log2(1000).
    monkeypatch.setattr(records, "CHUNK_SIZE", 1024)
    big = "y" * 1_000_000
    stream = CountingBytesIO(json.dumps([{"a": 1}, {"big": big}, {"a": 2}]).encode())
    items = read_all("-", stdin=stream, format="json")
    assert [r.fields.get("a") for r in items] == [1, None, 2]  # type: ignore[union-attr]
    assert items[1].fields["big"] == big  # type: ignore[union-attr]
    assert stream.reads < 30


def test_json_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '[\n  {"a": 1},\n  {"a": 2,, "b": 3}\n]\n')
    problem = error_of(path).problems[0]
    assert problem.location == Location(str(path), 3, 11)
    assert "invalid JSON" in problem.message
    assert str(problem).startswith(f"{path}:3:11: ")


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ('[{"a": 1} {"a": 2}]', 1, 11, "expected ',' or ']' after record 1"),
        ('[{"a": 1},\n]', 2, 1, "expected a record after ','"),
        ('[{"a": 1},\n  {"a": "no end', 2, 9, "Unterminated string"),
        ('[{"a": 1}', 1, 10, "ends inside the JSON array"),
        ('[{"a": 1}] x', 1, 12, "unexpected data after the end"),
        (
            '{"a": 1}',
            1,
            1,
            "expected a JSON array of records, starting with '['; "
            "for one object per line use JSON Lines (.jsonl, --data-format jsonl)",
        ),
        ("\n  7", 2, 3, "expected a JSON array"),
    ],
)
def test_json_structure_errors(
    tmp_path: Path, text: str, line: int, column: int, words: str
) -> None:
    path = write(tmp_path, "bad.json", text)
    problem = error_of(path).problems[0]
    assert problem.location == Location(str(path), line, column)
    assert words in problem.message


def test_json_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "e.json", "  \n")
    assert "is empty: expected a JSON array" in str(error_of(path))
    assert read_all(write(tmp_path, "z.json", "[ ]")) == []


def test_json_non_object_element_is_a_bad_record(tmp_path: Path) -> None:
    path = write(tmp_path, "d.json", '[{"a": 1},\n  [1, 2],\n {"a": 3}]')
    items = read_all(path)
    bad = items[1]
    assert isinstance(bad, BadRecord)
    assert (bad.number, bad.location) == (2, Location(str(path), 2))
    assert bad.problem.location == Location(str(path), 2, 3)
    assert bad.problem.message == "is a JSON array, expected an object"
    assert items[2] == Record(3, Location(str(path), 3), {"a": 3})


def test_json_invalid_utf8_names_line_and_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "CHUNK_SIZE", 3)
    data = b'[{"a": "ok"},\n {"a": "caf\xe9"}]'
    err = error_of("-", stdin=io.BytesIO(data), format="json")
    problem = err.problems[0]
    assert problem.location == Location("<stdin>", 2, 12)
    offset = data.index(b"\xe9")
    assert f"line 2, byte offset {offset}" in problem.message


# ---------------------------------------------------------------- JSONL


def test_jsonl_blank_lines_and_bad_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"a": 1}\n\n  \n{"a": 2,}\n[3]\r\n{"a": 4}\n')
    items = read_all(path)
    assert [(i.number, i.location.line, type(i).__name__) for i in items] == [
        (1, 1, "Record"),
        (2, 4, "BadRecord"),
        (3, 5, "BadRecord"),
        (4, 6, "Record"),
    ]
    syntax, not_object = items[1], items[2]
    assert isinstance(syntax, BadRecord) and isinstance(not_object, BadRecord)
    assert syntax.problem.location == Location(str(path), 4, 9)
    assert "invalid JSON" in syntax.problem.message
    assert "is a JSON array, expected an object" in not_object.problem.message
    assert good([items[0], items[3]]) == [{"a": 1}, {"a": 4}]


def test_jsonl_truncated_line_is_located_on_its_line() -> None:
    (bad,) = read_all("-", stdin=io.BytesIO(b'{"a": \r\n'), format="jsonl")
    assert isinstance(bad, BadRecord)
    assert bad.problem.location == Location("<stdin>", 1, 7)
    assert bad.problem.found == "the end of the line"


def test_ndjson_extension_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "d.ndjson", b'\xef\xbb\xbf{"a": 1}\n')
    assert good(read_all(path)) == [{"a": 1}]


# ---------------------------------------------------------------- stdin


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'\n  [{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
        (b'{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
        (b"\xef\xbb\xbfa,b\n1,2\n", [{"a": "1", "b": "2"}]),
    ],
)
def test_stdin_is_sniffed(data: bytes, expected: list[dict[str, object]]) -> None:
    items = read_all("-", stdin=io.BytesIO(data))
    assert good(items) == expected
    assert all(r.location.file == "<stdin>" for r in items)


def test_stdin_sniff_keeps_lines_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "CHUNK_SIZE", 4)
    items = read_all(None, stdin=io.BytesIO(b"\n\nname\nKen\n\nAi\n"))
    assert [(r.number, r.location.line) for r in items] == [(1, 4), (2, 6)]


def test_unknown_extension_is_sniffed(tmp_path: Path) -> None:
    path = write(tmp_path, "data.txt", '[{"a": 1}]')
    assert good(read_all(path)) == [{"a": 1}]

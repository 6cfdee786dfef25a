"""Send reports carry their totals and shard; `merge-reports` checks them (issue 15, item 13).

Sharded sends against the real sandbox through the CLI, CSV and JSONL reports
merged back; a missing shard and a report cut short are located errors. Then
properties (hypothesis): any split of a report merges back to it, any malformed
line is a located error and never a traceback, and no CSV cell a spreadsheet
would run survives while every other value reads back the same.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.cli.main import main
from linepress.sandbox.server import SandboxServer, running_sandbox
from linepress.send.report import csv_cell, merge_reports, read_report, write_report

KEY = "sandbox-secret-key-0042"
DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"
USERS = [f"U{i:032x}" for i in range(1, 41)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(api_key=KEY, seed=7) as server:
        yield server


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFOBIP_API_KEY", KEY)
    (tmp_path / "def.yaml").write_text(DEFINITION)
    (tmp_path / "users.csv").write_text(
        "to,name\n" + "".join(f"{u},Name {n}\n" for n, u in enumerate(USERS))
    )
    return tmp_path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def send_shard(sandbox: SandboxServer, index: int, count: int, report: str) -> None:
    code, output = cli(
        "send", "def.yaml", "--data", "users.csv", "--base-url", sandbox.url,
        "--shard", f"{index}/{count}", "--report", report, "--no-progress",
    )  # fmt: skip
    assert code == 0, output


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_shard_reports_carry_their_shard_and_totals_and_merge(
    sandbox: SandboxServer, campaign: Path, kind: str
) -> None:
    reports = [f"r{i}.{kind}" for i in (1, 2, 3)]
    for index, report in enumerate(reports, start=1):
        send_shard(sandbox, index, 3, report)
    if kind == "csv":
        last = Path("r2.csv").read_text().splitlines()[-1]
        rows = sum(1 for _ in read_report(Path("r2.csv")))
        assert last == f"summary,,total {rows}: sent {rows}; shard 2/3,,,,"
    else:
        last = json.loads(Path("r2.jsonl").read_text().splitlines()[-1])
        assert last["summary"]["shard"] == "2/3"
    code, output = cli("merge-reports", *reports, "-o", f"all.{kind}")
    assert code == 0, output
    merged = list(read_report(Path(f"all.{kind}")))
    assert [r["row"] for r in merged] == list(range(1, 41))
    assert {r["to"] for r in merged} == set(USERS)
    if kind == "csv":
        assert Path("all.csv").read_text().splitlines()[-1] == "summary,,total 40: sent 40,,,,"


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_missing_shard_is_named(sandbox: SandboxServer, campaign: Path, kind: str) -> None:
    for index in (1, 3):
        send_shard(sandbox, index, 3, f"r{index}.{kind}")
    code, output = cli("merge-reports", f"r1.{kind}", f"r3.{kind}", "-o", f"all.{kind}")
    assert code == 1
    assert "missing the report of shard 2/3: merged 2 of 3 shards" in output
    assert "Traceback" not in output
    assert not Path(f"all.{kind}").exists()


def test_a_csv_report_cut_short_is_named(sandbox: SandboxServer, campaign: Path) -> None:
    for index in (1, 2):
        send_shard(sandbox, index, 2, f"r{index}.csv")
    lines = Path("r2.csv").read_text().splitlines(keepends=True)
    Path("r2.csv").write_text("".join(lines[:2] + lines[3:]))  # a row lost in an edit
    code, output = cli("merge-reports", "r1.csv", "r2.csv", "-o", "all.csv")
    assert code == 1
    assert f"r2.csv: the report is cut short: {len(lines) - 3} rows, its summary says" in output


def test_a_shards_journal_report_merges_with_the_others(
    sandbox: SandboxServer, campaign: Path
) -> None:
    """`journal report` of each shard's journal: the same shard and totals as the run's report."""
    for index in (1, 2):
        send_shard(sandbox, index, 2, f"r{index}.csv")
    for index in (1, 2):
        journal = f".linepress/def.shard-{index}-of-2.db"
        code, output = cli("journal", "report", journal, "-o", f"j{index}.csv")
        assert code == 0, output
        assert Path(f"j{index}.csv").read_text().splitlines()[-1].endswith(f"; shard {index}/2,,,,")
    code, output = cli("merge-reports", "j1.csv", "j2.csv", "-o", "all.jsonl")
    assert code == 0, output
    closing = json.loads(Path("all.jsonl").read_text().splitlines()[-1])["summary"]
    assert (closing["total"], closing["sent"], closing["merged_from"]) == (40, 40, 2)


def test_a_garbled_csv_summary_row_is_a_located_error(campaign: Path) -> None:
    Path("r.csv").write_text("row,to,status\n1,U1,sent\nsummary,,all good\n")
    code, output = cli("merge-reports", "r.csv", "-o", "all.csv")
    assert code == 1
    assert "r.csv:3: not a report's summary row: expected `total N: …; shard K/N`" in output


# ------------------------------------------------------------------ properties

STATUS = st.sampled_from(["sent", "failed", "skipped", "unknown"])


@st.composite
def split_reports(draw: st.DrawFn) -> tuple[list[dict[str, object]], list[list[int]], str]:
    """A report's rows and a split of them into shards (each row in exactly one)."""
    count = draw(st.integers(1, 25))
    rows = [
        {"row": n, "to": f"U{n}", "status": draw(STATUS), "attempts": draw(st.integers(0, 3))}
        for n in range(1, count + 1)
    ]
    shards = draw(st.integers(1, 4))
    owner = [draw(st.integers(0, shards - 1)) for _ in rows]
    parts = [[n for n, o in enumerate(owner) if o == k] for k in range(shards)]
    return rows, parts, draw(st.sampled_from(["csv", "jsonl"]))


@given(split=split_reports(), out_kind=st.sampled_from(["csv", "jsonl"]))
@settings(max_examples=60, deadline=None)
def test_any_split_into_shards_merges_back_to_the_report(
    split: tuple[list[dict[str, object]], list[list[int]], str], out_kind: str
) -> None:
    rows, parts, kind = split
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, part in enumerate(parts, start=1):
            path = Path(folder, f"r{index}.{kind}")
            picked = [rows[n] for n in part]
            counts: dict[str, object] = {"total": len(picked), "shard": f"{index}/{len(parts)}"}
            for row in picked:
                status = str(row["status"])
                counts[status] = int(counts.get(status, 0)) + 1  # type: ignore[call-overload]
            write_report(path, picked, {"summary": counts})
            paths.append(path)
        out = Path(folder, f"all.{out_kind}")
        code, output = cli("merge-reports", *map(str, paths), "-o", str(out))
        settled = all(r["status"] in ("sent", "skipped") for r in rows)
        assert code == (0 if settled else 1) and "linepress: merged" in output, output
        merged = list(read_report(out))
    keys = ("row", "to", "status", "attempts")
    assert [{k: r.get(k) for k in keys} for r in merged] == [
        {k: r.get(k) for k in keys} for r in rows
    ]


LINES = st.one_of(
    st.text(max_size=40),
    st.builds(json.dumps, st.recursive(st.none() | st.integers() | st.text(max_size=8), st.lists)),
    st.builds(
        json.dumps,
        st.dictionaries(
            st.sampled_from(["row", "to", "status", "summary"]),
            st.none() | st.integers(-2, 3) | st.text(max_size=6) | st.lists(st.integers()),
        ),
    ),
)


@given(lines=st.lists(LINES, min_size=1, max_size=5), kind=st.sampled_from(["csv", "jsonl"]))
@settings(max_examples=150, deadline=None)
def test_any_malformed_report_is_a_located_error_never_a_traceback(
    lines: list[str], kind: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder, f"bad.{kind}")
        header = "row,to,status\n" if kind == "csv" else ""
        report.write_text(header + "\n".join(lines) + "\n")
        result = CliRunner().invoke(
            main, ["merge-reports", str(report), "-o", str(Path(folder, "out.jsonl"))]
        )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    if "linepress: merged" not in result.output:  # a report after all (not all sent: exit 1)
        assert result.exit_code == 1
        assert result.output.startswith(str(report)), result.output


# OWASP's CSV-injection list: what a spreadsheet treats as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@given(values=st.lists(st.text(max_size=20), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_no_csv_cell_a_spreadsheet_would_run_survives_and_the_rest_reads_back(
    values: list[str],
) -> None:
    rows = [{"row": n, "to": v, "status": "failed", "error": v} for n, v in enumerate(values, 1)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "r.csv")
        write_report(path, rows, None)
        with path.open(newline="", encoding="utf-8") as handle:
            cells = list(csv.DictReader(handle))
    assert len(cells) == len(values)
    for cell, value in zip(cells, values, strict=True):
        for written in (cell["to"], cell["error"]):
            assert not written.startswith(FORMULA_START)
            expected = "'" + value if value.startswith(FORMULA_START) else value
            assert written == expected
            assert written == csv_cell(value)


def test_merging_by_the_library_agrees_with_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    write_report(path, [{"row": 1, "to": "U1", "status": "sent"}], {"summary": {"total": 1}})
    counts = merge_reports([path], tmp_path / "m.csv")
    assert counts["sent"] == 1
    assert (tmp_path / "m.csv").read_text().splitlines()[-1] == "summary,,total 1: sent 1,,,,"


def test_an_overlap_names_the_two_reports_that_hold_the_row(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    write_report(first, [{"row": 1, "to": USERS[0], "status": "sent"}], {"summary": {}})
    write_report(second, [{"row": 2, "to": USERS[1], "status": "sent"}], {"summary": {}})
    again = tmp_path / "again.jsonl"
    again.write_bytes(first.read_bytes())
    code, output = cli("merge-reports", str(first), str(second), str(again), "-o", "x.jsonl")
    assert code != 0
    # Row 1 is in `first` and in `again`, never in `second`.
    assert f"row 1 is in two reports (also {first})" in output, output
    assert output.startswith(str(again)), output


def test_an_empty_file_is_not_a_report(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    write_report(good, [{"row": 1, "to": USERS[0], "status": "sent"}], {"summary": {"total": 1}})
    for name, text in (("empty.jsonl", ""), ("empty.csv", ""), ("header.csv", "row,to,status\n")):
        (tmp_path / name).write_text(text)
        code, output = cli("merge-reports", str(good), str(tmp_path / name), "-o", "x.jsonl")
        assert code == 1 and output.startswith(f"{tmp_path / name}: not a report: the file is")
        assert "empty (0 bytes)" in output or "without a single row" in output
        assert "Traceback" not in output and not Path("x.jsonl").exists()


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_report_cut_mid_file_is_named_cut_not_a_missing_shard(
    sandbox: SandboxServer, campaign: Path, kind: str
) -> None:
    for index in (1, 2):
        send_shard(sandbox, index, 2, f"r{index}.{kind}")
    data = Path(f"r2.{kind}").read_bytes()
    Path(f"r2.{kind}").write_bytes(data[: len(data) // 2])  # killed mid-write: no summary
    code, output = cli("merge-reports", f"r1.{kind}", f"r2.{kind}", "-o", f"all.{kind}")
    assert code == 1, output
    assert output.startswith(f"r2.{kind}"), output
    assert ": the report is cut short: " in output, output
    assert "missing" not in output and "Traceback" not in output
    assert not Path(f"all.{kind}").exists()


def test_reports_of_two_different_splits_are_named_not_an_overlap(
    sandbox: SandboxServer, campaign: Path
) -> None:
    send_shard(sandbox, 1, 2, "a1.jsonl")
    send_shard(sandbox, 2, 3, "b2.jsonl")
    code, output = cli("merge-reports", "a1.jsonl", "b2.jsonl", "-o", "all.jsonl")
    assert code == 1, output
    assert output.startswith("b2.jsonl: shard 2/3 is of a split into 3, but a1.jsonl is shard 1/2")
    assert "overlap" not in output

"""Outputs are ordinary files that never clobber inputs; reports tell the truth (issue 15, 12-14)."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from linepress.cli.main import main

DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "def.yaml").write_text(DEFINITION)
    (tmp_path / "static.yaml").write_text("from: APP\nto: U1\nmessage: {type: TEXT, text: Hi}\n")
    (tmp_path / "users.csv").write_text('to,name\nU1,A\nU2,"=HYPERLINK(""http://x"",""y"")"\n')
    return tmp_path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("option", ["-o", "--rejects"])
def test_outputs_are_created_as_any_unix_tool_would(campaign: Path, option: str) -> None:
    out = campaign / "out.jsonl"
    code, output = cli(
        "compile", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        *(["--keep-going"] if option == "--rejects" else []), option, str(out),
    )  # fmt: skip
    assert code == 0, output
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


@pytest.mark.usefixtures("umask_022")
def test_a_replaced_output_keeps_its_mode_and_a_link_is_followed(campaign: Path) -> None:
    real = campaign / "real.jsonl"
    real.write_text("old")
    real.chmod(0o640)
    link = campaign / "link.jsonl"
    link.symlink_to(real)
    code, output = cli("compile", str(campaign / "static.yaml"), "-o", str(link))
    assert code == 0, output
    assert link.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert real.read_text().startswith("{")


@pytest.mark.parametrize("which", ["definition", "data"])
def test_an_output_that_is_an_input_is_a_usage_error(campaign: Path, which: str) -> None:
    target = campaign / ("def.yaml" if which == "definition" else "users.csv")
    before = target.read_bytes()
    code, output = cli(
        "compile", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "-o", str(target),
    )  # fmt: skip
    assert code == 2 and "is also an input" in output
    assert target.read_bytes() == before
    os.link(target, campaign / "hard-link")  # the same file under another name
    code, output = cli(
        "compile", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "-o", str(campaign / "hard-link"),
    )  # fmt: skip
    assert code == 2 and target.read_bytes() == before


def test_a_device_is_written_to_never_renamed_over(campaign: Path) -> None:
    null = campaign / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of the test's own
    for args in (
        ["compile", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"), "-o"],
        ["preview", str(campaign / "static.yaml"), "--out"],
        ["merge-reports", str(campaign / "r.jsonl"), "-o"],
    ):
        (campaign / "r.jsonl").write_text(
            '{"row": 1, "status": "sent"}\n{"summary": {"total": 1, "sent": 1}}\n'
        )
        code, output = cli(*args, str(null))
        assert code == 0, output
        assert stat.S_ISCHR(null.stat().st_mode), args
    assert [p.name for p in campaign.iterdir() if p.name.endswith(".tmp")] == []


def test_a_fifo_gets_the_output(campaign: Path) -> None:
    fifo = campaign / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, output = cli("compile", str(campaign / "static.yaml"), "-o", str(fifo))
    if code != 0:
        fifo.write_bytes(b"")  # let the reader go
    reader.join()
    assert code == 0, output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["message"]["text"] == "Hi"


# -- reports --------------------------------------------------------------------


def test_a_dry_run_report_says_dry_run_and_neutralises_formulas(campaign: Path) -> None:
    report = campaign / "report.csv"
    code, output = cli(
        "send", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"), "--dry-run",
        "--no-progress", "--report", str(report),
    )  # fmt: skip
    assert code == 0, output
    lines = report.read_text().splitlines()
    assert lines[1].split(",")[:3] == ["1", "U1", "dry-run"]
    assert [p.name for p in campaign.iterdir() if ".tmp" in p.name] == []


def test_report_cells_that_a_spreadsheet_would_run_are_written_as_text(tmp_path: Path) -> None:
    from linepress.send.report import write_report

    dangerous = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
    rows = [
        {"row": n, "to": value, "status": "failed", "error": value}
        for n, value in enumerate(dangerous, 1)
    ]
    write_report(tmp_path / "r.csv", rows, None)
    import csv

    with (tmp_path / "r.csv").open(newline="") as handle:
        cells = list(csv.DictReader(handle))
    assert [c["to"] for c in cells] == ["'" + v for v in dangerous]
    assert [c["error"] for c in cells] == ["'" + v for v in dangerous]


# -- merge-reports ----------------------------------------------------------------


def _report(
    path: Path, rows: list[int], shard: str | None = None, total: int | None = None
) -> Path:
    lines = [json.dumps({"row": r, "to": f"U{r}", "status": "sent"}) for r in rows]
    if shard is not None:
        summary = {"total": len(rows) if total is None else total, "shard": shard}
        lines.append(json.dumps({"summary": summary}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_merge_reports_writes_csv_for_a_csv_output(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.jsonl", [1, 3], "1/2")
    b = _report(tmp_path / "b.jsonl", [2], "2/2")
    code, output = cli("merge-reports", str(a), str(b), "-o", str(tmp_path / "m.csv"))
    assert code == 0, output
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0].startswith("row,to,status")
    assert [line.split(",")[0] for line in lines[1:-1]] == ["1", "2", "3"]
    assert lines[-1] == "summary,,total 3: sent 3,,,,"  # the merged totals


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"to": "U1", "status": "sent"}\n', "a.jsonl:1: not a report line: expected a row number"),
        ("[1, 2]\n", "a.jsonl:1: not a report line: expected a JSON object"),
        ('{"row": "one", "status": "sent"}\n', "a.jsonl:1: not a report line: expected a row"),
        (b'{"row": 1, "status": "\xff"}\n', "a.jsonl: not a report: not UTF-8"),
        (
            '{"row": 2, "status": "sent"}\n{"row": 1, "status": "sent"}\n',
            "a.jsonl:2: rows out of order",
        ),
        ("{not json\n", "a.jsonl:1: not a report line"),
        ('{"row": 1}\n', "a.jsonl:1: not a report line: expected a `status`"),
    ],
    ids=["no-row", "array", "text-row", "bad-bytes", "out-of-order", "not-json", "no-status"],
)
def test_malformed_reports_are_located_errors(
    tmp_path: Path, content: object, expected: str
) -> None:
    a = tmp_path / "a.jsonl"
    if isinstance(content, bytes):
        a.write_bytes(content)
    else:
        assert isinstance(content, str)
        a.write_text(content)
    code, output = cli("merge-reports", str(a), "-o", str(tmp_path / "m.jsonl"))
    assert code == 1
    assert expected in output and "Traceback" not in output
    assert not (tmp_path / "m.jsonl").exists()


def test_merge_reports_finds_a_missing_shard_and_a_cut_report(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.jsonl", [1, 4], "1/3")
    b = _report(tmp_path / "b.jsonl", [2], "2/3")
    code, output = cli("merge-reports", str(a), str(b), "-o", str(tmp_path / "m.jsonl"))
    assert code == 1 and "missing the report of shard 3/3" in output
    c = _report(tmp_path / "c.jsonl", [3], "3/3", total=2)
    code, output = cli("merge-reports", str(a), str(b), str(c), "-o", str(tmp_path / "m.jsonl"))
    assert code == 1 and "c.jsonl: the report is cut short: 1 rows, its summary says 2" in output
    code, output = cli("merge-reports", str(a), "-o", str(tmp_path / "no" / "m.jsonl"))
    assert code == 2 and "does not exist" in output


@pytest.mark.parametrize("target", ["macros.j2", "footer.j2", "link.j2", "hard.j2", "dyn.j2"])
def test_an_output_that_is_a_template_the_definition_reads_is_a_usage_error(
    tmp_path: Path, target: str
) -> None:
    """Imported macro files, included templates (by a literal or a computed name), through
    a symlink or a hard link: every file the command reads is an input."""
    (tmp_path / "d.yaml").write_text(
        "from: APP\nimports: {m: macros.j2}\nmessage:\n  type: TEXT\n"
        "  text: \"{{ m.hi(name) }}{% include 'footer.j2' %}{% include part ~ '.j2' %}\"\n"
    )
    (tmp_path / "macros.j2").write_text("{% macro hi(x) %}Hi {{ x }}{% endmacro %}")
    (tmp_path / "footer.j2").write_text("!")
    (tmp_path / "dyn.j2").write_text("?")
    (tmp_path / "link.j2").symlink_to(tmp_path / "macros.j2")
    os.link(tmp_path / "footer.j2", tmp_path / "hard.j2")
    (tmp_path / "r.csv").write_text("to,name,part\nU1,A,dyn\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for option in ("-o", "--rejects"):
        code, output = cli(
            "compile", str(tmp_path / "d.yaml"), "--data", str(tmp_path / "r.csv"),
            "--keep-going", option, str(tmp_path / target),
        )  # fmt: skip
        assert code == 2, output
        assert "is also an input of this command" in output
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    code, output = cli(
        "compile", str(tmp_path / "d.yaml"), "--data", str(tmp_path / "r.csv"),
        "-o", str(tmp_path / "out.jsonl"),
    )  # fmt: skip
    assert code == 0, output
    assert json.loads((tmp_path / "out.jsonl").read_text())["message"]["text"] == "Hi A!?"


def _spellings(campaign: Path, kind: str) -> tuple[str, str]:
    """Two spellings of one output file: equal, relative/absolute, a symlink, a hard link."""
    first = campaign / "out.jsonl"
    if kind == "same":
        return str(first), str(first)
    if kind == "dotted":
        return str(first), str(campaign / "." / "sub" / ".." / "out.jsonl")
    first.write_text("old")
    if kind == "symlink":
        (campaign / "alias.jsonl").symlink_to(first)
        return str(first), str(campaign / "alias.jsonl")
    os.link(first, campaign / "hard.jsonl")
    return str(first), str(campaign / "hard.jsonl")


@pytest.mark.parametrize("kind", ["same", "dotted", "symlink", "hardlink"])
def test_two_outputs_naming_one_file_are_a_usage_error(campaign: Path, kind: str) -> None:
    (campaign / "sub").mkdir()
    out, rejects = _spellings(campaign, kind)
    before = Path(out).read_bytes() if Path(out).exists() else None
    code, output = cli(
        "compile", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "--keep-going", "-o", out, "--rejects", rejects,
    )  # fmt: skip
    assert code == 2, output
    assert "one would overwrite the other" in output
    assert (Path(out).read_bytes() if Path(out).exists() else None) == before


def test_a_send_report_over_its_journal_is_a_usage_error(campaign: Path) -> None:
    journal = campaign / "j.db"
    code, output = cli(
        "send", str(campaign / "static.yaml"), "--dry-run",
        "--journal", str(journal), "--report", str(journal),
    )  # fmt: skip
    assert code == 2, output
    assert "one would overwrite the other" in output
    # the default journal (.linepress/static.db) counts as an output too
    (campaign / ".linepress").mkdir()
    default = campaign / ".linepress" / "static.db"
    code, output = cli("send", str(campaign / "static.yaml"), "--dry-run", "--report", str(default))
    assert code == 2, output
    assert not default.exists()


def test_journal_report_and_merge_reports_never_overwrite_their_input(campaign: Path) -> None:
    journal = campaign / "j.db"
    journal.write_bytes(b"x")
    code, output = cli("journal", "report", str(journal), "-o", str(journal))
    assert code == 2, output
    assert journal.read_bytes() == b"x"
    report = campaign / "r.jsonl"
    report.write_text("{}\n")
    code, output = cli("merge-reports", str(report), "-o", str(report))
    assert code == 2, output
    assert report.read_text() == "{}\n"


def test_two_outputs_to_dev_null_are_fine(campaign: Path) -> None:
    code, output = cli(
        "compile", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
        "--keep-going", "-o", os.devnull, "--rejects", os.devnull,
    )  # fmt: skip
    assert code == 0, output


@pytest.mark.parametrize(("repeats", "said"), [(1, "1 row repeats"), (2, "2 rows repeat")])
def test_the_repeated_rows_note_agrees_in_number(campaign: Path, repeats: int, said: str) -> None:
    (campaign / "rep.csv").write_text("to,name\nU1,A\n" + "U1,B\n" * repeats)
    code, output = cli(
        "send", str(campaign / "def.yaml"), "--data", str(campaign / "rep.csv"), "--dry-run",
        "--no-progress",
    )  # fmt: skip
    assert code == 0, output
    assert f"{said} the recipient of an earlier row" in output


@pytest.mark.usefixtures("umask_022")
def test_the_default_journal_is_private(campaign: Path) -> None:
    from linepress.sandbox.server import running_sandbox

    with running_sandbox(api_key="k-1234") as sandbox:
        result = CliRunner(env={"INFOBIP_API_KEY": "k-1234"}).invoke(
            main,
            ["send", str(campaign / "def.yaml"), "--data", str(campaign / "users.csv"),
             "--base-url", sandbox.url, "--no-progress", "--allow-duplicates"],
        )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    folder = campaign / ".linepress"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "def.db").stat().st_mode) == 0o600

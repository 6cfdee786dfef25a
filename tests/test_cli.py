"""The `linepress` command as a user drives it: outputs, exit codes, error formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linepress.cli.main import main

GOOD_AND_BAD = "to,name\nU1,Ann\nU2,{}\nU3,Cy\n".format("x" * 5001)
DEFINITION = "from: APP\nmessage:\n  type: TEXT\n  text: '{{ name }}'\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "def.yaml").write_text(DEFINITION)
    (tmp_path / "good.csv").write_text("to,name\nU1,Ann\nU2,Bob\n")
    (tmp_path / "mixed.csv").write_text(GOOD_AND_BAD)
    return tmp_path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def test_compile_writes_jsonl_to_stdout(project: Path) -> None:
    result = run("compile", "def.yaml", "--data", "good.csv")
    assert result.exit_code == 0
    assert result.stdout == (
        '{"from":"APP","to":"U1","message":{"type":"TEXT","text":"Ann"}}\n'
        '{"from":"APP","to":"U2","message":{"type":"TEXT","text":"Bob"}}\n'
    )
    # Toy keys: only the warning that they look like no LINE user ID or phone number.
    assert [line.split(": to: ")[1][:40] for line in result.stderr.splitlines()] == [
        "warning: `to` looks like none of a LINE "
    ]


def test_compile_json_format_is_one_array(project: Path) -> None:
    result = run("compile", "def.yaml", "--data", "good.csv", "--format", "json")
    assert [body["to"] for body in json.loads(result.stdout)] == ["U1", "U2"]
    empty = project / "header-only.csv"
    empty.write_text("to,name\n")
    assert (
        json.loads(run("compile", "def.yaml", "--data", str(empty), "--format", "json").stdout)
        == []
    )


def test_compile_without_data_gives_one_body(project: Path) -> None:
    (project / "static.yaml").write_text("from: A\nto: U\nmessage: {type: TEXT, text: hi}\n")
    result = run("compile", "static.yaml")
    assert result.exit_code == 0
    assert result.stdout == '{"from":"A","to":"U","message":{"type":"TEXT","text":"hi"}}\n'


def test_a_failing_recipient_means_nothing_is_written(project: Path) -> None:
    result = run("compile", "def.yaml", "--data", "mixed.csv", "--out", "out.jsonl")
    assert result.exit_code == 1
    assert not (project / "out.jsonl").exists()
    assert list(project.glob(".out.jsonl.*")) == []  # no temporary file left either
    assert [line for line in result.stderr.splitlines() if "warning:" not in line] == [
        "def.yaml:4:9: row 2 (mixed.csv:3): message.text: must be at most 5000 characters "
        "as LINE counts them (UTF-16 code units) (found 5001)",
        "linepress: 1 of 3 recipients failed (1 problem)",
    ]
    stdout_run = run("compile", "def.yaml", "--data", "mixed.csv")
    assert stdout_run.exit_code == 1
    assert stdout_run.stdout == ""


def test_a_failed_run_keeps_the_previous_output_file(project: Path) -> None:
    (project / "out.jsonl").write_text("previous\n")
    assert run("compile", "def.yaml", "--data", "mixed.csv", "--out", "out.jsonl").exit_code == 1
    assert (project / "out.jsonl").read_text() == "previous\n"


def test_keep_going_writes_the_good_ones_and_rejects_the_rest(project: Path) -> None:
    result = run(
        "compile",
        "def.yaml",
        "--data",
        "mixed.csv",
        "--keep-going",
        "--out",
        "ok.jsonl",
        "--rejects",
        "bad.jsonl",
    )
    assert result.exit_code == 1  # still a failure: someone will not get the message
    assert [json.loads(line)["to"] for line in (project / "ok.jsonl").read_text().splitlines()] == [
        "U1",
        "U3",
    ]
    (reject,) = [json.loads(line) for line in (project / "bad.jsonl").read_text().splitlines()]
    assert reject["row"] == 2
    assert reject["data_line"] == 3
    assert reject["fields"]["to"] == "U2"
    assert reject["errors"][0]["path"] == "message.text"
    assert reject["errors"][0]["line"] == 4


def test_a_rejected_json_record_with_a_lone_surrogate_is_written_escaped(project: Path) -> None:
    (project / "odd.jsonl").write_text(
        '{"to": "U1", "name": "\\ud800", "score": NaN}\n', encoding="utf-8"
    )
    result = run(
        "compile", "def.yaml", "--data", "odd.jsonl", "--keep-going", "--rejects", "bad.jsonl"
    )
    assert result.exit_code == 1
    (line,) = (project / "bad.jsonl").read_text().splitlines()
    reject = json.loads(line, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert reject["fields"]["name"] == "\ud800"
    assert reject["fields"]["score"] is None  # as orjson writes NaN
    assert "surrogate" in reject["errors"][0]["found"]


def test_error_format_json_is_machine_readable(project: Path) -> None:
    result = run("compile", "def.yaml", "--data", "mixed.csv", "--error-format", "json")
    report = json.loads(result.stderr)
    assert report["ok"] is False
    assert report["failed_rows"] == 1
    assert report["rows"] == 3
    (problem,) = [p for p in report["problems"] if p["severity"] == "error"]
    assert {k: problem[k] for k in ("file", "line", "column", "row", "path", "found")} == {
        "file": "def.yaml",
        "line": 4,
        "column": 9,
        "row": 2,
        "path": "message.text",
        "found": "5001",
    }


def test_error_format_github_annotates_the_line(project: Path) -> None:
    (project / "typo.yaml").write_text("from: A\nto: U\nmessage:\n  type: TEXT\n  txt: hi\n")
    result = run("check", "typo.yaml", "--error-format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.stderr.splitlines() if line.startswith("::error ")]
    assert "::error file=typo.yaml,line=5,col=3,title=linepress unknown-key::" in annotations[
        -1
    ] or any(a.startswith("::error file=typo.yaml,line=5,") for a in annotations)
    assert any("did you mean 'text'" in a for a in annotations)


def test_check_takes_several_definitions_and_reports_them_all(project: Path) -> None:
    (project / "bad1.yaml").write_text(
        "from: A\nto: U\nmessage: {type: TEXT, text: hi, extra: 1}\n"
    )
    (project / "bad2.yaml").write_text("from: A\nto: U\nmessage: {type: TEXXT, text: hi}\n")
    result = run("check", "def.yaml", "bad1.yaml", "bad2.yaml")
    assert result.exit_code == 1
    assert "bad1.yaml:3:" in result.stderr
    assert "bad2.yaml:3:" in result.stderr
    assert run("check", "def.yaml").exit_code == 0
    assert run("check", "def.yaml", "--data", "good.csv").exit_code == 0


def test_data_from_stdin(project: Path) -> None:
    result = run("compile", "def.yaml", "--data", "-", input="to,name\nU7,Stdin\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["to"] == "U7"
    jsonl = run("compile", "def.yaml", "--data", "-", input='{"to": "U8", "name": "J"}\n')
    assert json.loads(jsonl.stdout)["to"] == "U8"


def test_delimiter_option(project: Path) -> None:
    (project / "semi.csv").write_text("to;name\nU1;Ann, Jr.\n")
    result = run("compile", "def.yaml", "--data", "semi.csv", "--delimiter", ";")
    assert json.loads(result.stdout)["message"]["text"] == "Ann, Jr."


@pytest.mark.parametrize(
    "args",
    [
        ["compile"],
        ["compile", "def.yaml", "--format", "xml"],
        ["compile", "def.yaml", "--delimiter", ";;"],
        ["compile", "def.yaml", "--out", "no/such/folder/out.jsonl"],
        ["check"],
        ["schema", "nope"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(project: Path, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command", ["compile", "check", "schema", "send", "sandbox", "merge-reports", "new", "preview"]
)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_schema_prints_the_request_or_one_kind() -> None:
    request = json.loads(run("schema").stdout)
    assert request["title"]
    assert set(request["properties"]) == {"from", "to", "message"}
    carousel = json.loads(run("schema", "carousel").stdout)
    assert "columns" in carousel["properties"]
    assert "message/text" in run("schema", "--list").stdout


def test_the_installed_command_reports_without_a_traceback(project: Path) -> None:
    (project / "broken.yaml").write_text("message:\n  type: TEXT\n   text: x\n")
    completed = subprocess.run(
        [sys.executable, "-m", "linepress", "compile", "broken.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("broken.yaml:3:4: invalid YAML: this key is indented")
    assert "Traceback" not in completed.stderr


def test_send_flags_become_options(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    captured = {}

    def fake_send(options, **kwargs):  # type: ignore[no-untyped-def]
        captured["options"] = options
        raise SystemExit(0)

    monkeypatch.setattr("linepress.operations.send.send", fake_send)
    args = ["send", "def.yaml", "--data", "good.csv", "--concurrency", "7", "--rate", "12.5"]
    args += [
        "--max-attempts",
        "9",
        "--timeout",
        "3",
        "--backoff-base",
        "0.25",
        "--backoff-cap",
        "4",
    ]
    args += [
        "--shard",
        "2/3",
        "--resend-unknown",
        "--allow-duplicates",
        "--keep-going",
        "--dry-run",
    ]
    assert run(*args).exit_code == 0
    options = captured["options"]
    settings = options.settings
    assert (settings.concurrency, settings.rate, settings.max_attempts, settings.timeout) == (
        7,
        12.5,
        9,
        3,
    )
    assert (settings.backoff_base, settings.backoff_cap) == (0.25, 4)
    assert (options.shard.index, options.shard.count) == (2, 3)
    assert (
        options.resend_unknown
        and options.allow_duplicates
        and options.keep_going
        and options.dry_run
    )


@pytest.mark.parametrize(
    "args",
    [
        ["send"],
        ["send", "def.yaml", "--payloads", "x.jsonl"],
        ["send", "def.yaml", "--shard", "4/3"],
    ],
)
def test_send_usage_errors_exit_2(project: Path, args: list[str]) -> None:
    assert run(*args).exit_code == 2


def test_new_writes_a_starter_that_checks_and_refuses_to_overwrite(project: Path) -> None:
    result = run("new", "buttons", "campaigns/offer.yaml")
    assert result.exit_code == 0, result.stderr
    assert (project / "campaigns" / "linepress-definition.schema.json").is_file()
    first_line = (project / "campaigns" / "offer.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=./linepress-definition.schema.json"
    assert run("check", "campaigns/offer.yaml").exit_code == 0
    again = run("new", "buttons", "campaigns/offer.yaml")
    assert again.exit_code == 2
    assert "--force" in again.stderr
    assert run("new", "buttons", "campaigns/offer.yaml", "--force").exit_code == 0


def test_schema_definition_prints_the_authoring_schema(project: Path) -> None:
    schema = json.loads(run("schema", "definition").stdout)
    assert {"message", "variants", "vars", "defaults", "imports"} <= set(schema["properties"])


def test_preview_writes_a_page_for_the_chosen_rows(project: Path) -> None:
    result = run("preview", "def.yaml", "--data", "mixed.csv", "--rows", "1,2", "--out", "p.html")
    assert result.exit_code == 1  # row 2 does not compile: shown on the page, and an error
    page = (project / "p.html").read_text()
    assert "data-row='1'" in page and "data-row='2'" in page and "data-row='3'" not in page
    assert "must be at most 5000" in page
    assert run("preview", "def.yaml", "--rows", "x", "--out", "p.html").exit_code == 2


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C while a command works: `linepress: interrupted`, exit 130, no traceback."""
    from click.testing import CliRunner

    import linepress.author.needs
    from linepress.cli.main import main

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(linepress.author.needs, "needed_columns", interrupted)
    definition = tmp_path / "d.yaml"
    definition.write_text("from: APP\nmessage: {type: TEXT, text: hi}\n")
    result = CliRunner().invoke(main, ["vars", str(definition)])
    assert result.exit_code == 130
    assert "linepress: interrupted" in result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output


def test_usage_errors_journal_verbosity_and_a_definition_named_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One `Error:` prefix, -q/-v on journal subcommands, `A.yaml ./A.yaml` checked once."""
    from click.testing import CliRunner

    from linepress.cli.main import main

    runner = CliRunner()
    result = runner.invoke(main, ["new", "bogus", str(tmp_path / "y.yaml")])
    assert result.exit_code == 2
    assert "Error: no starter for 'bogus'" in result.output
    assert "linepress: no starter" not in result.output

    for sub in ("status", "report", "settle"):
        for flag in ("-q", "-v"):
            result = runner.invoke(main, ["journal", sub, flag, "--help"])
            assert result.exit_code == 0, (sub, flag, result.output)

    definition = tmp_path / "A.yaml"
    definition.write_text("from: APP\nmessage: {type: TEXT, text: 'hi {{ name }}'}\n")
    data = tmp_path / "e.csv"
    data.write_text("to,name,extra\nU1,A,x\n")
    args = ["check", str(definition), str(tmp_path / "." / "A.yaml"), "--data", str(data)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "A.yaml or " not in result.output and "ok: 1 definition," in result.output
    assert result.output.count("`extra` is not used") == 1


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    # `linepress compile ... | head -1`: the reader closes the pipe after one body.
    data = tmp_path / "many.csv"
    rows = "".join(f"U{n:032x},Ken {n},ok\n" for n in range(20_000))
    data.write_text("to,name,status\n" + rows)
    definition = tmp_path / "d.yaml"
    definition.write_text('message: {type: TEXT, text: "Hello {{ name }}"}\nfrom: "@shop"\n')
    command = [sys.executable, "-m", "linepress", "compile", str(definition), "--data", str(data)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as done:
        assert done.stdout is not None and done.stderr is not None
        first = done.stdout.readline()
        done.stdout.close()
        errors = done.stderr.read().decode()
        assert done.wait(timeout=120) == 141, errors
    assert b'"Hello Ken 0"' in first
    assert "internal error" not in errors and "Traceback" not in errors

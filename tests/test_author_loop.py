"""The author's loop at the command line (issue 13): what `check` and friends say."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linepress.cli.main import main


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.csv").write_text("to,name,coupon,pick\nU1,Ann,C1,tea\nU2,Bob,,cake\n")
    (tmp_path / "a.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: 'Hi {{ name }}, code {{ coupon }}'}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "from: APP\nmessage: {type: TEXT, text: 'Hi {{ name }}, try {{ pick }}'}\n"
    )
    return tmp_path


def test_check_says_ok_in_one_line(project: Path) -> None:
    # Keys as LINE writes them and no empty coupon: nothing to warn about (issue 10).
    ann, bob = "U" + "1" * 32, "U" + "2" * 32
    (project / "list.csv").write_text(f"to,name,coupon,pick\n{ann},Ann,C1,tea\n{bob},Bob,C2,cake\n")
    result = run("check", "a.yaml", "b.yaml", "--data", "list.csv")
    assert result.exit_code == 0, result.output
    assert result.stderr == "ok: 2 definitions, 2 recipients\n"
    result = run("check", "a.yaml")
    assert (result.exit_code, result.stderr) == (0, "ok: 1 definition\n")


def test_a_column_one_definition_uses_is_not_unused(project: Path) -> None:
    # a.yaml reads coupon, b.yaml reads pick: together every column is used.
    result = run("check", "a.yaml", "b.yaml", "--data", "list.csv")
    assert "not used" not in result.stderr
    # A column neither reads is named once, with both definitions.
    user = "U" + "1" * 32  # a key as LINE writes it: no warning about its form
    (project / "list.csv").write_text(f"to,name,coupon,pick,tier\n{user},Ann,C1,tea,Gold\n")
    result = run("check", "a.yaml", "b.yaml", "--data", "list.csv")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "list.csv:1: warning: column 5 `tier` is not used by any template of a.yaml or b.yaml; "
        "remove it from the data, or use it as {{ tier }}",
        "ok: 2 definitions, 1 recipient (1 warning)",
    ]
    # Alone, a.yaml does not read pick: that is worth a warning.
    result = run("check", "a.yaml", "--data", "list.csv")
    assert "column 4 `pick` is not used" in result.stderr


# -- murky messages made specific ---------------------------------------------


def errors_of(project: Path, definition: str, data: str | None = None) -> list[str]:
    (project / "def.yaml").write_text(definition)
    args = ["check", "def.yaml"]
    if data is not None:
        (project / "data.csv").write_text(data)
        args += ["--data", "data.csv"]
    result = run(*args)
    assert result.exit_code == 1, result.output
    return [line for line in result.stderr.splitlines() if "warning" not in line]


def test_an_unknown_macro_is_named_with_the_close_one(project: Path) -> None:
    (line, *_) = errors_of(
        project,
        "imports: {fmt: macros/format.j2}\nfrom: A\nmessage: {type: TEXT, text: '{{ fmt.yenn(3) }}'}\n",
        "to\nU1\n",
    )
    assert "unknown macro `fmt.yenn`; did you mean `fmt.yen`?" in line
    assert "TemplateModule" not in line


def test_a_missing_column_by_row_is_named(project: Path) -> None:
    (line, *_) = errors_of(
        project,
        "from: A\nmessage: {type: TEXT, text: \"{{ row['member tierx'] }}\"}\n",
        "to,member tier\nU1,Gold\n",
    )
    assert line.endswith(
        "no column or key `member tierx`; did you mean `member tier`? "
        "(the data's columns: to, member tier)"
    )
    assert "dict object" not in line


def test_a_dashed_column_name_gets_row_brackets(project: Path) -> None:
    (line, *_) = errors_of(
        project,
        "from: A\nmessage: {type: TEXT, text: '{{ member-tier }}'}\n",
        "to,member-tier\nU1,Gold\n",
    )
    assert line.endswith(
        "undefined variable `member`: `{{ member-tier }}` reads as `member` minus `tier`; "
        'write {{ row["member-tier"] }}'
    )


def test_line_field_names_point_at_infobips(project: Path) -> None:
    lines = errors_of(
        project,
        "from: A\nto: U\nmessage: {type: IMAGE, originalContentUrl: 'https://a.example/b.jpg',"
        " previewImageUrl: 'https://a.example/c.jpg'}\n",
    )
    assert any(
        "unknown property 'originalContentUrl' (that is LINE's name; Infobip's name is 'url')"
        in line
        for line in lines
    )
    assert any("Infobip's name is 'thumbnailUrl'" in line for line in lines)


@pytest.mark.parametrize("value", ["JA", "ja-JP", "Ja_jp"])
def test_a_variant_value_close_to_one_is_suggested(project: Path, value: str) -> None:
    (line, *_) = errors_of(
        project,
        "from: A\nvariants:\n  by: lang\n  messages:\n    ja: {type: TEXT, text: hi}\n"
        "    en: {type: TEXT, text: hi}\n",
        f"to,lang\nU1,{value}\n",
    )
    assert f"no variant for lang = {value!r} (did you mean `ja`?)" in line


def test_for_over_a_text_cell_says_it_needs_a_list(project: Path) -> None:
    (line, *_) = errors_of(
        project,
        "from: A\nmessage:\n  type: TEMPLATE\n  altText: x\n  template:\n    type: BUTTONS\n"
        "    text: hi\n    actions:\n      - $for: i in items\n        type: MESSAGE\n"
        "        label: '{{ i }}'\n        text: '{{ i }}'\n",
        "to,items\nU1,abc\n",
    )
    assert line.endswith(
        "`$for` needs a list, not text (every CSV cell is text): give a JSON list (JSON or "
        "JSONL data), or split the text, e.g. `$for: x in items.split(',')` (found string 'abc')"
    )
    (project / "data.jsonl").write_text('{"to": "U1", "items": null}\n')
    result = run("check", "def.yaml", "--data", "data.jsonl")
    assert "`$for` needs a list (found null)" in result.stderr  # not "found null null"


# -- small things ---------------------------------------------------------------


def _sandbox_says(*args: str) -> list[str]:
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "linepress", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        listening = process.stdout.readline()  # the server is up: everything before is said
        assert "listening on" in listening
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    return err.splitlines()


def test_sandbox_prints_the_key_and_warns_off_loopback() -> None:
    said = _sandbox_says("--api-key", "k-123")
    assert "send with INFOBIP_API_KEY=k-123" in said
    assert not any(line.startswith("warning") for line in said)
    said = _sandbox_says("--host", "0.0.0.0")
    assert any(
        line.startswith("warning: --host 0.0.0.0 listens beyond this machine") for line in said
    )


def test_version_short_flag() -> None:
    assert run("-V").output.startswith("linepress, version")


def test_new_refuses_a_non_yaml_name_and_names_the_existing_file(project: Path) -> None:
    result = run("new", "text", "x.json")
    assert result.exit_code == 2
    assert "x.json: is not a YAML file name: a definition is YAML; name it x.yaml" in result.output
    assert not (project / "x.json").exists()
    assert run("new", "text", "x.yaml").exit_code == 0
    result = run("new", "text", "x.yaml")
    assert result.exit_code == 2
    assert "x.yaml: already exists; not overwritten (use --force to replace it)" in result.output


def test_output_into_a_missing_folder_says_so(project: Path) -> None:
    for command in (
        ["compile", "a.yaml", "-o", "nope/out.jsonl"],
        ["preview", "a.yaml", "-o", "nope/p.html"],
    ):
        result = run(*command)
        assert result.exit_code == 2
        assert "folder 'nope' does not exist" in result.output


def test_a_missing_data_file_is_a_content_error_naming_it(project: Path) -> None:
    for command in ("compile", "check"):
        result = run(command, "a.yaml", "--data", "missing.csv")
        assert result.exit_code == 1  # as the README says: content errors exit 1
        assert result.stderr.startswith("missing.csv: no such file")


def test_compile_rows_prints_that_rows_body(project: Path) -> None:
    result = run("compile", "a.yaml", "--data", "list.csv", "--rows", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"from":"APP","to":"U2","message":{"type":"TEXT","text":"Hi Bob, code "}}\n'
    )
    result = run("compile", "a.yaml", "--data", "list.csv", "--rows", "9")
    assert result.exit_code == 2  # a usage error: nothing compiled, nothing written
    assert "row 9 does not exist: the data has 2 rows" in result.stderr
    assert result.stdout == ""
    assert run("compile", "a.yaml", "--rows", "1").exit_code == 2  # rows of what?


def test_vars_lists_the_columns_a_definition_reads(project: Path) -> None:
    (project / "c.yaml").write_text(
        "from: APP\nvars: {shop: https://s.example}\nmessage:\n  type: TEMPLATE\n"
        "  altText: \"{{ row['member tier'] }}\"\n  template:\n    type: BUTTONS\n"
        "    text: '{{ name }}'\n    actions:\n      - $for: p in picks\n"
        "        type: URI\n        label: '{{ p.name }}'\n        uri: '{{ shop }}/{{ p.sku }}'\n"
    )
    result = run("vars", "c.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        'row["member tier"]\tc.yaml:5:12',
        "name\tc.yaml:8:11",
        "picks\tc.yaml:10:15",
        "to\tc.yaml:1:1 (the body has no `to`: each recipient's)",
    ]


def test_quiet_and_verbose_on_every_command(project: Path) -> None:
    from linepress.cli.main import main as group

    for name, command in group.commands.items():
        flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"-q", "--quiet", "-v", "--verbose"} <= flags, name
    (project / "list.csv").write_text("to,name,coupon,pick,tier\nU1,Ann,C1,tea,Gold\n")
    quiet = run("check", "-q", "a.yaml", "--data", "list.csv")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    loud = run("-v", "check", "a.yaml", "--data", "list.csv")
    assert "warning: column 4 `pick` is not used" in loud.stderr
    assert "  1 | to,name,coupon,pick,tier" in loud.stderr  # the line, with a caret under it
    assert run("check", "a.yaml").stderr == "ok: 1 definition\n"  # each run starts normal


def test_no_doubled_linepress_prefix(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFOBIP_BASE_URL", raising=False)
    monkeypatch.delenv("INFOBIP_API_KEY", raising=False)
    result = run("send", "a.yaml", "--data", "list.csv", "--journal", "j.db")
    assert result.exit_code != 0
    assert "linepress: no Infobip base URL" in result.stderr
    assert "linepress: linepress:" not in result.stderr

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
    (project / "list.csv").write_text("to,name,coupon,pick,tier\nU1,Ann,C1,tea,Gold\n")
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
    assert "`$for` needs a list (found string 'abc')" in line
    assert "null null" not in line

"""Inputs that used to end in a traceback or hang: each kind is now a located error.

Every test goes through the real command line (click's runner) and asserts what a
user sees: the exit code, `FILE:LINE:COL` and the message, and no traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linepress.cli.main import INTERNAL_ERROR, main

BODY = "to: U1\nfrom: F1\nmessage: {type: TEXT, text: hi}\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_located(result: Result, where: str, *words: str, code: int = 1) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output
    assert where in result.output, result.output
    for word in words:
        assert word in result.output, result.output


# -- YAML the loader does not expect ----------------------------------------


@pytest.mark.parametrize(
    ("yaml", "where", "words"),
    [
        ("to: !!python/object/apply:os.system [echo]\n", ":1:5:", ["`!!python/object/apply"]),
        ("to: !!python/name:os.system ''\n", ":1:5:", ["not supported"]),
        ("to: !!binary aGVsbG8=\n", ":1:5:", ["`!!binary` is not supported"]),
        ("to: !custom U1\n", ":1:5:", ["`!custom`"]),
        ("vars: {x: !!set {a}}\n", ":1:11:", ["`!!set`"]),
        ("m: &m {<<: *m}\n", ":1:12:", ["`*m`", "itself"]),
        ("vars: &a {x: [*a]}\n", ":1:15:", ["`*a`"]),
        ("? [a, b]\n: c\n", ":1:3:", ["a key must be a name, not a list"]),
        ("{a: 1}: c\n", ":1:1:", ["not a mapping"]),
        ("%YAML 1.3\n---\nto: U1\n", ":1:1:", ["unsupported `%YAML` version", "1.2"]),
    ],
)
def test_yaml_the_loader_does_not_expect_is_a_located_error(
    tmp_path: Path, yaml: str, where: str, words: list[str]
) -> None:
    definition = write(
        tmp_path, "d.yaml", yaml + BODY.replace("to: U1\n", "") if "to:" in yaml else yaml + BODY
    )
    for command in ("compile", "check"):
        assert_located(run(command, str(definition)), f"d.yaml{where}", *words)


@pytest.mark.parametrize("depth", [65, 5_000])
@pytest.mark.parametrize("shape", ["[{}]", "{{a: {}}}", "block"])
def test_deep_yaml_is_nested_too_deeply(tmp_path: Path, depth: int, shape: str) -> None:
    if shape == "block":
        depth = min(depth, 300)  # indentation grows with depth: keep the file small
        nested = "".join(" " * (i + 1) + "a:\n" for i in range(depth)) + " " * (depth + 1) + "b\n"
        text = BODY + "vars:\n" + nested
    else:
        opening, closing = shape[0], shape[-1]
        inner = "a: " if opening == "{" else ""
        text = BODY + "vars: {x: " + (opening + inner) * depth + "1" + closing * depth + "}\n"
    definition = write(tmp_path, "deep.yaml", text)
    assert_located(run("check", str(definition)), "deep.yaml:", "nested too deeply")


def test_too_many_values_stop_while_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("linepress.yaml_reader.MAX_NODES", 1_000)  # the real one takes seconds
    lines = "".join(f"  k{i}: {i}\n" for i in range(5_000))
    definition = write(tmp_path, "many.yaml", BODY + "vars:\n" + lines)
    assert_located(run("check", str(definition)), "many.yaml:", "more than 1,000 values")


def test_a_huge_definition_is_refused_before_parsing(tmp_path: Path) -> None:
    definition = tmp_path / "huge.yaml"
    with definition.open("w") as file:
        file.write(BODY + "description: ")
        file.write("a" * (200 * 1024 * 1024 // 100))  # 2 MB: past the limit
    assert_located(run("check", str(definition)), "huge.yaml", "larger than 1 MiB")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert_located(run("compile", str(fifo)), "fifo.yaml", "a FIFO, not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused() -> None:
    assert_located(run("check", "/dev/zero"), "/dev/zero", "a device, not a regular file")


# -- the last resort ----------------------------------------------------------


@pytest.fixture
def broken_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside linepress: the check operation raises something no one expected."""

    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("linepress.cli.build.check_definitions", explode)


def test_an_internal_error_is_one_line_and_its_own_exit_code(
    tmp_path: Path, broken_check: None
) -> None:
    definition = write(tmp_path, "d.yaml", BODY)
    result = run("check", str(definition))
    assert result.exit_code == INTERNAL_ERROR != 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("linepress: internal error in linepress (ZeroDivisionError: a bug)")
    assert "--debug" in lines[0] and "report" in lines[0]


def test_debug_shows_the_traceback(tmp_path: Path, broken_check: None) -> None:
    definition = write(tmp_path, "d.yaml", BODY)
    result = run("--debug", "check", str(definition))
    assert result.exit_code == INTERNAL_ERROR
    assert "Traceback (most recent call last)" in result.output
    assert "ZeroDivisionError: a bug" in result.output


def test_the_installed_command_has_the_last_resort_too(tmp_path: Path) -> None:
    import subprocess

    definition = write(tmp_path, "d.yaml", BODY)
    code = (
        "import linepress.cli.build as b\n"
        "def boom(*a, **k): raise KeyError('x')\n"
        "b.check_definitions = boom\n"
        "from linepress.cli.main import main\n"
        "main(prog_name='linepress')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "check", str(definition)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == INTERNAL_ERROR
    assert "Traceback" not in done.stderr
    assert "internal error in linepress (KeyError: 'x')" in done.stderr


# -- Jinja at load time and the render limits ----------------------------------


def text_definition(folder: Path, text: str, extra: str = "") -> Path:
    """A TEXT definition whose text is `text` (a YAML single-quoted scalar on line 4)."""
    quoted = "'" + text.replace("'", "''") + "'"
    return write(
        folder, "d.yaml", f"to: U1\nfrom: F1\n{extra}message:\n  text: {quoted}\n  type: TEXT\n"
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{{ name | uppr }}", ["unknown filter `uppr`; did you mean `upper`?"]),
        ("{% filter uppr %}x{% endfilter %}", ["unknown filter `uppr`"]),
        ("{% if name is odd2 %}x{% endif %}", ["unknown test `odd2`; did you mean `odd`?"]),
    ],
)
def test_an_unknown_filter_or_test_is_named_with_the_closest(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    definition = text_definition(tmp_path, text)
    for command in ("check", "compile"):
        assert_located(run(command, str(definition)), "d.yaml:4:9: message.text: ", *words)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{{ 10**5000 }}", ["about 4,516 digits"]),
        ("a {{ (10**100)**100 }}", ["digits"]),
        ("{{ 'a' | center(1000000000) }}", ["1,000,000,000 characters"]),
        ("{{ '%999999999d' % 1 }}", ["field width of 999,999,999"]),
        ("{{ '%*d' % (999999999, 1) }}", ["field width"]),
        ("{{ '%999999999d' | format(1) }}", ["field width"]),
        ("{{ '{:>999999999}'.format(1) }}", ["field width"]),
        ("{{ 'a'.ljust(1000000000) }}", ["characters"]),
        ("{{ 'x' * 1000000000 }}", ["characters"]),
        ("{{ ('x' * 50000) | replace('x', 'x' * 50000) }}", ["characters"]),
        ("{{ 'x' | indent(1000000000) }}", ["characters"]),
        ("{{ lipsum(1000000) }}", ["`lipsum`"]),
        ("{{ [1] | slice(1000000000) | list }}", ["`slice`"]),
        (
            "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            ["characters"],
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            ["more than 200,000 steps"],
        ),
        ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", ["characters"]),
    ],
)
def test_templates_that_explode_are_caught_by_check_without_data(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    definition = text_definition(tmp_path, text)
    for command in ("check", "compile"):
        assert_located(run(command, str(definition)), "d.yaml:4:9: message.text: ", *words)


def test_a_runaway_render_stops_that_recipient_and_the_others_go_on(tmp_path: Path) -> None:
    definition = text_definition(
        tmp_path, "{% for i in range(n|int) %}{% for j in range(n|int) %}{% endfor %}{% endfor %}ok"
    )
    data = write(tmp_path, "r.csv", "n\n3\n100000\n2\n")
    out = tmp_path / "out.jsonl"
    for args in (["check"], ["compile", "--keep-going", "-o", str(out)]):
        # Every row is for the definition's one `to`: not the point here.
        result = run(*args, str(definition), "--data", str(data), "--allow-duplicates")
        assert_located(result, "d.yaml:4:9: row 2 (", "more than 200,000 steps")
        assert not errors_for(result.output, "row 1", "row 3")
    assert out.read_text().count('"text":"ok"') == 2


def test_a_macro_that_calls_itself_stops(tmp_path: Path) -> None:
    write(
        tmp_path,
        "m.j2",
        "{% macro twice(n) %}{% if n > 0 %}{{ twice(n - 1) }}{{ twice(n - 1) }}"
        "{% else %}x{% endif %}{% endmacro %}"
        "{% macro forever(n) %}{{ forever(n) }}{% endmacro %}",
    )
    imports = "imports: {m: m.j2}\n"
    definition = text_definition(tmp_path, "{{ m.twice(n | int) }}", imports)
    data = write(tmp_path, "r.csv", "n\n3\n40\n")
    assert_located(
        run("compile", str(definition), "--data", str(data)), "row 2", "too long", "steps"
    )
    definition = text_definition(tmp_path, "{{ m.forever(1) }}", imports)
    assert_located(run("check", str(definition)), "d.yaml:5:9: message.text: ", "calls itself")


@pytest.mark.parametrize(
    ("macros", "where", "words"),
    [
        ("{{ 1 / 0 }}", "d.yaml:3:14: imports.m:", ["'m.j2' failed to load", "ZeroDivisionError"]),
        ('{% import "m.j2" as again %}', "d.yaml:3:14: imports.m:", ["imports itself"]),
        ("{{ 10**5000 }}", "d.yaml:3:14: imports.m:", ["failed to load", "digits"]),
        ("ok\n\xff", "m.j2:2: imports.m:", ["not UTF-8", "0xff"]),
        ("{{ x | uppr }}", "m.j2:1: imports.m:", ["uppr"]),
    ],
)
def test_an_imported_file_that_fails_to_load_is_located(
    tmp_path: Path, macros: str, where: str, words: list[str]
) -> None:
    (tmp_path / "m.j2").write_bytes(macros.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    definition = text_definition(tmp_path, "{{ m.yen(1) }}", "imports: {m: m.j2}\n")
    assert_located(run("check", str(definition)), where, *words)


def test_an_unknown_macro_names_those_the_file_has(tmp_path: Path) -> None:
    write(
        tmp_path, "m.j2", "{% macro yen(x) %}¥{{ x }}{% endmacro %}{% macro pct(x) %}{% endmacro %}"
    )
    definition = text_definition(tmp_path, "{{ m.yenn(price) }}", "imports: {m: m.j2}\n")
    assert_located(
        run("check", str(definition)),
        "d.yaml:5:9: message.text: unknown macro `m.yenn`; did you mean `m.yen`? (m.j2 has: yen, pct)",
    )


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlinks_leading_outside_are_refused_like_dotdot(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    write(secret.parent, "secret.txt", "root:x:0:0\n")
    campaign = tmp_path / "campaign"
    campaign.mkdir()
    (campaign / "evil.j2").symlink_to(secret)
    (campaign / "folder").symlink_to(secret.parent, target_is_directory=True)
    write(campaign, "inside.j2", "{% macro hi() %}hi{% endmacro %}")
    (campaign / "alias.j2").symlink_to(campaign / "inside.j2")  # inside: fine
    cases = [
        ("{{ e.hi() }}", "imports: {e: evil.j2}\n", "d.yaml:3:14: imports.e:"),
        ("{% include 'evil.j2' %}", "", "d.yaml:4:9: message.text:"),
        ("{% include 'folder/secret.txt' %}", "", "d.yaml:4:9: message.text:"),
    ]
    for text, extra, where in cases:
        definition = text_definition(campaign, text, extra)
        result = run("compile", str(definition))
        assert_located(result, where, "leads outside the definition's folder")
        assert "root:x" not in result.output
    definition = text_definition(campaign, "{{ a.hi() }}", "imports: {a: alias.j2}\n")
    result = run("compile", str(definition))
    assert result.exit_code == 0, result.output
    assert '"text":"hi"' in result.output


# -- deep recipient data ---------------------------------------------------------


def deep(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("chunk", [None, 16])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
@pytest.mark.parametrize("digits", [4_301, 50_000])
def test_a_number_past_pythons_digit_limit_is_a_bad_record_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, chunk: int | None, digits: int
) -> None:
    # Python refuses to convert integers of more than 4,300 digits (a ValueError that
    # is not a JSONDecodeError): even in a field no template reads, it is one bad row.
    if chunk is not None:
        monkeypatch.setattr("linepress.recipients.records.CHUNK_SIZE", chunk)
    definition = write(
        tmp_path, "d.yaml", "from: F1\nmessage: {type: TEXT, text: 'hi {{ name }}'}\n"
    )
    huge = "-" + "9" * digits
    records = [
        '{"to": "U1", "name": "a"}',
        '{"to": "U2", "name": "b", "unused": [' + huge + "]}",
        '{"to": "U3", "name": "c"}',
    ]
    if suffix == ".json":
        records.insert(2, huge)  # a bare element too: skipped, a bad record of its own
    text = "\n".join(records) if suffix == ".jsonl" else "[\n" + ",\n".join(records) + "\n]"
    data = write(tmp_path, "r" + suffix, text + "\n")
    out = tmp_path / "out.jsonl"
    result = run("compile", str(definition), "--data", str(data), "--keep-going", "-o", str(out))
    line = 2 if suffix == ".jsonl" else 3
    assert_located(result, f"r{suffix}:{line}:1: row 2 (", "more than 4,300 digits")
    assert "internal error" not in result.output
    assert out.read_text().count("hi ") == 2
    assert "hi a" in out.read_text() and "hi c" in out.read_text()


@pytest.mark.parametrize("chunk", [None, 16])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_deep_json_data_is_a_bad_record_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, chunk: int | None
) -> None:
    if chunk is not None:  # the array reader reads on while skipping the deep record
        monkeypatch.setattr("linepress.recipients.records.CHUNK_SIZE", chunk)
    definition = write(
        tmp_path, "d.yaml", "from: F1\nmessage: {type: TEXT, text: 'hi {{ name }}'}\n"
    )
    tricky = '"]}\\\\\\"", ' * 3  # strings holding brackets, quotes and backslashes
    records = [
        '{"to": "U1", "name": "a"}',
        '{"to": "U2", "name": ' + deep(6_000, tricky + "1") + "}",
        '{"to": "U3", "name": "c"}',
    ]
    text = "\n".join(records) if suffix == ".jsonl" else "[\n" + ",\n".join(records) + "\n]"
    data = write(tmp_path, "r" + suffix, text + "\n")
    out = tmp_path / "out.jsonl"
    result = run("compile", str(definition), "--data", str(data), "--keep-going", "-o", str(out))
    line = 2 if suffix == ".jsonl" else 3  # the array's `[` has a line of its own
    assert_located(result, f"r{suffix}:{line}:1: row 2 (", "nested too deeply")
    assert not errors_for(result.output, "row 1", "row 3")
    assert [line.count("hi ") for line in out.read_text().splitlines()] == [1, 1]
    assert "hi a" in out.read_text() and "hi c" in out.read_text()


def test_a_deep_value_that_json_reads_is_refused_where_it_is_used(tmp_path: Path) -> None:
    definition = write(
        tmp_path, "d.yaml", "from: F1\nto: '{{ name }}'\nmessage: {type: TEXT, text: hi}\n"
    )
    data = write(tmp_path, "r.jsonl", '{"name": "U1"}\n{"name": ' + deep(900) + "}\n")
    rejects = tmp_path / "rejects.jsonl"
    result = run(
        "compile", str(definition), "--data", str(data), "--keep-going", "--rejects", str(rejects)
    )
    assert_located(result, "d.yaml:2:5: row 2 (", "to: the value is nested too deeply")
    assert '"row":2' in rejects.read_text()


def test_a_constant_condition_that_explodes_is_caught_by_check(tmp_path: Path) -> None:
    definition = write(
        tmp_path,
        "d.yaml",
        "to: U1\nfrom: F1\nmessage:\n  type: TEMPLATE\n  altText: a\n  template:\n"
        "    type: BUTTONS\n    text: t\n    actions:\n"
        "      - {$if: '10**5000', type: URI, label: L, uri: 'https://a.example'}\n",
    )
    assert_located(run("check", str(definition)), "d.yaml:10:15: ", "digits")


def errors_for(output: str, *rows: str) -> list[str]:
    """The lines of `output` that are errors (not warnings) for any of `rows`."""
    return [
        line
        for line in output.splitlines()
        if any(f"{row} " in line or f"{row}:" in line for row in rows) and "warning:" not in line
    ]

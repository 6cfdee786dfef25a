"""`{% import %}`, `{% include %}` and macros written inside a leaf: `check` without
data finds what `compile` would hit (they read nothing a recipient supplies), and a
file compiled late is named with its line and the closest filter."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from linepress.cli.main import main


def definition(text: str) -> str:
    return (
        "from: APP\nto: U0123456789abcdef0123456789abcdef\nmessage:\n  type: TEXT\n"
        f"  text: {json.dumps(text)}\n"
    )


CASES = [
    (
        "{% import 'm.j2' as m %}{{ m.f('a') }}",
        "{% macro f(x) %}{{ x | uppr }}{% endmacro %}",
        "m.j2, line 1: unknown filter `uppr`; did you mean `upper`?",
    ),
    (
        "{% macro r() %}{% call r() %}x{% endcall %}{{ caller() }}{% endmacro %}"
        "{% call r() %}y{% endcall %}",
        None,
        "the template nests too deeply",
    ),
    (
        "{% macro r(n) %}{% if n < 40 %}{{ r(n+1) }}{{ r(n+1) }}{% endif %}{% endmacro %}"
        "{{ r(0) }}",
        None,
        "the template takes too long",
    ),
    ("{% import 'm.j2' as m %}{{ m.f() }}", "{{ 1/0 }}{% macro f() %}x{% endmacro %}", "division"),
    ("{% import 'm.j2' as m %}{{ m.g() }}", "{% macro f() %}x{% endmacro %}", "no macro `g`"),
    (
        "{% import 'm.j2' as m %}{{ m.f() }}",
        "{% import 'm.j2' as n %}{% macro f() %}{% endmacro %}",
        "nests too deeply",
    ),
]


@pytest.mark.parametrize(("text", "imported", "said"), CASES)
def test_check_without_data_finds_what_compile_would_hit(
    tmp_path: Path, text: str, imported: str | None, said: str
) -> None:
    (tmp_path / "definition.yaml").write_text(definition(text), encoding="utf-8")
    if imported is not None:
        (tmp_path / "m.j2").write_text(imported, encoding="utf-8")
    for command in ("check", "compile"):
        with contextlib.chdir(tmp_path):
            result = CliRunner().invoke(main, [command, "definition.yaml"])
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.startswith("definition.yaml:5:9: message.text: "), result.stderr
        assert said in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.output

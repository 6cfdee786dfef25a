"""Warnings for messages that would go out visibly wrong (errors with `--strict`):
empty values used as if present, keys of no known form, starter placeholders."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from linepress.author.starters import new_definition
from linepress.cli.main import main

COUPON = """\
from: APP
to: "{{ user }}"
message:
  type: TEMPLATE
  altText: "Hi {{ name }}, your coupon is ready"
  template:
    type: BUTTONS
    text: "Hi {{ name }}, your coupon {{ coupon }} is ready{% if note %} ({{ note }}){% endif %}"
    actions:
      - {type: URI, label: Use, uri: "https://shop.example/c/{{ coupon | urlencode }}"}
      - {type: MESSAGE, label: "{{ name }}", text: "Hi {{ nick | default(name, true) }}"}
"""
USER = "U" + "0123456789abcdef" * 2


def invoke(tmp_path: Path, args: list[str], definition: str, data: str | None = None) -> Result:
    (tmp_path / "definition.yaml").write_text(definition, encoding="utf-8")
    if data is not None:
        (tmp_path / "data.csv").write_text(data, encoding="utf-8")
    with contextlib.chdir(tmp_path):
        return CliRunner().invoke(main, args)


def test_a_column_empty_in_some_rows_but_used_unconditionally_is_reported_once(
    tmp_path: Path,
) -> None:
    rows = [f"{USER},Ann,SPRING,,", f"{USER},Bo,,x,", f"{USER},Cy,  ,,Cee"]
    rows += [f"{USER},Di,,,"] * 7
    data = "user,name,coupon,note,nick\n" + "\n".join(rows) + "\n"
    result = invoke(tmp_path, ["check", "definition.yaml", "--data", "data.csv"], COUPON, data)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("definition")]
    assert warnings == [
        "definition.yaml:8:11: message.template.text: warning: column `coupon` is empty in 9 of "
        "10 recipients (rows 2, 3, 4, 5, 6, …) where it is used in a sentence outside an "
        "`{% if %}`: they would get the text without it; wrap that part in "
        "`{% if coupon %}…{% endif %}` or fill the column",
        "definition.yaml:10:38: message.template.actions[0].uri: warning: column `coupon` is "
        "empty in 9 of 10 recipients (rows 2, 3, 4, 5, 6, …) where it is used in a link outside "
        "an `{% if %}`: they would get the text without it; wrap that part in "
        "`{% if coupon %}…{% endif %}` or fill the column",
    ], result.stderr
    # `note` is inside an {% if %}, `nick` behind `default`, `name` always there: no warning.
    strict = invoke(
        tmp_path, ["compile", "definition.yaml", "--data", "data.csv", "--strict"], COUPON, data
    )
    assert strict.exit_code == 1
    assert strict.stdout == ""
    assert "message.template.text: column `coupon` is empty in 9 of 10" in strict.stderr


def test_a_value_missing_from_json_counts_as_empty(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text(
        f'{{"user": "{USER}", "name": "A", "coupon": null, "note": "", "nick": ""}}\n'
    )
    result = invoke(tmp_path, ["check", "definition.yaml", "--data", "data.jsonl"], COUPON)
    assert "column `coupon` is empty in 1 of 1 recipients (row 1)" in result.stderr


def test_keys_of_no_known_form_warn_and_fail_with_strict(tmp_path: Path) -> None:
    definition = 'from: APP\nto: "{{ user }}"\nmessage: {type: TEXT, text: "Hi"}\n'
    data = (
        f"user\n{USER}\n+66812345678\n"
        "123e4567-e89b-12d3-a456-426614174000\nU12345\nkenji@example.jp\n"
    )
    result = invoke(tmp_path, ["check", "definition.yaml", "--data", "data.csv"], definition, data)
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("definition")]
    assert [line.split(": to: ")[0] for line in lines] == [
        "definition.yaml:2:5: row 4 (data.csv:5)",
        "definition.yaml:2:5: row 5 (data.csv:6)",
    ]
    assert "looks like none of a LINE user ID (U + 32 hex digits), a phone number" in lines[0]
    strict = invoke(
        tmp_path,
        ["compile", "definition.yaml", "--data", "data.csv", "--strict"],
        definition,
        data,
    )
    assert strict.exit_code == 1 and strict.stdout == ""


def test_a_starter_placeholder_warns_in_check_and_stops_send(tmp_path: Path) -> None:
    new_definition("text", tmp_path / "definition.yaml")
    definition = (tmp_path / "definition.yaml").read_text(encoding="utf-8")
    data = f"to,name\n{USER},Ann\n"
    checked = invoke(tmp_path, ["check", "definition.yaml"], definition)
    assert checked.exit_code == 0
    assert "defaults.from: warning: `YOUR-APPLICATION-KEY` is a starter's placeholder" in (
        checked.stderr
    )
    env = {"INFOBIP_BASE_URL": "http://127.0.0.1:9", "INFOBIP_API_KEY": "k"}
    with contextlib.chdir(tmp_path):
        (tmp_path / "data.csv").write_text(data, encoding="utf-8")
        sent = CliRunner(env=env).invoke(
            main, ["send", "definition.yaml", "--data", "data.csv", "--dry-run"]
        )
    assert sent.exit_code == 1
    assert "defaults.from: `YOUR-APPLICATION-KEY` is a starter's placeholder" in sent.stderr
    assert "nothing was sent" in sent.stderr
    assert not os.environ.get("INFOBIP_API_KEY") or "k" not in sent.stderr.split()


ITEMS = """\
from: APP
to: "{{ user }}"
message:
  type: TEMPLATE
  altText: Sale
  template:
    type: CAROUSEL
    columns:
      - $for: product in products
        title: "{{ product.name }}"
        text: "Price {{ product.price }} yen, {{ product.note }}"
        actions:
          - {type: URI, label: View, uri: "https://shop.example/p/{{ product.sku | urlencode }}"}
          - $if: vip
            type: MESSAGE
            label: Coupon
            text: "Your coupon {{ coupon }} is ready"
          - $if: coupon
            type: MESSAGE
            label: Use
            text: "Use {{ coupon }} now"
"""


#: Three recipients (one key each: a repeated key is a warning of its own).
USERS = ["U" + digit * 32 for digit in "123"]


def test_empty_values_are_found_inside_if_items_and_for_loops(tmp_path: Path) -> None:
    def product(note: object, sku: str) -> str:
        return json.dumps({"name": "A", "price": 1, "note": note, "sku": sku})

    lines = [
        # vip with an empty coupon: the `$if: vip` item says "Your coupon  is ready".
        f'{{"user": "{USERS[0]}", "vip": true, "coupon": "", "products": [{product("x", "a")}, '
        f"{product('', 'b')}]}}",
        # not vip: that item is left out, so its empty coupon is no one's problem.
        f'{{"user": "{USERS[1]}", "vip": false, "coupon": "", "products": [{product(None, "")}]}}',
        f'{{"user": "{USERS[2]}", "vip": true, "coupon": "C1", "products": [{product("ok", "c")}]}}',
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke(tmp_path, ["check", "definition.yaml", "--data", "data.jsonl"], ITEMS)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "lint" not in line]
    assert (
        "definition.yaml:11:15: message.template.columns[0].text: warning: `product.note` (an "
        "element of `$for: product in …`) is empty for 2 of 3 recipients (rows 1, 2) where it "
        "is used in a sentence outside an `{% if %}`"
    ) in result.stderr, result.stderr
    assert (
        "definition.yaml:17:19: message.template.columns[0].actions[1].text: warning: column "
        "`coupon` is empty in 1 of 3 recipients (row 1) where it is used in a sentence"
    ) in result.stderr
    # `Use {{ coupon }}` sits under `$if: coupon`; the sku is urlencoded but still empty once.
    assert "actions[2]" not in result.stderr
    assert "`product.sku` (an element of `$for: product in …`) is empty for 1 of 3" in (
        result.stderr
    )
    assert len([w for w in warnings if "warning:" in w]) == 3, result.stderr

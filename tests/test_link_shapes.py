"""Links and text that would reach a customer broken (issue 10 review, defects 7 and 9).

A link that passes must open: `https:` needs `//host`, a scheme needs a target, a host
is whole labels, a port is 0-65535, and no `user:password@`. Each failing link gets one
located message. Template syntax the definition spells out itself (`{% raw %}`,
`{{ '{{' }}`) never reaches a body.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from linepress.cli.main import main

HEADER = 'defaults: {from: "8F0792F86035A9F4290821F1EE6BC06A"}\nto: "U0000000000000000000000000000000a"\n'
BUTTONS = """message:
  type: TEMPLATE
  altText: x
  template:
    type: BUTTONS
    text: hello
    actions:
      - {type: URI, label: Open, uri: LINK}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("link", "said"),
    [
        ("https:example.com", "`//` is missing after `https:`"),
        ("http:/x.jp", "`//` is missing after `http:`"),
        ("tel:", "`tel:` has nothing after it"),
        ("line:", "`line:` has nothing after it"),
        ("https://x.jp:99999/", "the port `99999` is not a number from 0 to 65535"),
        ("https://x.jp:abc/", "the port `abc` is not a number"),
        ("https://x..jp/", "the host `x..jp` has an empty part"),
        ("https://.../", "has an empty part"),
        ("https://-.jp/", "a part `-` that starts or ends with `-`"),
        ("https://[::1/", "do not pair up"),
        ("https://shop:secret@x.jp/", "must not carry a user name or password"),
    ],
)
@pytest.mark.parametrize("where", ["definition", "data"])
def test_a_link_that_cannot_open_is_one_located_error(
    tmp_path: Path, link: str, said: str, where: str
) -> None:
    path = tmp_path / "b.yaml"
    uri = json.dumps(link) if where == "definition" else '"{{ link }}"'
    path.write_text(HEADER + BUTTONS.replace("LINK", uri))
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps({"link": link}) + "\n")
    result = run("compile", str(path), "--data", str(data))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "actions[0].uri" in line]
    assert len(lines) == 1, result.output
    assert f"{path}:10:" in lines[0] and said in lines[0]


@pytest.mark.parametrize(
    "link",
    [
        "https://x.jp",
        "https://x.jp:8080/a?b=1#c",
        "tel:+81901234567",
        "line://ti/p/@abc",
        "https://a_b.example.jp./x",
        "http://127.0.0.1:80/",
    ],
)
def test_links_that_open_pass(tmp_path: Path, link: str) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(HEADER + BUTTONS.replace("LINK", json.dumps(link)))
    result = run("compile", str(path))
    assert result.exit_code == 0, result.output
    assert json.dumps(link) in result.output


@pytest.mark.parametrize(
    "text",
    [
        "Hi {% raw %}{{ name }}{% endraw %}",
        "{{ '{{' }} shop }}",
        "{{ '{%' if true }} x",
        "{% set open = '{{' %}{{ open }} name }}",
    ],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_template_syntax_the_definition_spells_never_reaches_a_body(
    tmp_path: Path, text: str, command: str
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEADER + f"message: {{type: TEXT, text: {json.dumps(text)}}}\n")
    result = run(command, str(path))
    assert result.exit_code == 1, result.output
    assert f"{path}:3:" in result.output and "a customer would see template syntax" in result.output


def test_template_syntax_in_a_recipients_value_comes_out_literally(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEADER + 'message: {type: TEXT, text: "Hi {{ name }}!"}\n')
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps({"name": "{{ x }} {% y %}"}) + "\n")
    result = run("compile", str(path), "--data", str(data))
    assert result.exit_code == 0, result.output
    assert "Hi {{ x }} {% y %}!" in result.output

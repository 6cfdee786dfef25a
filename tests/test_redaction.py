"""A credential an endpoint echoes back is taken out in whatever form it comes (review 15 #8)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from test_send_outages import ok_answer, raw_server

from linepress.send.endpoint import api_key, basic

KEY = "Sup3rSecretKey-123"

#: The forms an endpoint may echo a secret in.
ECHOES = {
    "verbatim": lambda s: s,
    "lower": str.lower,
    "upper": str.upper,
    "url": lambda s: urllib.parse.quote(s, safe=""),
    "url-every-char": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "url-plus": urllib.parse.quote_plus,
    "json": lambda s: json.dumps(s)[1:-1],
    "json-ascii-escapes": lambda s: "".join(f"\\u{ord(c):04x}" for c in s),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
}

secrets = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=40)


@given(secret=secrets, form=st.sampled_from(sorted(ECHOES)), before=st.text(), after=st.text())
def test_every_echoed_form_of_a_key_is_redacted(
    secret: str, form: str, before: str, after: str
) -> None:
    echoed = ECHOES[form](secret)
    redacted = api_key(secret).redact(f"{before}{echoed}{after}")
    assert echoed not in redacted
    assert "<redacted>" in redacted


@given(user=secrets, password=secrets, form=st.sampled_from(sorted(ECHOES)))
def test_basic_auth_is_redacted_as_password_user_password_and_token(
    user: str, password: str, form: str
) -> None:
    credentials = basic(user, password)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    for secret in (password, f"{user}:{password}", token):
        echoed = ECHOES[form](secret)
        assert echoed not in credentials.redact(f"error: {echoed}.")


def test_text_without_the_secret_is_left_alone() -> None:
    text = '{"requestError": {"serviceException": {"text": "Invalid destination address"}}}'
    assert api_key(KEY).redact(text) == text


def test_an_echoed_key_in_any_form_never_reaches_journal_report_or_output(
    tmp_path: Path,
) -> None:
    # A loopback endpoint answering 400 with the key in every form at once.
    (tmp_path / "def.yaml").write_text(
        "from: APP\nmessage:\n  type: TEXT\n  text: 'Hi {{ name }}'\n"
    )
    (tmp_path / "users.csv").write_text("to,name\nU1,A\nU2,B\n")
    forms = [echo(KEY) for echo in ECHOES.values()]

    def echo(conn: socket.socket, head: bytes) -> None:
        text = " | ".join(forms)
        conn.sendall(
            ok_answer(json.dumps({"requestError": {"text": text}}).encode(), "400 Bad Request")
        )

    with raw_server(echo) as url:
        result = subprocess.run(
            [sys.executable, "-m", "linepress", "send", "def.yaml", "--data", "users.csv",
             "--base-url", url, "--no-progress", "--report", "report.csv", "-v"],
            cwd=tmp_path, env={**os.environ, "INFOBIP_API_KEY": KEY},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "<redacted>" in (tmp_path / "report.csv").read_text()
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for form in forms:
            assert form.encode() not in data, (path, form)
    for form in forms:
        assert form not in result.stderr + result.stdout

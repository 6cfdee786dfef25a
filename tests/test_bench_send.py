"""`bench/send.py --tiny` keeps working: it runs, and its table has every row.

No timing is checked here: the figures of a few hundred messages on a shared CI
machine mean nothing. The full benchmark is run by hand (see bench/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_ROWS = [
    "seq@10",
    "seq@0",
    "cli@10",
    "cli@0",
    "cli@0+progress",
    "plan",
    "plan-csv",
    "httpx@10",
    "httpx-sharded@10",
    "aiohttp@10",  # "httpx-aiohttp not installed" when it is not
    "httpx@0",
    "httpx@0-nojournal",
    "httpx-sharded@0",
    "aiohttp@0",
    "journal-httpx",
    "rate-50",
    "rate-100",
]


def test_tiny_run_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "send.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "send.py"), "--tiny", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("linepress send benchmark, ")
    header = next(i for i, line in enumerate(lines) if line.startswith("id "))
    assert lines[header].split()[:6] == ["id", "latency", "in", "flight", "msgs", "msg/s"]
    ids = [line.split()[0] for line in lines[header + 2 :] if line.strip() and line[0] != " "]
    for expected in EXPECTED_ROWS:
        assert expected in ids, f"row {expected} missing from:\n{done.stdout}"

    result = json.loads(out.read_text())
    rows = {row["id"]: row for row in result["rows"]}
    assert set(EXPECTED_ROWS) <= set(rows)
    # Every sending row delivered what it was given and has a figure.
    for key in ("seq@10", "seq@0", "cli@10", "cli@0", "httpx@10", "httpx@0", "rate-50"):
        assert rows[key]["messages"] > 0 and rows[key]["rate"] > 0, rows[key]
    assert result["details"]["cli@10"]["delivered"] == 100
    assert result["details"]["rate-50"]["deliveries"] == 60


def test_tiny_pacing_run_prints_its_table(tmp_path: Path) -> None:
    out = tmp_path / "pacing.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "send.py"), "--pacing", "--tiny", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for phase in ("limit-200", "limit-200+ra", "change"):
        assert f"| `{phase}` |" in done.stdout, done.stdout
    result = json.loads(out.read_text())
    # Every message delivered (exactly once: the sandbox counts deliveries) in each phase.
    for phase in result.values():
        assert phase["delivered"] == phase["messages"], phase
    assert len(result["change"]["settle"]) == 2

"""bench/compile.py keeps working, and compares designs that produce the same bodies.

No timing is asserted: speed depends on the machine and what else runs on it.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "compile.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_compile", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_tiny_run_prints_the_table_for_both_shapes() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "cross-check (a)-(e) on the first 20 rows: identical bodies" in out
    for shape in ("TEXT", "CAROUSEL"):
        # shape, five rates, three ratios
        row = re.search(rf"^{shape} +((?:[\d,]+ +){{5}})([\d.e+-]+ +){{2}}[\d.e+-]+$", out, re.M)
        assert row, f"no table row for {shape} in:\n{out}"
    assert re.search(r"^  TEXT +\(d\)/\(b\) >= 30: ", out, re.M)
    assert re.search(r"^  CAROUSEL +\(d\)/\(b\) >= 15: ", out, re.M)


def test_designs_produce_identical_bodies(bench: ModuleType, tmp_path: Path) -> None:
    rows = 30
    bodies = bench.cross_check(tmp_path, rows=rows, command=False)
    assert set(bodies) == {"TEXT", "CAROUSEL"}
    for shape, by_design in bodies.items():
        assert set(by_design) == {"a", "b", "c", "e"}
        reference = by_design["c"]
        assert len(reference) == rows
        for design in "abe":
            assert by_design[design] == reference, f"{shape}: ({design}) differs from (c)"
    assert bench.disagreements(bodies) == []


def test_generated_data_is_tricky_and_deterministic(bench: ModuleType) -> None:
    first = [row for _, row in zip(range(200), bench.generate_rows(), strict=False)]
    again = [row for _, row in zip(range(200), bench.generate_rows(), strict=False)]
    assert first == again
    assert all(len(row) == 15 for row in first)
    names = [row[1] for row in first]
    assert any('"' in name for name in names)
    assert any("'" in name for name in names)
    assert any(not name.isascii() for name in names)
    assert any("," in row[5] for row in first)  # a city that needs CSV quoting

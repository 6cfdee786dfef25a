"""Writing compiled bodies: all or nothing, deterministic, in bounded memory.

Output goes to a temporary file first. `commit()` moves it into place (or copies
it to standard output); `abort()` throws it away, so a failed run never leaves a
half-written file behind and a pipeline never reads half a campaign.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from linepress.errors import Problem
from linepress.report import problem_dict

OutputFormat = Literal["jsonl", "json"]

_BUFFER = 1 << 20  # 1 MiB: writing many small lines is otherwise syscall-bound


class AtomicOutput:
    """A file (or stdout, for `-`/None) that appears only when committed."""

    def __init__(self, target: str | Path | None) -> None:
        self._stdout = target is None or str(target) == "-"
        if self._stdout:
            # Spooled to disk, not memory: a million bodies must not sit in RAM.
            # (Closed by commit/abort, hence no `with`.)
            self._file: IO[bytes] = tempfile.TemporaryFile(buffering=_BUFFER)  # noqa: SIM115
            self._path: Path | None = None
            self._temp: str | None = None
        else:
            self._path = Path(target)  # type: ignore[arg-type]
            fd, self._temp = tempfile.mkstemp(
                prefix=f".{self._path.name}.", suffix=".tmp", dir=self._path.parent or "."
            )
            self._file = os.fdopen(fd, "wb", buffering=_BUFFER)
        #: Writes bytes (the file's own method: no wrapper call per recipient).
        self.write = self._file.write

    def commit(self) -> None:
        if self._stdout:
            self._file.seek(0)
            sys.stdout.flush()
            shutil.copyfileobj(self._file, sys.stdout.buffer, _BUFFER)
            sys.stdout.buffer.flush()
            self._file.close()
            return
        self._file.close()
        assert self._temp is not None and self._path is not None
        os.replace(self._temp, self._path)

    def abort(self) -> None:
        self._file.close()
        if self._temp is not None and os.path.exists(self._temp):
            os.unlink(self._temp)


class BodyWriter:
    """Writes bodies as JSONL (one per line) or one JSON array, byte-for-byte repeatable."""

    def __init__(self, out: AtomicOutput, fmt: OutputFormat = "jsonl") -> None:
        self._out = out
        self._format = fmt
        self.count = 0

    def write(self, body_json: bytes) -> None:
        """A body already serialized (compact JSON, no newline)."""
        if self._format == "jsonl":
            self._out.write(body_json + b"\n")
        else:
            self._out.write((b"[\n" if self.count == 0 else b",\n") + body_json)
        self.count += 1

    def write_body(self, body: Any) -> None:
        """A body, serialized as `Result.json()` does."""
        self.write(orjson.dumps(body))

    def line_writer(self) -> Callable[[bytes], object]:
        """The fastest way in for bodies already serialized as lines (JSON + newline).

        For JSONL that is the file's own `write`: nothing of ours runs per body
        (and `count` is not kept).
        """
        if self._format == "jsonl":
            return self._out.write
        return lambda line: self.write(line[:-1])

    def finish(self) -> None:
        if self._format == "json":
            self._out.write(b"[]\n" if self.count == 0 else b"\n]\n")


def reject_line(row: int | None, fields: Any, problems: list[Problem]) -> bytes:
    """One line of a rejects file: the recipient's row, its data and why it failed."""
    data_location = next((p.data_location for p in problems if p.data_location), None)
    record = {
        "row": row,
        "data_file": data_location.file if data_location else None,
        "data_line": data_location.line if data_location else None,
        "fields": dict(fields) if fields is not None else None,
        "errors": [problem_dict(p) for p in problems],
    }
    try:
        return orjson.dumps(record, default=str) + b"\n"
    except orjson.JSONEncodeError:
        pass
    try:
        # JSON data can spell a lone surrogate ("\\ud800"), which UTF-8 cannot carry:
        # written escaped, as it came (and NaN as null, as orjson would).
        return json.dumps(_finite(record), default=str, allow_nan=False).encode() + b"\n"
    except RecursionError:  # data nested hundreds of levels: the row and reasons still go
        record["fields"] = "(not written: nested too deeply)"
        return orjson.dumps(record, default=str) + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

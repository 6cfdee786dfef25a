"""Writing compiled bodies: all or nothing, deterministic, in bounded memory.

Output goes to a temporary file first. `commit()` moves it into place (or copies
it to standard output, or to a device or FIFO, which are never renamed over);
`abort()` throws it away, so a failed run never leaves a half-written file behind
and a pipeline never reads half a campaign. Compile output, rejects, send reports,
merged reports and previews all go through `AtomicOutput`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from linepress.errors import LinepressError, Location, Problem, UsageError
from linepress.report import problem_dict

OutputFormat = Literal["jsonl", "json"]


class OutputError(LinepressError):
    """An output could not be written to the end (a full disk, a file size limit).

    Nothing is left at the output's path: the temporary file is removed.
    """


#: What a write error means for the person at the keyboard.
_WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is larger than this system allows",
}

_BUFFER = 1 << 20  # 1 MiB: writing many small lines is otherwise syscall-bound


class AtomicOutput:
    """A file (or stdout, for `-`/None) that appears only when committed.

    A regular file is written to a temporary file beside it and renamed into
    place, created with the mode any Unix tool gives a new file (0666 less the
    umask) or keeping the mode of the file it replaces; a symbolic link is
    followed, as `>` would. Anything else that exists at the path (a device
    such as /dev/null, a FIFO, a terminal) is never renamed over: the output
    is spooled and then written to it, like standard output.

    Raises `UsageError` when `target` is one of `inputs` (it would destroy
    them) or cannot be created.
    """

    def __init__(
        self, target: str | Path | None, *, inputs: Iterable[str | Path | None] = ()
    ) -> None:
        self._path: Path | None = None
        self._temp: str | None = None
        self._device: Path | None = None
        self._stdout = target is None or str(target) == "-"
        #: The path as the user gave it, for messages.
        self._name = None if self._stdout else str(target)
        if not self._stdout:
            assert target is not None
            path = Path(target)
            refuse_inputs(path, inputs)
            if path.exists() and not path.is_file():
                self._device = path
            else:
                self._path = Path(os.path.realpath(path))
        if self._path is None:
            # Spooled to disk, not memory: a million bodies must not sit in RAM.
            # (Closed by commit/abort, hence no `with`.)
            self._file: IO[bytes] = tempfile.TemporaryFile(buffering=_BUFFER)  # noqa: SIM115
        else:
            mode = _new_file_mode(self._path)
            try:
                fd, self._temp = tempfile.mkstemp(
                    prefix=f".{self._path.name}.", suffix=".tmp", dir=self._path.parent
                )
            except OSError as exc:
                raise UsageError(_cannot_write(self._path, exc)) from None
            os.fchmod(fd, mode)  # mkstemp makes 0600 whatever the umask
            self._file = os.fdopen(fd, "wb", buffering=_BUFFER)
        #: Writes bytes (the file's own method: no wrapper call per recipient).
        self.write = self._file.write

    def refuse(self, inputs: Iterable[str | Path | None]) -> None:
        """Raise `UsageError` when the target is one of `inputs` (found after opening)."""
        if self._name is not None:
            refuse_inputs(self._name, inputs)

    @property
    def file(self) -> IO[bytes]:
        """The binary file being written (to wrap in a text layer, say)."""
        return self._file

    def broken(self) -> bool:
        """True when the buffered bytes cannot be written out (after a write raised OSError)."""
        try:
            self._file.flush()
        except OSError:
            return True
        except ValueError:  # closed already
            return False
        return False

    def failed(self, error: OSError) -> OutputError:
        """Throw the output away and say, at its path, why it could not be written."""
        self.abort()
        what = _WRITE_ERRORS.get(error.errno or 0, "the write failed")
        target = self._name or "standard output (its temporary spool)"
        return OutputError(
            Problem(
                f"cannot write: {what} ({error.strerror or error}); nothing was written "
                "there (the partial file is removed)",
                Location(str(target)),
                code="io",
            )
        )

    def commit(self) -> None:
        """Put the output in place: rename, or copy to stdout or the device.

        Raises `OutputError` (temporary file removed) when the last bytes cannot be written.
        """
        if self._path is None:
            self._file.seek(0)
            try:
                if self._device is not None:
                    with self._device.open("wb") as device:
                        shutil.copyfileobj(self._file, device, _BUFFER)
                else:
                    sys.stdout.flush()
                    shutil.copyfileobj(self._file, sys.stdout.buffer, _BUFFER)
                    sys.stdout.buffer.flush()
            except BrokenPipeError:
                raise  # stdout's reader left (`| head`): the CLI stops quietly
            except OSError as exc:
                raise UsageError(_cannot_write(self._device or "-", exc)) from None
            finally:
                self._file.close()
            return
        assert self._temp is not None
        try:
            self._file.close()  # the last buffered bytes: a full disk shows here
            os.replace(self._temp, self._path)
        except OSError as exc:
            raise self.failed(exc) from None

    def abort(self) -> None:
        """Throw the output away; the target is left as it was."""
        # A close that fails (its buffer cannot reach a full disk) still closes the file.
        with contextlib.suppress(OSError):
            self._file.close()
        if self._temp is not None and os.path.exists(self._temp):
            os.unlink(self._temp)


def refuse_inputs(target: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Raise `UsageError` when `target` is the same file as one of `inputs` (links included).

    Only regular files count: writing to /dev/null or a FIFO destroys nothing.
    """
    for source in inputs:
        if source is None or str(source) == "-":
            continue
        try:
            same = os.path.isfile(target) and os.path.samefile(target, source)
        except OSError:
            continue
        if same:
            raise UsageError(
                Problem(
                    f"is also an input of this command ({source}); writing it would destroy "
                    "it: choose another output path",
                    Location(str(target)),
                    code="usage",
                )
            )


def _new_file_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)  # replacing a file keeps its mode
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _cannot_write(target: str | Path, exc: OSError) -> Problem:
    return Problem(f"cannot write here: {exc.strerror or exc}", Location(str(target)), code="io")


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

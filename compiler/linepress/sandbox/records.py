"""The sandbox's record: accepted deliveries, answers counted per status, the record file.

Written on the server's loop thread, read from any thread (tests, the control
endpoints): one lock. Deliveries are kept serialized, as JSON bytes: a million bytes
objects cost the garbage collector nothing, a million nested dicts cost pauses of
100+ ms, and memory 5x.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypedDict

import orjson

__all__ = ["Delivery", "Record"]


class Delivery(TypedDict):
    """One accepted message, as recorded (and written to the JSONL record file)."""

    seq: int
    message_id: str
    to: str
    body: Any
    received_at: str


class Record:
    """What the sandbox accepted and how it answered.

    `counts` (answers per status code as a string, plus "dropped_before" and
    "dropped_after") is bumped on the loop thread without the lock, like any counter
    read only for reporting.
    """

    def __init__(self, path: str | Path | None = None, *, memory: bool = True) -> None:
        """`path`: deliveries are appended there as JSONL, flushed one by one.

        `memory=False` keeps no delivery in memory (long benchmarks); counts still work.
        """
        self._path = Path(path) if path is not None else None
        self._memory = memory
        # Unique across runs (a restarted sandbox on the same record file), hence not
        # drawn from the seeded generator.
        prefix = uuid.uuid4().hex
        self._id_prefix = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"
        self._lock = threading.Lock()
        self._deliveries: list[bytes] = []
        self._by_to: Counter[str] = Counter()
        self.seq = 0  # deliveries accepted (since start or reset)
        self.counts: Counter[str] = Counter()
        self._file: IO[bytes] | None = None

    def open(self) -> None:
        """Open the record file, if any (raises OSError)."""
        if self._path is not None:
            self._file = self._path.open("ab")

    def close(self) -> None:
        """Close the record file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def clear(self) -> None:
        """Forget deliveries and counts, truncate the record file."""
        with self._lock:
            self._deliveries.clear()
            self._by_to.clear()
            self.seq = 0
            self.counts.clear()
            if self._file is not None:
                self._file.truncate(0)
                self._file.flush()

    def add(self, to: str, body: Any) -> bytes:
        """Record one accepted delivery; its message id."""
        received_at = datetime.now(UTC).isoformat()
        with self._lock:
            self.seq += 1
            seq = self.seq
            message_id = f"{self._id_prefix}{seq:012x}"
            delivery: Delivery = {
                "seq": seq,
                "message_id": message_id,
                "to": to,
                "body": body,
                "received_at": received_at,
            }
            line = orjson.dumps(delivery)
            if self._memory:
                # A copy: orjson's own result keeps a ~4 KiB buffer (a page fault each).
                self._deliveries.append(bytes(memoryview(line)))
            self._by_to[to] += 1
            if self._file is not None:
                # Flushed per delivery: another process reads it even after a kill -9.
                self._file.write(line + b"\n")
                self._file.flush()
        return message_id.encode()

    def deliveries(self) -> list[Delivery]:
        """A snapshot of the accepted deliveries, oldest first."""
        with self._lock:
            snapshot = list(self._deliveries)
        return [orjson.loads(line) for line in snapshot]

    def deliveries_json(self) -> bytes:
        """The accepted deliveries as one JSON array."""
        with self._lock:
            return b"[" + b",".join(self._deliveries) + b"]"

    def count_by_to(self) -> Counter[str]:
        """Accepted deliveries per recipient (kept even with `memory=False`)."""
        with self._lock:
            return Counter(self._by_to)

    def summary(self) -> dict[str, Any]:
        """Answers per status code, drops and deliveries."""
        with self._lock:
            counts = dict(self.counts)
            deliveries = self.seq
        return {
            "requests": sum(v for k, v in counts.items() if k.isdigit())
            + counts.get("dropped_before", 0)
            + counts.get("dropped_after", 0),
            "status": {k: v for k, v in sorted(counts.items()) if k.isdigit()},
            "dropped_before": counts.get("dropped_before", 0),
            "dropped_after": counts.get("dropped_after", 0),
            "deliveries": deliveries,
        }

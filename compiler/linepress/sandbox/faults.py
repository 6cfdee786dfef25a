"""The sandbox's fault injection: what to do wrong, and the seeded state that decides when.

`Faults` is the setting (what `--faults JSON` and `POST /sandbox/faults` carry);
`FaultPlan` is its state while the server runs: the seeded generator every random
choice comes from, and the counters of storms and every-Nth 429s. The same seed and the
same request order give the same faults.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

__all__ = ["FaultPlan", "Faults"]

_PROBABILITIES = frozenset({"rate_limit", "server_errors", "drop_before", "drop_after"})
_SECONDS = frozenset({"latency", "jitter"})
_COUNTS = frozenset({"rate_limit_every", "storm"})
_RATES = frozenset({"limit_rate", "limit_burst"})


@dataclass
class Faults:
    """What the sandbox does wrong, on purpose. The default does nothing wrong.

    Probabilities are per request to the send endpoint, drawn from the server's
    seeded generator; only the faults that are switched on draw a number. Each request
    meets them in this order: drop_before; 401 (bad credentials or unauthorized_after);
    429 (storm, every Nth, probability, then the token bucket); 500/503; 400 (not JSON,
    schema); recorded; drop_after; 200. Latency delays whatever the outcome is, drops
    included.
    """

    #: Probability of a 429 TOO_MANY_REQUESTS.
    rate_limit: float = 0.0
    #: Every Nth request gets a 429 (0: off).
    rate_limit_every: int = 0
    #: Seconds sent as `Retry-After` with each 429; None: no header (Infobip does not document one).
    retry_after: int | None = None
    #: The next K requests all get a 429 (counted from when these faults are set).
    storm: int = 0
    #: A token bucket, as Infobip and LINE limit an account: this many requests/s are
    #: admitted, the rest get a 429 (None: no limit). Set mid-run, the bucket keeps its
    #: tokens (up to the new burst), so a limit can change under a running sender.
    limit_rate: float | None = None
    #: The bucket's size: how many requests pass at once after a quiet spell. None: a
    #: tenth of a second of `limit_rate`, at least 1. It starts full.
    limit_burst: float | None = None
    #: Probability of a 500 or a 503 (half each).
    server_errors: float = 0.0
    #: Seconds added before answering, without blocking other connections.
    latency: float = 0.0
    #: Up to this many more seconds, uniformly drawn, on top of `latency`.
    jitter: float = 0.0
    #: Probability of closing the connection after reading the request, before accepting it:
    #: nothing is delivered.
    drop_before: float = 0.0
    #: Probability of recording the delivery, then closing without answering: delivered,
    #: but the client cannot know (Infobip has no idempotency key).
    drop_after: float = 0.0
    #: Once this many deliveries are accepted (since start or reset), every request gets
    #: 401: credentials revoked mid-run. None: never.
    unauthorized_after: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_fault(f.name, getattr(self, f.name))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from JSON-ish data; missing fields take their defaults.

        Raises ValueError on an unknown name or a value out of range.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"faults must be a JSON object, not {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown fault {key!r}{hint}; known: {', '.join(names)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_fault(name: str, value: object) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    integer = isinstance(value, int) and not isinstance(value, bool)
    if name in _PROBABILITIES:
        ok = number and 0.0 <= cast(float, value) <= 1.0
        expected = "a probability between 0 and 1"
    elif name in _SECONDS:
        ok = number and math.isfinite(cast(float, value)) and cast(float, value) >= 0
        expected = "a number of seconds >= 0"
    elif name in _RATES:
        finite = value is not None and number and math.isfinite(cast(float, value))
        if name == "limit_rate":
            ok = value is None or (finite and cast(float, value) > 0)
            expected = "null or a number of requests/s > 0"
        else:
            ok = value is None or (finite and cast(float, value) >= 1)
            expected = "null or a number of requests >= 1"
    elif name in _COUNTS:
        ok = integer and cast(int, value) >= 0
        expected = "an integer >= 0"
    else:  # retry_after, unauthorized_after
        ok = value is None or (integer and cast(int, value) >= 0)
        expected = "null or an integer >= 0"
    if not ok:
        raise ValueError(f"fault {name!r} must be {expected}, not {value!r}")


class FaultPlan:
    """The running state of `Faults`: the seeded generator and the 429 counters.

    Used on the server's loop thread only. `faults` and `rng` are read per request
    (the server draws from `rng` in the order `Faults` documents).
    """

    def __init__(
        self, faults: Faults, seed: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`clock`: seconds, for the token bucket (the server passes its loop's)."""
        self.faults = faults
        self.seed = seed
        self.rng = random.Random(seed)
        self.storm_left = faults.storm
        self._nth = 0
        self.clock = clock
        self._tokens = -1.0  # the bucket; < 0: full once a limit is set
        self._filled_at = 0.0

    def apply(self, faults: Faults, seed: int | None) -> None:
        """Replace the faults (restarting storm and every-Nth counts); optionally reseed.

        A token bucket carries on: refilled at the old rate until now, then the new.
        """
        if self.faults.limit_rate is not None and self._tokens >= 0:
            self._refill(self.clock())
        if faults.limit_rate is None:
            self._tokens = -1.0
        self.faults = faults
        self.storm_left = faults.storm
        self._nth = 0
        if seed is not None:
            self.seed = seed
            self.rng.seed(seed)

    def restart(self) -> None:
        """Reseed and restart the counters; the faults stay."""
        self.rng.seed(self.seed)
        self.storm_left = self.faults.storm
        self._nth = 0
        self._tokens = -1.0

    def limited(self) -> bool:
        """Whether this request gets a 429: a storm, every Nth, or by probability."""
        if self.storm_left > 0:
            self.storm_left -= 1
            return True
        faults = self.faults
        if faults.rate_limit_every:
            self._nth += 1
            if self._nth % faults.rate_limit_every == 0:
                return True
        if faults.rate_limit and self.rng.random() < faults.rate_limit:
            return True
        if faults.limit_rate is not None:
            self._refill(self.clock())
            if self._tokens < 1.0:
                return True
            self._tokens -= 1.0
        return False

    @property
    def burst(self) -> float:
        """The bucket's size for the current faults."""
        faults = self.faults
        if faults.limit_burst is not None:
            return faults.limit_burst
        return max(1.0, (faults.limit_rate or 0.0) / 10)

    def _refill(self, now: float) -> None:
        burst = self.burst
        if self._tokens < 0:
            self._tokens = burst
        else:
            added = (now - self._filled_at) * (self.faults.limit_rate or 0.0)
            self._tokens = min(burst, self._tokens + added)
        self._filled_at = now

    @property
    def tokens(self) -> float | None:
        """Tokens in the bucket now (None: no limit set)."""
        rate = self.faults.limit_rate
        if rate is None:
            return None
        if self._tokens < 0:
            return self.burst
        # Read-only (stats are read from other threads): what a refill would give.
        return min(self.burst, self._tokens + (self.clock() - self._filled_at) * rate)

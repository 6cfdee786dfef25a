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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

__all__ = ["FaultPlan", "Faults"]

_PROBABILITIES = frozenset({"rate_limit", "server_errors", "drop_before", "drop_after"})
_SECONDS = frozenset({"latency", "jitter"})
_COUNTS = frozenset({"rate_limit_every", "storm"})


@dataclass
class Faults:
    """What the sandbox does wrong, on purpose. The default does nothing wrong.

    Probabilities are per request to the send endpoint, drawn from the server's
    seeded generator; only the faults that are switched on draw a number. Each request
    meets them in this order: drop_before; 401 (bad credentials or unauthorized_after);
    429 (storm, every Nth, probability); 500/503; 400 (not JSON, schema); recorded;
    drop_after; 200. Latency delays whatever the outcome is, drops included.
    """

    #: Probability of a 429 TOO_MANY_REQUESTS.
    rate_limit: float = 0.0
    #: Every Nth request gets a 429 (0: off).
    rate_limit_every: int = 0
    #: Seconds sent as `Retry-After` with each 429; None: no header (Infobip does not document one).
    retry_after: int | None = None
    #: The next K requests all get a 429 (counted from when these faults are set).
    storm: int = 0
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

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.seed = seed
        self.rng = random.Random(seed)
        self.storm_left = faults.storm
        self._nth = 0

    def apply(self, faults: Faults, seed: int | None) -> None:
        """Replace the faults (restarting storm and every-Nth counts); optionally reseed."""
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
        return bool(faults.rate_limit) and self.rng.random() < faults.rate_limit

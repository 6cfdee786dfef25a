"""The outage breaker: stop a run when the endpoint itself is failing, and say why.

With the endpoint down (connection refused, a host name that does not resolve,
TLS spoken to a plain-HTTP port, connections cut after every request) each
message would fail the same way after its retries, for minutes, and the list
would end up `failed` or `unknown`. The breaker counts consecutive failures of
one kind with no answer in between; at `threshold` the run stops, the rest stay
`pending`, and the summary names the cause and what to check.

An HTTP answer shows the endpoint is up and resets the count, except a 5xx:
per-recipient failures (a 400, a 429) never trip it. 5xx answers of any status
(500, 502, 503, 504 ... mixed) with no 2xx between them are one kind of outage
(a server or a gateway failing every request): a 4xx in between neither counts
nor resets them, only a 2xx does. They trip with more patience (`SERVER_PATIENCE`
times the threshold), since a short blip of them is common and retried anyway.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import httpx

#: Consecutive failures of one kind, with no answer between them, that stop a run.
DEFAULT_THRESHOLD = 8
#: A gateway's 502/503/504 answers trip it at this many times the threshold.
SERVER_PATIENCE = 4
#: The kind every 5xx answer counts as (see the module text).
SERVER_FAILING = "HTTP 5xx from the endpoint"


def server_error(status: int) -> bool:
    """True for an answer that says the endpoint's servers fail, not the request (500-599)."""
    return 500 <= status <= 599


@dataclass(frozen=True, slots=True)
class Outage:
    """A kind of endpoint failure and what a person should check."""

    kind: str
    advice: str
    #: How many times the breaker's threshold it takes to trip on this kind.
    patience: int = 1


def server_down(status: int) -> Outage:
    """The outage a 5xx answer points at: one kind whatever the status (see the module text)."""
    return Outage(
        SERVER_FAILING,
        f"the endpoint (or a gateway before it) answers server errors to every request, "
        f"the last one {status}: check its status page",
        SERVER_PATIENCE,
    )


def classify(exc: BaseException, base_url: str) -> Outage | None:
    """The outage an exchange's failure points at, or None when it says nothing about the endpoint."""
    causes = _chain(exc)
    https = base_url.startswith("https://")
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Outage(
                "TLS certificate rejected",
                "the server's certificate is not valid for this host: check the base URL's host",
            )
        if isinstance(cause, ssl.SSLError):
            if "WRONG_VERSION_NUMBER" in str(cause) or "wrong version number" in str(cause):
                return Outage(
                    "TLS handshake answered in plain HTTP",
                    "the base URL says https:// but the server speaks plain http: "
                    "use http:// for it, or check the port",
                )
            return Outage("TLS handshake failed", "check the base URL's scheme, host and port")
        if isinstance(cause, socket.gaierror):
            return Outage(
                "host name not found (DNS)",
                "check the host in the base URL (INFOBIP_BASE_URL / --base-url) and the "
                "machine's DNS",
            )
        if isinstance(cause, ConnectionRefusedError):
            return Outage(
                "connection refused",
                "nothing listens at the base URL's host and port: check the port, and that "
                "the server is running" + (" (and that it speaks https)" if https else ""),
            )
    if isinstance(exc, httpx.ConnectTimeout):
        return Outage(
            "connection timed out",
            "the host does not answer: check the host and port, a firewall or a proxy",
        )
    if isinstance(exc, httpx.ConnectError):
        return Outage("cannot connect", "check the base URL's host and port")
    if isinstance(exc, httpx.TimeoutException):
        return Outage(
            "no answer in time",
            "the endpoint accepts requests but does not answer: check its status, or raise "
            "--timeout",
        )
    if isinstance(exc, httpx.TransportError):
        return Outage(
            "connection lost after sending",
            "the endpoint (or a proxy before it) cuts connections: check its status",
        )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


class Breaker:
    """Counts consecutive failures of one kind; trips at `threshold` (0: never)."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._kind: str | None = None
        self._count = 0
        self.tripped: Outage | None = None
        self._last: Outage | None = None

    def answered(self, status: int = 200) -> None:
        """A non-5xx HTTP answer came back: the endpoint is up. A 2xx ends a 5xx storm;
        another answer (a recipient's 4xx) leaves its count as it is."""
        if self._kind == SERVER_FAILING and not 200 <= status <= 299:
            return
        self._kind = None
        self._count = 0

    def failed(self, outage: Outage) -> bool:
        """Count one failure; True when this one trips the breaker."""
        self._last = outage
        if outage.kind != self._kind:
            self._kind, self._count = outage.kind, 0
        self._count += 1
        limit = self.threshold * outage.patience
        if self.threshold and self._count >= limit and self.tripped is None:
            self.tripped = outage
            return True
        return False

    def trip(self, base_url: str) -> str:
        """Trip now (requests went unanswered, see `Gate`); returns the stop reason."""
        self.tripped = (
            self.tripped
            or self._last
            or Outage(
                "no answer in time",
                "the endpoint accepts requests but does not answer: check its status, or raise "
                "--timeout",
            )
        )
        return self.reason(base_url)

    def reason(self, base_url: str) -> str:
        """The stop reason for the summary."""
        assert self.tripped is not None
        times = "once" if self._count == 1 else f"{self._count} times in a row"
        between = "2xx answer" if self.tripped.kind == SERVER_FAILING else "other answer"
        return (
            f"the endpoint {base_url} failed {times} "
            f"({self.tripped.kind}) with no {between} in between; {self.tripped.advice}. "
            "The rest stay pending: re-run the same command once it is reachable"
        )


class Gate:
    """Holds new requests back while the endpoint may be hanging, so few rows end `unknown`.

    A request that got no answer in time is `unknown`: a person must check it by hand
    (a connection cut after sending is fast, and the breaker's to count). So until the endpoint has answered once
    this run, one request goes out at a time (a probe); and after a request goes
    unanswered, no new request starts until an answer comes: those in flight finish;
    if they all went unanswered, one more probe goes out alone, and when it too goes
    unanswered (`UNANSWERED_TO_STOP` in a row) the run stops (`leave` says True).
    An endpoint that never answers thus leaves 2 rows `unknown` when it hangs from
    the start, and at most the concurrency (plus one probe) when it hangs mid-run.

    Cheap when all is well: `open` is one attribute read per request.
    """

    def __init__(self) -> None:
        #: True when a request may start now (see the class text).
        self.open = True
        self._answered = False
        self._unanswered = 0  # requests in a row that went unanswered
        self.in_flight = 0

    def enter(self) -> None:
        """A request starts."""
        self.in_flight += 1
        self._update()

    def leave(self, *, answered: bool, unanswered: bool) -> bool:
        """A request ended: with an HTTP answer, or unanswered (`unknown`), or neither (it
        never went out). True when the run should stop: the endpoint does not answer."""
        self.in_flight -= 1
        if answered:
            self._answered, self._unanswered = True, 0
        elif unanswered:
            self._unanswered += 1
        self._update()
        return self._unanswered >= UNANSWERED_TO_STOP and self.in_flight == 0

    def _update(self) -> None:
        if self._unanswered:  # suspect: a lone probe once the others are done
            self.open = self.in_flight == 0 and self._unanswered < UNANSWERED_TO_STOP
        else:  # until the first answer, one at a time
            self.open = self._answered or self.in_flight == 0


#: Unanswered requests in a row, the last one alone in flight, that stop a run.
UNANSWERED_TO_STOP = 2

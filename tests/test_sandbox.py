"""The sandbox: Infobip's answers, recorded deliveries, injected faults, raw HTTP/1.1."""

from __future__ import annotations

import base64
import copy
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from linepress.sandbox.faults import FaultPlan
from linepress.sandbox.server import (
    MAX_BODY,
    Faults,
    SandboxServer,
    running_sandbox,
)
from linepress.validate.body import body_validator
from linepress.validate.request_check import RequestChecker, _kind_validators

BODIES = Path(__file__).parent / "data" / "doc-bodies"
SEND = "/line/1/single"
KEY = "sandbox-key"
AUTH = {"Authorization": f"App {KEY}"}


def text_body(to: str = "user-1", text: str = "Hello") -> dict[str, Any]:
    return {
        "from": "8F0792F86035A9F4290821F1EE6BC06A",
        "to": to,
        "message": {"type": "TEXT", "text": text},
    }


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox() as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=AUTH, timeout=5) as http:
        yield http


def send(http: httpx.Client, to: str = "user-1", **kwargs: Any) -> httpx.Response:
    return http.post(SEND, json=text_body(to), **kwargs)


def statuses(http: httpx.Client, count: int) -> list[int]:
    return [send(http, f"user-{i}").status_code for i in range(count)]


# --- the endpoint as Infobip documents it -------------------------------------------


def test_a_valid_body_is_accepted_and_recorded(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    response = client.post(SEND, json=text_body("user-7"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["to"] == "user-7"
    assert answer["messageCount"] == 1
    assert answer["status"]["name"] == "PENDING_ACCEPTED"
    assert answer["status"]["groupName"] == "PENDING"
    [delivery] = sandbox.deliveries
    assert delivery["seq"] == 1
    assert delivery["message_id"] == answer["messageId"]
    assert delivery["to"] == "user-7"
    assert delivery["body"] == text_body("user-7")
    assert delivery["received_at"].endswith("+00:00")
    assert sandbox.count_by_to() == {"user-7": 1}


def test_message_ids_are_unique(client: httpx.Client) -> None:
    ids = {send(client, f"u{i}").json()["messageId"] for i in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    "authorization",
    [None, "App wrong-key", f"App {KEY}x", f"Bearer {KEY}", KEY, "Basic " + "x" * 8, "Basic !!"],
)
def test_wrong_or_missing_credentials_get_401(
    sandbox: SandboxServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=sandbox.url, timeout=5) as http:
        response = http.post(SEND, json=text_body(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "requestError": {
            "serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}
        }
    }
    assert KEY not in response.text
    assert KEY not in str(response.headers)
    assert sandbox.deliveries == []


def test_basic_credentials_are_checked() -> None:
    good = base64.b64encode(b"ann:s3cret").decode()
    bad = base64.b64encode(b"ann:wrong").decode()
    with (
        running_sandbox(basic=("ann", "s3cret")) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        assert (
            http.post(
                SEND, json=text_body(), headers={"Authorization": f"Basic {good}"}
            ).status_code
            == 200
        )
        assert http.post(SEND, json=text_body(), auth=("ann", "s3cret")).status_code == 200
        refused = http.post(SEND, json=text_body(), headers={"Authorization": f"Basic {bad}"})
        assert refused.status_code == 401
        assert "s3cret" not in refused.text and good not in refused.text
        # The App key still works alongside Basic.
        assert http.post(SEND, json=text_body(), headers=AUTH).status_code == 200


def test_no_credentials_configured_means_no_auth() -> None:
    with running_sandbox(api_key=None) as server, httpx.Client(base_url=server.url) as http:
        assert http.post(SEND, json=text_body()).status_code == 200
        assert "no authentication" in server.auth_summary


def test_a_schema_invalid_body_gets_400_with_validation_errors(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    response = client.post(SEND, json=text_body(text="x" * 5001))
    assert response.status_code == 400
    exception = response.json()["requestError"]["serviceException"]
    assert exception["messageId"] == "BAD_REQUEST"
    assert list(exception["validationErrors"]) == ["message.text"]
    assert exception["validationErrors"]["message.text"][0].startswith("must be at most 5000")
    assert sandbox.deliveries == []


def test_several_problems_are_all_reported(client: httpx.Client) -> None:
    body = text_body()
    del body["from"]
    body["message"]["colour"] = "red"
    errors = client.post(SEND, json=body).json()["requestError"]["serviceException"][
        "validationErrors"
    ]
    assert errors["body"] == ["required property 'from' is missing"]
    assert "unknown property 'colour'" in errors["message.colour"][0]


@pytest.mark.parametrize("raw", [b"{not json", b"", '{"to": "\u00e9"}'.encode("latin-1")])
def test_a_body_that_is_not_json_gets_400(
    sandbox: SandboxServer, client: httpx.Client, raw: bytes
) -> None:
    response = client.post(SEND, content=raw)
    assert response.status_code == 400
    assert response.json() == {
        "requestError": {
            "serviceException": {
                "messageId": "BAD_REQUEST",
                "text": "Bad request",
                "validationErrors": {},
            }
        }
    }
    assert sandbox.deliveries == []


def test_the_fast_check_agrees_with_the_full_validator() -> None:
    # The sandbox skips the full request check for valid bodies; every verdict must match.
    checker, full = RequestChecker(), body_validator()
    cases = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(BODIES.glob("*.json"))]
    for body in list(cases):
        cases.extend(_mutations(body))
    cases += [[], "x", None, {"from": "a", "to": "b", "message": {"type": ["TEXT"]}}]
    verdicts = []
    for case in cases:
        expected = full.issues(case) == []
        verdicts.append(expected)
        assert checker.accepts(case) == expected, case
        if expected:  # again: now answered from the verdict cache
            assert checker.accepts(case), case
    assert 20 < verdicts.count(True) < len(verdicts)  # both kinds were tried


def test_the_fast_check_is_active_for_every_kind() -> None:
    # Without it every valid body pays the full check (~200 µs instead of ~30 µs for TEXT);
    # it switches itself off when the request or message schema changes shape.
    kinds = {"TEXT", "IMAGE", "VIDEO", "AUDIO", "LOCATION", "STICKER", "IMAGEMAP", "TEMPLATE"}
    assert set(_kind_validators()) == kinds


def _mutations(body: Any) -> Iterator[Any]:
    """The body with one value replaced, one key removed or one unknown key added."""
    for path in _paths(body):
        replacements: tuple[Any, ...] = ("", "x" * 6000, None, {})
        for value in replacements:
            changed = copy.deepcopy(body)
            _set(changed, path, value)
            yield changed
        if isinstance(path[-1], str):
            removed = copy.deepcopy(body)
            del _get(removed, path[:-1])[path[-1]]
            yield removed
    extra = copy.deepcopy(body)
    extra["message"]["surprise"] = 1
    yield extra
    extra = copy.deepcopy(body)
    extra["surprise"] = 1
    yield extra


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    _get(value, path[:-1])[path[-1]] = new


# --- faults ------------------------------------------------------------------------


def test_429_with_retry_after() -> None:
    faults = Faults(rate_limit=1.0, retry_after=7)
    with (
        running_sandbox(faults=faults) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        response = send(http)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["requestError"]["serviceException"]["messageId"] == "TOO_MANY_REQUESTS"
    assert server.deliveries == []


def test_429_without_retry_after() -> None:
    with (
        running_sandbox(faults=Faults(rate_limit=1.0)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        response = send(http)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_a_storm_rate_limits_the_next_k_requests() -> None:
    with (
        running_sandbox(faults=Faults(storm=3)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        assert statuses(http, 5) == [429, 429, 429, 200, 200]
        assert server.stats["storm_left"] == 0


def test_every_nth_request_is_rate_limited() -> None:
    with (
        running_sandbox(faults=Faults(rate_limit_every=3)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        assert statuses(http, 7) == [200, 200, 429, 200, 200, 429, 200]


def test_rate_limit_probability_is_roughly_respected() -> None:
    with (
        running_sandbox(faults=Faults(rate_limit=0.3), seed=3) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        limited = statuses(http, 200).count(429)
    assert 30 <= limited <= 90


def test_server_errors_are_500_or_503_and_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[int]:
        with (
            running_sandbox(faults=Faults(server_errors=0.5), seed=seed) as server,
            httpx.Client(base_url=server.url, headers=AUTH) as http,
        ):
            codes = statuses(http, 60)
            assert len(server.deliveries) == codes.count(200)
            return codes

    first = run(seed=42)
    assert set(first) == {200, 500, 503}
    assert 15 <= first.count(200) <= 45
    assert run(seed=42) == first
    assert run(seed=43) != first


def test_latency_is_applied_without_blocking_other_connections() -> None:
    with running_sandbox(faults=Faults(latency=0.3)) as server:
        started = time.monotonic()
        with httpx.Client(base_url=server.url, headers=AUTH) as http:
            assert send(http).status_code == 200
        assert time.monotonic() - started >= 0.28

        results: list[int] = []
        # Clients made before the clock starts: making one (its TLS context) takes
        # longer than the latency on a busy machine, and is not what is measured.
        clients = [httpx.Client(base_url=server.url, headers=AUTH) for _ in range(8)]

        def one(i: int) -> None:
            with clients[i] as http:
                results.append(send(http, f"user-{i}").status_code)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Eight in parallel take about one latency (0.3 s), not eight (2.4 s).
        assert time.monotonic() - started < 1.6
        assert results == [200] * 8


def test_drop_before_closes_without_delivering() -> None:
    with (
        running_sandbox(faults=Faults(drop_before=1.0)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        with pytest.raises(httpx.TransportError):
            send(http)
        assert server.deliveries == []
        assert server.stats["dropped_before"] == 1


def test_drop_after_delivers_then_closes_without_answering() -> None:
    with (
        running_sandbox(faults=Faults(drop_after=1.0)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        with pytest.raises(httpx.TransportError):
            send(http, "user-9")
        assert server.count_by_to() == {"user-9": 1}
        assert server.stats["dropped_after"] == 1


def test_credentials_are_revoked_after_n_deliveries() -> None:
    with (
        running_sandbox(faults=Faults(unauthorized_after=2)) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        assert statuses(http, 4) == [200, 200, 401, 401]
        assert len(server.deliveries) == 2


def test_faults_change_at_runtime_over_http(sandbox: SandboxServer, client: httpx.Client) -> None:
    assert send(client).status_code == 200
    changed = client.post("/sandbox/faults", json={"rate_limit": 1.0, "retry_after": 2})
    assert changed.status_code == 200
    assert changed.json()["rate_limit"] == 1.0
    assert client.get("/sandbox/faults").json() == Faults(rate_limit=1.0, retry_after=2).to_dict()
    limited = send(client)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert sandbox.faults == Faults(rate_limit=1.0, retry_after=2)

    refused = client.post("/sandbox/faults", json={"rate_limt": 1})
    assert refused.status_code == 400
    assert "did you mean 'rate_limit'" in refused.json()["error"]
    assert client.post("/sandbox/faults", json={"drop_after": 2}).status_code == 400
    assert client.post("/sandbox/faults", content=b"[").status_code == 400

    assert client.post("/sandbox/faults", json={}).status_code == 200
    assert send(client).status_code == 200


def test_runtime_seed_makes_faults_reproducible(client: httpx.Client) -> None:
    def run() -> list[int]:
        client.post("/sandbox/faults", json={"server_errors": 0.5, "seed": 7})
        return statuses(client, 30)

    assert run() == run()


def test_faults_change_from_python(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.set_faults(Faults(storm=1))
    assert statuses(client, 2) == [429, 200]


def test_faults_from_dict_checks_names_and_ranges() -> None:
    assert Faults.from_dict({}) == Faults()
    faults = Faults(rate_limit=0.1, retry_after=3, latency=0.5, unauthorized_after=10)
    assert Faults.from_dict(faults.to_dict()) == faults
    for bad in (
        {"rate_limit": 1.5},
        {"latency": -1},
        {"storm": 1.5},
        {"retry_after": True},
        {"nope": 1},
    ):
        with pytest.raises(ValueError):
            Faults.from_dict(bad)
    with pytest.raises(ValueError):
        Faults.from_dict([])  # type: ignore[arg-type]


# --- records -------------------------------------------------------------------------


def test_deliveries_are_written_as_jsonl(tmp_path: Path) -> None:
    record = tmp_path / "deliveries.jsonl"
    with (
        running_sandbox(record_path=record) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        send(http, "a")
        send(http, "b")
        # Flushed per delivery: readable while the sandbox still runs.
        lines = [json.loads(line) for line in record.read_text().splitlines()]
        assert lines == server.deliveries
        assert [line["to"] for line in lines] == ["a", "b"]
        http.post("/sandbox/reset")
        assert record.read_text() == ""
        send(http, "c")
    assert [json.loads(line)["to"] for line in record.read_text().splitlines()] == ["c"]


def test_control_endpoints(sandbox: SandboxServer, client: httpx.Client) -> None:
    send(client, "a")
    client.post(SEND, json={"nope": 1})
    deliveries = client.get("/sandbox/deliveries").json()
    assert [d["to"] for d in deliveries] == ["a"]
    stats = client.get("/sandbox/stats").json()
    assert stats["status"] == {"200": 1, "400": 1}
    assert stats["requests"] == 2
    assert stats["deliveries"] == 1
    assert client.post("/sandbox/reset").json() == {"reset": True}
    assert client.get("/sandbox/deliveries").json() == []
    assert client.get("/sandbox/stats").json()["status"] == {}
    assert sandbox.count_by_to() == {}
    # Sequence numbers restart after a reset.
    send(client, "b")
    assert sandbox.deliveries[0]["seq"] == 1


def test_memory_off_still_counts(tmp_path: Path) -> None:
    with (
        running_sandbox(memory=False) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as http,
    ):
        send(http, "a")
        send(http, "a")
        assert server.deliveries == []
        assert server.count_by_to() == {"a": 2}


# --- connections ----------------------------------------------------------------------


def test_keep_alive_many_requests_over_one_connection(
    sandbox: SandboxServer, client: httpx.Client
) -> None:
    assert statuses(client, 200) == [200] * 200
    assert sandbox.stats["connections"] == 1
    assert len(sandbox.deliveries) == 200


def test_two_concurrent_clients(sandbox: SandboxServer) -> None:
    def run(name: str) -> None:
        with httpx.Client(base_url=sandbox.url, headers=AUTH) as http:
            for i in range(50):
                assert send(http, f"{name}-{i % 5}").status_code == 200

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = sandbox.count_by_to()
    assert sum(counts.values()) == 100
    assert all(counts[f"{name}-{i}"] == 10 for name in "ab" for i in range(5))
    assert sandbox.stats["connections"] == 2
    assert [d["seq"] for d in sandbox.deliveries] == list(range(1, 101))


# --- raw HTTP/1.1 ----------------------------------------------------------------------


def request(body: bytes = b"", *, method: str = "POST", path: str = SEND, extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: App {KEY}\r\n{extra}"
    if method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def valid(to: str = "user-1") -> bytes:
    return request(json.dumps(text_body(to)).encode())


def read_responses(
    sock: socket.socket, count: int
) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """`count` responses (fewer if the server closes), and whether it closed after them."""
    sock.settimeout(5)
    buffer = b""
    responses: list[tuple[int, dict[str, str], bytes]] = []
    while len(responses) < count:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            lines = buffer[:end].decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers.get("Content-Length", 0))
            if len(buffer) >= end + 4 + length:
                status = int(lines[0].split()[1])
                responses.append((status, headers, buffer[end + 4 : end + 4 + length]))
                buffer = buffer[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            return responses, True
        buffer += chunk
    sock.settimeout(0.2)
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    return responses, closed


def talk(
    server: SandboxServer, *chunks: bytes, count: int = 1
) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(0.005)  # separate reads on the server side
        return read_responses(sock, count)


def test_pipelined_requests_are_answered_in_order(sandbox: SandboxServer) -> None:
    responses, closed = talk(sandbox, valid("a") + valid("b") + valid("c"), count=3)
    assert [json.loads(body)["to"] for _, _, body in responses] == ["a", "b", "c"]
    assert not closed


def test_pipelined_answers_keep_their_order_under_jitter() -> None:
    with running_sandbox(faults=Faults(latency=0.01, jitter=0.1), seed=5) as server:
        names = [f"u{i}" for i in range(10)]
        responses, _ = talk(server, b"".join(valid(n) for n in names), count=10)
    assert [json.loads(body)["to"] for _, _, body in responses] == names


def test_a_request_split_across_reads(sandbox: SandboxServer) -> None:
    data = valid("split") + valid("next")
    pieces = [data[i : i + 29] for i in range(0, len(data), 29)]
    responses, _ = talk(sandbox, *pieces, count=2)
    assert [status for status, _, _ in responses] == [200, 200]
    assert [d["to"] for d in sandbox.deliveries] == ["split", "next"]


def test_connection_close_is_honoured(sandbox: SandboxServer) -> None:
    data = request(json.dumps(text_body()).encode(), extra="Connection: close\r\n")
    responses, closed = talk(sandbox, data + valid("ignored"), count=2)
    assert [status for status, _, _ in responses] == [200]
    assert responses[0][1]["Connection"] == "close"
    assert closed
    assert len(sandbox.deliveries) == 1


def test_http_1_0_closes_unless_keep_alive(sandbox: SandboxServer) -> None:
    body = json.dumps(text_body()).encode()
    head = f"POST {SEND} HTTP/1.0\r\nAuthorization: App {KEY}\r\nContent-Length: {len(body)}\r\n"
    responses, closed = talk(sandbox, head.encode() + b"\r\n" + body)
    assert responses[0][0] == 200 and closed
    keep = head.encode() + b"Connection: keep-alive\r\n\r\n" + body
    responses, closed = talk(sandbox, keep)
    assert responses[0][1]["Connection"] == "keep-alive" and not closed


@pytest.mark.parametrize(
    "data",
    [
        b"POST /line/1/single\r\n\r\n",
        b"POST /line/1/single HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"POST /line/1/single HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"POST /line/1/single HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST /line/1/single HTTP/1.1\r\n folded: header\r\n\r\n",
        b"POST /line/1/single SPDY/3\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
    ],
    ids=["no-version", "no-colon", "bad-length", "two-lengths", "obs-fold", "not-http", "tls"],
)
def test_malformed_requests_get_400_and_a_close(sandbox: SandboxServer, data: bytes) -> None:
    responses, closed = talk(sandbox, data)
    assert [status for status, _, _ in responses] == [400]
    assert closed


def test_unknown_path_404_wrong_method_405(sandbox: SandboxServer) -> None:
    responses, closed = talk(
        sandbox,
        request(method="GET", path="/nope")
        + request(method="GET")
        + request(method="GET", path="/sandbox/reset"),
        count=3,
    )
    assert [status for status, _, _ in responses] == [404, 405, 405]
    assert responses[1][1]["Allow"] == "POST"
    assert not closed


def test_post_without_content_length_gets_411(sandbox: SandboxServer) -> None:
    responses, closed = talk(sandbox, f"POST {SEND} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert [status for status, _, _ in responses] == [411]
    assert closed
    chunked = f"POST {SEND} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    responses, closed = talk(sandbox, chunked.encode())
    assert [status for status, _, _ in responses] == [411]


def test_control_posts_need_no_body_or_length(sandbox: SandboxServer) -> None:
    # `curl -X POST http://127.0.0.1:8080/sandbox/reset`: no body, no Content-Length.
    responses, _ = talk(sandbox, b"POST /sandbox/reset HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [status for status, _, _ in responses] == [200]


def test_a_body_over_the_limit_gets_413(sandbox: SandboxServer) -> None:
    head = f"POST {SEND} HTTP/1.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    responses, closed = talk(sandbox, head.encode())
    assert [status for status, _, _ in responses] == [413]
    assert closed


def test_the_sandbox_command_takes_faults(tmp_path: Path) -> None:
    record = tmp_path / "r.jsonl"
    command = [sys.executable, "-m", "linepress", "sandbox", "--port", "0", "--record", str(record)]
    command += ["--faults", '{"storm": 1}']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split("listening on ", 1)[1].split()[0]
        with httpx.Client(base_url=url, headers=AUTH) as http:
            assert statuses(http, 2) == [429, 200]
        assert json.loads(record.read_text())["to"] == "user-1"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_expect_100_continue(sandbox: SandboxServer) -> None:
    body = json.dumps(text_body()).encode()
    head = request(body, extra="Expect: 100-continue\r\n")[: -len(body)]
    with socket.create_connection(("127.0.0.1", sandbox.port)) as sock:
        sock.sendall(head)
        sock.settimeout(5)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        responses, _ = read_responses(sock, 1)
    assert responses[0][0] == 200


def test_a_half_closed_client_still_gets_delayed_answers() -> None:
    with (
        running_sandbox(faults=Faults(latency=0.1)) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.sendall(valid())
        sock.shutdown(socket.SHUT_WR)
        responses, closed = read_responses(sock, 1)
    assert [status for status, _, _ in responses] == [200]
    assert closed


# --- the command's entry point ------------------------------------------------------------


def test_serve_prints_one_line_without_the_key_and_stops_on_sigterm() -> None:
    code = "from linepress.sandbox.server import serve; serve('127.0.0.1', 0, api_key='top-secret-key')"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("linepress sandbox listening on http://127.0.0.1:")
        assert "(POST /line/1/single, API key: set)" in line
        assert "top-secret-key" not in line
        url = line.split("listening on ", 1)[1].split()[0]
        assert (
            httpx.post(
                url + SEND, json=text_body(), headers={"Authorization": "App top-secret-key"}
            ).status_code
            == 200
        )
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out == ""


def test_a_busy_port_or_bad_record_path_raises(sandbox: SandboxServer, tmp_path: Path) -> None:
    with pytest.raises(OSError), running_sandbox(port=sandbox.port):
        pass
    with pytest.raises(OSError), running_sandbox(record_path=tmp_path / "missing" / "r.jsonl"):
        pass


# -- the rate limit: a token bucket ----------------------------------------------


def test_the_token_bucket_admits_its_burst_then_its_rate() -> None:
    clock = [0.0]
    plan = FaultPlan(Faults(limit_rate=10, limit_burst=5), seed=0, clock=lambda: clock[0])
    assert [plan.limited() for _ in range(6)] == [False] * 5 + [True]
    clock[0] += 0.1  # one token back
    assert [plan.limited() for _ in range(2)] == [False, True]
    clock[0] += 10.0  # a quiet spell refills it, up to the burst
    assert plan.tokens == 5
    # Changed mid-run: the bucket keeps what it holds, now refilled at the new rate.
    plan.apply(Faults(limit_rate=1, limit_burst=2), seed=None)
    assert [plan.limited() for _ in range(3)] == [False, False, True]
    clock[0] += 1.0
    assert [plan.limited() for _ in range(2)] == [False, True]


def test_the_default_burst_is_a_tenth_of_a_second() -> None:
    plan = FaultPlan(Faults(limit_rate=200), seed=0, clock=lambda: 0.0)
    assert sum(not plan.limited() for _ in range(50)) == 20


@pytest.mark.parametrize("retry_after", [None, 1])
def test_the_sandbox_answers_429_beyond_its_bucket(
    sandbox: SandboxServer, retry_after: int | None
) -> None:
    faults = {"limit_rate": 0.001, "limit_burst": 3, "retry_after": retry_after}
    with httpx.Client(base_url=sandbox.url, headers=AUTH) as client:
        assert client.post("/sandbox/faults", json=faults).status_code == 200
        answers = [client.post(SEND, json=text_body(f"u{i}")) for i in range(5)]
        stats = client.get("/sandbox/stats").json()
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].json()["requestError"]["serviceException"]["messageId"] == (
        "TOO_MANY_REQUESTS"
    )
    expected = None if retry_after is None else "1"
    assert answers[3].headers.get("retry-after") == expected
    assert stats["deliveries"] == 3
    assert stats["limit_tokens"] < 1


@pytest.mark.parametrize("bad", [{"limit_rate": 0}, {"limit_rate": -5}, {"limit_burst": 0.5}])
def test_a_bad_rate_limit_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="limit_"):
        Faults.from_dict(bad)


def test_the_sandbox_command_takes_a_rate_limit() -> None:
    from click.testing import CliRunner

    from linepress.cli.main import main

    result = CliRunner().invoke(main, ["sandbox", "--limit-rate", "0", "--port", "0"])
    assert result.exit_code == 2
    assert "--limit-rate" in result.output

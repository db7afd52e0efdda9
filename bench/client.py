"""The Python client's cost: its overhead per call over the raw HTTP round trip, and its HTTP calls per operation.

Overhead: each operation of `sessions_client.SessionsClient` against a stub transport answering at
once with realistic bodies (a session, an event, a 20-event history page, a 20-session list), side
by side with the raw call: the very request the client sent (same method, URL, headers, body bytes),
sent with a bare `httpx.Client` on the same transport, its JSON parsed (`response.json()`, what any
caller does). The difference is what the client adds: building the request, the Idempotency-Key,
auth headers, the retry loop, and pydantic models. Rounds interleave both, in a shuffled order.
Target: at most 0.5 ms per call. The operations include the batch append, one event, a rewind and app state.

Calls per operation: the same operations against the dev server (`python -m local`), every HTTP
request counted under the client; on success there are no retries, so each operation is one call.
The round trip there is reported with the raw request's beside it, for scale.
"""

from __future__ import annotations

import functools
import json
import random
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sessions_client import DevIdentity, SessionsClient

from bench.common import median, percentile, table, verdict
from local.api.inprocess import CountingTransport
from local.launcher import launch_dev_server

TARGET_US = 500.0
BATCH = 50  # calls of one variant in a row, before the other's turn
NOW = "2026-01-02T03:04:05.678Z"
SESSION: dict[str, Any] = {
    "session_id": "3f0c8d7e-5a1b-4c2d-9e8f-7a6b5c4d3e2f",
    "tenant_id": "acme",
    "user_id": "u-bench",
    "app_name": "code-assistant",
    "agent_id": "reviewer-7",
    "session_type": "conversation",
    "title": "Code review of the billing service",
    "status": "active",
    "context": {"repository": "billing", "branch": "main", "files": ["a.py", "b.py"], "temperature": 0.2},
    "checkpoint": None,
    "metadata": {"team": "payments", "ticket": "PAY-1234"},
    "runtime_backend": "lambda",
    "runtime_metadata": {},
    "token_budget": 200000,
    "usage": {"tokens_used": 1200, "cost_usd": 0.02, "event_count": 10, "task_count": 1},
    "created_at": NOW,
    "updated_at": NOW,
    "last_active_at": NOW,
    "expires_at": NOW,
    "version": 12,
}
SUMMARY = {key: value for key, value in SESSION.items() if key not in {"context", "checkpoint"}}


def _event(seq: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=seq)),
        "seq": seq,
        "created_at": NOW,
        "timestamp": NOW,
        "type": "message",
        "role": "user" if seq % 2 else "assistant",
        "content": "Please review the invoice module next, and check the rounding of the totals.",
        "usage": {"tokens": 120, "cost_usd": 0.002, "duration_ms": 850},
        "metadata": {"model": "m-1"},
    }


ANSWERS: dict[tuple[str, str], tuple[int, Any]] = {
    ("POST", "/v1/sessions"): (201, SESSION),
    ("GET", "/v1/sessions/s-1"): (200, SESSION),
    ("PATCH", "/v1/sessions/s-1"): (200, SESSION),
    ("DELETE", "/v1/sessions/s-1"): (204, None),
    ("GET", "/v1/sessions"): (200, {"sessions": [SUMMARY] * 20, "next_cursor": "c" * 200}),
    ("POST", "/v1/sessions/s-1/events"): (201, _event(11)),
    ("GET", "/v1/sessions/s-1/history"): (
        200,
        {"session_id": "s-1", "events": [_event(seq) for seq in range(1, 21)], "next_cursor": None, "total": 20},
    ),
    ("POST", "/v1/sessions/s-1/events#batch"): (201, {"events": [_event(seq) for seq in range(11, 16)]}),
    ("GET", "/v1/sessions/s-1/events/11"): (200, _event(11)),
    ("DELETE", "/v1/sessions/s-1/events"): (200, {"removed": 5, "from_seq": 11, "version": 13}),
    ("PATCH", "/v1/apps/code-assistant/state"): (
        200,
        {"app_name": "code-assistant", "state": {"model": "m-1"}, "version": 4, "updated_at": NOW},
    ),
    ("GET", "/v1/sessions/stats"): (
        200,
        {
            "scope": "user",
            "sessions": {"active": 3, "paused": 1, "completed": 7, "crashed": 0},
            "created_total": 11,
            "deleted_total": 0,
            "expired_total": 0,
            "events_total": 140,
            "tokens_used_total": 16000,
            "cost_usd_total": 0.3,
            "computed_at": NOW,
        },
    ),
}


class StubTransport(httpx.BaseTransport):
    """Answers at once from ANSWERS (bodies serialized once); keeps the last request."""

    def __init__(self) -> None:
        self.bodies = {
            route: (status, json.dumps(body).encode() if body is not None else b"")
            for route, (status, body) in ANSWERS.items()
        }
        self.last: httpx.Request | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.last = request
        route = (request.method, request.url.path)
        if route == ("POST", "/v1/sessions/s-1/events") and request.content.startswith(b'{"events"'):
            route = ("POST", "/v1/sessions/s-1/events#batch")
        status, body = self.bodies[route]
        headers = {"content-type": "application/json", "etag": '"12"'} if body else {}
        return httpx.Response(status, headers=headers, content=body)


Operation = Callable[[SessionsClient], Any]
OPERATIONS: dict[str, Operation] = {
    "create": lambda c: c.create_session(title="Code review", app_name="code-assistant", context={"step": 1}),
    "get": lambda c: c.get_session("s-1"),
    "update": lambda c: c.update_session("s-1", if_match=12, context={"step": 2}),
    "append": lambda c: c.append_event("s-1", type="message", role="user", content="Next file, please."),
    "append 5 (batch)": lambda c: c.append_events("s-1", [{"type": "message", "content": "Next file."}] * 5),
    "get event": lambda c: c.get_event("s-1", 11),
    "rewind": lambda c: c.delete_events("s-1", 11),
    "app state patch": lambda c: c.update_app_state("code-assistant", {"model": "m-1"}),
    "history (20 events)": lambda c: c.get_history("s-1"),
    "list (20 sessions)": lambda c: c.list_sessions(limit=20),
    "stats": lambda c: c.get_stats(),
    "delete": lambda c: c.delete_session("s-1"),
}


def bare_client(transport: httpx.BaseTransport) -> httpx.Client:
    """An httpx client adding no header of its own (accept-encoding, connection): the raw call sends the client's."""
    http = httpx.Client(transport=transport)
    http.headers.clear()
    return http


def _raw_call(http: httpx.Client, request: httpx.Request) -> Callable[[], Any]:
    """The client's request sent bare, its JSON parsed: the baseline."""
    method, url, body, headers = request.method, str(request.url), request.content, dict(request.headers)

    def call() -> Any:
        response = http.request(method, url, content=body, headers=headers)
        return response.json() if response.content else None

    return call


def overhead(iterations: int) -> dict[str, Any]:
    transport = StubTransport()
    client = SessionsClient("http://bench.invalid", transport=transport, identity=DevIdentity("u-bench", "acme"))
    http = bare_client(transport)
    per_round, rounds = BATCH, max(10, iterations // BATCH)
    figures: dict[str, Any] = {}
    rows: list[list[object]] = []
    for name, operation in OPERATIONS.items():
        operation(client)
        assert transport.last is not None
        raw = _raw_call(http, transport.last)
        variants: dict[str, Callable[[], Any]] = {"client": functools.partial(operation, client), "raw": raw}
        samples: dict[str, list[float]] = {"client": [], "raw": []}
        for _ in range(per_round):  # warm-up
            variants["client"]()
            variants["raw"]()
        for _ in range(rounds):
            for variant in random.sample(list(variants), k=2):
                call = variants[variant]
                started = time.perf_counter()
                for _ in range(per_round):
                    call()
                samples[variant].append((time.perf_counter() - started) / per_round * 1e6)
        client_us, raw_us = median(samples["client"]), median(samples["raw"])
        added = client_us - raw_us
        figures[name] = {
            "client_us": client_us,
            "raw_us": raw_us,
            "overhead_us": added,
            "samples": {variant: len(timed) for variant, timed in samples.items()},  # each a median's
        }
        rows.append([name, raw_us, client_us, added, percentile(samples["client"], 0.95), verdict(added <= TARGET_US)])
    headers = ["operation (µs per call)", "raw httpx + json", "client", "overhead", "client p95", "≤ 500 µs"]
    print(table(headers, rows, title="Client overhead over the raw HTTP call (stub transport answering at once)"))
    figures["max_overhead_us"] = max(item["overhead_us"] for item in figures.values())
    figures["target_us"] = TARGET_US
    figures["rounds"] = rounds
    return figures


@dataclass
class Measured:
    client_ms: list[float]
    raw_ms: list[float]
    calls: list[int]


def against_dev_server(samples: int) -> dict[str, Any]:
    """Each operation against the dev server: HTTP calls counted under the client, and its round trip."""
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir))
        try:
            return _measure_dev_server(server.api_url, samples)
        finally:
            server.stop(signal.SIGINT)


def _measure_dev_server(url: str, samples: int) -> dict[str, Any]:
    counting = CountingTransport(httpx.HTTPTransport())
    identity = DevIdentity(f"u-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}", ("service",))
    client = SessionsClient(url, identity=identity, transport=counting)
    http = httpx.Client(base_url=url, headers=identity.headers())
    session = client.create_session(title="bench", app_name="bench-app")
    sid = session.session_id
    for _ in range(3):  # execution environments start on first use, as in Lambda
        client.get_session(sid)
        client.append_event(sid, type="message", content="warm-up")
    operations: dict[str, tuple[Operation, Callable[[], httpx.Response]]] = {
        "get": (lambda c: c.get_session(sid), lambda: http.get(f"/v1/sessions/{sid}")),
        "update": (
            lambda c: c.update_session(sid, context={"step": random.random()}),
            lambda: http.patch(f"/v1/sessions/{sid}", json={"context": {"step": random.random()}}),
        ),
        "append": (
            lambda c: c.append_event(sid, type="message", content="Next file, please."),
            lambda: http.post(
                f"/v1/sessions/{sid}/events",
                json={"type": "message", "content": "Next file, please."},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ),
        ),
        "append 5 (batch)": (
            lambda c: c.append_events(sid, [{"type": "message", "content": "Next file."}] * 5),
            lambda: http.post(
                f"/v1/sessions/{sid}/events",
                json={"events": [{"type": "message", "content": "Next file."}] * 5},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ),
        ),
        "get event": (lambda c: c.get_event(sid, 1), lambda: http.get(f"/v1/sessions/{sid}/events/1")),
        "app state patch": (
            lambda c: c.update_app_state("bench-app", {"n": random.random()}),
            lambda: http.patch("/v1/apps/bench-app/state", json={"n": random.random()}),
        ),
        "user state get": (
            lambda c: c.get_user_state("bench-app"),
            lambda: http.get(f"/v1/apps/bench-app/users/{identity.user_id}/state"),
        ),
        "history": (lambda c: c.get_history(sid), lambda: http.get(f"/v1/sessions/{sid}/history")),
        "list": (lambda c: c.list_sessions(), lambda: http.get("/v1/sessions")),
        "stats": (lambda c: c.get_stats(), lambda: http.get("/v1/sessions/stats")),
    }
    measured: dict[str, Measured] = {name: Measured([], [], []) for name in [*operations, "create", "delete", "rewind"]}
    for _ in range(samples):
        for name, (operation, raw) in random.sample(list(operations.items()), k=len(operations)):
            before = len(counting.requests)
            started = time.perf_counter()
            operation(client)
            measured[name].client_ms.append((time.perf_counter() - started) * 1000)
            measured[name].calls.append(len(counting.requests) - before)
            started = time.perf_counter()
            raw().raise_for_status()
            measured[name].raw_ms.append((time.perf_counter() - started) * 1000)
        _sample_rewind_create_delete(client, http, counting, sid, measured)
    client.delete_session(sid)
    client.close()
    http.close()
    rows: list[list[object]] = []
    figures: dict[str, Any] = {}
    for name, values in measured.items():
        calls = max(values.calls)
        figures[name] = {
            "http_calls": calls,
            "client_ms_median": median(values.client_ms),
            "raw_ms_median": median(values.raw_ms),
            "samples": {"client": len(values.client_ms), "raw": len(values.raw_ms), "counted": len(values.calls)},
        }
        rows.append([name, median(values.raw_ms), median(values.client_ms), calls, verdict(calls == 1)])
    headers = ["operation", "raw ms (median)", "client ms (median)", "HTTP calls", "1 call"]
    print(table(headers, rows, title=f"Against the dev server ({samples} samples each; retries on success: none)"))
    figures["samples"] = samples
    return figures


def _sample_rewind_create_delete(
    client: SessionsClient, http: httpx.Client, counting: CountingTransport, sid: str, measured: dict[str, Measured]
) -> None:
    """One sample of the writes that need a setup: a rewind of the event just appended, a create then its delete."""
    # rewind: the last event appended just before (untimed), removed again
    for variant in ("client", "raw"):
        seq = client.append_event(sid, type="message", content="to be removed").seq
        before = len(counting.requests)
        started = time.perf_counter()
        if variant == "client":
            client.delete_events(sid, seq)
            measured["rewind"].calls.append(len(counting.requests) - before)
        else:
            http.delete(f"/v1/sessions/{sid}/events", params={"from_seq": seq}).raise_for_status()
        elapsed = (time.perf_counter() - started) * 1000
        (measured["rewind"].client_ms if variant == "client" else measured["rewind"].raw_ms).append(elapsed)
    # create and delete (a fresh session each time: the open-session cap stays far)
    before = len(counting.requests)
    started = time.perf_counter()
    created = client.create_session(title="bench create")
    measured["create"].client_ms.append((time.perf_counter() - started) * 1000)
    measured["create"].calls.append(len(counting.requests) - before)
    before = len(counting.requests)
    started = time.perf_counter()
    client.delete_session(created.session_id)
    measured["delete"].client_ms.append((time.perf_counter() - started) * 1000)
    measured["delete"].calls.append(len(counting.requests) - before)
    started = time.perf_counter()
    raw_created = http.post(
        "/v1/sessions", json={"title": "bench create"}, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    measured["create"].raw_ms.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    http.delete(f"/v1/sessions/{raw_created.json()['session_id']}").raise_for_status()
    measured["delete"].raw_ms.append((time.perf_counter() - started) * 1000)


def run(iterations: int = 2000, samples: int = 30) -> dict[str, Any]:
    return {"overhead": overhead(iterations), "dev_server": against_dev_server(samples)}

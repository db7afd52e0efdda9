"""A fork of a 5,000-event session against a fork of a 10-event one, side by side in one run.

Latency: on the dev server, over HTTP, forks of the long and of the short session alternate (each a
new session, at the parent's latest seq); target: the long session's median at most 1.2x the short
one's. For scale, a few forks of the long session 10 events before its end (the events cut off are
read, to leave their usage out) are timed too.
Calls and units: the same two forks in-process on moto, every DynamoDB call counted and sized as
DynamoDB bills it (bench/cost.py's meter): the same calls and write units whatever the parent's length.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx

from bench.common import median, percentile, ratio, table, verdict
from local.launcher import launch_dev_server

TARGET_RATIO = 1.2
BATCH = 20  # events per append (the most one takes)
NO_CAP = {"MAX_OPEN_SESSIONS_PER_USER": "0"}  # every fork is a new open session


def _event(index: int) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": f"turn {index} " + "x" * 200, "usage": {"tokens": 10}}


def _seed(post: Any, events: int) -> str:
    """A session of `events` events, appended 20 at a time; its id."""
    session_id = f"bench-{uuid.uuid4().hex[:12]}"
    post("/v1/sessions", {"session_id": session_id})
    for start in range(0, events, BATCH):
        post(
            f"/v1/sessions/{session_id}/events",
            {"events": [_event(i) for i in range(start, min(events, start + BATCH))]},
        )
    return session_id


def _latencies(base_url: str, events: int, short: int, samples: int, cut_samples: int) -> dict[str, Any]:
    identity = {"X-User-Id": f"u-{uuid.uuid4().hex[:8]}", "X-Tenant-Id": "bench-fork"}
    with httpx.Client(base_url=base_url, headers=identity, timeout=120) as http:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.post(path, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
            result: dict[str, Any] = response.json()
            return result

        long_id, short_id = _seed(post, events), _seed(post, short)

        def fork(session_id: str, at_seq: int | None = None) -> float:
            started = time.perf_counter()
            post(f"/v1/sessions/{session_id}/fork", {} if at_seq is None else {"at_seq": at_seq})
            return (time.perf_counter() - started) * 1000

        for session_id in (long_id, short_id):  # warm both paths (functions started, connections open)
            fork(session_id)
        timings: dict[str, list[float]] = {"long": [], "short": []}
        for sample in range(samples):
            order = (("long", long_id), ("short", short_id))
            for name, session_id in order if sample % 2 == 0 else tuple(reversed(order)):
                timings[name].append(fork(session_id))
        cut = [fork(long_id, events - 10) for _ in range(cut_samples)]
        history = http.get(f"/v1/sessions/{long_id}/history", params={"limit": 1, "order": "desc"}).json()
    return {
        "long": {"median_ms": median(timings["long"]), "p90_ms": percentile(timings["long"], 0.9)},
        "short": {"median_ms": median(timings["short"]), "p90_ms": percentile(timings["short"], 0.9)},
        "cut": {"median_ms": median(cut), "samples": cut_samples},
        "long_total": history["total"],
    }


def _units(events: int, short: int) -> dict[str, Any]:
    """The DynamoDB calls and request units of one fork of each session, in-process on moto."""
    import boto3

    from bench.calls import Case, in_process_stack, invoke
    from bench.cost import CostMeter, table_shapes
    from local.api.gateway import match_route
    from local.aws.moto_fixes import adapt_moto

    adapt_moto()
    figures: dict[str, Any] = {}
    with in_process_stack(NO_CAP) as stack:
        from sessions import store

        def request(method: str, path: str, body: dict[str, Any] | None, status: int) -> dict[str, Any]:
            found = match_route(stack.routes, method, path)
            assert found is not None, path
            route, params = found
            # the functions' metrics (EMF lines on stdout) are not this table's figures
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got, answer = invoke(stack.specs, route, params, Case(path, method, body, status, 0, path=path), path)
            if got != status:
                raise RuntimeError(f"{method} {path}: {got} {answer}")
            return answer

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            return request("POST", path, body, 201)

        parents = {"long": _seed(post, events), "short": _seed(post, short)}
        meter = CostMeter(boto3.Session().client("dynamodb"), table_shapes(stack.names))
        meter.attach(store.dynamodb_client())
        for name, session_id in parents.items():
            meter.take()
            post(f"/v1/sessions/{session_id}/fork", {})
            usage = meter.take()
            figures[name] = {
                "calls": sum(usage.calls.values()),
                "by_operation": dict(usage.calls),
                "wru": usage.wru,
                "rru": usage.rru,
            }
    return figures


def run(events: int = 5000, short: int = 10, samples: int = 30, cut_samples: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir), {**os.environ, **NO_CAP})
        try:
            figures = _latencies(server.api_url, events, short, samples, cut_samples)
        finally:
            server.stop(signal.SIGINT)
    figures.update(events=events, short_events=short, samples=samples, units=_units(events, short))
    long, short_figures, units = figures["long"], figures["short"], figures["units"]
    figures["ratio"] = ratio(long["median_ms"], short_figures["median_ms"])
    same_writes = units["long"]["calls"] == units["short"]["calls"] and units["long"]["wru"] == units["short"]["wru"]
    figures["ok"] = figures["ratio"] <= TARGET_RATIO and same_writes
    rows = [
        [
            f"{events} events",
            long["median_ms"],
            long["p90_ms"],
            units["long"]["calls"],
            units["long"]["wru"],
            units["long"]["rru"],
        ],
        [
            f"{short} events",
            short_figures["median_ms"],
            short_figures["p90_ms"],
            units["short"]["calls"],
            units["short"]["wru"],
            units["short"]["rru"],
        ],
        [f"{events} events, at_seq {events - 10}", figures["cut"]["median_ms"], "-", "-", "-", "-"],
    ]
    title = f"  fork of a session on the dev server ({samples} forks each, alternating); calls and units on moto"
    print(table(["parent", "median ms", "p90 ms", "DynamoDB calls", "write units", "read units"], rows, title=title))
    calls = ", ".join(f"{name} {count}" for name, count in sorted(units["long"]["by_operation"].items()))
    print(f"  calls per fork: {calls}")
    print(
        f"  long/short: {figures['ratio']:.2f}x (target <= {TARGET_RATIO}x), the same writes whatever the length: "
        f"{verdict(figures['ok'])}"
    )
    return figures

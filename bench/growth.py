"""Latency as the local stack fills: each request on the dev server at ~0 items and at >= 100,000.

`make dev` is the default a user starts on, so it must stay fast with a realistic amount of data.
One run starts the dev server, times each request kind on an empty table, fills the table with
sessions and their histories (2,000 sessions x 50 events by default, written straight into the
emulator with the store's own item shapes), waits until the stream feeders have caught up (a session
created after the seeding has its event on the bus), and times
the same requests again. Medians are compared as ratios inside the one run; append and create with
20 events must stay within 1.5x.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bench.common import DevServerApi, median, percentile, ratio, table, use_functions_environment, verdict
from local.aws.emulator import point_boto3_at
from local.launcher import launch_dev_server
from local.seeding import Seeder
from local.stack.template import Resolver

if TYPE_CHECKING:
    from sessions.domain.records import EventRecord, SessionRecord

TARGET_RATIO = 1.5
SEED_TENANT = "seeded"
GATED = ("append", "create with 20 events")


def _event(i: int) -> dict[str, Any]:
    return {"type": "message", "role": "user" if i % 2 else "assistant", "content": f"turn {i} " + "x" * 200}


def time_requests(api: DevServerApi, phase: str, samples: int) -> dict[str, list[float]]:
    """Milliseconds per request, by kind; every request must succeed."""
    timings: dict[str, list[float]] = {}

    def timed(kind: str, expected: int, method: str, path: str, body: Any = None, user: str = "u-growth") -> Any:
        started = time.perf_counter()
        status, reply = api.call(method, path, body, user=user)
        timings.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        if status != expected:
            raise RuntimeError(f"{phase} {kind}: {status} {reply}")
        return reply

    sid = timed("create", 201, "POST", "/v1/sessions", {"title": f"growth {phase}"})["session_id"]
    for i in range(samples):
        timed("append", 201, "POST", f"/v1/sessions/{sid}/events", _event(i))
    with_events = {"events": [_event(n) for n in range(20)]}
    for i in range(samples):
        # a user per create: the open-session cap never refuses one
        timed("create with 20 events", 201, "POST", "/v1/sessions", with_events, user=f"{phase}-{i}")
    for _ in range(samples):
        timed("get", 200, "GET", f"/v1/sessions/{sid}")
        timed("patch", 200, "PATCH", f"/v1/sessions/{sid}", {"metadata": {"n": str(time.time())}})
        timed("history (page of 50)", 200, "GET", f"/v1/sessions/{sid}/history?limit=50")
        timed("list (page of 20)", 200, "GET", "/v1/sessions?limit=20")
        timed("stats", 200, "GET", "/v1/sessions/stats")
    del timings["create"]  # one sample: the session the others use
    return timings


def seed(moto_url: str, table_name: str, sessions: int, events_per_session: int) -> int:
    """Sessions and their histories written straight into the emulator; how many items were written."""
    import boto3

    from sessions.core.clock import format_ms, now_ms
    from sessions.store.keys import event_item, session_item

    point_boto3_at(moto_url)
    use_functions_environment({"SessionsTable": table_name})  # the items are made here, as the functions make them
    client = boto3.client("dynamodb")
    now = now_ms()

    def items_of(index: int) -> list[dict[str, Any]]:
        stamp = format_ms(now - index * 1000)
        record = cast(
            "SessionRecord",
            {
                "session_id": f"seed-{index}",
                "tenant_id": SEED_TENANT,
                "user_id": f"user-{index % 100}",
                "agent_id": f"agent-{index % 7}",
                "session_type": "conversation",
                "title": f"seeded {index}",
                "status": "active",
                "context": {"topic": "seed", "n": index},
                "metadata": {"source": "bench"},
                "usage": {"tokens_used": 0, "cost_usd": 0, "event_count": events_per_session, "task_count": 0},
                "created_at": stamp,
                "updated_at": stamp,
                "last_active_at": stamp,
                "expires_at": format_ms(now + 30 * 24 * 3600 * 1000),
                "version": 1 + events_per_session,
                "incarnation": uuid.uuid4().hex[:12],
                "holds_slot": False,
            },
        )
        events = [
            event_item(
                record,
                cast("EventRecord", {"event_id": str(uuid.uuid4()), "seq": seq, "created_at": stamp, **_event(seq)}),
            )
            for seq in range(1, events_per_session + 1)
        ]
        return [session_item(record), *events]

    seeder = Seeder(client, table_name)

    def write(index: int) -> int:
        items = items_of(index)
        seeder.put_items(items)
        return len(items)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(write, range(sessions)))


def wait_until_published(api: DevServerApi, moto_url: str, timeout: float = 600) -> float:
    """Seconds until the stream feeders have caught up with the seeding: a session created after it has
    its `session.created` on the bus (records are fed in order), read from a queue the bus targets.

    Quiet in the dev server's log is no sign of it: records the publisher's filter drops are read
    without a line, so a run could start measuring while the feeders were still reading 100,000 records."""
    from bench.load import BusConsumer

    started = time.monotonic()
    consumer = BusConsumer(moto_url, "bench-growth")
    consumer.start()
    try:
        status, marker = api.call("POST", "/v1/sessions", {"title": "after the seeding"}, user="u-marker")
        if status != 201:
            raise RuntimeError(f"marker session: {status} {marker}")
        key = (marker["session_id"], "session.created", marker["version"])
        while key not in consumer.arrived:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the stream feeders did not catch up within {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        consumer.stop()
    return time.monotonic() - started


def run(sessions: int = 2000, events_per_session: int = 50, samples: int = 30) -> dict[str, Any]:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir))
        try:
            api = DevServerApi(server.api_url, "growth", "u-growth")
            time_requests(api, "warm-up", 3)  # execution environments start on first use, as in Lambda
            empty = time_requests(api, "empty", samples)
            table_name = f"{Resolver.stack_name}-SessionsTable"  # as the emulator names it
            started = time.monotonic()
            written = seed(server.moto_url, table_name, sessions, events_per_session)
            seeding = time.monotonic() - started
            drained = wait_until_published(api, server.moto_url)
            print(f"  seeded {written:,} items in {seeding:.0f} s; stream feeders caught up after {drained:.0f} s more")
            full = time_requests(api, "full", samples)
        finally:
            server.stop(signal.SIGINT)
    rows: list[list[object]] = []
    requests: dict[str, Any] = {}
    figures = {"items_seeded": written, "requests": requests}
    for kind, before in empty.items():
        after = full[kind]
        growth = ratio(median(after), median(before))
        gated = kind in GATED
        rows.append(
            [
                kind,
                median(before),
                percentile(before, 0.95),
                median(after),
                percentile(after, 0.95),
                growth,
                verdict(growth <= TARGET_RATIO) if gated else "",
            ]
        )
        requests[kind] = {
            "median_ms_empty": median(before),
            "median_ms_full": median(after),
            "ratio": growth,
        }
    headers = ["request (ms)", "median ~0", "p95 ~0", f"median {written // 1000}k", f"p95 {written // 1000}k"]
    print(table([*headers, "ratio", f"<= {TARGET_RATIO}x"], rows, title=f"  latency on the dev server, {samples} each"))
    return figures

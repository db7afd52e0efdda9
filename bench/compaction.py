"""ADK's `get_session` of a long compacted session against a short one, on the dev server.

A session of 5,000 ADK events whose event 4,990 is an ADK compaction of everything before it, marked
as the history's base (`base: true`, as `SessionsAdkService.append_event` marks one), is loaded with
`SessionsAdkService.get_session` side by side with a session of 10 events, in alternating order. Every
HTTP request the adapter makes is counted under its client. Target: at most 2 calls per load, and the
long session's median load at most 1.3x the short one's. For scale, the same 5,000 events without a
base (what loading cost before: every page of the history) are loaded a few times too.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from google.adk.events import Event as AdkEvent
from google.adk.events import EventActions
from google.adk.events.event_actions import EventCompaction
from google.genai import types
from sessions_client import AsyncSessionsClient, DevIdentity
from sessions_client.adapters.adk import ADK_SESSION_ID_KEY, SessionsAdkService, service_session_id, to_stored

from bench.common import median, percentile, ratio, table, verdict
from local.launcher import launch_dev_server

APP = "bench_compaction"
TARGET_CALLS = 2
TARGET_RATIO = 1.3
BATCH = 20  # events per append (the most one takes)


class Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _event(index: int) -> dict[str, Any]:
    author = "user" if index % 2 == 0 else "assistant"
    text = f"turn {index} " + "x" * 200
    event = AdkEvent(
        invocation_id=f"inv-{index // 2}",
        author=author,
        timestamp=1_700_000_000.0 + index,
        content=types.Content(role="user" if author == "user" else "model", parts=[types.Part(text=text)]),
    )
    return to_stored(event)


def _compaction(index: int) -> dict[str, Any]:
    summary = types.Content(role="model", parts=[types.Part(text="summary of the conversation so far")])
    event = AdkEvent(
        invocation_id=f"inv-{index // 2}",
        author="user",
        timestamp=1_700_000_000.0 + index,
        actions=EventActions(
            compaction=EventCompaction(
                start_timestamp=1_700_000_000.0, end_timestamp=1_700_000_000.0 + index - 1, compacted_content=summary
            )
        ),
    )
    return {**to_stored(event), "base": True}


async def _seed(client: AsyncSessionsClient, user: str, events: int, base_at: int | None) -> str:
    """A session of `events` ADK events; the one at seq `base_at` a compaction marked base."""
    adk_id = f"bench-{uuid.uuid4().hex[:12]}"
    session_id = service_session_id(APP, user, adk_id)  # as SessionsAdkService.create_session names it
    metadata = {"framework": "google-adk", ADK_SESSION_ID_KEY: adk_id}
    await client.create_session(session_id=session_id, app_name=APP, user_id=user, metadata=metadata)
    bodies = [_compaction(seq) if seq == base_at else _event(seq) for seq in range(1, events + 1)]
    for start in range(0, len(bodies), BATCH):
        await client.append_events(session_id, bodies[start : start + BATCH], user_id=user)
    return adk_id


async def _measure(base_url: str, events: int, base_at: int, short: int, samples: int, slow_samples: int) -> dict:
    identity = DevIdentity("bench-service", "bench-compaction", ("service",))
    user = f"u-{uuid.uuid4().hex[:8]}"
    counting = Counting()
    async with AsyncSessionsClient(base_url, identity=identity, transport=counting, timeout=120) as client:
        long_id = await _seed(client, user, events, base_at)
        short_id = await _seed(client, user, short, None)
        plain_id = await _seed(client, user, events, None)
        service = SessionsAdkService(client)

        async def load(session_id: str) -> tuple[float, int, int]:
            before = counting.requests
            started = time.perf_counter()
            session = await service.get_session(app_name=APP, user_id=user, session_id=session_id)
            elapsed = (time.perf_counter() - started) * 1000
            assert session is not None
            return elapsed, counting.requests - before, len(session.events)

        for session_id in (long_id, short_id):  # warm both paths (functions started, connections open)
            await load(session_id)
        timings: dict[str, list[float]] = {"long": [], "short": []}
        calls: dict[str, set[int]] = {"long": set(), "short": set()}
        shown: dict[str, int] = {}
        for sample in range(samples):
            order = (
                (("long", long_id), ("short", short_id))
                if sample % 2 == 0
                else (("short", short_id), ("long", long_id))
            )
            for name, session_id in order:
                elapsed, made, count = await load(session_id)
                timings[name].append(elapsed)
                calls[name].add(made)
                shown[name] = count
        slow = [await load(plain_id) for _ in range(slow_samples)]
    return {
        "events": events,
        "base_at": base_at,
        "short_events": short,
        "samples": samples,
        "long": {
            "median_ms": median(timings["long"]),
            "p90_ms": percentile(timings["long"], 0.9),
            "calls": max(calls["long"]),
            "events_shown": shown["long"],
        },
        "short": {
            "median_ms": median(timings["short"]),
            "p90_ms": percentile(timings["short"], 0.9),
            "calls": max(calls["short"]),
            "events_shown": shown["short"],
        },
        "uncompacted": {
            "median_ms": median([elapsed for elapsed, _, _ in slow]),
            "calls": max(made for _, made, _ in slow),
            "events_shown": slow[0][2],
        },
    }


def run(events: int = 5000, base_at: int = 4990, short: int = 10, samples: int = 30, slow_samples: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir))
        try:
            figures = asyncio.run(_measure(server.api_url, events, base_at, short, samples, slow_samples))
        finally:
            server.stop(signal.SIGINT)
    long, short_figures, plain = figures["long"], figures["short"], figures["uncompacted"]
    figures["ratio"] = ratio(long["median_ms"], short_figures["median_ms"])
    figures["ok"] = long["calls"] <= TARGET_CALLS and figures["ratio"] <= TARGET_RATIO
    rows = [
        [f"{events} events, base at {base_at}", long["events_shown"], long["calls"], long["median_ms"], long["p90_ms"]],
        [
            f"{short} events",
            short_figures["events_shown"],
            short_figures["calls"],
            short_figures["median_ms"],
            short_figures["p90_ms"],
        ],
        [f"{events} events, no base", plain["events_shown"], plain["calls"], plain["median_ms"], "-"],
    ]
    title = f"  ADK get_session on the dev server ({samples} loads each, alternating)"
    print(table(["session", "events shown", "HTTP calls", "median ms", "p90 ms"], rows, title=title))
    print(
        f"  compacted/short: {figures['ratio']:.2f}x, {long['calls']} calls "
        f"(target <= {TARGET_RATIO}x, <= {TARGET_CALLS} calls): {verdict(figures['ok'])}"
    )
    return figures

"""Concurrent requests over real HTTP: the cap holds, and concurrent callers never see each other's requests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from local.stack.template import load_template, parameter_defaults
from tests.e2e.client import Client, Reply

CAP = int(parameter_defaults(load_template())["MaxOpenSessionsPerUser"])  # the dev server runs the defaults


def all_at_once[T](count: int, call: Callable[[int], T]) -> list[T]:
    """Run `call(0…count-1)` in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_creates_of_one_user_stop_exactly_at_the_cap(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    replies: list[Reply] = all_at_once(25, lambda _: caller.post("/v1/sessions", {}))

    created = [reply for reply in replies if reply.status == 201]
    refused = [reply for reply in replies if reply.status == 429]
    assert len(created) == CAP, [reply.status for reply in replies]
    assert len(refused) == 25 - CAP, [reply.status for reply in replies]
    assert {reply.json()["code"] for reply in refused} == {"session_limit_reached"}
    session_ids = {reply.json()["session_id"] for reply in created}
    assert len(session_ids) == CAP
    for session_id in session_ids:
        assert caller.get(f"/v1/sessions/{session_id}").status == 200
    assert caller.post("/v1/sessions", {}).status == 429  # still at the cap afterwards


def test_concurrent_callers_each_get_their_own_identity_and_body(api: Client, tenant: str) -> None:
    """Handlers keep per-request state in globals (as Lambda allows); the server must keep requests apart."""
    count = 24

    def create(index: int) -> Reply:
        caller = api.as_(user=f"user-{index}", tenant=f"{tenant}-{index % 3}")
        return caller.post("/v1/sessions", {"title": f"title {index}", "metadata": {"index": str(index)}})

    replies = all_at_once(count, create)
    for index, reply in enumerate(replies):
        assert reply.status == 201, reply.body
        session = reply.json()
        assert (session["user_id"], session["tenant_id"]) == (f"user-{index}", f"{tenant}-{index % 3}")
        assert (session["title"], session["metadata"]) == (f"title {index}", {"index": str(index)})


def test_forty_concurrent_appends_to_one_session_all_land_in_order_with_exact_usage(
    api: Client, user: str, tenant: str
) -> None:
    """A hot session: every append is 201, seq is 1..40 with no gap or repeat, totals are exact."""
    caller = api.as_(user=user, tenant=tenant)
    session_id = caller.post("/v1/sessions", {}).json()["session_id"]

    def append(index: int) -> Reply:
        event = {"type": "message", "content": f"turn {index}", "usage": {"tokens": index + 1, "cost_usd": 0.01}}
        return caller.post(f"/v1/sessions/{session_id}/events", event)

    replies = all_at_once(40, append)

    refused = [(reply.status, reply.body[:160]) for reply in replies if reply.status != 201]
    assert refused == []
    assert sorted(reply.json()["seq"] for reply in replies) == list(range(1, 41))
    history = caller.get(f"/v1/sessions/{session_id}/history?limit=100").json()
    assert [event["seq"] for event in history["events"]] == list(range(1, 41))
    by_seq = {reply.json()["seq"]: reply.json()["content"] for reply in replies}
    assert {event["seq"]: event["content"] for event in history["events"]} == by_seq  # each turn stored once
    session = caller.get(f"/v1/sessions/{session_id}").json()
    assert session["usage"] == {"tokens_used": sum(range(1, 41)), "cost_usd": 0.4, "event_count": 40, "task_count": 0}
    assert session["version"] == 41
    stats = caller.get("/v1/sessions/stats").json()
    assert (stats["events_total"], stats["tokens_used_total"]) == (40, sum(range(1, 41)))

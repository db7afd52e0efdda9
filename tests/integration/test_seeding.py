"""local/seeding.py, which tests and benchmarks use to write thousands of events without a request per 20:
what it seeds reads back through the API as the same appends made through the API, and what it cannot
write as the API would (large parts, state documents) it refuses with nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from local.seeding import Seeder
from sessions.core.errors import SessionClosed
from sessions.domain.identity import Identity

ALICE = Identity("acme", "alice")
# what differs between two sessions given the same events at different times: ids, clocks, and the version
# (the seeder writes the session once, the API once per request of at most 20 events)
PER_SESSION = {"session_id", "created_at", "updated_at", "last_active_at", "last_event_at", "expires_at", "version"}
PER_EVENT = {"event_id", "created_at", "timestamp"}


def bodies(count: int) -> list[dict[str, Any]]:
    """Events of every kind the seeder takes: messages with usage, tasks, metadata, a context patch, a base."""
    events: list[dict[str, Any]] = []
    for n in range(count):
        event: dict[str, Any] = {"type": "task" if n % 5 == 0 else "message", "content": f"turn {n}"}
        event |= {"payload": {"n": n}, "usage": {"tokens": n, "cost_usd": 0.1}, "metadata": {"k": str(n)}}
        if n == 7:
            event["context_patch"] = {"topic": "seeding", "turn": n}
        if n == 30:
            event["base"] = True
        events.append(event)
    return events


def history(gateway, session_id: str) -> list[dict[str, Any]]:
    query = "include_payload=true&include_compacted=true&limit=100"
    page = gateway.request("GET", f"/v1/sessions/{session_id}/history", user="alice", query=query).body
    assert page["next_cursor"] is None
    return page["events"]


def test_seeded_events_read_back_as_the_same_appends_made_through_the_api(gateway):
    events = bodies(45)
    for sid in ("through-api", "seeded"):
        assert gateway.create({"session_id": sid, "app_name": "shop", "context": {"a": 1}}, user="alice").status == 201
    for start in range(0, len(events), 20):
        batch = {"events": events[start : start + 20]}
        assert gateway.request("POST", "/v1/sessions/through-api/events", batch, user="alice").status == 201

    stats_before = gateway.request("GET", "/v1/sessions/stats", user="alice").body
    seeded = Seeder.in_process().append(ALICE, "seeded", events)
    stats_after = gateway.request("GET", "/v1/sessions/stats", user="alice").body

    made, read = (gateway.request("GET", f"/v1/sessions/{sid}", user="alice").body for sid in ("through-api", "seeded"))
    assert {k: v for k, v in read.items() if k not in PER_SESSION} == {
        k: v for k, v in made.items() if k not in PER_SESSION
    }
    assert read["usage"] == {"tokens_used": 990, "cost_usd": 4.5, "event_count": 45, "task_count": 9}
    assert read["context"] == {"a": 1, "topic": "seeding", "turn": 7} and read["history_base_seq"] == 31
    assert read["version"] == seeded["version"] == 2  # one write of the session, as one append request makes
    assert [{k: v for k, v in e.items() if k not in PER_EVENT} for e in history(gateway, "seeded")] == [
        {k: v for k, v in e.items() if k not in PER_EVENT} for e in history(gateway, "through-api")
    ]
    # the owner's counters moved in the same transaction, as an append moves them
    assert stats_after["events_total"] - stats_before["events_total"] == 45
    assert stats_after["tokens_used_total"] - stats_before["tokens_used_total"] == 990

    # an append through the API goes on from the seeded session
    appended = gateway.request("POST", "/v1/sessions/seeded/events", {"type": "message"}, user="alice")
    assert appended.status == 201 and appended.body["seq"] == 46


@pytest.mark.parametrize(
    ("event", "refusal"),
    [
        ({"type": "message", "content": "x" * (40 * 1024)}, "content goes to S3"),
        ({"type": "message", "payload": {"big": "x" * (40 * 1024)}}, "payload goes to S3"),
        ({"type": "message", "state_patch": {"user": {"likes": "tea"}}}, "writes state documents"),
    ],
)
def test_what_the_api_writes_elsewhere_is_refused_with_nothing_written(gateway, event, refusal):
    assert gateway.create({"session_id": "s", "app_name": "shop"}, user="alice").status == 201
    with pytest.raises(ValueError, match=refusal):
        Seeder.in_process().append(ALICE, "s", [{"type": "message", "content": "fine"}, event])
    assert history(gateway, "s") == []
    assert gateway.request("GET", "/v1/sessions/s", user="alice").body["version"] == 1


def test_the_apis_rules_refuse_before_anything_is_written(gateway):
    assert gateway.create({"session_id": "done"}, user="alice").status == 201
    closed = gateway.request("PATCH", "/v1/sessions/done", {"status": "completed"}, user="alice")
    assert closed.status == 200, closed.body
    with pytest.raises(SessionClosed):
        Seeder.in_process().append(ALICE, "done", [{"type": "message", "content": "late"}])
    assert history(gateway, "done") == []
    for whose, session_id in ((ALICE, "nobody"), (Identity("acme", "bob"), "done")):
        with pytest.raises(LookupError):
            Seeder.in_process().append(whose, session_id, [{"type": "message"}])
    assert gateway.request("DELETE", "/v1/sessions/done", user="alice").status == 204
    with pytest.raises(LookupError):
        Seeder.in_process().append(ALICE, "done", [{"type": "message"}])

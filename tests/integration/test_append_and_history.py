"""Appending events and reading the history back."""

from __future__ import annotations

import pytest

from sessions.domain.identity import Identity
from sessions.domain.models import AppendEventRequest
from sessions.usecases.events import append_event
from tests.integration.conftest import concurrently, set_env

OWNER = Identity("acme", "u-1")


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _append(gateway, sid, body, **kwargs):
    return gateway.request("POST", f"/v1/sessions/{sid}/events", body, **kwargs)


def test_append_returns_the_event_and_updates_the_session_atomically(gateway):
    sid = _session(gateway, context={"keep": 1})
    appended = _append(
        gateway,
        sid,
        {
            "type": "message",
            "role": "user",
            "content": "Hello",
            "task_id": "t-1",
            "payload": {"raw": [1, 2]},
            "usage": {"tokens": 12, "cost_usd": 0.1, "duration_ms": 30},
            "metadata": {"lang": "en"},
            "context_patch": {"last": "Hello"},
        },
    )
    assert appended.status == 201, appended.body
    event = appended.body
    assert event["seq"] == 1 and event["event_id"] and event["created_at"].endswith("Z")
    assert event["content"] == "Hello" and event["payload"] == {"raw": [1, 2]}
    assert event["usage"] == {"tokens": 12, "cost_usd": 0.1, "duration_ms": 30}
    assert "context_patch" not in event
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert session["usage"] == {"tokens_used": 12, "cost_usd": 0.1, "event_count": 1, "task_count": 0}
    assert session["context"] == {"keep": 1, "last": "Hello"}
    assert session["version"] == 2 and session["last_active_at"] == event["created_at"]


def test_task_events_count_tasks_and_costs_add_up_exactly(gateway):
    sid = _session(gateway)
    for cost in (0.1, 0.2):
        assert _append(gateway, sid, {"type": "task", "usage": {"cost_usd": cost}}).status == 201
    usage = gateway.request("GET", f"/v1/sessions/{sid}").body["usage"]
    assert usage["task_count"] == 2 and usage["event_count"] == 2
    assert usage["cost_usd"] == 0.3


def test_forty_concurrent_appends_get_seq_one_to_forty_and_exact_totals(gateway):
    sid = _session(gateway)
    results = concurrently(
        40,
        lambda i: append_event(
            OWNER,
            sid,
            AppendEventRequest(type="message", content=f"turn {i}", usage={"tokens": 1, "cost_usd": 0.01}),
        ),
    )
    assert all(status == 200 for status, _ in results), results
    assert sorted(event["seq"] for _, event in results) == list(range(1, 41))
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert session["usage"] == {"tokens_used": 40, "cost_usd": 0.4, "event_count": 40, "task_count": 0}
    assert session["version"] == 41
    history = gateway.request("GET", f"/v1/sessions/{sid}/history", query="limit=100").body
    assert [event["seq"] for event in history["events"]] == list(range(1, 41))
    assert sorted(event["content"] for event in history["events"]) == sorted(f"turn {i}" for i in range(40))


def _unchanged(gateway, sid, before):
    after = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert after == before
    assert gateway.request("GET", f"/v1/sessions/{sid}/history").body["events"] == []


def test_appending_to_a_completed_session_is_409_and_writes_nothing(gateway):
    sid = _session(gateway)
    gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"})
    before = gateway.request("GET", f"/v1/sessions/{sid}").body
    refused = _append(gateway, sid, {"type": "message", "content": "late"})
    assert refused.status == 409 and refused.body["code"] == "session_closed"
    _unchanged(gateway, sid, before)


def test_passing_the_token_budget_is_409_and_writes_nothing(gateway):
    sid = _session(gateway, token_budget=100)
    assert _append(gateway, sid, {"type": "message", "usage": {"tokens": 100}}).status == 201  # exactly the budget
    before = gateway.request("GET", f"/v1/sessions/{sid}").body
    refused = _append(gateway, sid, {"type": "message", "usage": {"tokens": 1}, "context_patch": {"x": 1}})
    assert refused.status == 409 and refused.body["code"] == "token_budget_exceeded"
    assert gateway.request("GET", f"/v1/sessions/{sid}").body == before


def test_a_full_history_is_409_and_writes_nothing(gateway, monkeypatch):
    set_env(monkeypatch, MAX_HISTORY_EVENTS="3")
    sid = _session(gateway)
    for _ in range(3):
        assert _append(gateway, sid, {"type": "message"}).status == 201
    before = gateway.request("GET", f"/v1/sessions/{sid}").body
    refused = _append(gateway, sid, {"type": "message"})
    assert refused.status == 409 and refused.body["code"] == "history_full"
    assert gateway.request("GET", f"/v1/sessions/{sid}").body == before


def test_context_patch_over_64_kib_is_413_and_writes_nothing(gateway):
    sid = _session(gateway, context={"a": "x" * 40_000})
    before = gateway.request("GET", f"/v1/sessions/{sid}").body
    refused = _append(gateway, sid, {"type": "message", "context_patch": {"b": "y" * 40_000}})
    assert refused.status == 413 and refused.body["code"] == "payload_too_large"
    _unchanged(gateway, sid, before)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"type": "Message"}, 422),
        ({"type": "x" * 33}, 422),
        ({"type": "message", "role": "bot"}, 422),
        ({"type": "message", "usage": {"tokens": -1}}, 422),
        ({"type": "message", "usage": {"cost_usd": -0.1}}, 422),
        ({"type": "message", "usage": {"tokens": 1.5}}, 422),
        ({"type": "message", "extra": 1}, 422),
        ({"type": "message", "content": "x" * (5 * 1024 * 1024 + 1)}, 413),
        ({"type": "message", "payload": {"blob": "x" * (5 * 1024 * 1024)}}, 413),
        ({"type": "message", "content": "x" * (3 * 1024 * 1024), "payload": {"b": "x" * (2 * 1024 * 1024)}}, 413),
        ({"type": "message", "content": 5}, 422),
        ({"type": "message", "metadata": {"k": 1}}, 422),
    ],
)
def test_bad_events_are_refused(gateway, body, status):
    sid = _session(gateway)
    refused = _append(gateway, sid, body)
    assert refused.status == status, refused.body
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["version"] == 1


def test_content_of_exactly_32_kib_and_custom_types_are_accepted(gateway):
    sid = _session(gateway)
    assert _append(gateway, sid, {"type": "tool.call_v2", "content": "é" * (16 * 1024)}).status == 201


def test_others_cannot_append_and_admins_may_only_read(gateway):
    sid = _session(gateway)
    for caller in ({"user": "other"}, {"tenant": "evil"}, {"user": "boss", "roles": ["admin"]}):
        refused = _append(gateway, sid, {"type": "message"}, **caller)
        assert refused.status == 404 and refused.body["code"] == "session_not_found"
    _append(gateway, sid, {"type": "message", "content": "hi"})
    for caller in ({"user": "other"}, {"tenant": "evil"}):
        assert gateway.request("GET", f"/v1/sessions/{sid}/history", **caller).status == 404
    admin_view = gateway.request("GET", f"/v1/sessions/{sid}/history", user="boss", roles=["admin"])
    assert admin_view.status == 200 and admin_view.body["events"][0]["content"] == "hi"


def test_initial_events_are_appended_in_order_with_the_session(gateway):
    created = gateway.create(
        {
            "events": [
                {"type": "system", "role": "system", "content": "You are helpful"},
                {"type": "message", "role": "user", "content": "Hi", "usage": {"tokens": 5}},
                {"type": "task", "content": "plan", "context_patch": {"plan": True}},
            ]
        }
    )
    assert created.status == 201, created.body
    session = created.body
    assert session["usage"] == {"tokens_used": 5, "cost_usd": 0, "event_count": 3, "task_count": 1}
    assert session["context"] == {"plan": True} and session["version"] == 4
    history = gateway.request("GET", f"/v1/sessions/{session['session_id']}/history").body
    assert [(e["seq"], e["content"]) for e in history["events"]] == [(1, "You are helpful"), (2, "Hi"), (3, "plan")]


def test_initial_events_over_the_budget_refuse_the_whole_create(gateway, table):
    refused = gateway.create(
        {"session_id": "never", "token_budget": 3, "events": [{"type": "m", "usage": {"tokens": 4}}]}
    )
    assert refused.status == 409 and refused.body["code"] == "token_budget_exceeded"
    assert "Item" not in table.get_item(Key={"PK": "T#acme#S#never", "SK": "#SESSION"})


def test_history_pages_orders_and_filters(gateway):
    sid = _session(gateway)
    for i in range(7):
        kind = "tool" if i % 3 == 0 else "message"
        assert _append(gateway, sid, {"type": kind, "content": f"c{i}", "payload": {"i": i}}).status == 201
    path = f"/v1/sessions/{sid}/history"
    first = gateway.request("GET", path, query="limit=3").body
    assert [e["seq"] for e in first["events"]] == [1, 2, 3] and first["total"] == 7
    assert all("payload" not in e and "content" in e for e in first["events"])
    second = gateway.request("GET", path, query=f"limit=3&cursor={first['next_cursor']}").body
    third = gateway.request("GET", path, query=f"limit=3&cursor={second['next_cursor']}").body
    assert [e["seq"] for e in second["events"] + third["events"]] == [4, 5, 6, 7]
    assert third["next_cursor"] is None
    newest = gateway.request("GET", path, query="order=desc&limit=2&include_payload=true").body
    assert [e["seq"] for e in newest["events"]] == [7, 6] and newest["events"][0]["payload"] == {"i": 6}
    tools = gateway.request("GET", path, query="type=tool&limit=2").body
    assert [e["seq"] for e in tools["events"]] == [1, 4]
    rest = gateway.request("GET", path, query=f"type=tool&limit=2&cursor={tools['next_cursor']}").body
    assert [e["seq"] for e in rest["events"]] == [7] and rest["next_cursor"] is None


def test_history_time_filters(gateway, table):
    sid = _session(gateway)
    for i in range(3):
        _append(gateway, sid, {"type": "message", "content": f"c{i}"})
    events = gateway.request("GET", f"/v1/sessions/{sid}/history").body["events"]
    middle = events[1]["created_at"]
    after = gateway.request("GET", f"/v1/sessions/{sid}/history", query=f"after={events[0]['created_at']}").body
    # after is inclusive (on timestamp, which defaults to created_at)
    assert after["events"] and all(e["timestamp"] >= events[0]["timestamp"] for e in after["events"])
    assert after["events"][0]["seq"] == 1
    before = gateway.request("GET", f"/v1/sessions/{sid}/history", query="before=2000-01-01T00:00:00Z").body
    assert before["events"] == []
    assert gateway.request("GET", f"/v1/sessions/{sid}/history", query="after=yesterday").status == 422
    assert middle


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "order=up", "type=BAD", "include_payload=maybe"])
def test_bad_history_queries_are_422(gateway, query):
    sid = _session(gateway)
    refused = gateway.request("GET", f"/v1/sessions/{sid}/history", query=query)
    assert refused.status == 422 and refused.body["code"] == "validation_error"


def test_history_of_a_reused_id_never_shows_the_old_sessions_events(gateway):
    sid = _session(gateway, session_id="reused")
    _append(gateway, sid, {"type": "message", "content": "old"})
    gateway.request("DELETE", "/v1/sessions/reused")
    _session(gateway, session_id="reused")
    _append(gateway, "reused", {"type": "message", "content": "new"})
    history = gateway.request("GET", "/v1/sessions/reused/history").body
    assert [(e["seq"], e["content"]) for e in history["events"]] == [(1, "new")]

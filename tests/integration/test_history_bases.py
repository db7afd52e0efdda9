"""History bases (compaction) through the template's handlers on moto: what the client tests cannot see.

The maximum of events counted from the base, the lifecycle events of a compaction and of a replaced
tail, and the DynamoDB cost of reading a compacted history (one Query per page, whatever lies before).
"""

from __future__ import annotations

import json

from local.testing import record_store_calls
from tests.integration.conftest import publish, set_env


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _append(gateway, sid, body, **kwargs):
    return gateway.request("POST", f"/v1/sessions/{sid}/events", body, **kwargs)


def test_history_full_counts_only_the_events_from_the_base(gateway, monkeypatch):
    """A compaction makes room in a history at its maximum (as ADK and the Agents SDK compact to keep going)."""
    set_env(monkeypatch, MAX_HISTORY_EVENTS="3")
    sid = _session(gateway, events=[{"type": "message"}] * 3)
    full = _append(gateway, sid, {"type": "message"})
    assert full.status == 409 and full.body["code"] == "history_full"
    # a base is an event too: a compaction of a full history replaces its tail
    compacted = _append(gateway, sid, {"events": [{"type": "message", "base": True}], "replace_from_seq": 3})
    assert compacted.status == 201, compacted.body
    assert _append(gateway, sid, {"type": "message"}).status == 201
    assert _append(gateway, sid, {"type": "message"}).status == 201
    assert _append(gateway, sid, {"type": "message"}).status == 409
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert session["usage"]["event_count"] == 5 and session["history_base_seq"] == 4


def test_a_compaction_and_a_replaced_tail_are_lifecycle_events(gateway, stream, bus_queue):
    sid = _session(gateway, events=[{"type": "message", "content": "private"}] * 3)
    _append(gateway, sid, {"type": "message", "content": "summary", "base": True})
    _append(gateway, sid, {"events": [{"type": "message", "content": "s2"}], "replace_from_seq": 4})
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    mine = sorted((m for m in bus_queue() if m["detail"]["session_id"] == sid), key=lambda m: m["detail"]["version"])
    assert [m["detail-type"] for m in mine] == [
        "session.created",
        "session.event_appended",
        "session.events_removed",
        "session.event_appended",
    ]
    assert mine[1]["detail"]["changed_fields"] == ["history_base_seq"]
    assert (mine[2]["detail"]["from_seq"], mine[2]["detail"]["count"]) == (4, 1)
    assert mine[2]["detail"]["version"] == mine[3]["detail"]["version"]
    assert mine[3]["detail"]["usage"]["event_count"] == 4
    text = json.dumps(mine)
    assert "private" not in text and "summary" not in text and "compacted_count" not in text


def test_reading_a_compacted_history_is_one_query_whatever_lies_before_the_base(gateway, monkeypatch):
    """ADK's slow loads: a session of many events compacted near its end loads as a short one does."""
    sid = _session(gateway)
    for _ in range(10):
        assert _append(gateway, sid, {"events": [{"type": "message"}] * 20}).status == 201
    _append(gateway, sid, {"events": [{"type": "message", "base": True}, *[{"type": "message"}] * 4]})
    calls = record_store_calls(monkeypatch).names
    page = gateway.request("GET", f"/v1/sessions/{sid}/history", query="limit=100")
    assert [event["seq"] for event in page.body["events"]] == [201, 202, 203, 204, 205]
    assert page.body["total"] == 5 and page.body["next_cursor"] is None
    assert calls == ["get_item", "query"]  # the session, then one page
    every = gateway.request("GET", f"/v1/sessions/{sid}/history", query="limit=100&include_compacted=true")
    assert every.body["total"] == 205 and len(every.body["events"]) == 100


def test_include_state_is_one_batch_read_and_refuses_other_values(gateway):
    sid = _session(gateway, app_name="shop")
    response = gateway.request("GET", f"/v1/sessions/{sid}", query="include=state")
    assert response.status == 200 and response.etag == f'"{response.body["version"]}"'
    assert response.body["state"]["app"] == {"app_name": "shop", "state": {}, "version": 0, "updated_at": None}
    assert response.body["state"]["user"]["user_id"] == "u-1"
    refused = gateway.request("GET", f"/v1/sessions/{sid}", query="include=everything")
    assert refused.status == 422
    other = gateway.request("GET", f"/v1/sessions/{sid}", query="include=state", user="u-2")
    assert other.status == 404
    admin = gateway.request(
        "GET", f"/v1/sessions/{sid}", query="include=state&user_id=u-1", user="boss", roles=["admin"]
    )
    assert admin.status == 200 and admin.body["state"]["user"]["user_id"] == "u-1"


def test_a_completed_session_refuses_a_replaced_tail_before_reading_it(gateway):
    """409 session_closed, as a rewind of it answers, even for a tail too long to replace; nothing written."""
    sid = _session(gateway, events=[{"type": "message"}] * 20)
    for _ in range(5):  # 120 events: past the 90 one transaction may remove
        assert _append(gateway, sid, {"events": [{"type": "message"}] * 20}).status == 201
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"}).status == 200
    before = gateway.request("GET", f"/v1/sessions/{sid}").body
    refused = _append(gateway, sid, {"events": [{"type": "message", "base": True}], "replace_from_seq": 1})
    assert refused.status == 409 and refused.body["code"] == "session_closed"
    assert gateway.request("GET", f"/v1/sessions/{sid}").body == before

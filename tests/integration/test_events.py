"""Lifecycle events from real stream records of real writes, published to the bus."""

from __future__ import annotations

import json

from tests.integration.conftest import publish


def test_a_session_lifecycle_yields_each_detail_type_in_version_order(gateway, stream, bus_queue):
    sid = gateway.create({"title": "t", "context": {"secret": "ctx"}, "checkpoint": {"s": "cp"}}).body["session_id"]
    path = f"/v1/sessions/{sid}"
    gateway.request("PATCH", path, {"title": "renamed"})
    gateway.request("PATCH", path, {"status": "paused"})
    gateway.request("PATCH", path, {"status": "active"})
    gateway.request("POST", f"{path}/events", {"type": "message", "content": "private words", "payload": {"p": "x"}})
    gateway.request("PATCH", path, {"status": "crashed"})
    gateway.request("PATCH", path, {"status": "active"})
    gateway.request("PATCH", path, {"status": "completed"})
    gateway.request("DELETE", path)
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    received = bus_queue()
    mine = sorted((m for m in received if m["detail"]["session_id"] == sid), key=lambda m: m["detail"]["version"])
    assert [m["detail-type"] for m in mine] == [
        "session.created",
        "session.updated",
        "session.paused",
        "session.resumed",
        "session.event_appended",
        "session.crashed",
        "session.resumed",
        "session.completed",
        "session.deleted",
    ]
    assert [m["detail"]["version"] for m in mine] == list(range(1, 10))
    assert mine[1]["detail"]["changed_fields"] == ["title"]
    assert mine[2]["detail"]["previous_status"] == "active" and mine[2]["detail"]["status"] == "paused"
    assert mine[4]["detail"]["usage"]["event_count"] == 1
    text = json.dumps(received)
    for secret in ("ctx", "cp", "private words", '"p": "x"'):
        assert secret not in text
    assert all(m["source"] == "sessions" for m in received)


def test_event_ids_are_stable_when_a_batch_is_redelivered(gateway, stream, bus_queue):
    gateway.create({})
    records = stream.read()
    publish(gateway, records)
    publish(gateway, records)
    received = bus_queue()
    assert len(received) == 2 and received[0]["detail"]["event_id"] == received[1]["detail"]["event_id"]


def test_a_ttl_removal_is_session_expired_with_reason_ttl_and_counted_once(gateway, stream, bus_queue, table):
    sid = gateway.create({}).body["session_id"]
    stream.read()
    key = {"PK": f"T#acme#S#{sid}", "SK": "#SESSION"}
    table.delete_item(Key=key)  # what DynamoDB's TTL does, announced with its service identity
    removal = stream.read()
    for record in removal:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    publish(gateway, removal)
    publish(gateway, removal)  # redelivered: counted once
    expired = [m for m in bus_queue() if m["detail-type"] == "session.expired"]
    assert [m["detail"]["reason"] for m in expired] == ["ttl", "ttl"]
    assert expired[0]["detail"]["event_id"] == expired[1]["detail"]["event_id"]
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert stats["expired_total"] == 1 and stats["sessions"]["active"] == 0
    assert gateway.create({}).status == 201
    marker = table.get_item(Key={"PK": f"T#acme#S#{sid}", "SK": f"#PURGE#{_incarnation(removal)}"})["Item"]
    assert marker["expiry_bucket"]  # the cleanup will purge the history the item left behind


def _incarnation(records):
    return records[0]["dynamodb"]["OldImage"]["incarnation"]["S"]


def test_failed_put_events_entries_are_retried_then_reported(gateway, stream, bus_queue, monkeypatch):
    from sessions.usecases import publishing

    gateway.create({})
    gateway.create({})
    records = stream.read()
    real = publishing.aws_client("events").put_events
    failures = {"left": 100}

    def flaky(Entries):
        if failures["left"] > 0:
            failures["left"] -= 1
            return {"FailedEntryCount": len(Entries), "Entries": [{"ErrorCode": "InternalFailure"}] * len(Entries)}
        return real(Entries=Entries)

    monkeypatch.setattr(publishing.aws_client("events"), "put_events", flaky)
    monkeypatch.setattr(publishing.time, "sleep", lambda _: None)
    response = publish(gateway, records)
    assert len(response["batchItemFailures"]) == 2  # nothing is dropped silently
    assert bus_queue() == []
    failures["left"] = 1  # EventBridge refuses once, then accepts: retried within the invocation
    assert publish(gateway, records) == {"batchItemFailures": []}
    assert len(bus_queue()) == 2


def test_other_items_produce_no_events(gateway, stream, bus_queue):
    sid = gateway.create({}).body["session_id"]
    stream.read()
    gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "message"})
    records = stream.read()
    assert len(records) > 1  # the event item and counters are in the stream too
    publish(gateway, records)
    assert [m["detail-type"] for m in bus_queue()] == ["session.event_appended"]


def test_changed_fields_name_only_session_fields(gateway, stream, bus_queue):
    sid = gateway.create({}).body["session_id"]
    gateway.request("PATCH", f"/v1/sessions/{sid}", {"ttl_seconds": 120, "metadata": {"k": "v"}})
    publish(gateway, stream.read())
    updated = [m for m in bus_queue() if m["detail-type"] == "session.updated"]
    assert updated[0]["detail"]["changed_fields"] == ["expires_at", "metadata"]

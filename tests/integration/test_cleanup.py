"""The scheduled cleanup: removes exactly what is due, costs what it removes, resumes after a stop."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from local.api.gateway import LambdaContext
from local.event_sources.stream_reader import StreamReader
from sessions import store
from sessions.clock import format_ms, now_ms
from tests.integration.conftest import publish, set_env

HOUR = 3_600_000


@pytest.fixture(autouse=True)
def no_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")


def backdate(table, session_id: str, *, hours: float = 2, tenant: str = "acme", idle_only: bool = False) -> None:
    """Make a session due as if time had passed (DynamoDB's TTL never runs in the emulator)."""
    key = {"PK": f"T#{tenant}#S#{session_id}", "SK": "#SESSION"}
    past = format_ms(now_ms() - int(hours * HOUR))
    item = table.get_item(Key=key)["Item"]
    values = {":active": past, ":purge": past, ":bucket": store.expiry_bucket(key["PK"], past)}
    expression = "SET last_active_at = :active, purge_at = :purge, expiry_bucket = :bucket"
    if not idle_only:
        values[":expires"] = past
        expression += ", expires_at = :expires"
    table.update_item(Key=key, UpdateExpression=expression, ExpressionAttributeValues=values)
    assert item


def run(gateway, *, dry_run: bool = False, remaining=None) -> dict[str, Any]:
    context = LambdaContext("CleanupFunction", timeout_seconds=300)
    if remaining is not None:
        context.get_remaining_time_in_millis = remaining  # type: ignore[method-assign]
    event = {"dry_run": True} if dry_run else json.loads('{"detail-type": "Scheduled Event", "detail": {}}')
    return gateway.handler("CleanupFunction")(event, context)


def all_items(table) -> dict[tuple[str, str], dict[str, Any]]:
    items = table.scan()["Items"]  # tests may scan; the service never does
    return {(item["PK"], item["SK"]): item for item in items}


def sessions_with_history(gateway, prefix: str, count: int, events: int = 3, **caller) -> list[str]:
    ids = []
    for i in range(count):
        sid = f"{prefix}{i}"
        assert gateway.create({"session_id": sid}, **caller).status == 201
        for _ in range(events):
            gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "message", "content": "x"}, **caller)
        ids.append(sid)
    return ids


def test_expired_sessions_and_their_history_go_and_live_ones_are_untouched(gateway, table):
    live = sessions_with_history(gateway, "live", 3)
    expired = sessions_with_history(gateway, "old", 3)
    for sid in expired:
        backdate(table, sid)
    before = all_items(table)
    summary = run(gateway)
    assert summary == {
        "dry_run": False,
        "sessions_expired": 3,
        "sessions_purged": 0,
        "history_events_deleted": 9,
        "complete": True,
    }
    after = all_items(table)
    gone = set(before) - set(after)
    assert gone == {key for key in before if any(key[0] == f"T#acme#S#{sid}" for sid in expired)}
    for key, item in after.items():
        if key[0].startswith("T#acme#S#live"):
            assert item == before[key]  # untouched, to the attribute
    assert all(gateway.request("GET", f"/v1/sessions/{sid}").status == 200 for sid in live)


def test_deleted_sessions_are_purged(gateway, table):
    sessions_with_history(gateway, "del", 2)
    gateway.request("DELETE", "/v1/sessions/del0")
    summary = run(gateway)
    assert summary["sessions_purged"] == 1 and summary["history_events_deleted"] == 3
    assert summary["sessions_expired"] == 0
    assert not [key for key in all_items(table) if key[0] == "T#acme#S#del0"]
    assert [key for key in all_items(table) if key[0] == "T#acme#S#del1"]


def test_inactivity_expiry(gateway, table, monkeypatch):
    set_env(monkeypatch, INACTIVITY_TIMEOUT_SECONDS="3600")
    sessions_with_history(gateway, "idle", 1, events=1)
    sessions_with_history(gateway, "busy", 1, events=1)
    backdate(table, "idle0", hours=2, idle_only=True)
    item = table.get_item(Key={"PK": "T#acme#S#busy0", "SK": "#SESSION"})["Item"]
    assert item["purge_at"] < item["expires_at"]  # the idle deadline comes first
    summary = run(gateway)
    assert summary["sessions_expired"] == 1
    assert gateway.request("GET", "/v1/sessions/idle0").status == 404
    assert gateway.request("GET", "/v1/sessions/busy0").status == 200


def test_a_dry_run_deletes_nothing_and_reports_what_the_real_run_then_does(gateway, table):
    sessions_with_history(gateway, "exp", 4, events=2)
    sessions_with_history(gateway, "gone", 2, events=1)
    for sid in ("exp0", "exp1", "exp2"):
        backdate(table, sid)
    gateway.request("DELETE", "/v1/sessions/gone0")
    before = all_items(table)
    dry = run(gateway, dry_run=True)
    assert all_items(table).keys() - {k for k in all_items(table) if k[0] == "#CLEANUP"} == before.keys()
    real = run(gateway)
    assert dry == {**real, "dry_run": True}
    assert real == {
        "dry_run": False,
        "sessions_expired": 3,
        "sessions_purged": 1,
        "history_events_deleted": 7,
        "complete": True,
    }


def test_a_run_out_of_time_stops_cleanly_and_the_next_run_completes_with_exact_totals(gateway, table):
    sessions_with_history(gateway, "slow", 30, events=2)
    for i in range(30):
        backdate(table, f"slow{i}")
    budget = {"calls": 0}

    def remaining() -> int:
        budget["calls"] += 1
        return 60_000 if budget["calls"] < 6 else 5_000  # runs out after a few checks

    first = run(gateway, remaining=remaining)
    assert first["complete"] is False
    second = run(gateway)
    assert second["complete"] is True
    assert first["sessions_expired"] + second["sessions_expired"] == 30
    assert first["history_events_deleted"] + second["history_events_deleted"] == 60
    assert not [key for key in all_items(table) if key[0].startswith("T#acme#S#slow")]


def test_unprocessed_items_are_retried_until_done(gateway, table, monkeypatch):
    sessions_with_history(gateway, "retry", 10, events=2)
    for i in range(10):
        backdate(table, f"retry{i}")
    client = store.dynamodb_client()
    real = client.batch_write_item
    calls = Counter()

    def stingy(RequestItems):
        calls["batch"] += 1
        ((table_name, requests),) = RequestItems.items()
        if calls["batch"] % 2:  # every other call, DynamoDB takes only the first half
            taken, left = requests[: len(requests) // 2], requests[len(requests) // 2 :]
            real(RequestItems={table_name: taken})
            return {"UnprocessedItems": {table_name: left}}
        return real(RequestItems=RequestItems)

    monkeypatch.setattr(client, "batch_write_item", stingy)
    monkeypatch.setattr("sessions.cleanup.time.sleep", lambda _: None)
    summary = run(gateway)
    assert summary["sessions_expired"] == 10 and summary["history_events_deleted"] == 20 and summary["complete"]
    assert not [key for key in all_items(table) if key[0].startswith("T#acme#S#retry")]


def test_cost_grows_with_what_it_removes_not_with_the_table(gateway, table, aws):
    live_bucket_time = format_ms(now_ms() + 10 * 24 * HOUR)
    past = format_ms(now_ms() - 2 * HOUR)
    with table.batch_writer() as batch:
        for i in range(10_000):
            pk = f"T#acme#S#live-{i}"
            batch.put_item(
                Item={
                    "PK": pk,
                    "SK": "#SESSION",
                    "session_id": f"live-{i}",
                    "incarnation": "a",
                    "expires_at": live_bucket_time,
                    "purge_at": live_bucket_time,
                    "expiry_bucket": store.expiry_bucket(pk, live_bucket_time),
                    "last_active_at": past,
                }
            )
        for i in range(200):
            pk = f"T#acme#S#dead-{i}"
            batch.put_item(
                Item={
                    "PK": pk,
                    "SK": "#SESSION",
                    "session_id": f"dead-{i}",
                    "incarnation": "b",
                    "tenant_id": "acme",
                    "user_id": "u",
                    "status": "active",
                    "expires_at": past,
                    "purge_at": past,
                    "expiry_bucket": store.expiry_bucket(pk, past),
                    "last_active_at": past,
                }
            )
            for seq in range(1, 4):
                batch.put_item(Item={"PK": pk, "SK": f"E#b#{seq:010d}", "type": "message"})
    store.default_store().put_cleanup_checkpoint(format_ms(now_ms() - 3 * HOUR)[:13])
    counted: Counter = Counter()
    client = store.dynamodb_client()

    def count(model, params, **_):
        counted[model.name] += 1

    def read(parsed, model, **_):
        if model.name == "Query":
            counted["items read"] += parsed.get("ScannedCount", 0)

    client.meta.events.register("before-call.dynamodb", count)
    client.meta.events.register("after-call.dynamodb", read)
    summary = run(gateway)
    assert summary["sessions_expired"] == 200 and summary["history_events_deleted"] == 600
    needed = 200 + 600  # the index entries of the 200, and their history
    assert counted["items read"] <= 2 * needed
    # each session goes on its own condition (still due, same incarnation); its history in batches of 25
    assert counted["DeleteItem"] == 200
    assert counted["BatchWriteItem"] <= -(-600 // 25)
    assert "Scan" not in counted


def test_each_expiry_is_announced_with_its_reason_and_counted_out(gateway, table, stream, bus_queue, monkeypatch):
    set_env(monkeypatch, INACTIVITY_TIMEOUT_SECONDS="3600")
    for sid in ("timed", "idle", "deleted"):
        gateway.create({"session_id": sid})
    backdate(table, "timed")
    backdate(table, "idle", idle_only=True)
    gateway.request("DELETE", "/v1/sessions/deleted")
    summary = run(gateway)
    assert (summary["sessions_expired"], summary["sessions_purged"]) == (2, 1)
    records = stream.read()
    assert publish(gateway, records) == {"batchItemFailures": []}
    publish(gateway, records)  # redelivered: counted once
    received = bus_queue()
    expired = {
        m["detail"]["session_id"]: m["detail"]["reason"] for m in received if m["detail-type"] == "session.expired"
    }
    assert expired == {"timed": "cleanup", "idle": "inactive"}
    runs = [m["detail"] for m in received if m["detail-type"] == "sessions.cleanup_completed"]
    assert runs and {k: runs[0][k] for k in summary} == summary and runs[0]["event_id"]
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert stats["expired_total"] == 2 and stats["deleted_total"] == 1
    assert stats["sessions"] == {"active": 0, "paused": 0, "completed": 0, "crashed": 0}
    counters = table.get_item(Key={"PK": "T#acme#U#u-1", "SK": "#COUNTERS"})["Item"]
    assert counters["open_sessions"] == 0  # every slot is free again


def test_history_orphaned_by_dynamodb_ttl_is_purged(gateway, table, aws):
    reader = StreamReader(boto3.Session(), aws["SessionsTable"])
    sessions_with_history(gateway, "ttl", 1, events=4)
    reader.read()
    table.delete_item(Key={"PK": "T#acme#S#ttl0", "SK": "#SESSION"})  # DynamoDB's TTL got there first
    records = reader.read()
    for record in records:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    gateway.handler("PublishEventsFunction")({"Records": records}, LambdaContext("PublishEventsFunction"))
    summary = run(gateway)
    assert summary["history_events_deleted"] == 4
    left = [key for key in all_items(table) if key[0] == "T#acme#S#ttl0"]
    assert len(left) == 1 and left[0][1].startswith(
        "#SETTLED#"
    )  # kept against redelivery; history and purge marker gone
    assert run(gateway)["history_events_deleted"] == 0


@pytest.mark.parametrize("payload", [{}, {"dry_run": "yes"}])
def test_anything_but_dry_run_true_is_a_real_run(gateway, payload):
    summary = gateway.handler("CleanupFunction")(payload, LambdaContext("CleanupFunction", timeout_seconds=300))
    assert summary["dry_run"] is False

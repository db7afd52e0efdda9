"""History retention: the cleanup removes the events past a tenant's history_retention_days, and nothing else.

Events are aged by moving their append time back in the table (the emulator's clock cannot be moved):
`created_at` and the `purge_at` the age index sorts them by, as an append that long ago wrote them.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from local.api.gateway import LambdaContext
from local.testing import record_store_calls
from sessions.core.clock import format_ms, now_ms
from tests.integration.conftest import publish, set_env

DAY = 86_400_000
ADMIN = {"user": "boss", "roles": ["admin"]}


@pytest.fixture(autouse=True)
def no_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")


def retain(gateway, days: int | None, tenant: str = "acme") -> None:
    response = gateway.request("PATCH", "/v1/tenant/settings", {"history_retention_days": days}, tenant=tenant, **ADMIN)
    assert response.status == 200, response.body


def session_with_events(gateway, sid: str, count: int, tenant: str = "acme", *, large: bool = False) -> None:
    assert gateway.create({"session_id": sid}, tenant=tenant).status == 201
    for i in range(count):
        content = ("x" * 40_000) if large and i == 0 else f"said privately {i}"
        body = {"type": "message", "content": content, "usage": {"tokens": 10}}
        assert gateway.request("POST", f"/v1/sessions/{sid}/events", body, tenant=tenant).status == 201


def age(table, sid: str, seqs: list[int], days: float, tenant: str = "acme") -> None:
    """Move the append time of the session's events `seqs` `days` back."""
    pk = f"T#{tenant}#S#{sid}"
    past = format_ms(now_ms() - int(days * DAY))
    for item in table.query(KeyConditionExpression=Key("PK").eq(pk) & Key("SK").begins_with("E#"))["Items"]:
        if int(item["seq"]) in seqs:
            table.update_item(
                Key={"PK": item["PK"], "SK": item["SK"]},
                UpdateExpression="SET created_at = :at, purge_at = :at",
                ExpressionAttributeValues={":at": past},
            )


def run(gateway) -> dict[str, Any]:
    event = json.loads('{"detail-type": "Scheduled Event", "detail": {}}')
    return gateway.handler("CleanupFunction")(event, LambdaContext("CleanupFunction", timeout_seconds=300))


def history(gateway, sid: str, tenant: str = "acme") -> list[int]:
    response = gateway.request("GET", f"/v1/sessions/{sid}/history", tenant=tenant)
    assert response.status == 200, response.body
    return [event["seq"] for event in response.body["events"]]


def stats(gateway, tenant: str) -> dict[str, Any]:
    body = gateway.request("GET", "/v1/sessions/stats", query="scope=tenant", tenant=tenant, **ADMIN).body
    return {key: value for key, value in body.items() if key != "computed_at"}


def test_the_cleanup_removes_events_past_retention_and_nothing_else(gateway, table):
    retain(gateway, 30)
    session_with_events(gateway, "old", 5)
    session_with_events(gateway, "fresh", 2)
    session_with_events(gateway, "kept", 3, tenant="globex")  # no retention there
    age(table, "old", [1, 2, 3], days=31)
    age(table, "fresh", [1, 2], days=29)  # not yet
    age(table, "kept", [1, 2, 3], days=400, tenant="globex")
    before = gateway.request("GET", "/v1/sessions/old").body

    summary = run(gateway)
    assert summary["retention_events_deleted"] == 3 and summary["complete"] is True
    assert history(gateway, "old") == [4, 5]  # the history starts later; seqs are never given again
    assert history(gateway, "fresh") == [1, 2]
    assert history(gateway, "kept", tenant="globex") == [1, 2, 3]
    after = gateway.request("GET", "/v1/sessions/old").body
    assert after["version"] == before["version"] + 1
    assert after["usage"]["event_count"] == 2 and after["usage"]["tokens_used"] == 20
    assert after["expires_at"] == before["expires_at"]
    appended = gateway.request("POST", "/v1/sessions/old/events", {"type": "message", "content": "next"})
    assert appended.body["seq"] == 6
    assert run(gateway)["retention_events_deleted"] == 0  # nothing left past it


def test_stats_and_the_session_read_as_after_the_same_removal_by_request(gateway, table):
    """Tenant acme loses seqs 1-3 to retention, tenant twin by DELETE …/events?seq=…: both read the same."""
    retain(gateway, 7)
    for tenant in ("acme", "twin"):
        session_with_events(gateway, "s", 5, tenant=tenant)
    age(table, "s", [1, 2, 3], days=8)
    removed = gateway.request("DELETE", "/v1/sessions/s/events", query="seq=1&seq=2&seq=3", tenant="twin")
    assert removed.status == 200, removed.body
    run(gateway)
    assert stats(gateway, "acme") == stats(gateway, "twin")
    views = [gateway.request("GET", "/v1/sessions/s", tenant=tenant).body for tenant in ("acme", "twin")]
    same = ("usage", "version", "last_seq", "status", "history_base_seq", "compacted_count")
    retained, removed_by_request = ({key: view.get(key) for key in same} for view in views)
    assert retained == removed_by_request
    assert history(gateway, "s") == history(gateway, "s", tenant="twin") == [4, 5]


def test_the_stream_announces_the_removal_without_content(gateway, table, stream, bus_queue):
    retain(gateway, 1)
    session_with_events(gateway, "s", 3)
    age(table, "s", [1, 2], days=2)
    stream.read()  # what came before
    run(gateway)
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    removals = [m for m in bus_queue() if m["detail-type"] == "session.events_removed"]
    assert len(removals) == 1
    detail = removals[0]["detail"]
    assert detail["session_id"] == "s" and detail["seqs"] == [1, 2] and detail["from_seq"] is None
    assert detail["actor"] is None  # no caller removed them: the cleanup did
    assert "privately" not in json.dumps(removals)


def test_large_parts_of_removed_events_leave_the_bucket(gateway, table, aws):
    import boto3

    retain(gateway, 1)
    session_with_events(gateway, "big", 2, large=True)
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket=aws["EventBlobsBucket"]).get("KeyCount", 0) >= 1
    age(table, "big", [1], days=2)
    assert run(gateway)["retention_events_deleted"] == 1
    assert s3.list_objects_v2(Bucket=aws["EventBlobsBucket"]).get("KeyCount", 0) == 0
    assert history(gateway, "big") == [2]


def test_a_fork_keeps_reading_until_its_own_copy_is_past_retention_too(gateway, table):
    retain(gateway, 3)
    session_with_events(gateway, "parent", 4)
    assert gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "child"}).status == 201
    age(table, "parent", [1, 2], days=4)
    run(gateway)
    run(gateway)  # the copies the parent's removal gave the fork carry the events' age: past it as well
    assert history(gateway, "parent") == [3, 4]
    assert history(gateway, "child") == [3, 4]


def test_a_retention_set_back_to_null_removes_nothing_and_a_lowered_one_applies_to_stored_events(gateway, table):
    session_with_events(gateway, "s", 3)
    age(table, "s", [1], days=100)
    age(table, "s", [2], days=10)
    retain(gateway, 30)
    retain(gateway, None)
    assert run(gateway)["retention_events_deleted"] == 0
    assert history(gateway, "s") == [1, 2, 3]
    retain(gateway, 5)
    assert run(gateway)["retention_events_deleted"] == 2
    assert history(gateway, "s") == [3]


def test_an_expired_session_is_left_to_its_purge(gateway, table):
    from tests.integration.conftest import expire_in_place

    retain(gateway, 1)
    session_with_events(gateway, "gone", 2)
    age(table, "gone", [1, 2], days=2)
    expire_in_place(table, ["gone"])
    summary = run(gateway)
    assert summary["sessions_expired"] == 1 and summary["history_events_deleted"] == 2
    assert summary["retention_events_deleted"] == 0


def test_the_cleanup_reads_only_what_retention_removes(gateway, table, monkeypatch):
    """O(removed): a session's kept events are never read, whatever their number."""
    retain(gateway, 1)
    session_with_events(gateway, "long", 120)
    age(table, "long", [1, 2], days=2)
    calls = record_store_calls(monkeypatch)
    assert run(gateway)["retention_events_deleted"] == 2
    # every item a Query read: the retention list's entry, and the two events; never one of the 118 kept
    assert sum(calls.scanned) == 1 + 2
    retention_calls = Counter(calls.names)
    assert retention_calls["get_item"] <= 3  # the checkpoint, the session (and its counters' nothing more)
    assert retention_calls["batch_get_item"] == 1 and retention_calls["transact_write_items"] == 1


def test_retention_racing_appends_and_a_removal_by_request_keeps_the_session_consistent(gateway, table):
    """The cleanup's removal, appends and a DELETE of seqs on one session at once: every write wins once."""
    from sessions.domain.identity import Identity
    from sessions.domain.models import AppendEventRequest
    from sessions.usecases.event_edits import delete_events
    from sessions.usecases.events import append_event
    from sessions.usecases.retention import enforce_retention
    from tests.integration.conftest import concurrently

    retain(gateway, 1)
    session_with_events(gateway, "busy", 6)
    age(table, "busy", [1, 2, 3, 4], days=2)
    me = Identity("acme", "u-1")

    def act(i: int) -> Any:
        if i == 0:
            return enforce_retention(lambda: False).events_removed
        if i == 1:
            return delete_events(me, "busy", seqs=[4, 5], return_events=False, if_match=None)[0]["removed"]
        return append_event(me, "busy", AppendEventRequest(type="message", usage={"tokens": 10}))

    results = concurrently(6, act)
    assert all(status == 200 for status, _ in results), results
    retained, by_request = results[0][1], results[1][1]
    assert retained + by_request == 5  # seq 4 went once, by whichever won; 1-3 by retention, 5 by request
    kept = history(gateway, "busy")
    assert kept[:1] == [6] and len(kept) == 1 + 4  # seq 6 and the four appended (7 … 10)
    session = gateway.request("GET", "/v1/sessions/busy").body
    assert session["usage"]["event_count"] == len(kept) and session["usage"]["tokens_used"] == 10 * len(kept)
    assert stats(gateway, "acme")["events_total"] == len(kept)


def test_a_run_out_of_time_leaves_the_rest_to_the_next(gateway, table):
    from sessions.store.keys import age_bucket
    from sessions.usecases.retention import enforce_retention

    retain(gateway, 1)
    session_with_events(gateway, "long", 130)
    age(table, "long", list(range(1, 121)), days=2)
    shard = int(age_bucket("acme", "T#acme#S#long").rsplit("#", 1)[1])
    asked = []

    def out_of_time() -> bool:  # time for the (empty) shards before the session's, and one page of it
        asked.append(1)
        return len(asked) > shard + 1

    stopped = enforce_retention(out_of_time)
    assert stopped.complete is False and stopped.events_removed == 100  # one page: two transactions (90 + 10)
    assert history(gateway, "long")[0] == 101
    summary = run(gateway)
    assert summary["retention_events_deleted"] == 20 and summary["complete"] is True
    assert history(gateway, "long") == list(range(121, 131))
    assert gateway.request("GET", "/v1/sessions/long").body["usage"]["event_count"] == 10

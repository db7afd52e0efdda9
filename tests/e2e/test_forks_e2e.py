"""Forks over real HTTP against the dev server: reads across the fork point, the parent's changes, races, refusals."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from sessions.core.clock import format_ms, now_ms
from sessions.store import expiry_bucket
from tests.e2e.client import Client, Reply
from tests.e2e.conftest import DevServer
from tests.e2e.test_concurrency import all_at_once

LARGE = "x" * 40_000  # over 32 KiB: stored in S3


def event(index: int, **extra: Any) -> dict[str, Any]:
    kind = ("message", "task", "tool")[index % 3]
    second = f"{index % 60:02d}"
    return {
        "type": kind,
        "content": f"turn {index}",
        "timestamp": f"2026-01-01T00:{index // 60:02d}:{second}.000Z",
        "usage": {"tokens": index},
        "payload": {"i": index},
        **extra,
    }


def append(caller: Client, sid: str, *bodies: dict[str, Any]) -> None:
    for start in range(0, len(bodies), 20):
        reply = caller.post(f"/v1/sessions/{sid}/events", {"events": list(bodies[start : start + 20])})
        assert reply.status == 201, reply.body


def pages(caller: Client, sid: str, **params: Any) -> list[list[tuple[Any, ...]]]:
    """Every page of a reading, each as what a reader sees of its events (ids and append times left out)."""
    read, cursor = [], None
    while True:
        query = urlencode({**params, **({"cursor": cursor} if cursor else {})})
        reply = caller.get(f"/v1/sessions/{sid}/history?{query}")
        assert reply.status == 200, reply.body
        body = reply.json()
        read.append(
            [
                (e["seq"], e["type"], e.get("content"), json.dumps(e.get("payload")), e["timestamp"], e.get("base"))
                for e in body["events"]
            ]
        )
        cursor = body["next_cursor"]
        if cursor is None:
            return read


def snapshot(caller: Client, sid: str) -> dict[str, Any]:
    everything = caller.get(f"/v1/sessions/{sid}/history?limit=100&include_payload=true&include_compacted=true")
    events = everything.json()["events"]
    return {
        "history": events,
        "one_by_one": [caller.get(f"/v1/sessions/{sid}/events/{e['seq']}").json() for e in events],
        "usage": caller.get(f"/v1/sessions/{sid}").json()["usage"],
    }


def cleanup(dev_server: DevServer) -> dict[str, Any]:
    lambdas = boto3.client(
        "lambda",
        endpoint_url=dev_server.lambda_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    summary: dict[str, Any] = json.loads(
        lambdas.invoke(FunctionName="CleanupFunction", Payload=b"{}")["Payload"].read()
    )
    return summary


def expire(dev_server: DevServer, tenant: str, sid: str) -> None:
    """Move the session's expiry two hours back in the emulator's table, as time would have."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=dev_server.moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (table,) = [name for name in dynamodb.list_tables()["TableNames"] if "SessionsTable" in name]
    key = {"PK": {"S": f"T#{tenant}#S#{sid}"}, "SK": {"S": "#SESSION"}}
    past = format_ms(now_ms() - 2 * 3_600_000)
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET expires_at = :past, purge_at = :past, last_active_at = :past, expiry_bucket = :bucket",
        ExpressionAttributeValues={":past": {"S": past}, ":bucket": {"S": expiry_bucket(key["PK"]["S"], past)}},
    )


@pytest.fixture
def caller(api: Client, user: str, tenant: str) -> Client:
    return api.as_(user=user, tenant=tenant)


def test_a_fork_over_http_reads_as_a_session_holding_its_events(caller: Client) -> None:
    parent_events = [event(i, **({"base": True} if i == 3 else {})) for i in range(1, 13)]
    parent_events[4] = {**parent_events[4], "content": LARGE}
    own = [event(i) for i in range(20, 24)]
    parent = caller.post("/v1/sessions", {"title": "main", "metadata": {"k": "v"}}).json()["session_id"]
    append(caller, parent, *parent_events)
    forked = caller.post(f"/v1/sessions/{parent}/fork", {"at_seq": 8, "title": "branch"})
    assert forked.status == 201, forked.body
    assert (
        forked.headers["etag"] == '"1"' and forked.headers["location"] == f"/v1/sessions/{forked.json()['session_id']}"
    )
    fork = forked.json()
    assert fork["forked_from"] == {"session_id": parent, "seq": 8} and fork["metadata"] == {"k": "v"}
    assert fork["usage"]["event_count"] == 8 and fork["history_base_seq"] == 3
    append(caller, fork["session_id"], *own)
    reference = caller.post("/v1/sessions", {}).json()["session_id"]
    append(caller, reference, *parent_events[:8], *own)
    for order in ("asc", "desc"):
        for limit in (1, 2, 3, 5, 13):
            for filters in ({}, {"type": "task"}, {"include_compacted": "true", "include_payload": "true"}):
                params = {"order": order, "limit": limit, **filters}
                assert pages(caller, fork["session_id"], **params) == pages(caller, reference, **params), params
    listed = caller.get("/v1/sessions?limit=100").json()["sessions"]
    assert next(s for s in listed if s["session_id"] == fork["session_id"])["forked_from"] == fork["forked_from"]


def test_the_parents_changes_and_purge_leave_its_forks_reading_the_same(
    caller: Client, dev_server: DevServer, tenant: str
) -> None:
    parent = caller.post("/v1/sessions", {}).json()["session_id"]
    append(caller, parent, *(event(i, **({"content": LARGE} if i == 4 else {})) for i in range(1, 11)))
    child = caller.post(f"/v1/sessions/{parent}/fork", {"at_seq": 8}).json()["session_id"]
    append(caller, child, event(30))
    grandchild = caller.post(f"/v1/sessions/{child}/fork", {}).json()["session_id"]
    before = {sid: snapshot(caller, sid) for sid in (child, grandchild)}
    assert caller.patch(f"/v1/sessions/{parent}/events/4", {"content": "[redacted]"}).status == 200
    assert caller.delete(f"/v1/sessions/{parent}/events?from_seq=6").status == 200
    compaction = {"events": [{"type": "summary", "base": True}], "replace_from_seq": 3}
    assert caller.post(f"/v1/sessions/{parent}/events", compaction).status == 201
    assert caller.delete(f"/v1/sessions/{parent}").status == 204
    assert cleanup(dev_server)["complete"] is True
    for sid in (child, grandchild):
        assert snapshot(caller, sid) == before[sid], sid
    # the middle one expires and is purged: its fork still reads what it read
    expire(dev_server, tenant, child)
    assert cleanup(dev_server)["complete"] is True
    assert caller.get(f"/v1/sessions/{child}").status == 404
    assert snapshot(caller, grandchild) == before[grandchild]


def test_appends_to_a_parent_and_its_fork_at_once_over_http(caller: Client) -> None:
    parent = caller.post("/v1/sessions", {}).json()["session_id"]
    append(caller, parent, *(event(i) for i in range(1, 6)))
    fork = caller.post(f"/v1/sessions/{parent}/fork", {}).json()["session_id"]

    def call(index: int) -> Reply:
        sid = parent if index % 2 else fork
        return caller.post(f"/v1/sessions/{sid}/events", {"type": "message", "content": f"{sid}-{index}"})

    replies = all_at_once(12, call)
    assert all(reply.status == 201 for reply in replies), [(r.status, r.body[:200]) for r in replies]
    for sid in (parent, fork):
        history = caller.get(f"/v1/sessions/{sid}/history?limit=100").json()["events"]
        assert [e["seq"] for e in history] == list(range(1, 12)), sid
        assert all(e["content"].startswith(f"{sid}-") for e in history[5:]), sid


def test_forks_over_http_are_refused_as_the_contract_says(api: Client, caller: Client, user: str, tenant: str) -> None:
    parent = caller.post("/v1/sessions", {"events": [event(1), event(2)]}).json()["session_id"]
    path = f"/v1/sessions/{parent}/fork"
    for body in ({"at_seq": 3}, {"at_seq": -1}, {"at_seq": "1"}, {"at_seq": 1, "extra": True}):
        refused = caller.post(path, body)
        assert refused.status == 422 and refused.json()["code"] == "validation_error", body
    assert caller.post(f"{path}?sort=desc", {}).status == 422
    for stranger in (api.as_(user=user, tenant="another-tenant"), api.as_(user="someone-else", tenant=tenant)):
        assert stranger.post(path, {}).json()["code"] == "session_not_found"
    taken = caller.post(path, {"session_id": parent})
    assert taken.status == 409 and taken.json()["code"] == "session_id_taken"
    key = {"Idempotency-Key": "fork-1"}
    first, again = caller.post(path, {"at_seq": 1}, headers=key), caller.post(path, {"at_seq": 1}, headers=key)
    assert first.status == again.status == 201 and first.json() == again.json()
    assert caller.post(path, {"at_seq": 2}, headers=key).json()["code"] == "idempotency_key_reused"
    while caller.post("/v1/sessions", {}).status == 201:  # to the open-session cap
        pass
    capped = caller.post(path, {})
    assert capped.status == 429 and capped.json()["code"] == "session_limit_reached"


def test_a_seq_range_over_http_reads_a_forks_range_across_its_fork_point(caller: Client) -> None:
    """from_seq/to_seq as a client sends them: the range in both orders, page by page, and its refusals."""
    parent = caller.post("/v1/sessions", {}).json()["session_id"]
    append(caller, parent, *[event(i) for i in range(1, 13)])
    fork = caller.post(f"/v1/sessions/{parent}/fork", {"at_seq": 8}).json()["session_id"]
    append(caller, fork, *[event(i) for i in range(20, 24)])  # seqs 9-12, the fork's own
    for order, expected in (("asc", [6, 7, 8, 9, 10]), ("desc", [10, 9, 8, 7, 6])):
        for limit in (1, 2, 5):
            read = pages(caller, fork, order=order, limit=limit, from_seq=6, to_seq=10)
            assert [seq for page in read for seq, *_ in page] == expected, (order, limit)
            assert all(read), "never an empty page: the range's end is the Query's end"
    whole = caller.get(f"/v1/sessions/{fork}/history?from_seq=9&limit=1").json()
    assert whole["total"] == 12 and [e["content"] for e in whole["events"]] == ["turn 20"]
    for query in ("from_seq=0", "to_seq=-1", "from_seq=abc", "from_seq=7&to_seq=6"):
        refused = caller.get(f"/v1/sessions/{fork}/history?{query}")
        assert refused.status == 422 and refused.json()["code"] == "validation_error", query

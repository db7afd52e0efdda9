"""Erasure of a user's data (POST /v1/users/{user_id}/erasure), in-process against moto.

The worker is driven as Lambda's event-source mapping drives it: the table's stream, through the
template's own FilterCriteria, into its handler (conftest's `streams`); the publisher gets its own
filtered records, so the user.erased event and the settlement of erased sessions are exercised too.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from local.api.gateway import LambdaContext
from sessions.core.clock import now_ms
from sessions.usecases import erasure, jobs
from tests.integration.conftest import JobStreams, set_env

BIG = "x" * (40 * 1024)  # over the inline limit (32 KiB): stored in S3


def post_event(gateway, session_id: str, content: str = "hello", **kwargs: Any) -> Any:
    response = gateway.request(
        "POST", f"/v1/sessions/{session_id}/events", {"type": "message", "content": content}, **kwargs
    )
    assert response.status == 201, response.body
    return response


def populate(gateway, user: str, tenant: str = "acme", sessions: int = 3, events: int = 3) -> list[str]:
    """Sessions with events (one large), a state document in an app, a deleted session."""
    ids = []
    for index in range(sessions):
        sid = f"{user}-s{index}"
        body = {"session_id": sid, "app_name": "shop", "title": f"secret title of {user}"}
        assert gateway.create(body, user=user, tenant=tenant).status == 201
        for seq in range(events):
            post_event(gateway, sid, f"{user} said {seq}", user=user, tenant=tenant)
        ids.append(sid)
    post_event(gateway, ids[0], BIG, user=user, tenant=tenant)
    for app in ("shop", "chat"):  # chat: an app none of the user's sessions names
        patched = gateway.request(
            "PATCH", f"/v1/apps/{app}/users/{user}/state", {"likes": user}, user=user, tenant=tenant
        )
        assert patched.status == 200, patched.body
    assert gateway.request("DELETE", f"/v1/sessions/{ids[-1]}", user=user, tenant=tenant).status == 204
    return ids


def everything(aws) -> tuple[list[dict[str, Any]], list[str]]:
    table = boto3.resource("dynamodb").Table(aws["SessionsTable"])
    items, response = [], table.scan()
    items += response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
        items += response["Items"]
    listed = boto3.client("s3").list_objects_v2(Bucket=aws["EventBlobsBucket"]).get("Contents", [])
    return items, [entry["Key"] for entry in listed]


def naming(aws, user: str) -> list[Any]:
    """Every item, idempotency record and object that names the user or holds their words."""
    items, keys = everything(aws)
    idempotency = boto3.resource("dynamodb").Table(aws["IdempotencyTable"]).scan()["Items"]
    found = [item for item in items + idempotency if user in json.dumps(item, default=str)]
    return found + [key for key in keys if user in key]


def start(gateway, whom: str, body: Any = None, **kwargs: Any) -> Any:
    return gateway.request("POST", f"/v1/users/{quote(whom, safe='')}/erasure", body, **kwargs)


def test_an_erasure_leaves_nothing_of_the_user_and_touches_no_one_else(gateway, aws, streams, bus_queue):
    populate(gateway, "alice")
    populate(gateway, "bob")
    populate(gateway, "alice", tenant="globex")
    streams.drain()
    bob_before = [item for item in everything(aws)[0] if "bob" in json.dumps(item, default=str)]
    globex_before = [item for item in everything(aws)[0] if "globex" in json.dumps(item, default=str)]
    bus_queue()  # what the setup published

    started = start(gateway, "alice", user="alice")
    assert started.status == 202, started.body
    erasure_id = started.body["erasure_id"]
    assert started.headers["location"] == f"/v1/erasures/{erasure_id}"
    assert started.body["status"] == "running"
    streams.drain()

    job = gateway.request("GET", f"/v1/erasures/{erasure_id}", user="alice")
    assert job.status == 200
    assert job.body["status"] == "completed"
    assert job.body["counts"] == {
        "sessions_erased": 3,
        "events_deleted": 10,
        "markers_deleted": 0,  # slots go with their sessions (as a delete gives them back); no purge marker yet
        "objects_deleted": 1,
        "state_documents_deleted": 2,  # shop (found through its sessions) and chat (through its registration)
    }
    # what remains naming alice in acme: the job itself (ids and counts, kept 30 days by TTL) and nothing else
    left = [item for item in naming(aws, "alice") if "globex" not in json.dumps(item, default=str)]
    assert [item["SK"] for item in left] == ["#ERASURE"]
    assert left[0]["ttl"] > now_ms() // 1000
    assert [item for item in everything(aws)[0] if "bob" in json.dumps(item, default=str)] == bob_before
    assert [item for item in everything(aws)[0] if "globex" in json.dumps(item, default=str)] == globex_before
    assert any("globex" in key for key in everything(aws)[1])  # the other tenant's alice keeps her large part

    events = bus_queue()
    erased = [event for event in events if event["detail-type"] == "user.erased"]
    assert len(erased) == 1
    assert erased[0]["detail"] | {"event_id": "", "occurred_at": ""} == {
        "event_id": "",
        "occurred_at": "",
        "tenant_id": "acme",
        "user_id": "alice",
        "erasure_id": erasure_id,
        **job.body["counts"],
    }
    assert not [event for event in events if event["detail-type"].startswith("session.")]  # no per-session news


def test_the_tenant_stats_count_erased_sessions_out_as_a_delete_does(gateway, streams):
    populate(gateway, "alice", sessions=2)
    populate(gateway, "bob", sessions=2)
    streams.drain()
    before = gateway.request("GET", "/v1/sessions/stats", roles=["admin"], query="scope=tenant").body
    assert start(gateway, "alice", user="admin-1", roles=["admin"]).status == 202
    streams.drain()
    after = gateway.request("GET", "/v1/sessions/stats", roles=["admin"], query="scope=tenant").body
    assert after["sessions"]["active"] == before["sessions"]["active"] - 1  # alice's live one
    assert after["deleted_total"] == before["deleted_total"] + 1
    assert after["expired_total"] == before["expired_total"]
    assert after["created_total"] == before["created_total"]  # running totals keep what happened
    assert after["events_total"] == before["events_total"]
    assert gateway.request("GET", "/v1/sessions/stats", user="alice").body["sessions"]["active"] == 0


def test_who_may_start_and_see_an_erasure(gateway, streams):
    assert start(gateway, "alice", user="bob").status == 403
    assert start(gateway, "alice", user="bob").body["code"] == "forbidden"
    refused = start(gateway, "alice", user="alice", query="force=true")
    assert refused.status == 422
    assert start(gateway, "alice", {"wipe": True}, user="alice").status == 422
    started = start(gateway, "alice", user="svc", roles=["service"])
    assert started.status == 202
    path = f"/v1/erasures/{started.body['erasure_id']}"
    assert gateway.request("GET", path, user="alice").status == 200
    assert gateway.request("GET", path, user="admin-1", roles=["admin"]).status == 200
    hidden = gateway.request("GET", path, user="bob")
    assert hidden.status == 404 and hidden.body["code"] == "erasure_not_found"
    assert gateway.request("GET", path, user="alice", tenant="globex").status == 404


def test_a_second_request_while_it_runs_answers_the_same_erasure(gateway, streams):
    first = start(gateway, "alice", user="alice")
    second = start(gateway, "alice", user="svc", roles=["service"])
    assert second.status == 202 and second.body["erasure_id"] == first.body["erasure_id"]
    streams.drain()
    third = start(gateway, "alice", user="alice")  # done: a new request is a new erasure
    assert third.body["erasure_id"] != first.body["erasure_id"]


def test_creates_and_state_writes_are_refused_while_it_runs_and_allowed_after(gateway, streams):
    populate(gateway, "alice", sessions=2)
    streams.drain()
    assert start(gateway, "alice", user="alice").status == 202
    refused = gateway.create({"session_id": "late"}, user="alice")
    assert refused.status == 409 and refused.body["code"] == "user_erasure_in_progress"
    refused = gateway.request("PATCH", "/v1/apps/news/users/alice/state", {"a": 1}, user="alice")
    assert refused.status == 409 and refused.body["code"] == "user_erasure_in_progress"
    forked = gateway.request("POST", "/v1/sessions/alice-s0/fork", {"session_id": "alice-fork"}, user="alice")
    assert forked.status == 409 and forked.body["code"] == "user_erasure_in_progress"
    assert gateway.create({"session_id": "bobs"}, user="bob").status == 201  # another user is not held up
    streams.drain()
    assert gateway.create({"session_id": "fresh"}, user="alice").status == 201
    assert gateway.request("PATCH", "/v1/apps/news/users/alice/state", {"a": 1}, user="alice").status == 200


def test_appends_and_creates_racing_with_the_erasure_leave_nothing_behind(gateway, aws, streams):
    ids = populate(gateway, "alice", sessions=4, events=1)
    streams.drain()
    outcomes: list[int] = []

    def keep_appending(session_id: str) -> None:
        while True:  # until the erasure reaches the session
            body = {"type": "message", "content": "alice again"}
            response = gateway.request("POST", f"/v1/sessions/{session_id}/events", body, user="alice")
            outcomes.append(response.status)
            if response.status == 404:
                return

    def keep_creating() -> None:
        refused = 0
        for index in range(1000):  # until the erasure has refused a few
            status = gateway.create({"session_id": f"alice-new-{index}"}, user="alice").status
            outcomes.append(status)
            refused += status == 409
            if refused == 3:
                return

    threads = [threading.Thread(target=keep_appending, args=(sid,)) for sid in ids[:3]]
    threads.append(threading.Thread(target=keep_creating))
    for thread in threads:
        thread.start()
    erasure_id = start(gateway, "alice", user="alice").body["erasure_id"]
    # the worker's run, in this thread (the stream never goes quiet while the others write)
    assert erasure.run_erasure("acme", erasure_id, remaining_ms=lambda: 300_000) == "completed"
    for thread in threads:
        thread.join(timeout=60)
    streams.drain()
    assert set(outcomes) <= {201, 404, 409}, outcomes
    assert outcomes.count(409) == 3 and outcomes.count(404) == 3
    # whatever landed before the flag (sessions, events) was erased with the rest
    assert [item["SK"] for item in naming(aws, "alice")] == ["#ERASURE"]


def test_a_worker_that_dies_mid_erasure_is_resumed_by_the_cleanup(gateway, aws, streams, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")  # no cap
    populate(gateway, "alice", sessions=30, events=1)
    streams.drain()
    pages = {"left": 1}
    original = erasure._Run._sessions_page

    def dies_after_one_page(self) -> None:
        if pages["left"] == 0:
            raise SystemExit("the function timed out")  # not an Exception: the run dies holding its lease
        pages["left"] -= 1
        original(self)

    monkeypatch.setattr(erasure._Run, "_sessions_page", dies_after_one_page)
    started = start(gateway, "alice", user="alice")
    with pytest.raises(SystemExit):
        streams.drain()
    monkeypatch.setattr(erasure._Run, "_sessions_page", original)
    job_path = f"/v1/erasures/{started.body['erasure_id']}"
    job = gateway.request("GET", job_path, user="alice").body
    assert job["status"] == "running" and job["counts"]["sessions_erased"] == 25  # one page, checkpointed
    streams.drain()  # what the dead run left on the stream: its lease is still held, nothing runs
    assert gateway.request("GET", job_path, user="alice").body["counts"]["sessions_erased"] == 25

    monkeypatch.setattr(jobs, "now_ms", lambda: now_ms() + 400_000)  # the dead run's lease has lapsed
    cleanup = gateway.handler("CleanupFunction")
    cleanup({}, LambdaContext("CleanupFunction", timeout_seconds=300))
    streams.drain()
    done = gateway.request("GET", job_path, user="alice").body
    # 29: the cleanup run that woke the job purged the deleted one itself, and its removal left the usual
    # markers (session ids only, the settled one TTL'd, the purge marker worked off by the next cleanup run)
    assert done["status"] == "completed" and done["counts"]["sessions_erased"] == 29
    left = naming(aws, "alice")
    assert sorted(item["SK"].split("#")[1] for item in left) == ["ERASURE", "PURGE", "SETTLED"]
    assert all("user_id" not in item for item in left if item["SK"] != "#ERASURE")


def test_a_run_out_of_time_hands_over_to_the_next(gateway, aws, streams, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")  # no cap
    populate(gateway, "alice", sessions=30, events=1)
    streams.drain()
    short = JobStreams(gateway, streams.stream, worker_timeout_seconds=0)  # every run stops before its first page
    start(gateway, "alice", user="alice")
    with pytest.raises(AssertionError, match="never went quiet"):
        short.drain(rounds=5)
    streams.drain()
    assert [item["SK"] for item in naming(aws, "alice")] == ["#ERASURE"]


def test_a_creates_idempotency_record_keeps_neither_content_nor_the_user_and_replays_exactly(gateway, aws):
    body = {
        "session_id": "kept",
        "title": "alice's secret",
        "context": {"note": "alice's words", "n": 1.5},
        "metadata": {"who": "alice"},
        "runtime_metadata": {"host": "alice-laptop"},
        "checkpoint": {"step": "alice"},
    }
    headers = {"Idempotency-Key": "k-1"}
    first = gateway.create(body, user="alice", headers=headers)
    assert first.status == 201
    replayed = gateway.create(body, user="alice", headers=headers)
    assert replayed.status == 201 and replayed.body == first.body
    (record,) = boto3.resource("dynamodb").Table(aws["IdempotencyTable"]).scan()["Items"]
    assert "alice" not in json.dumps(record, default=str)
    for_bob = gateway.create(
        {"session_id": "plain"}, user="svc", roles=["service"], query="user_id=bob", headers={"Idempotency-Key": "k-2"}
    )
    again = gateway.create(
        {"session_id": "plain"}, user="svc", roles=["service"], query="user_id=bob", headers={"Idempotency-Key": "k-2"}
    )
    assert for_bob.status == 201 and again.body == for_bob.body and again.body["user_id"] == "bob"

"""Export of a user's data (POST /v1/users/{user_id}/export), in-process against moto.

The worker is driven as Lambda's event-source mapping drives it: the table's stream, through the
template's own FilterCriteria, into its handler (conftest's `streams`). What the export holds is read
back through its presigned URL and compared with what the API answers for the same sessions,
histories and state.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests

from local.api.gateway import LambdaContext
from local.seeding import Seeder
from sessions.core.clock import now_ms
from sessions.domain.identity import Identity
from sessions.usecases import export, jobs
from tests.integration.conftest import JobStreams, set_env

BIG = "x" * (40 * 1024)  # over the inline limit (32 KiB): stored in S3


def messages(contents: list[str], first: int = 0) -> list[dict[str, Any]]:
    """Bodies of POST …/events, numbered in their payload from `first`."""
    return [{"type": "message", "content": text, "payload": {"n": first + i}} for i, text in enumerate(contents)]


def append(gateway, session_id: str, contents: list[str], *, first: int = 0, **kwargs: Any) -> None:
    events = messages(contents, first)
    for start in range(0, len(events), 20):  # a batch takes 20 events
        batch = {"events": events[start : start + 20]}
        response = gateway.request("POST", f"/v1/sessions/{session_id}/events", batch, **kwargs)
        assert response.status == 201, response.body


def populate(gateway, user: str, tenant: str = "acme", sessions: int = 3, events: int = 3) -> list[str]:
    """Sessions with events (one large), a fork, state documents in two apps, a deleted session."""
    ids = []
    for index in range(sessions):
        sid = f"{user}-s{index}"
        body = {"session_id": sid, "app_name": "shop", "title": f"title of {user}", "context": {"n": index}}
        assert gateway.create(body, user=user, tenant=tenant).status == 201
        append(gateway, sid, [f"{user} said {seq}" for seq in range(events)], user=user, tenant=tenant)
        ids.append(sid)
    append(gateway, ids[0], [BIG], user=user, tenant=tenant)
    fork = gateway.request(
        "POST", f"/v1/sessions/{ids[0]}/fork", {"session_id": f"{user}-fork"}, user=user, tenant=tenant
    )
    assert fork.status == 201, fork.body
    append(gateway, f"{user}-fork", [f"{user} forked"], user=user, tenant=tenant)
    for app in ("shop", "chat"):  # chat: an app none of the user's sessions names
        patched = gateway.request(
            "PATCH", f"/v1/apps/{app}/users/{user}/state", {"likes": user}, user=user, tenant=tenant
        )
        assert patched.status == 200, patched.body
    assert gateway.request("DELETE", f"/v1/sessions/{ids[-1]}", user=user, tenant=tenant).status == 204
    return ids


def start(gateway, whom: str, body: Any = None, **kwargs: Any) -> Any:
    return gateway.request("POST", f"/v1/users/{quote(whom, safe='')}/export", body, **kwargs)


def download(job: dict[str, Any]) -> list[dict[str, Any]]:
    fetched = requests.get(job["download_url"], timeout=30)
    assert fetched.status_code == 200
    assert len(fetched.content) == job["counts"]["bytes"]
    return [json.loads(text) for text in fetched.content.decode("utf-8").splitlines()]


def what_the_api_answers(gateway, user: str, tenant: str = "acme") -> list[dict[str, Any]]:
    """The user's sessions, their whole histories (parts inline) and state documents, as the API reads them."""
    expected: list[dict[str, Any]] = []
    listed, cursor = [], None
    while True:
        query = "limit=100" + (f"&cursor={quote(cursor)}" if cursor else "")
        page = gateway.request("GET", "/v1/sessions", user=user, tenant=tenant, query=query).body
        listed += [entry["session_id"] for entry in page["sessions"]]
        if not (cursor := page.get("next_cursor")):
            break
    for session_id in listed:
        session = gateway.request("GET", f"/v1/sessions/{session_id}", user=user, tenant=tenant).body
        expected.append({"type": "session", "session": session})
        cursor = None
        while True:
            query = "include_payload=true&include_compacted=true&limit=100" + (
                f"&cursor={quote(cursor)}" if cursor else ""
            )
            page = gateway.request(
                "GET", f"/v1/sessions/{session_id}/history", user=user, tenant=tenant, query=query
            ).body
            expected += [{"type": "event", "session_id": session_id, "event": event} for event in page["events"]]
            if not (cursor := page.get("next_cursor")):
                break
    for app in ("chat", "shop"):
        state = gateway.request("GET", f"/v1/apps/{app}/users/{user}/state", user=user, tenant=tenant).body
        expected.append({"type": "state", "state": state})
    return expected


def by_identity(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines in one order whatever the listing's: sessions (each with its events) by id, then state by app."""

    def key(line: dict[str, Any]) -> tuple[Any, ...]:
        if line["type"] == "state":
            return (1, line["state"]["app_name"], 0, 0)
        session_id = line.get("session_id") or line["session"]["session_id"]
        return (0, session_id, line["type"] == "event", line.get("event", {}).get("seq", 0))

    return sorted(lines, key=key)


def test_an_export_reads_back_what_the_api_answers_and_nothing_of_anyone_else(gateway, streams):
    populate(gateway, "alice")
    populate(gateway, "bob")
    populate(gateway, "alice", tenant="globex")
    streams.drain()

    started = start(gateway, "alice", user="alice")
    assert started.status == 202, started.body
    export_id = started.body["export_id"]
    assert started.headers["location"] == f"/v1/exports/{export_id}"
    assert started.body["status"] == "running" and started.body["download_url"] is None
    streams.drain()

    job = gateway.request("GET", f"/v1/exports/{export_id}", user="alice").body
    assert job["status"] == "completed", job
    lines = download(job)
    expected = what_the_api_answers(gateway, "alice")
    assert by_identity(lines) == by_identity(expected)
    # s0: 3 + the large one; s1: 3; the fork: s0's 4 read through its lineage + its own
    assert job["counts"] == {"sessions": 3, "events": 12, "state_documents": 2, "bytes": job["counts"]["bytes"]}
    assert any(line["type"] == "event" and line["event"].get("content") == BIG for line in lines)  # inline
    text = json.dumps(lines)
    assert "bob" not in text and "globex" not in text and "alice-s2" not in text  # the deleted one is no more
    assert job["url_expires_in"] == 3600 and job["expires_at"] > job["completed_at"]


def test_who_may_start_and_see_an_export(gateway, streams):
    assert start(gateway, "alice", user="bob").status == 403
    assert start(gateway, "alice", user="bob").body["code"] == "forbidden"
    refused = start(gateway, "alice", user="alice", query="format=csv")
    assert refused.status == 422 and refused.body["code"] == "validation_error"
    assert start(gateway, "alice", {"include": "all"}, user="alice").status == 422
    started = start(gateway, "alice", user="svc", roles=["service"])
    assert started.status == 202
    path = f"/v1/exports/{started.body['export_id']}"
    assert gateway.request("GET", path, user="alice").status == 200
    assert gateway.request("GET", path, user="admin-1", roles=["admin"]).status == 200
    hidden = gateway.request("GET", path, user="bob")
    assert hidden.status == 404 and hidden.body["code"] == "export_not_found"
    assert gateway.request("GET", path, user="alice", tenant="globex").status == 404
    unknown = gateway.request("GET", "/v1/exports/00000000-0000-0000-0000-000000000000", user="alice")
    assert unknown.status == 404 and unknown.body["code"] == "export_not_found"
    assert gateway.request("GET", path, user="alice", query="verbose=1").status == 422


def test_a_second_request_while_it_runs_answers_the_same_export(gateway, streams):
    populate(gateway, "alice", sessions=1)
    first = start(gateway, "alice", user="alice")
    second = start(gateway, "alice", user="svc", roles=["service"])
    assert second.status == 202 and second.body["export_id"] == first.body["export_id"]
    streams.drain()
    third = start(gateway, "alice", user="alice")  # done: a new request is a new export
    assert third.body["export_id"] != first.body["export_id"]


def test_an_erasure_removes_the_users_exports_and_refuses_new_ones_while_it_runs(gateway, aws, streams):
    populate(gateway, "alice", sessions=1)
    populate(gateway, "bob", sessions=1)
    streams.drain()
    for whom in ("alice", "bob"):
        start(gateway, whom, user=whom)
    streams.drain()
    erasure = gateway.request("POST", "/v1/users/alice/erasure", user="alice")
    assert erasure.status == 202
    refused = start(gateway, "alice", user="alice")
    assert refused.status == 409 and refused.body["code"] == "user_erasure_in_progress"
    streams.drain()
    listed = boto3.client("s3").list_objects_v2(Bucket=aws["EventBlobsBucket"], Prefix="#exports/").get("Contents", [])
    assert [entry["Key"].split("/")[2] for entry in listed] == ["bob"]


def test_an_erasure_that_begins_as_the_export_completes_leaves_no_export_behind(gateway, aws, streams, monkeypatch):
    """The erasure may list the user's exports before the export's object exists: the export sees the erasure
    once its object is complete, removes it itself and fails."""
    populate(gateway, "alice", sessions=1)
    streams.drain()
    completing = export._Run._complete

    def an_erasure_begins_meanwhile(self, rest: bytes) -> None:
        completing(self, rest)
        assert gateway.request("POST", "/v1/users/alice/erasure", user="alice").status == 202

    monkeypatch.setattr(export._Run, "_complete", an_erasure_begins_meanwhile)
    started = start(gateway, "alice", user="alice")
    streams.drain()
    job = gateway.request("GET", f"/v1/exports/{started.body['export_id']}", user="alice").body
    assert job["status"] == "failed" and job["download_url"] is None
    listed = boto3.client("s3").list_objects_v2(Bucket=aws["EventBlobsBucket"], Prefix="#exports/").get("Contents", [])
    assert listed == []


def test_ten_thousand_events_exported_by_a_worker_that_dies_mid_export_and_is_resumed(gateway, streams, monkeypatch):
    """10,000 events of 1 KiB: more than one 8 MiB part. The first run dies after its first part; the cleanup
    wakes the job once the lease lapsed, and the next run goes on from the recorded cursor.

    Made through the API: the sessions, big-0's first and last 20 events, and big-9, a fork of big-8 at seq 980
    with 20 events of its own. The other events are seeded into the table as appends store them
    (local/seeding.py: 500 requests were most of the test's time)."""
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")
    seeder, alice = Seeder.in_process(), Identity("acme", "alice")
    contents = [[f"{index}:{seq}:" + "y" * 1024 for seq in range(1000)] for index in range(10)]
    for index in range(9):
        sid = f"big-{index}"
        assert gateway.create({"session_id": sid, "app_name": "shop"}, user="alice").status == 201
        head = tail = 20 if index == 0 else 0
        append(gateway, sid, contents[index][:head], user="alice")
        seeder.append(alice, sid, messages(contents[index][head : 1000 - tail], first=head))
        append(gateway, sid, contents[index][1000 - tail :], first=1000 - tail, user="alice")
    forked = gateway.request("POST", "/v1/sessions/big-8/fork", {"session_id": "big-9", "at_seq": 980}, user="alice")
    assert forked.status == 201, forked.body
    append(gateway, "big-9", contents[9][980:], first=980, user="alice")
    populate(gateway, "bob", sessions=1)
    streams.drain()

    uploads: list[int] = []
    original, completing = export._Run._upload_part, export._Run._complete

    def dies_after_one_part(self, data: bytes, cursor: dict[str, Any]) -> None:
        if uploads:
            raise SystemExit("the function timed out")  # not an Exception: the run dies holding its lease
        original(self, data, cursor)
        uploads.append(len(data))

    def dies_before_the_last(self, rest: bytes) -> None:
        raise SystemExit("the function timed out")

    monkeypatch.setattr(export._Run, "_upload_part", dies_after_one_part)
    monkeypatch.setattr(export._Run, "_complete", dies_before_the_last)
    started = start(gateway, "alice", user="alice")
    with pytest.raises(SystemExit):
        streams.drain()
    monkeypatch.setattr(export._Run, "_upload_part", original)
    monkeypatch.setattr(export._Run, "_complete", completing)
    path = f"/v1/exports/{started.body['export_id']}"
    job = gateway.request("GET", path, user="alice").body
    assert job["status"] == "running" and 0 < job["counts"]["events"] < 10_000  # one part, checkpointed
    assert job["counts"]["bytes"] == uploads[0]
    streams.drain()  # the dead run's lease is still held: nothing runs
    assert gateway.request("GET", path, user="alice").body["counts"] == job["counts"]

    monkeypatch.setattr(jobs, "now_ms", lambda: now_ms() + 400_000)  # the dead run's lease has lapsed
    gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))
    streams.drain()
    monkeypatch.undo()
    done = gateway.request("GET", path, user="alice").body
    assert done["status"] == "completed", done
    assert done["counts"]["events"] == 10_000 and done["counts"]["sessions"] == 10
    lines = download(done)
    assert by_identity(lines) == by_identity(what_the_api_answers(gateway, "alice")[:-2])  # no state documents
    assert "bob" not in json.dumps(lines)


def test_a_run_out_of_time_hands_over_to_the_next(gateway, streams):
    populate(gateway, "alice", sessions=2)
    streams.drain()
    short = JobStreams(gateway, streams.stream, worker_timeout_seconds=0)  # every run stops before its first line
    export_id = start(gateway, "alice", user="alice").body["export_id"]
    with pytest.raises(AssertionError, match="never went quiet"):
        short.drain(rounds=5)
    assert gateway.request("GET", f"/v1/exports/{export_id}", user="alice").body["status"] == "running"
    streams.drain()
    job = gateway.request("GET", f"/v1/exports/{export_id}", user="alice").body
    assert job["status"] == "completed"
    assert by_identity(download(job)) == by_identity(what_the_api_answers(gateway, "alice"))

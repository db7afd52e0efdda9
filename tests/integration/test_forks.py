"""POST /v1/sessions/{session_id}/fork: a session whose history is its parent's up to a seq, then its own.

What a user relies on: the fork reads exactly what a session that had those events appended itself
would read (every page, order, cursor, filter, base), its usage and the stats are exact, its own seqs
continue after the fork point, the request is refused as the contract says, and a fork costs the
same few writes whatever the parent's length. What the parent does later is in test_fork_copies.py.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from sessions import store
from tests.integration.conftest import publish, set_env

LARGE = "x" * 40_000  # over 32 KiB: stored in S3


def timestamp(index: int) -> str:
    return f"2026-01-01T00:{index // 60:02d}:{index % 60:02d}.000Z"


def body(index: int, **extra: Any) -> dict[str, Any]:
    """An event with everything a history filters or returns: type, timestamp, usage, payload, metadata."""
    kind = ("message", "task", "tool")[index % 3]
    event = {
        "type": kind,
        "role": "user" if index % 2 else "assistant",
        "content": f"turn {index}",
        "timestamp": timestamp(index),
        "usage": {"tokens": index, "cost_usd": 0.001 * index},
        "payload": {"i": index},
        "metadata": {"n": str(index)},
    }
    return {**event, **extra}


def append(gateway, sid: str, *bodies: dict[str, Any], **caller: Any) -> list[dict[str, Any]]:
    appended = []
    for event in bodies:
        reply = gateway.request("POST", f"/v1/sessions/{sid}/events", event, **caller)
        assert reply.status == 201, reply.body
        appended.append(reply.body)
    return appended


def fork(gateway, sid: str, fork_body: dict[str, Any] | None = None, **kwargs: Any):
    return gateway.request("POST", f"/v1/sessions/{sid}/fork", fork_body if fork_body is not None else {}, **kwargs)


def read_all(gateway, sid: str, **params: Any) -> list[dict[str, Any]]:
    """Every event a history reading returns, page by page."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = gateway.request("GET", f"/v1/sessions/{sid}/history", query=urlencode(query))
        assert page.status == 200, page.body
        events += page.body["events"]
        cursor = page.body["next_cursor"]
        if cursor is None:
            return events


def shown(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a reader sees of events, without what differs between two sessions holding the same ones (ids, times)."""
    fields = ("seq", "type", "role", "content", "payload", "timestamp", "usage", "base")
    return [tuple(json.dumps(event.get(name), sort_keys=True) for name in fields) for event in events]


@pytest.fixture(autouse=True)
def roomy(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")


# --- what a fork is ---------------------------------------------------------------------------------


def test_a_fork_is_the_parents_history_up_to_at_seq_then_its_own(gateway):
    created = gateway.create(
        {
            "session_id": "parent",
            "app_name": "shop",
            "agent_id": "bot",
            "session_type": "development",
            "title": "Main line",
            "context": {"k": 1},
            "checkpoint": {"step": 2},
            "metadata": {"source": "web"},
            "runtime_backend": "lambda",
            "runtime_metadata": {"fn": "agent"},
            "token_budget": 10_000,
        }
    )
    assert created.status == 201
    append(gateway, "parent", *(body(i) for i in range(1, 7)))
    forked = fork(gateway, "parent", {"at_seq": 4, "session_id": "branch", "title": "Plan B"})
    assert forked.status == 201, forked.body
    assert forked.headers["location"] == "/v1/sessions/branch" and forked.etag == '"1"'
    session = forked.body
    assert session["forked_from"] == {"session_id": "parent", "seq": 4}
    assert session["title"] == "Plan B" and session["metadata"] == {"source": "web"}  # body first, else the parent's
    for field in ("app_name", "agent_id", "session_type", "context", "checkpoint", "runtime_backend"):
        assert session[field] == created.body[field] or field == "context", field
    assert session["context"] == {"k": 1} and session["token_budget"] == 10_000
    assert session["runtime_metadata"] == {"fn": "agent"}
    assert session["user_id"] == "u-1" and session["status"] == "active" and session["version"] == 1
    # usage is exactly what its history holds: events 1-4
    assert session["usage"] == {"tokens_used": 10, "cost_usd": 0.01, "event_count": 4, "task_count": 2}
    assert session["last_event_at"] == timestamp(4)
    assert gateway.request("GET", "/v1/sessions/branch").body == session
    # its own seqs continue at at_seq + 1; the parent's 5 and 6 are not its history
    own = append(gateway, "branch", body(50), body(51))
    assert [event["seq"] for event in own] == [5, 6]
    assert [event["content"] for event in read_all(gateway, "branch")] == [f"turn {i}" for i in (1, 2, 3, 4, 50, 51)]
    assert [event["content"] for event in read_all(gateway, "parent")] == [f"turn {i}" for i in range(1, 7)]
    assert gateway.request("GET", "/v1/sessions/branch/events/5").body["content"] == "turn 50"
    assert gateway.request("GET", "/v1/sessions/branch/events/2").body["content"] == "turn 2"  # inherited
    assert gateway.request("GET", "/v1/sessions/parent").body["version"] == 7  # a fork is no change of the parent


def test_the_default_fork_point_is_the_latest_seq_and_zero_is_an_empty_history(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", body(1), body(2), body(3))
    gateway.request("DELETE", "/v1/sessions/p/events", query="from_seq=3")  # seq 3 is a hole now
    latest = fork(gateway, "p", {"session_id": "latest"}).body
    assert latest["forked_from"] == {"session_id": "p", "seq": 3}  # the highest seq given, even removed
    assert latest["usage"]["event_count"] == 2
    assert append(gateway, "latest", body(9))[0]["seq"] == 4  # never a seq the parent gave
    empty = fork(gateway, "p", {"session_id": "empty", "at_seq": 0}).body
    assert empty["usage"] == {"tokens_used": 0, "cost_usd": 0, "event_count": 0, "task_count": 0}
    assert empty["last_event_at"] is None
    assert read_all(gateway, "empty") == []
    assert append(gateway, "empty", body(1))[0]["seq"] == 1


def test_a_fork_of_a_completed_session_continues_it(gateway):
    gateway.create({"session_id": "done", "events": [body(1)]})
    gateway.request("PATCH", "/v1/sessions/done", {"status": "completed"})
    continued = fork(gateway, "done", {"session_id": "again"})
    assert continued.status == 201 and continued.body["status"] == "active"
    assert append(gateway, "again", body(2))[0]["seq"] == 2


# --- history across the fork point ---------------------------------------------------------------


@pytest.fixture
def fork_and_reference(gateway):
    """A fork ("fork") of a parent at seq 8, with 4 events of its own, and "ref": the same 12 events appended.

    A base at seq 3 and a large event at seq 5 (parts in S3); the parent goes on past the fork point.
    """
    parent_events = [body(i, **({"base": True} if i == 3 else {})) for i in range(1, 13)]
    parent_events[4] = {**parent_events[4], "content": LARGE, "payload": {"big": LARGE}}
    own_events = [body(i) for i in range(20, 24)]
    gateway.create({"session_id": "parent"})
    append(gateway, "parent", *parent_events)
    assert fork(gateway, "parent", {"session_id": "fork", "at_seq": 8}).status == 201
    append(gateway, "fork", *own_events)
    gateway.create({"session_id": "ref"})
    append(gateway, "ref", *parent_events[:8], *own_events)
    return gateway


def test_the_fork_and_the_session_holding_its_events_agree_on_every_session_figure(fork_and_reference):
    gateway = fork_and_reference
    fork_session = gateway.request("GET", "/v1/sessions/fork").body
    reference = gateway.request("GET", "/v1/sessions/ref").body
    for field in ("usage", "history_base_seq", "last_event_at"):
        assert fork_session[field] == reference[field], field


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"type": "task"},
        {"after": timestamp(5), "before": timestamp(22)},
        {"include_compacted": "true"},
        {"include_payload": "true", "include_compacted": "true", "type": "message"},
    ],
    ids=["all", "type", "after-before", "compacted", "payload-compacted-type"],
)
def test_every_page_of_the_fork_is_the_page_of_the_session_holding_its_events(fork_and_reference, order, filters):
    gateway = fork_and_reference
    for limit in range(1, 14):
        pages = {}
        for sid in ("fork", "ref"):
            read, cursor = [], None
            while True:
                query = {"order": order, "limit": limit, **filters, **({"cursor": cursor} if cursor else {})}
                page = gateway.request("GET", f"/v1/sessions/{sid}/history", query=urlencode(query))
                assert page.status == 200, page.body
                read.append((shown(page.body["events"]), page.body["total"], page.body["next_cursor"] is None))
                cursor = page.body["next_cursor"]
                if cursor is None:
                    break
            pages[sid] = read
        assert pages["fork"] == pages["ref"], (limit, order, filters)
    everything = read_all(gateway, "fork", order=order, include_compacted="true", include_payload="true")
    assert [event["seq"] for event in everything] == sorted(range(1, 13), reverse=order == "desc")
    assert any(event["content"] == LARGE and event["payload"] == {"big": LARGE} for event in everything)


def test_a_fork_cursor_is_bound_to_the_fork(fork_and_reference):
    gateway = fork_and_reference
    cursor = gateway.request("GET", "/v1/sessions/fork/history", query="limit=2").body["next_cursor"]
    refused = gateway.request("GET", "/v1/sessions/parent/history", query=urlencode({"limit": 2, "cursor": cursor}))
    assert refused.status == 400 and refused.body["code"] == "invalid_cursor"


def test_the_fork_point_decides_the_base(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i, **({"base": True} if i in (4, 9) else {})) for i in range(1, 13)))
    expected = {2: (None, 0), 4: (4, 3), 7: (4, 3), 9: (9, 8), 12: (9, 8)}
    for at_seq, (base, compacted) in expected.items():
        made = fork(gateway, "p", {"session_id": f"at{at_seq}", "at_seq": at_seq}).body
        assert made["history_base_seq"] == base, at_seq
        history = gateway.request("GET", f"/v1/sessions/at{at_seq}/history").body
        assert [event["seq"] for event in history["events"]] == list(range(base or 1, at_seq + 1)), at_seq
        assert history["total"] == at_seq - compacted
    # a rewind at the base moves it back; a fork after it has that base, one before the earlier base
    gateway.request("DELETE", "/v1/sessions/p/events", query="from_seq=9")
    assert fork(gateway, "p", {"session_id": "moved"}).body["history_base_seq"] == 9
    assert fork(gateway, "p", {"session_id": "before", "at_seq": 6}).body["history_base_seq"] == 4


def test_a_listed_fork_shows_where_it_was_forked_from(gateway):
    gateway.create({"session_id": "p", "app_name": "web", "events": [body(1)]})
    fork(gateway, "p", {"session_id": "f"})
    read = gateway.request("GET", "/v1/sessions/f").body
    for query in ("", "order_by=last_active_at", "app_name=web"):
        listed = gateway.request("GET", "/v1/sessions", query=query).body["sessions"]
        entry = next(session for session in listed if session["session_id"] == "f")
        assert entry["forked_from"] == {"session_id": "p", "seq": 1} == read["forked_from"], query
    everyone = gateway.request("GET", "/v1/apps/web/sessions", user="svc", roles=["service"]).body["sessions"]
    assert next(s for s in everyone if s["session_id"] == "f")["forked_from"] == read["forked_from"]


# --- usage, stats, lifecycle events --------------------------------------------------------------


def test_usage_and_stats_count_a_fork_as_a_session_holding_its_events(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i) for i in range(1, 10)))
    fork(gateway, "p", {"session_id": "f", "at_seq": 5})
    append(gateway, "f", body(40))
    sessions = [gateway.request("GET", f"/v1/sessions/{sid}").body for sid in ("p", "f")]
    assert sessions[1]["usage"] == {"tokens_used": 55, "cost_usd": 0.055, "event_count": 6, "task_count": 3}
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert stats["created_total"] == 2 and stats["sessions"]["active"] == 2
    assert stats["events_total"] == sum(s["usage"]["event_count"] for s in sessions)
    assert stats["tokens_used_total"] == sum(s["usage"]["tokens_used"] for s in sessions)
    assert round(stats["cost_usd_total"], 10) == round(sum(s["usage"]["cost_usd"] for s in sessions), 10)
    tenant = gateway.request("GET", "/v1/sessions/stats", query="scope=tenant", user="boss", roles=["admin"]).body
    assert tenant["events_total"] == stats["events_total"] and tenant["created_total"] == 2


def test_the_fork_is_announced_as_created_with_where_it_came_from(gateway, stream, bus_queue):
    gateway.create({"session_id": "p", "events": [body(1), body(2)]})
    stream.read()
    fork(gateway, "p", {"session_id": "f", "at_seq": 1})
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    announced = [message for message in bus_queue() if message["detail"].get("session_id") in ("p", "f")]
    # the parent counting its fork is bookkeeping: only the fork's creation is news
    assert [(m["detail-type"], m["detail"]["session_id"]) for m in announced] == [("session.created", "f")]
    detail = announced[0]["detail"]
    assert detail["forked_from"] == {"session_id": "p", "seq": 1}
    assert detail["usage"]["event_count"] == 1
    assert "context" not in detail and "lineage" not in json.dumps(detail)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "loc"),
    [
        ({"at_seq": 4}, ["body", "at_seq"]),  # past the parent's highest seq (3)
        ({"at_seq": -1}, ["body", "at_seq"]),
        ({"at_seq": "2"}, ["body", "at_seq"]),
        ({"at_seq": 2.5}, ["body", "at_seq"]),
        ({"at_seq": True}, ["body", "at_seq"]),
        ({"at_seq": 10**10}, ["body", "at_seq"]),
        ({"at_seq": 1, "lineage": [{"session_id": "other"}]}, ["body", "lineage"]),  # no internal field is taken
        ({"forked_from": {"session_id": "x", "seq": 1}}, ["body", "forked_from"]),
        ({"session_id": "has space"}, ["body", "session_id"]),
        ({"session_id": "stats"}, ["body", "session_id"]),
        ({"title": "x" * 61}, ["body", "title"]),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, ["body", "metadata"]),
        ({"ttl_seconds": 59}, ["body", "ttl_seconds"]),
        ({"user_id": "u-2"}, ["body", "user_id"]),  # acting for a user is the query parameter
        ({"context": []}, ["body", "context"]),
        ({"context": "text"}, ["body", "context"]),
        ({"context": {"n": 10**40}}, ["body", "context"]),  # a number DynamoDB cannot hold exactly
        ({"context": {"": 1}}, ["body", "context"]),  # an empty key
    ],
)
def test_a_bad_body_is_422_and_writes_nothing(gateway, table, sent, loc):
    gateway.create({"session_id": "p", "events": [body(1), body(2), body(3)]})
    before = table.scan()["Items"]
    refused = fork(gateway, "p", sent)
    assert refused.status == 422, refused.body
    assert refused.body["code"] == "validation_error"
    assert loc[-1] in [issue["loc"][-1] for issue in refused.body["errors"]], refused.body
    assert table.scan()["Items"] == before


def test_a_context_given_is_the_forks_and_the_parent_keeps_its_own(gateway):
    """A framework forking at an earlier point gives the state that held there, in the fork's one write."""
    gateway.create({"session_id": "p", "context": {"step": 3, "done": True}, "events": [body(1), body(2), body(3)]})
    forked = fork(gateway, "p", {"session_id": "f", "at_seq": 1, "context": {"step": 1, "nested": {"a": [1, 2]}}})
    assert forked.status == 201, forked.body
    assert forked.body["context"] == {"step": 1, "nested": {"a": [1, 2]}}  # replaced, not merged
    assert forked.body["version"] == 1
    assert gateway.request("GET", "/v1/sessions/f").body["context"] == {"step": 1, "nested": {"a": [1, 2]}}
    assert gateway.request("GET", "/v1/sessions/p").body["context"] == {"step": 3, "done": True}
    emptied = fork(gateway, "p", {"session_id": "e", "context": {}})
    assert emptied.body["context"] == {}  # an empty object is a context given, not an absent one
    copied = fork(gateway, "p", {"session_id": "c", "context": None})
    assert copied.body["context"] == {"step": 3, "done": True}  # null: the parent's, as when absent


def test_a_context_over_64_kib_is_413_and_writes_nothing(gateway, table):
    gateway.create({"session_id": "p", "events": [body(1)]})
    before = table.scan()["Items"]
    refused = fork(gateway, "p", {"session_id": "f", "context": {"blob": "x" * (64 * 1024)}})
    assert refused.status == 413 and refused.body["code"] == "payload_too_large", refused.body
    assert table.scan()["Items"] == before
    filler = 64 * 1024 - len('{"blob":""}')
    assert fork(gateway, "p", {"session_id": "f", "context": {"blob": "x" * filler}}).status == 201


@pytest.mark.parametrize("raw", [b"[]", b'"at_seq"', b"{", b"null"])
def test_a_body_that_is_no_json_object_is_refused(gateway, raw):
    gateway.create({"session_id": "p", "events": [body(1)]})
    refused = gateway.request("POST", "/v1/sessions/p/fork", raw=raw)
    assert refused.status in (400, 422) and refused.body["code"] in ("malformed_request", "validation_error")


def test_at_seq_may_be_sent_as_an_integral_number(gateway):
    gateway.create({"session_id": "p", "events": [body(1), body(2)]})
    assert fork(gateway, "p", {"at_seq": 1.0, "session_id": "f"}).body["forked_from"]["seq"] == 1


def test_who_may_fork_is_who_may_append(gateway):
    gateway.create({"session_id": "p", "events": [body(1)]})
    for caller in ({"tenant": "other"}, {"user": "u-2"}, {"user": "boss", "roles": ["admin"]}):
        refused = fork(gateway, "p", {"session_id": "stolen"}, **caller)
        assert refused.status == 404 and refused.body["code"] == "session_not_found", caller
    refused = gateway.request("POST", "/v1/sessions/p/fork", {}, query="user_id=u-1", user="boss", roles=["admin"])
    assert refused.status == 403  # an admin reads for others, never writes
    assert fork(gateway, "unknown").status == 404
    gateway.create({"session_id": "gone", "events": [body(1)]})
    gateway.request("DELETE", "/v1/sessions/gone")
    assert fork(gateway, "gone").status == 404
    acting = gateway.request(
        "POST", "/v1/sessions/p/fork", {"session_id": "for-u1"}, query="user_id=u-1", user="svc", roles=["service"]
    )
    assert acting.status == 201 and acting.body["user_id"] == "u-1"
    assert acting.body["forked_from"] == {"session_id": "p", "seq": 1}


def test_another_tenant_reads_nothing_of_a_fork_and_cannot_fork_its_ids(gateway):
    gateway.create({"session_id": "p", "events": [body(1)]})
    fork(gateway, "p", {"session_id": "f"})
    gateway.create({"session_id": "p", "events": [body(1, content="theirs")]}, tenant="other")
    for path in ("/v1/sessions/f", "/v1/sessions/f/history", "/v1/sessions/f/events/1"):
        assert gateway.request("GET", path, tenant="other").status == 404, path
    assert fork(gateway, "f", tenant="other").status == 404
    # the other tenant's own "p" and its forks never mix with ours
    theirs = fork(gateway, "p", {"session_id": "f"}, tenant="other")
    assert theirs.status == 201
    assert gateway.request("GET", "/v1/sessions/f/history", tenant="other").body["events"][0]["content"] == "theirs"
    assert gateway.request("GET", "/v1/sessions/f/history").body["events"][0]["content"] == "turn 1"


def test_a_supplied_session_id_that_exists_is_taken(gateway):
    gateway.create({"session_id": "p", "events": [body(1)]})
    gateway.create({"session_id": "mine"})
    gateway.create({"session_id": "theirs"}, user="u-2")
    for taken in ("mine", "theirs", "p"):
        refused = fork(gateway, "p", {"session_id": taken})
        assert refused.status == 409 and refused.body["code"] == "session_id_taken", taken
    gateway.request("DELETE", "/v1/sessions/mine")
    replaced = fork(gateway, "p", {"session_id": "mine"})  # a deleted session's id is free
    assert replaced.status == 201 and replaced.body["forked_from"] == {"session_id": "p", "seq": 1}


def test_a_retry_with_the_same_idempotency_key_replays_the_fork(gateway, table):
    gateway.create({"session_id": "p", "events": [body(1)]})
    key = {"Idempotency-Key": "fork-once"}
    first = fork(gateway, "p", {"title": "branch"}, headers=key)
    again = fork(gateway, "p", {"title": "branch"}, headers=key)
    assert first.status == again.status == 201 and first.body == again.body
    listed = gateway.request("GET", "/v1/sessions").body["sessions"]
    assert sorted(session["session_id"] for session in listed) == sorted(["p", first.body["session_id"]])
    reused = fork(gateway, "p", {"title": "other"}, headers=key)
    assert reused.status == 409 and reused.body["code"] == "idempotency_key_reused"


def test_a_fork_takes_an_open_session_slot(gateway, table, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="2")
    gateway.create({"session_id": "p", "events": [body(1)]})
    assert fork(gateway, "p", {"session_id": "f1"}).status == 201
    before = table.scan()["Items"]
    refused = fork(gateway, "p", {"session_id": "f2"})
    assert refused.status == 429 and refused.body["code"] == "session_limit_reached"
    assert table.scan()["Items"] == before  # no session, no registration, no counter moved
    gateway.request("PATCH", "/v1/sessions/f1", {"status": "completed"})
    assert fork(gateway, "p", {"session_id": "f2"}).status == 201


def test_a_lineage_reads_from_at_most_sixteen_sessions(gateway):
    gateway.create({"session_id": "s0", "events": [body(0)]})
    for level in range(1, 16):  # each fork adds an event of its own: one more session to read from
        assert fork(gateway, f"s{level - 1}", {"session_id": f"s{level}"}).status == 201
        append(gateway, f"s{level}", body(level))
    assert [event["seq"] for event in read_all(gateway, "s15")] == list(range(1, 17))
    assert fork(gateway, "s15", {"session_id": "sixteen"}).status == 201  # it reads s0 … s15
    append(gateway, "sixteen", body(16))
    refused = fork(gateway, "sixteen", {"session_id": "seventeen"})  # s0 … s15 and "sixteen" itself
    assert refused.status == 409 and refused.body["code"] == "fork_lineage_too_long"
    assert fork(gateway, "sixteen", {"session_id": "earlier", "at_seq": 16}).status == 201  # before its own event


# --- O(1) ----------------------------------------------------------------------------------------


def _calls_of(gateway, request) -> tuple[Counter[str], int]:
    """The DynamoDB calls a request makes, and how many items its transactions write."""
    calls: Counter[str] = Counter()
    items = [0]

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls[model.name] += 1
        if model.name == "TransactWriteItems":
            items[0] += len(params["TransactItems"])

    client = store.dynamodb_client()
    client.meta.events.register("before-parameter-build.dynamodb", record)
    try:
        assert request().status == 201
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", record)
    return calls, items[0]


def test_a_fork_writes_the_same_whatever_the_parents_length(gateway):
    for sid, count in (("short", 3), ("long", 400)):
        gateway.create({"session_id": sid})
        for start in range(0, count, 20):
            gateway.request("POST", f"/v1/sessions/{sid}/events", {"events": [body(1)] * min(20, count - start)})
    short, short_items = _calls_of(gateway, lambda: fork(gateway, "short", {"session_id": "fs"}))
    long, long_items = _calls_of(gateway, lambda: fork(gateway, "long", {"session_id": "fl"}))
    assert short == long and short_items == long_items
    assert short["TransactWriteItems"] == 1 and "Query" not in short and "BatchWriteItem" not in short
    # before the latest seq: the events cut off are read (keys and usage), never the prefix
    cut, _ = _calls_of(gateway, lambda: fork(gateway, "long", {"session_id": "cut", "at_seq": 398}))
    assert cut["Query"] == 2 and cut["TransactWriteItems"] == 1  # the 2 events after it, and the event at 398
    assert len(read_all(gateway, "fl", limit=100)) == 400


def test_a_session_never_forked_changes_its_history_at_no_extra_cost(gateway):
    gateway.create({"session_id": "plain", "events": [body(i) for i in range(1, 6)]})
    rewind, _ = _calls_of_status(
        gateway, lambda: gateway.request("DELETE", "/v1/sessions/plain/events", query="from_seq=4")
    )
    patch, _ = _calls_of_status(
        gateway, lambda: gateway.request("PATCH", "/v1/sessions/plain/events/1", {"content": "r"})
    )
    # the session, the tail (one Query), one transaction; the session, the event, one transaction
    assert rewind == Counter({"GetItem": 1, "Query": 1, "TransactWriteItems": 1})
    assert patch == Counter({"GetItem": 2, "TransactWriteItems": 1})


def _calls_of_status(gateway, request) -> tuple[Counter[str], Any]:
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client = store.dynamodb_client()
    client.meta.events.register("before-parameter-build.dynamodb", record)
    try:
        reply = request()
        assert reply.status == 200, reply.body
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", record)
    return calls, reply


def test_the_fork_bookkeeping_lives_in_the_parents_partition(gateway, table):
    gateway.create({"session_id": "p", "events": [body(1), body(2)]})
    fork(gateway, "p", {"session_id": "f"})
    items = {(item["PK"], item["SK"]) for item in table.scan()["Items"]}
    parent_incarnation = table.get_item(Key={"PK": "T#acme#S#p", "SK": "#SESSION"})["Item"]["incarnation"]
    fork_incarnation = table.get_item(Key={"PK": "T#acme#S#f", "SK": "#SESSION"})["Item"]["incarnation"]
    assert ("T#acme#S#p", f"#FORKS#{parent_incarnation}") in items
    assert ("T#acme#S#p", f"#READER#{parent_incarnation}#f#{fork_incarnation}") in items
    assert not [key for key in items if key[0] == "T#acme#S#f" and key[1].startswith("E#")]  # nothing copied
    gateway.create({"session_id": "large", "events": []})
    append(gateway, "large", body(1, content=LARGE))
    fork(gateway, "large", {"session_id": "large-fork"})
    bucket, s3 = os.environ["EVENT_BLOBS_BUCKET"], boto3.client("s3")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="acme/large/")["KeyCount"] == 1
    assert s3.list_objects_v2(Bucket=bucket, Prefix="acme/large-fork/")["KeyCount"] == 0  # read where it is

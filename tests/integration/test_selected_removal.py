"""DELETE …/events?seq=N&seq=M: removing selected events, through the template's handlers on moto.

Exactly the listed events go, in one atomic step with the session (usage, counts, stats, version);
their seqs stay holes; large parts leave S3; bad input is refused with nothing removed.
"""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest

from sessions.domain.identity import Identity
from sessions.domain.models import AppendEventRequest
from sessions.usecases import event_edits
from sessions.usecases.events import append_events
from tests.integration.conftest import concurrently, publish, set_env

OWNER = Identity("acme", "u-1")


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _append(gateway, sid, body, **kwargs):
    return gateway.request("POST", f"/v1/sessions/{sid}/events", body, **kwargs)


def _remove(gateway, sid, query, **kwargs):
    return gateway.request("DELETE", f"/v1/sessions/{sid}/events", query=query, **kwargs)


def _session_of(gateway, sid):
    return gateway.request("GET", f"/v1/sessions/{sid}").body


def _seqs(gateway, sid, query="limit=100"):
    history = gateway.request("GET", f"/v1/sessions/{sid}/history", query=query)
    assert history.status == 200, history.body
    return [event["seq"] for event in history.body["events"]]


def _usage_of(events):
    cost = sum((Decimal(repr((event.get("usage") or {}).get("cost_usd", 0))) for event in events), Decimal(0))
    return {
        "tokens_used": sum((event.get("usage") or {}).get("tokens", 0) for event in events),
        "cost_usd": float(cost),
        "event_count": len(events),
        "task_count": sum(event["type"] == "task" for event in events),
    }


EVENTS = [
    {"type": "message", "content": "one", "usage": {"tokens": 1, "cost_usd": 0.1}},
    {"type": "task", "content": "two", "usage": {"tokens": 2, "cost_usd": 0.2}},
    {"type": "message", "content": "three", "usage": {"tokens": 4, "cost_usd": 0.4}},
    {"type": "task", "content": "four", "payload": {"p": 4}, "usage": {"tokens": 8, "cost_usd": 0.8}},
    {"type": "message", "content": "five", "usage": {"tokens": 16, "cost_usd": 1.6}},
    {"type": "message", "content": "six", "usage": {"tokens": 32, "cost_usd": 3.2}},
]


def test_removing_the_middle_of_a_history_keeps_the_rest_and_corrects_usage_and_stats(gateway):
    sid = _session(gateway, events=EVENTS)
    other = _session(gateway, events=[{"type": "message", "usage": {"tokens": 100, "cost_usd": 0.05}}])
    before = _session_of(gateway, sid)
    response = _remove(gateway, sid, "seq=4&seq=2&return_events=true")
    assert response.status == 200, response.body
    body = response.body
    assert (body["removed"], body["from_seq"], body["seqs"], body["version"]) == (2, None, [2, 4], 8)
    assert response.etag == '"8"'
    assert [(event["seq"], event["content"]) for event in body["events"]] == [(2, "two"), (4, "four")]
    assert body["events"][1]["payload"] == {"p": 4}  # return_events: payload included
    kept = [EVENTS[0], EVENTS[2], EVENTS[4], EVENTS[5]]
    session = _session_of(gateway, sid)
    assert session["usage"] == _usage_of(kept)
    assert session["usage"] == {"tokens_used": 53, "cost_usd": 5.3, "event_count": 4, "task_count": 0}
    assert session["version"] == before["version"] + 1
    assert session["last_active_at"] == before["last_active_at"]  # a removal is not activity (as a rewind)
    assert _seqs(gateway, sid) == [1, 3, 5, 6]
    assert gateway.request("GET", f"/v1/sessions/{sid}/history").body["total"] == 4
    for seq in (2, 4):
        assert gateway.request("GET", f"/v1/sessions/{sid}/events/{seq}").body["code"] == "event_not_found"
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert (stats["events_total"], stats["tokens_used_total"], stats["cost_usd_total"]) == (5, 153, 5.35)
    # the seqs removed are holes: never given again
    assert _append(gateway, sid, {"type": "message"}).body["seq"] == 7
    assert _seqs(gateway, sid) == [1, 3, 5, 6, 7] and other


def test_seqs_without_an_event_are_passed_over_and_a_second_removal_removes_nothing(gateway):
    sid = _session(gateway, events=EVENTS)
    first = _remove(gateway, sid, "seq=3&seq=99&seq=9999999999")
    assert first.status == 200 and (first.body["removed"], first.body["seqs"]) == (1, [3])
    after_first = _session_of(gateway, sid)
    again = _remove(gateway, sid, "seq=3&seq=99&return_events=true")
    assert again.status == 200
    assert again.body == {"removed": 0, "from_seq": None, "seqs": [], "version": after_first["version"], "events": []}
    assert again.etag == f'"{after_first["version"]}"'
    assert _session_of(gateway, sid) == after_first  # nothing written
    # If-Match still holds the answer to the version it names
    stale = _remove(gateway, sid, "seq=3", headers={"If-Match": '"1"'})
    assert stale.status == 412 and stale.body["current_version"] == after_first["version"]


def test_seqs_may_come_as_a_comma_list_as_api_gateway_joins_them(gateway):
    sid = _session(gateway, events=EVENTS)
    response = _remove(gateway, sid, "seq=5,1")
    assert response.status == 200 and response.body["seqs"] == [1, 5]
    mixed = _remove(gateway, sid, "seq=2,3&seq=6")
    assert mixed.status == 200 and mixed.body["seqs"] == [2, 3, 6]
    assert _seqs(gateway, sid) == [4]


def test_ninety_seqs_are_removed_in_one_step(gateway):
    sid = _session(gateway)
    for _ in range(5):
        assert _append(gateway, sid, {"events": [{"type": "message", "usage": {"tokens": 1}}] * 20}).status == 201
    odd = range(1, 181, 2)  # 90 seqs, 40 of them past the last seq given
    response = _remove(gateway, sid, "&".join(f"seq={seq}" for seq in odd))
    assert response.status == 200, response.body
    assert response.body["removed"] == 50 and response.body["seqs"] == list(range(1, 101, 2))
    assert _seqs(gateway, sid) == list(range(2, 101, 2))
    assert _session_of(gateway, sid)["usage"]["tokens_used"] == 50


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("seq=0", "seq"),
        ("seq=-1", "seq"),
        ("seq=abc", "seq"),
        ("seq=", "seq"),
        ("seq=1.5", "seq"),
        ("seq=1e3", "seq"),
        ("seq=10000000000", "seq"),  # past the largest seq
        ("seq=99999999999999999999999", "seq"),
        ("seq=1&seq=x", "seq"),
        ("&".join(f"seq={seq}" for seq in range(1, 92)), "seq"),  # 91 seqs
        ("seq=2&seq=2", "seq"),  # each seq once
        ("seq=2,2", "seq"),
        ("seq=2&seq=02", "seq"),  # the same seq, written twice
        ("seq=1&from_seq=1", "seq"),  # a rewind or a selection, not both
        ("", "seq"),  # neither
        ("return_events=true", "seq"),
        ("seq=1&return_events=maybe", "return_events"),
        ("seq=1&seqs=2", "seqs"),  # an unknown parameter
    ],
)
def test_bad_removals_are_422_and_remove_nothing(gateway, query, loc):
    sid = _session(gateway, events=EVENTS)
    before = _session_of(gateway, sid)
    response = _remove(gateway, sid, query)
    assert response.status == 422, (query, response.body)
    assert response.body["code"] == "validation_error"
    assert any(loc in issue["loc"] for issue in response.body["errors"]), response.body  # seq: ["query", "seq", i]
    assert _session_of(gateway, sid) == before and _seqs(gateway, sid) == [1, 2, 3, 4, 5, 6]


def test_a_bad_selection_is_422_before_the_session_is_looked_up(gateway):
    assert _remove(gateway, "no-such-session", "seq=1&seq=1").status == 422
    assert _remove(gateway, "no-such-session", "seq=1").status == 404


def test_removal_checks_if_match_owner_and_status(gateway):
    sid = _session(gateway, events=EVENTS[:3])  # version 4
    stale = _remove(gateway, sid, "seq=2", headers={"If-Match": '"3"'})
    assert stale.status == 412 and stale.body["code"] == "version_mismatch" and stale.body["current_version"] == 4
    assert _remove(gateway, sid, "seq=2", user="boss", roles=["admin"]).status == 404  # admins read, never write
    assert _remove(gateway, sid, "seq=2", user="u-2").status == 404
    assert _remove(gateway, sid, "seq=2", tenant="other").status == 404
    matched = _remove(gateway, sid, "seq=2", headers={"If-Match": '"4"'})
    assert matched.status == 200 and matched.body["version"] == 5
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"}).status == 200
    closed = _remove(gateway, sid, "seq=1")
    assert closed.status == 409 and closed.body["code"] == "session_closed"
    assert _seqs(gateway, sid) == [1, 3]


def test_a_service_removes_events_for_a_user(gateway):
    sid = gateway.create({"events": EVENTS[:2]}, user="bob").body["session_id"]
    service = {"user": "svc", "roles": ["service"]}
    removed = _remove(gateway, sid, "seq=1&user_id=bob", **service)
    assert removed.status == 200 and removed.body["seqs"] == [1]
    assert _remove(gateway, sid, "seq=2&user_id=bob", user="u-2").status == 403


def test_large_parts_leave_s3_and_come_back_inline(gateway, aws):
    s3, bucket = boto3.client("s3"), aws["EventBlobsBucket"]

    def keys():
        return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    sid = _session(gateway)
    large = {"type": "message", "content": "c" * 40_000, "payload": {"big": "p" * 40_000}}
    other = {"type": "message", "content": "d" * 40_000}
    appended = _append(gateway, sid, {"events": [large, {"type": "message"}, other]}).body["events"]
    assert len(keys()) == 3  # objects are named by event id: .../{event_id}/{part}
    response = _remove(gateway, sid, "seq=1&return_events=true")
    assert response.status == 200
    (event,) = response.body["events"]
    assert event["content"] == large["content"] and event["payload"] == large["payload"]
    assert "content_url" not in event and "parts_omitted" not in event
    (left,) = keys()  # event 3's object stays, event 1's are gone
    assert f"/{appended[2]['event_id']}/" in left
    assert gateway.request("GET", f"/v1/sessions/{sid}/events/3").body["content"] == other["content"]


# --- history bases -------------------------------------------------------------------------------


def _compacted(gateway):
    """Seqs 1-3 compacted by the base 4; 5 and 6 after it."""
    sid = _session(gateway, events=EVENTS[:3])
    assert _append(gateway, sid, {"type": "summary", "content": "summary", "base": True}).status == 201
    assert _append(gateway, sid, {"events": EVENTS[4:6]}).status == 201
    assert _seqs(gateway, sid) == [4, 5, 6]
    return sid


def test_removing_compacted_events_leaves_the_base_and_the_history_as_they_are(gateway):
    sid = _compacted(gateway)
    assert _remove(gateway, sid, "seq=1&seq=3").body["seqs"] == [1, 3]
    session = _session_of(gateway, sid)
    assert session["history_base_seq"] == 4 and session["usage"]["event_count"] == 4
    history = gateway.request("GET", f"/v1/sessions/{sid}/history").body
    assert [e["seq"] for e in history["events"]] == [4, 5, 6] and history["total"] == 3
    assert _seqs(gateway, sid, "include_compacted=true") == [2, 4, 5, 6]


def test_removing_the_base_event_keeps_what_it_compacted_compacted(gateway, monkeypatch):
    sid = _compacted(gateway)
    response = _remove(gateway, sid, "seq=4&seq=2")
    assert response.status == 200 and response.body["seqs"] == [2, 4]
    session = _session_of(gateway, sid)
    assert session["history_base_seq"] == 4  # a hole now: the history starts after it
    history = gateway.request("GET", f"/v1/sessions/{sid}/history").body
    assert [e["seq"] for e in history["events"]] == [5, 6] and history["total"] == 2
    assert _seqs(gateway, sid, "include_compacted=true") == [1, 3, 5, 6]
    assert _seqs(gateway, sid, "order=desc") == [6, 5]
    # the maximum of events counts from the base: room for exactly one more (2 of 3)
    set_env(monkeypatch, MAX_HISTORY_EVENTS="3")
    assert _append(gateway, sid, {"type": "message"}).status == 201
    assert _append(gateway, sid, {"type": "message"}).body["code"] == "history_full"


# --- lifecycle events and races ------------------------------------------------------------------


def test_a_removal_is_published_as_events_removed_with_its_seqs_and_no_content(gateway, stream, bus_queue):
    sid = _session(gateway, events=[{"type": "message", "content": "private words"}] * 4)
    _remove(gateway, sid, "seq=3&seq=1&seq=50")
    _remove(gateway, sid, "seq=3")  # nothing left to remove: nothing written, nothing published
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    mine = sorted((m for m in bus_queue() if m["detail"]["session_id"] == sid), key=lambda m: m["detail"]["version"])
    assert [m["detail-type"] for m in mine] == ["session.created", "session.events_removed"]
    removed = mine[1]["detail"]
    assert (removed["from_seq"], removed["count"], removed["seqs"]) == (None, 2, [1, 3])
    assert removed["usage"]["event_count"] == 2 and removed["changed_fields"] == []
    text = json.dumps(mine)
    assert "private" not in text and "history_change" not in text


def test_removals_racing_appends_and_each_other_keep_history_usage_and_stats_exact(gateway, table):
    initial = [{"type": "task" if i % 3 == 0 else "message", "usage": {"tokens": i + 1}} for i in range(20)]
    sid = _session(gateway, events=initial)
    appends, removals = 16, 8

    def work(index: int):
        if index < appends:
            request = AppendEventRequest(type="message", content=f"a{index}", usage={"tokens": 100, "cost_usd": 0.01})
            return "append", append_events(OWNER, sid, [request])[0]
        # overlapping selections: seqs 1-20 each named by two removals, some seqs the appends will take
        first = 1 + 5 * (index - appends) % 20
        seqs = [first, first + 1, first + 2, first + 5, first + 21]
        body = event_edits.delete_events(OWNER, sid, seqs=seqs, return_events=True, if_match=None)[0]
        return "remove", body

    results = concurrently(appends + removals, work)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200]
    appended = [event for _, (kind, value) in results if kind == "append" for event in value]
    answers = [value for _, (kind, value) in results if kind == "remove"]
    removed = [event for answer in answers for event in answer["events"]]
    assert all(answer["seqs"] == [event["seq"] for event in answer["events"]] for answer in answers)

    # each seq given once; each event removed by at most one removal and never read back after it
    given = [event["seq"] for event in appended]
    assert sorted(given) == list(range(21, 21 + appends))
    removed_seqs = [event["seq"] for event in removed]
    assert len(removed_seqs) == len(set(removed_seqs))
    history = gateway.request("GET", f"/v1/sessions/{sid}/history", query="limit=100&include_payload=true").body
    kept = [event["seq"] for event in history["events"]]
    assert not set(kept) & set(removed_seqs)
    assert sorted(kept + removed_seqs) == list(range(1, 21 + appends))  # nothing lost, nothing kept twice
    stored = table.get_item(Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"})["Item"]
    assert stored["last_seq"] == 20 + appends

    session = _session_of(gateway, sid)
    assert session["usage"] == _usage_of(history["events"])
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert (stats["events_total"], stats["tokens_used_total"]) == (len(kept), session["usage"]["tokens_used"])
    assert stats["cost_usd_total"] == session["usage"]["cost_usd"]
    # one version per committed write: the create (21 with its events), each append, each removal that removed
    assert session["version"] == 21 + appends + sum(1 for answer in answers if answer["removed"])

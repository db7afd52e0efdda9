"""Events beyond one append: seq that is never reused, timestamps, batches, If-Match, and editing the history.

GET/PATCH one event, and rewind (DELETE …/events?from_seq=N), as clients and attackers send them.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from sessions.core import clock
from sessions.core.clock import format_ms, now_ms, parse_timestamp
from tests.integration.conftest import publish, set_env

DAY_MS = 24 * 3600 * 1000
LATE_EVENING = "2026-03-04T23:30:00.000Z"  # an hour's offset east of UTC puts its wall time on the next day


@pytest.fixture
def late_evening(monkeypatch):
    """The service's clock from LATE_EVENING on, a millisecond per reading: the test runs alike at any hour."""
    ticks = itertools.count(parse_timestamp(LATE_EVENING) * 1_000_000, 1_000_000)
    monkeypatch.setattr(clock, "time", SimpleNamespace(time_ns=lambda: next(ticks)))


def _at_offset(stamp: str, hours: int) -> str:
    """The same instant written at UTC+hours, as a query parameter (its + encoded)."""
    moment = datetime.fromisoformat(stamp).astimezone(timezone(timedelta(hours=hours)))
    return moment.isoformat(timespec="milliseconds").replace("+", "%2B")


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _append(gateway, sid, body, **kwargs):
    return gateway.request("POST", f"/v1/sessions/{sid}/events", body, **kwargs)


def _session_of(gateway, sid, **kwargs):
    return gateway.request("GET", f"/v1/sessions/{sid}", **kwargs).body


def _history(gateway, sid, query="limit=100&include_payload=true"):
    response = gateway.request("GET", f"/v1/sessions/{sid}/history", query=query)
    assert response.status == 200, response.body
    return response.body["events"]


def _rewind(gateway, sid, query, **kwargs):
    return gateway.request("DELETE", f"/v1/sessions/{sid}/events", query=query, **kwargs)


def _stats(gateway):
    return gateway.request("GET", "/v1/sessions/stats").body


# --- seq -----------------------------------------------------------------------------------------


def test_seqs_are_never_given_twice_even_after_a_rewind(gateway):
    sid = _session(gateway, events=[{"type": "message"}] * 5)
    removed = _rewind(gateway, sid, "from_seq=4")
    assert removed.status == 200 and removed.body["removed"] == 2
    appended = _append(gateway, sid, {"type": "message"})
    assert appended.body["seq"] == 6  # 4 and 5 stay holes
    assert [event["seq"] for event in _history(gateway, sid)] == [1, 2, 3, 6]
    assert _session_of(gateway, sid)["usage"]["event_count"] == 4


def test_a_session_stored_before_last_seq_existed_continues_from_its_event_count(gateway, table):
    sid = _session(gateway, events=[{"type": "message"}] * 3)
    key = {"PK": f"T#acme#S#{sid}", "SK": "#SESSION"}
    table.update_item(Key=key, UpdateExpression="REMOVE last_seq")
    assert _append(gateway, sid, {"type": "message"}).body["seq"] == 4
    table.update_item(Key=key, UpdateExpression="REMOVE last_seq")
    assert _rewind(gateway, sid, "from_seq=4").body["removed"] == 1
    assert table.get_item(Key=key)["Item"]["last_seq"] == 4  # the rewind keeps the highest seq given
    assert _append(gateway, sid, {"type": "message"}).body["seq"] == 5


# --- timestamps ----------------------------------------------------------------------------------


def test_an_event_timestamp_is_normalized_to_utc_and_defaults_to_created_at(gateway, late_evening):
    sid = _session(gateway)
    # an hour ago, written at +02:00: a wall time past midnight, on the next day
    given = _append(gateway, sid, {"type": "message", "timestamp": "2026-03-05T00:30:00.123456+02:00"})
    assert given.status == 201, given.body
    assert given.body["timestamp"] == "2026-03-04T22:30:00.123Z"
    plain = _append(gateway, sid, {"type": "message"}).body
    assert plain["created_at"].startswith("2026-03-04T23:30:00.")  # now, by the service's clock
    assert plain["timestamp"] == plain["created_at"]
    stored = gateway.request("GET", f"/v1/sessions/{sid}/events/1").body
    assert stored["timestamp"] == "2026-03-04T22:30:00.123Z"


@pytest.mark.parametrize(
    "timestamp",
    [
        "yesterday",
        "2026-11-30",
        "2026-11-30T10:00:00",  # no offset
        "2026-11-30 10:00:00Z",  # not RFC 3339's T
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-30T23:59:60Z",  # a leap second: no instant we can store
        "20261130T100000Z",
        "2026-11-30T10:00:00+25:00",
        "",
        12345,
    ],
)
def test_a_malformed_timestamp_is_422_and_writes_nothing(gateway, timestamp):
    sid = _session(gateway)
    before = _session_of(gateway, sid)
    response = _append(gateway, sid, {"type": "message", "timestamp": timestamp})
    assert response.status == 422, response.body
    assert response.body["code"] == "validation_error"
    assert response.body["errors"][0]["loc"][-1] == "timestamp"
    assert _session_of(gateway, sid) == before


OUTSIDE = "timestamp must be at or after 0001-01-01T00:00:00Z and at most 5 minutes ahead"


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (lambda: format_ms(now_ms() + 10 * 60 * 1000), OUTSIDE),
        (lambda: "9999-12-31T23:59:59Z", OUTSIDE),
        # before year 1 in UTC: no instant the service can store
        (lambda: "0001-01-01T00:00:00+01:00", OUTSIDE),
    ],
    ids=["ten_minutes_ahead", "year_9999", "before_year_1"],
)
def test_a_timestamp_outside_the_window_is_422(gateway, at, message):
    at = at()
    sid = _session(gateway)
    response = _append(gateway, sid, {"type": "message", "timestamp": at})
    assert response.status == 422, response.body
    assert response.body["errors"] == [{"loc": ["timestamp"], "msg": message}]
    batch = _append(gateway, sid, {"events": [{"type": "message"}, {"type": "message", "timestamp": at}]})
    assert batch.status == 422 and batch.body["errors"][0]["loc"] == ["events", 1, "timestamp"]
    # a schema rule: refused before the session is looked up or If-Match compared
    assert _append(gateway, "no-such-session", {"type": "message", "timestamp": at}).status == 422
    assert _append(gateway, sid, {"type": "message", "timestamp": at}, headers={"If-Match": '"9"'}).status == 422
    created = gateway.create({"events": [{"type": "message", "timestamp": at}]})
    assert created.status == 422 and created.body["errors"][0]["loc"] == ["events", 0, "timestamp"]
    assert _session_of(gateway, sid)["usage"]["event_count"] == 0


def test_a_timestamp_at_the_edges_of_the_window_is_accepted(gateway):
    sid = _session(gateway)
    for at in (now_ms() - 366 * DAY_MS, now_ms() + 4 * 60 * 1000):
        assert _append(gateway, sid, {"type": "message", "timestamp": format_ms(at)}).status == 201
    assert _append(gateway, sid, {"type": "message", "timestamp": "0001-01-01T00:00:00Z"}).status == 201


def test_any_past_instant_is_accepted_read_back_and_filtered(gateway):
    """Importing an old conversation: 2023, 2024, 1970 timestamps (ADK's own tests use them) are kept as given."""
    stamps = ["2023-11-14T22:13:20.123Z", "2024-01-01T00:00:00.000Z", "1970-01-01T00:00:01.000Z"]
    created = gateway.create({"events": [{"type": "message", "timestamp": stamps[0]}]})
    assert created.status == 201, created.body
    sid = created.body["session_id"]
    appended = _append(gateway, sid, {"type": "message", "timestamp": "2024-01-01T01:00:00+01:00"})
    assert appended.status == 201 and appended.body["timestamp"] == stamps[1]
    batch = _append(gateway, sid, {"events": [{"type": "message", "timestamp": stamps[2]}]})
    assert batch.status == 201 and batch.body["events"][0]["timestamp"] == stamps[2]
    assert [event["timestamp"] for event in _history(gateway, sid)] == stamps
    assert gateway.request("GET", f"/v1/sessions/{sid}/events/1").body["timestamp"] == stamps[0]
    # history's after (inclusive) and before (exclusive) select on them
    assert [event["seq"] for event in _history(gateway, sid, f"after={stamps[0]}")] == [1, 2]
    assert [event["seq"] for event in _history(gateway, sid, f"after={stamps[1]}")] == [2]
    assert [event["seq"] for event in _history(gateway, sid, f"before={stamps[1]}")] == [1, 3]
    assert [event["seq"] for event in _history(gateway, sid, f"after={stamps[0]}&before={stamps[1]}")] == [1]
    assert [event["seq"] for event in _history(gateway, sid, "before=2023-01-01T00:00:00Z")] == [3]
    assert _history(gateway, sid, "after=2025-01-01T00:00:00Z") == []


def test_a_stack_may_bound_how_far_back_a_timestamp_lies(gateway, monkeypatch):
    set_env(monkeypatch, EVENT_TIMESTAMP_MAX_AGE_DAYS="365")
    sid = _session(gateway)
    assert _append(gateway, sid, {"type": "message", "timestamp": format_ms(now_ms() - 364 * DAY_MS)}).status == 201
    for at in (format_ms(now_ms() - 366 * DAY_MS), "2023-11-14T22:13:20Z", "0001-01-01T00:00:00Z"):
        response = _append(gateway, sid, {"type": "message", "timestamp": at})
        assert response.status == 422, response.body
        assert response.body["errors"] == [
            {"loc": ["timestamp"], "msg": "timestamp must be within the last 365 days and at most 5 minutes ahead"}
        ]
    ahead = _append(gateway, sid, {"type": "message", "timestamp": format_ms(now_ms() + 10 * 60 * 1000)})
    assert ahead.status == 422
    assert _session_of(gateway, sid)["usage"]["event_count"] == 1


def test_history_after_is_inclusive_and_before_exclusive_on_timestamp(gateway, late_evening):
    sid = _session(gateway)
    base = now_ms() - 10 * DAY_MS
    stamps = [format_ms(base + day * DAY_MS) for day in (3, 1, 2)]  # given out of order
    for stamp in stamps:
        assert _append(gateway, sid, {"type": "message", "timestamp": stamp}).status == 201
    selected = _history(gateway, sid, f"after={stamps[1]}&before={stamps[0]}")
    assert [event["timestamp"] for event in selected] == [stamps[1], stamps[2]]  # seq order: 2, 3
    assert [event["seq"] for event in _history(gateway, sid, f"after={stamps[0]}")] == [1]
    assert _history(gateway, sid, f"before={stamps[1]}") == []
    # any offset names the same instant, its wall time on the next day included (23:30 UTC is 00:30 at +01:00)
    shifted = _at_offset(stamps[1], 1)
    assert shifted[8:16] == f"{int(stamps[1][8:10]) + 1:02d}T00:30"  # the next day's date, past midnight
    assert [event["seq"] for event in _history(gateway, sid, f"after={shifted}")] == [1, 2, 3]
    assert [event["seq"] for event in _history(gateway, sid, f"before={_at_offset(stamps[2], -1)}")] == [2]


def test_events_stored_before_timestamps_existed_read_and_filter_by_created_at(gateway, table):
    sid = _session(gateway, events=[{"type": "message"}] * 2)
    items = table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": f"T#acme#S#{sid}"})
    for item in items["Items"]:
        if item["SK"].startswith("E#"):
            table.update_item(
                Key={"PK": item["PK"], "SK": item["SK"]},
                UpdateExpression="REMOVE #t",
                ExpressionAttributeNames={"#t": "timestamp"},
            )
    events = _history(gateway, sid)
    assert [event["timestamp"] for event in events] == [event["created_at"] for event in events]
    assert len(_history(gateway, sid, f"after={events[0]['created_at']}")) == 2
    assert _history(gateway, sid, f"before={events[0]['created_at']}") == []
    assert gateway.request("GET", f"/v1/sessions/{sid}/events/1").body["timestamp"] == events[0]["created_at"]


# --- batch ---------------------------------------------------------------------------------------


def test_a_batch_appends_in_order_in_one_step(gateway):
    sid = _session(gateway, context={"n": 0})
    batch = {
        "events": [
            {"type": "message", "content": "a", "usage": {"tokens": 1, "cost_usd": 0.1}, "context_patch": {"n": 1}},
            {"type": "task", "usage": {"tokens": 2, "cost_usd": 0.2}, "context_patch": {"n": 2, "m": 1}},
            {"type": "message", "content": "c", "payload": {"k": [1]}, "context_patch": {"m": None}},
        ]
    }
    response = _append(gateway, sid, batch)
    assert response.status == 201, response.body
    assert [event["seq"] for event in response.body["events"]] == [1, 2, 3]
    assert response.body["events"][2]["payload"] == {"k": [1]}
    assert all("context_patch" not in event for event in response.body["events"])
    session = _session_of(gateway, sid)
    assert response.etag == f'"{session["version"]}"' == '"2"'  # one change, one version
    assert session["context"] == {"n": 2}
    assert session["usage"] == {"tokens_used": 3, "cost_usd": 0.3, "event_count": 3, "task_count": 1}
    assert [event["content"] for event in _history(gateway, sid) if "content" in event] == ["a", "c"]
    stats = _stats(gateway)
    assert (stats["events_total"], stats["tokens_used_total"], stats["cost_usd_total"]) == (3, 3, 0.3)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"events": []}, ["events"]),
        ({"events": [{"type": "message"}] * 21}, ["events"]),
        ({"events": [{"type": "message"}, {"type": "BAD TYPE"}]}, ["events", 1, "type"]),
        ({"events": [{"type": "message"}], "type": "message"}, ["type"]),
        ({"events": {"type": "message"}}, ["events"]),
        ({"events": [{"type": "message", "usage": {"tokens": -1}}]}, ["events", 0, "usage", "tokens"]),
    ],
)
def test_a_bad_batch_is_422_and_writes_nothing(gateway, body, loc):
    sid = _session(gateway)
    before = _session_of(gateway, sid)
    response = _append(gateway, sid, body)
    assert response.status == 422, response.body
    assert loc in [issue["loc"] for issue in response.body["errors"]], response.body
    assert _session_of(gateway, sid) == before


def test_a_single_event_error_names_the_field_without_the_body_shape(gateway):
    sid = _session(gateway)
    response = _append(gateway, sid, {"type": "message", "unknown": 1})
    assert response.status == 422
    assert ["unknown"] in [issue["loc"] for issue in response.body["errors"]]


def test_a_batch_is_all_or_nothing(gateway, monkeypatch):
    sid = _session(gateway, token_budget=10)
    over = {"events": [{"type": "message", "usage": {"tokens": 6}}, {"type": "message", "usage": {"tokens": 6}}]}
    response = _append(gateway, sid, over)
    assert response.status == 409 and response.body["code"] == "token_budget_exceeded"
    set_env(monkeypatch, MAX_HISTORY_EVENTS="3")
    full = _append(gateway, sid, {"events": [{"type": "message"}] * 4})
    assert full.status == 409 and full.body["code"] == "history_full"
    assert _history(gateway, sid) == []
    assert _session_of(gateway, sid)["version"] == 1
    assert _append(gateway, sid, {"events": [{"type": "message"}] * 3}).status == 201


def test_a_batch_replays_with_its_idempotency_key(gateway):
    sid = _session(gateway)
    body = {"events": [{"type": "message", "content": "x"}, {"type": "message"}]}
    first = _append(gateway, sid, body, headers={"Idempotency-Key": "batch-1"})
    again = _append(gateway, sid, body, headers={"Idempotency-Key": "batch-1"})
    assert first.status == again.status == 201
    assert again.body == first.body and again.etag == first.etag
    assert _session_of(gateway, sid)["usage"]["event_count"] == 2
    other = _append(gateway, sid, {"events": [{"type": "message"}]}, headers={"Idempotency-Key": "batch-1"})
    assert other.status == 409 and other.body["code"] == "idempotency_key_reused"


# --- If-Match and ETag on append -----------------------------------------------------------------


def test_append_with_if_match_is_a_compare_and_set_and_every_append_answers_the_new_version(gateway):
    sid = _session(gateway)
    first = _append(gateway, sid, {"type": "message"})
    assert first.status == 201 and first.etag == '"2"'
    matched = _append(gateway, sid, {"type": "message"}, headers={"If-Match": '"2"'})
    assert matched.status == 201 and matched.etag == '"3"'
    stale = _append(gateway, sid, {"type": "message"}, headers={"If-Match": '"2"'})
    assert stale.status == 412 and stale.body["code"] == "version_mismatch" and stale.body["current_version"] == 3
    for tag in ("garbage", '"-1"', '"99999999999999999999999"', 'W/"1"'):
        refused = _append(gateway, sid, {"events": [{"type": "message"}]}, headers={"If-Match": tag})
        assert refused.status == 412, (tag, refused.body)
    assert _append(gateway, sid, {"type": "message"}, headers={"If-Match": "*"}).status == 201
    assert _session_of(gateway, sid)["usage"]["event_count"] == 3


# --- GET one event ------------------------------------------------------------------------------


def test_get_one_event_with_its_payload(gateway):
    sid = _session(gateway, events=[{"type": "tool", "payload": {"args": [1]}, "content": "c"}])
    response = gateway.request("GET", f"/v1/sessions/{sid}/events/1")
    assert response.status == 200 and response.etag == '"2"'
    assert response.body["payload"] == {"args": [1]} and response.body["seq"] == 1
    missing = gateway.request("GET", f"/v1/sessions/{sid}/events/2")
    assert missing.status == 404 and missing.body["code"] == "event_not_found"
    admin = gateway.request("GET", f"/v1/sessions/{sid}/events/1", user="boss", roles=["admin"])
    assert admin.status == 200
    other = gateway.request("GET", f"/v1/sessions/{sid}/events/1", user="u-2")
    assert other.status == 404 and other.body["code"] == "session_not_found"
    assert gateway.request("GET", f"/v1/sessions/{sid}/events/1", tenant="other").status == 404
    assert gateway.request("GET", "/v1/sessions/nope/events/1").body["code"] == "session_not_found"


@pytest.mark.parametrize(
    "seq", ["abc", "-1", "0", "99999999999999999999999", "10000000000", "1.5", "1e3", "%20", "0x10", "NaN"]
)
def test_a_seq_that_is_not_a_positive_number_is_422(gateway, seq):
    sid = _session(gateway, events=[{"type": "message"}])
    for method, body in (("GET", None), ("PATCH", {"content": "x"})):
        response = gateway.request(method, f"/v1/sessions/{sid}/events/{seq}", body)
        assert response.status == 422, (method, seq, response.body)
        assert response.body["code"] == "validation_error"
    assert _history(gateway, sid)[0].get("content") is None


# --- PATCH one event ----------------------------------------------------------------------------


def test_patch_redacts_merges_and_bumps_the_session_version(gateway):
    sid = _session(
        gateway,
        events=[
            {
                "type": "message",
                "content": "my card is 4111",
                "payload": {"a": 1, "b": {"c": 2}},
                "metadata": {"k": "v", "x": "y"},
                "usage": {"tokens": 5},
            }
        ],
    )
    path = f"/v1/sessions/{sid}/events/1"
    response = gateway.request(
        "PATCH",
        path,
        {"content": "[redacted]", "payload": {"b": {"c": None, "d": 3}}, "metadata": {"x": None, "z": "1"}},
    )
    assert response.status == 200, response.body
    assert response.etag == '"3"'
    event = response.body
    assert event["content"] == "[redacted]"
    assert event["payload"] == {"a": 1, "b": {"d": 3}}
    assert event["metadata"] == {"k": "v", "z": "1"}
    assert event["usage"] == {"tokens": 5, "cost_usd": 0, "duration_ms": 0}
    assert gateway.request("GET", path).body == event
    session = _session_of(gateway, sid)
    assert session["version"] == 3 and session["usage"]["tokens_used"] == 5
    removed = gateway.request("PATCH", path, {"content": None, "payload": None, "metadata": None}).body
    assert {"content", "payload", "metadata"}.isdisjoint(removed)
    unchanged = gateway.request("PATCH", path, {})
    assert unchanged.status == 200 and unchanged.etag == '"4"'  # nothing differs: no new version


def test_patch_accepts_merge_patch_json_and_checks_if_match(gateway):
    sid = _session(gateway, events=[{"type": "message", "content": "x"}])
    path = f"/v1/sessions/{sid}/events/1"
    stale = gateway.request("PATCH", path, {"content": "y"}, headers={"If-Match": '"1"'})
    assert stale.status == 412 and stale.body["current_version"] == 2
    ok = gateway.request(
        "PATCH", path, {"content": "y"}, headers={"If-Match": '"2"', "content-type": "application/merge-patch+json"}
    )
    assert ok.status == 200 and ok.body["content"] == "y"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"usage": {"tokens": 0}}, 422),
        ({"type": "task"}, 422),
        ({"seq": 2}, 422),
        ({"timestamp": "2026-01-01T00:00:00Z"}, 422),
        ({"content": 5}, 422),
        ({"payload": {"": 1}}, 422),
        ({"payload": "x"}, 422),
        ({"metadata": {"k": 1}}, 422),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, 422),
        ({"content": "x" * (5 * 1024 * 1024 + 1)}, 413),
        ({"payload": {"big": "x" * (5 * 1024 * 1024)}}, 413),
    ],
)
def test_bad_event_patches_are_refused_and_change_nothing(gateway, body, status):
    sid = _session(gateway, events=[{"type": "message", "content": "x", "metadata": {"a": "b"}}])
    path = f"/v1/sessions/{sid}/events/1"
    before = gateway.request("GET", path).body
    response = gateway.request("PATCH", path, body)
    assert response.status == status, response.body
    assert gateway.request("GET", path).body == before
    assert _session_of(gateway, sid)["version"] == 2


def test_large_events_are_read_redacted_and_rewound_with_their_parts_in_s3(gateway, aws):
    import boto3

    s3 = boto3.client("s3")
    bucket = aws["EventBlobsBucket"]

    def keys():
        return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    sid = _session(gateway)
    large = {"type": "message", "content": "c" * 40_000, "payload": {"big": "p" * 40_000}}
    assert _append(gateway, sid, {"events": [large, {"type": "message"}, large]}).status == 201
    assert len(keys()) == 4  # content and payload of events 1 and 3
    read = gateway.request("GET", f"/v1/sessions/{sid}/events/1").body
    assert read["content"] == large["content"] and read["payload"] == large["payload"]
    patched = gateway.request("PATCH", f"/v1/sessions/{sid}/events/1", {"content": "[redacted]"})
    assert patched.status == 200 and patched.body["content"] == "[redacted]"
    assert patched.body["payload"] == large["payload"]
    assert gateway.request("GET", f"/v1/sessions/{sid}/events/1").body["payload"] == large["payload"]
    assert len(keys()) == 3  # the old content and payload gone, the payload again under a new revision
    assert not [key for key in keys() if "c" * 10 in key]
    removed = _rewind(gateway, sid, "from_seq=1&return_events=true").body
    assert [event.get("content") for event in removed["events"]] == ["[redacted]", None, large["content"]]
    assert removed["events"][2]["payload"] == large["payload"]
    assert keys() == []  # removed events' objects deleted after the commit


def test_metadata_over_sixteen_pairs_once_merged_is_422(gateway):
    sid = _session(gateway, events=[{"type": "message", "metadata": {f"k{i}": "v" for i in range(16)}}])
    response = gateway.request("PATCH", f"/v1/sessions/{sid}/events/1", {"metadata": {"one": "more"}})
    assert response.status == 422 and response.body["errors"][0]["loc"] == ["body", "metadata"]


def test_redaction_works_on_completed_sessions_but_only_for_the_owner(gateway):
    sid = _session(gateway, events=[{"type": "message", "content": "secret"}])
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"}).status == 200
    path = f"/v1/sessions/{sid}/events/1"
    assert gateway.request("PATCH", path, {"content": "[redacted]"}).status == 200
    assert gateway.request("PATCH", path, {"content": "x"}, user="boss", roles=["admin"]).status == 404
    assert gateway.request("PATCH", path, {"content": "x"}, user="u-2").status == 404
    missing = gateway.request("PATCH", f"/v1/sessions/{sid}/events/9", {"content": "x"})
    assert missing.status == 404 and missing.body["code"] == "event_not_found"
    assert gateway.request("GET", path).body["content"] == "[redacted]"


# --- rewind --------------------------------------------------------------------------------------


def test_rewind_removes_the_tail_and_corrects_usage_counts_and_stats(gateway):
    events = [
        {"type": "message", "usage": {"tokens": 1, "cost_usd": 0.1}},
        {"type": "task", "usage": {"tokens": 2, "cost_usd": 0.2}},
        {"type": "message", "content": "c", "payload": {"p": 1}, "usage": {"tokens": 4, "cost_usd": 0.4}},
        {"type": "task", "usage": {"tokens": 8, "cost_usd": 0.8}},
    ]
    sid = _session(gateway, events=events)
    other = _session(gateway, events=[{"type": "message", "usage": {"tokens": 100}}])
    response = _rewind(gateway, sid, "from_seq=3&return_events=true")
    assert response.status == 200, response.body
    body = response.body
    assert (body["removed"], body["from_seq"], body["version"]) == (2, 3, 6)
    assert response.etag == '"6"'
    assert [event["seq"] for event in body["events"]] == [3, 4]
    assert body["events"][0]["payload"] == {"p": 1} and body["events"][0]["content"] == "c"
    session = _session_of(gateway, sid)
    assert session["usage"] == {"tokens_used": 3, "cost_usd": 0.3, "event_count": 2, "task_count": 1}
    assert session["version"] == 6
    assert [event["seq"] for event in _history(gateway, sid)] == [1, 2]
    assert gateway.request("GET", f"/v1/sessions/{sid}/history").body["total"] == 2
    assert gateway.request("GET", f"/v1/sessions/{sid}/events/3").body["code"] == "event_not_found"
    stats = _stats(gateway)
    assert (stats["events_total"], stats["tokens_used_total"], stats["cost_usd_total"]) == (3, 103, 0.3)
    assert _rewind(gateway, sid, "from_seq=1").body == {"removed": 2, "from_seq": 1, "seqs": [1, 2], "version": 7}
    assert _session_of(gateway, sid)["usage"] == {"tokens_used": 0, "cost_usd": 0, "event_count": 0, "task_count": 0}
    assert _stats(gateway)["events_total"] == 1 and other


def test_a_rewind_past_the_end_removes_nothing_and_writes_nothing(gateway):
    sid = _session(gateway, events=[{"type": "message"}])
    response = _rewind(gateway, sid, "from_seq=2&return_events=true")
    assert response.status == 200
    assert response.body == {"removed": 0, "from_seq": 2, "seqs": [], "version": 2, "events": []}
    assert _session_of(gateway, sid)["version"] == 2


def test_a_rewind_frees_the_token_budget_and_the_history_limit(gateway, monkeypatch):
    set_env(monkeypatch, MAX_HISTORY_EVENTS="2")
    sid = _session(gateway, token_budget=10, events=[{"type": "message", "usage": {"tokens": 10}}, {"type": "message"}])
    assert _append(gateway, sid, {"type": "message"}).body["code"] == "history_full"
    assert _rewind(gateway, sid, "from_seq=1").body["removed"] == 2
    assert _append(gateway, sid, {"type": "message", "usage": {"tokens": 10}}).status == 201


def test_more_than_ninety_events_is_409_rewind_too_large_and_nothing_is_removed(gateway):
    sid = _session(gateway)
    for _ in range(5):
        assert _append(gateway, sid, {"events": [{"type": "message"}] * 20}).status == 201
    before = _session_of(gateway, sid)
    response = _rewind(gateway, sid, "from_seq=5")
    assert response.status == 409 and response.body["code"] == "rewind_too_large"
    assert "96 events" in response.body["detail"] and "90" in response.body["detail"]
    assert _session_of(gateway, sid) == before and len(_history(gateway, sid)) == 100
    exactly = _rewind(gateway, sid, "from_seq=11")
    assert exactly.status == 200 and exactly.body["removed"] == 90
    assert _session_of(gateway, sid)["usage"]["event_count"] == 10


@pytest.mark.parametrize(
    "query",
    [
        "from_seq=0",
        "from_seq=-1",
        "from_seq=abc",
        "",
        "from_seq=",
        "from_seq=1.5",
        "from_seq=99999999999999999999",
        "from_seq=1&return_events=maybe",
    ],
)
def test_bad_rewinds_are_422_and_remove_nothing(gateway, query):
    sid = _session(gateway, events=[{"type": "message"}])
    response = _rewind(gateway, sid, query)
    assert response.status == 422, (query, response.body)
    assert response.body["code"] == "validation_error"
    assert len(_history(gateway, sid)) == 1


def test_rewind_checks_if_match_owner_and_status(gateway):
    sid = _session(gateway, events=[{"type": "message"}] * 2)
    stale = _rewind(gateway, sid, "from_seq=1", headers={"If-Match": '"1"'})
    assert stale.status == 412 and stale.body["current_version"] == 3  # a create with 2 events is version 3
    assert _rewind(gateway, sid, "from_seq=1", user="boss", roles=["admin"]).status == 404
    assert _rewind(gateway, sid, "from_seq=1", user="u-2").status == 404
    assert _rewind(gateway, sid, "from_seq=2", headers={"If-Match": '"3"'}).body["removed"] == 1
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"}).status == 200
    closed = _rewind(gateway, sid, "from_seq=1")
    assert closed.status == 409 and closed.body["code"] == "session_closed"
    assert len(_history(gateway, sid)) == 1


# --- lifecycle events ----------------------------------------------------------------------------


def test_redaction_and_rewind_are_lifecycle_events_without_content(gateway, stream, bus_queue):
    sid = _session(gateway, events=[{"type": "message", "content": "private words"}] * 3)
    path = f"/v1/sessions/{sid}"
    gateway.request("PATCH", f"{path}/events/2", {"content": "other private words", "payload": {"p": "hidden"}})
    gateway.request("PATCH", f"{path}/events/2", {"metadata": {"m": "1"}})  # the same seq changed again
    _rewind(gateway, sid, "from_seq=2")
    _append(gateway, sid, {"type": "message"})
    gateway.request("PATCH", path, {"title": "renamed"})
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    mine = sorted((m for m in bus_queue() if m["detail"]["session_id"] == sid), key=lambda m: m["detail"]["version"])
    assert [m["detail-type"] for m in mine] == [
        "session.created",
        "session.event_changed",
        "session.event_changed",
        "session.events_removed",
        "session.event_appended",
        "session.updated",
    ]
    assert mine[1]["detail"]["seq"] == 2 and mine[2]["detail"]["seq"] == 2
    removed = mine[3]["detail"]
    assert (removed["from_seq"], removed["count"], removed["usage"]["event_count"]) == (2, 2, 1)
    assert removed["seqs"] == [2, 3]
    assert removed["changed_fields"] == []
    assert "seq" not in mine[4]["detail"] and mine[5]["detail"]["changed_fields"] == ["title"]
    text = json.dumps(mine)
    assert "private" not in text and "hidden" not in text and "history_change" not in text


# --- who may ------------------------------------------------------------------------------------


def test_a_service_reads_redacts_and_rewinds_for_a_user_and_others_may_not_name_one(gateway):
    created = gateway.create({"events": [{"type": "message", "content": "x"}] * 3}, user="bob")
    sid = created.body["session_id"]
    service = {"user": "svc-orchestrator", "roles": ["service"], "query": "user_id=bob"}
    path = f"/v1/sessions/{sid}/events"
    assert gateway.request("GET", f"{path}/1", **service).body["content"] == "x"
    patched = gateway.request("PATCH", f"{path}/1", {"content": "[redacted]"}, **service)
    assert patched.status == 200 and patched.body["content"] == "[redacted]"
    batch = gateway.request("POST", path, {"events": [{"type": "message"}]}, **service)
    assert batch.status == 201 and batch.body["events"][0]["seq"] == 4
    rewound = gateway.request(
        "DELETE", path, user="svc-orchestrator", roles=["service"], query="user_id=bob&from_seq=3"
    )
    assert rewound.status == 200 and rewound.body["removed"] == 2
    for method, target, body in (("GET", f"{path}/1", None), ("PATCH", f"{path}/1", {"content": "y"})):
        refused = gateway.request(method, target, body, user="mallory", query="user_id=bob")
        assert refused.status == 403 and refused.body["code"] == "forbidden"
    refused = gateway.request("DELETE", path, user="mallory", query="user_id=bob&from_seq=1")
    assert refused.status == 403
    admin = gateway.request("DELETE", path, user="boss", roles=["admin"], query="user_id=bob&from_seq=1")
    assert admin.status == 403  # admins read another user's sessions, never change them
    assert gateway.request("GET", f"{path}/1", user="boss", roles=["admin"], query="user_id=bob").status == 200
    assert (
        gateway.request("GET", f"{path}/1", user="svc", roles=["service"], tenant="other", query="user_id=bob").status
        == 404
    )
    assert _session_of(gateway, sid, user="bob")["usage"]["event_count"] == 2

"""Batches, one event, redaction and rewind over real HTTP against the dev server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tests.e2e.client import Client, Reply
from tests.e2e.test_concurrency import all_at_once


def test_batch_append_then_read_redact_and_rewind_over_http(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    sid = caller.post("/v1/sessions", {"context": {"step": 0}}).json()["session_id"]
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = [
        {"type": "message", "role": "user", "content": "hello", "usage": {"tokens": 3, "cost_usd": 0.1}},
        {"type": "task", "payload": {"tool": "grep"}, "usage": {"tokens": 5, "cost_usd": 0.2}},
        {
            "type": "message",
            "content": "my secret",
            "context_patch": {"step": 3},
            "timestamp": an_hour_ago.astimezone(timezone(timedelta(hours=1))).isoformat(),
        },
    ]
    batch = caller.post(f"/v1/sessions/{sid}/events", {"events": events}, headers={"If-Match": '"1"'})
    assert batch.status == 201, batch.body
    assert batch.headers["etag"] == '"2"'
    assert [event["seq"] for event in batch.json()["events"]] == [1, 2, 3]
    assert batch.json()["events"][2]["timestamp"] == an_hour_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    stale = caller.post(f"/v1/sessions/{sid}/events", {"type": "message"}, headers={"If-Match": '"1"'})
    assert stale.status == 412 and stale.json()["current_version"] == 2
    assert stale.content_type == "application/problem+json"

    one = caller.get(f"/v1/sessions/{sid}/events/2")
    assert one.status == 200 and one.json()["payload"] == {"tool": "grep"} and one.headers["etag"] == '"2"'
    assert caller.get(f"/v1/sessions/{sid}/events/abc").status == 422
    assert caller.get(f"/v1/sessions/{sid}/events/9").json()["code"] == "event_not_found"

    redacted = caller.patch(
        f"/v1/sessions/{sid}/events/3",
        {"content": "[redacted]"},
        headers={"Content-Type": "application/merge-patch+json", "If-Match": '"2"'},
    )
    assert redacted.status == 200 and redacted.json()["content"] == "[redacted]" and redacted.headers["etag"] == '"3"'

    rewound = caller.delete(f"/v1/sessions/{sid}/events?from_seq=2&return_events=true")
    assert rewound.status == 200, rewound.body
    body = rewound.json()
    assert (body["removed"], body["from_seq"], body["version"]) == (2, 2, 4)
    assert [event["seq"] for event in body["events"]] == [2, 3] and rewound.headers["etag"] == '"4"'
    session = caller.get(f"/v1/sessions/{sid}").json()
    assert session["usage"] == {"tokens_used": 3, "cost_usd": 0.1, "event_count": 1, "task_count": 0}
    assert session["context"] == {"step": 3}  # a rewind removes events, not what they did to the context
    assert caller.post(f"/v1/sessions/{sid}/events", {"type": "message"}).json()["seq"] == 4
    assert caller.delete(f"/v1/sessions/{sid}/events?from_seq=0").status == 422
    stats = caller.get("/v1/sessions/stats").json()
    assert (stats["events_total"], stats["tokens_used_total"], stats["cost_usd_total"]) == (2, 3, 0.1)


def test_concurrent_batches_and_a_rewind_over_http_keep_every_seq_unique(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    sid = caller.post("/v1/sessions", {}).json()["session_id"]
    path = f"/v1/sessions/{sid}/events"

    def call(index: int) -> Reply:
        if index == 0:
            return caller.delete(f"{path}?from_seq=1&return_events=true")
        batch = [{"type": "message", "content": f"{index}.{i}", "usage": {"tokens": 1}} for i in range(3)]
        return caller.post(path, {"events": batch})

    replies = all_at_once(9, call)
    assert all(reply.status in (200, 201) for reply in replies), [(r.status, r.body[:200]) for r in replies]
    given = [event["seq"] for reply in replies[1:] for event in reply.json()["events"]]
    assert sorted(given) == list(range(1, 25))  # every seq given once, none twice
    removed = {event["seq"] for event in replies[0].json()["events"]}
    history = caller.get(f"/v1/sessions/{sid}/history?limit=100").json()["events"]
    assert {event["seq"] for event in history} == set(given) - removed
    session = caller.get(f"/v1/sessions/{sid}").json()
    assert session["usage"]["event_count"] == len(history) == session["usage"]["tokens_used"]

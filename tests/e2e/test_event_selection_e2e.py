"""History filtered on event metadata, and selected events removed, over real HTTP against the dev server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from tests.e2e.client import Client, Reply
from tests.e2e.conftest import DevServer
from tests.e2e.test_concurrency import all_at_once
from tests.e2e.test_events_e2e import Consumer, consumer_on, events_of

KiB = 1024


def _history(caller: Client, sid: str, *pairs: str, **params: Any) -> Reply:
    query = urlencode([*(("metadata", pair) for pair in pairs), *params.items()])
    return caller.get(f"/v1/sessions/{sid}/history?{query}")


def _all(caller: Client, sid: str, *pairs: str, **params: Any) -> tuple[list[int], int]:
    """Every page of a filtered history: the seqs in the order answered, and how many pages it took."""
    seqs, pages, cursor = [], 0, None
    while True:
        reply = _history(caller, sid, *pairs, **params, **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body[:300]
        seqs += [event["seq"] for event in reply.json()["events"]]
        pages += 1
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return seqs, pages


def _tagged(caller: Client) -> str:
    """Seqs 1-40; run r1 is 1-20, r2 21-40; every fifth is a checkpoint; values hold ':' ',' and Unicode."""
    sid = caller.post("/v1/sessions", {}).json()["session_id"]
    events = [
        {
            "type": "task" if seq % 4 == 0 else "message",
            "metadata": {
                "run": "r1" if seq <= 20 else "r2",
                "kind": "checkpoint" if seq % 5 == 0 else "write",
                "ns": "a:b,c 日本" if seq % 10 == 0 else "plain",
            },
        }
        for seq in range(1, 41)
    ]
    for start in (0, 20):
        assert caller.post(f"/v1/sessions/{sid}/events", {"events": events[start : start + 20]}).status == 201
    return sid


def test_history_filters_on_metadata_over_http(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    sid = _tagged(caller)
    page = _history(caller, sid, "kind:checkpoint", limit=100).json()
    assert [event["seq"] for event in page["events"]] == [5, 10, 15, 20, 25, 30, 35, 40] and page["total"] == 40
    assert _all(caller, sid, "kind:checkpoint", "run:r2", order="desc")[0] == [40, 35, 30, 25]
    assert _all(caller, sid, "kind:checkpoint", type="task")[0] == [20, 40]
    assert _all(caller, sid, "ns:a:b,c 日本")[0] == [10, 20, 30, 40]
    assert _all(caller, sid, "ns:a:b,c 日本", "run:r1", order="desc", limit=1)[0] == [20, 10]
    assert _all(caller, sid, "absent:x") == ([], 1)
    assert _all(caller, sid, "run:r1", "run:r2") == ([], 1)  # two values for one key select nothing
    # limit 1 through a filter that discards most: every checkpoint once, in order, some pages short
    seqs, pages = _all(caller, sid, "kind:checkpoint", limit=1)
    assert seqs == [5, 10, 15, 20, 25, 30, 35, 40] and pages >= 8


def test_a_filtered_cursor_is_bound_to_its_filters_over_http(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    sid = _tagged(caller)
    cursor = _history(caller, sid, "kind:checkpoint", limit=1).json()["next_cursor"]
    assert _history(caller, sid, "kind:checkpoint", limit=1, cursor=cursor).json()["events"][0]["seq"] == 10
    for pairs in (("kind:write",), (), ("kind:checkpoint", "run:r1")):
        refused = _history(caller, sid, *pairs, limit=1, cursor=cursor)
        assert refused.status == 400 and refused.json()["code"] == "invalid_cursor", pairs
    too_many = _history(caller, sid, *(f"k{i}:v" for i in range(17)))
    assert too_many.status == 422 and too_many.content_type == "application/problem+json"
    assert _history(caller, sid, "no-colon").status == 422


@pytest.fixture
def bus(dev_server: DevServer) -> Iterator[Consumer]:
    with consumer_on(dev_server.moto_url) as consumer:
        yield consumer


def _emulator_bucket(dev_server: DevServer) -> tuple[Any, str]:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=dev_server.moto_url)
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith("eventblobsbucket"))
    return s3, bucket


def _objects_of(s3: Any, bucket: str, sid: str) -> list[str]:
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [key for key in keys if f"/{sid}/" in key]


def test_removing_selected_events_over_http(
    api: Client, dev_server: DevServer, bus: Consumer, user: str, tenant: str
) -> None:
    caller = api.as_(user=user, tenant=tenant)
    sid = caller.post("/v1/sessions", {}).json()["session_id"]
    big = "x" * (100 * KiB)  # its content goes to S3
    events = [
        {"type": "message", "content": "one", "usage": {"tokens": 1, "cost_usd": 0.1}},
        {"type": "task", "content": big, "payload": {"p": "y" * (50 * KiB)}, "usage": {"tokens": 2, "cost_usd": 0.2}},
        {"type": "message", "content": "three", "usage": {"tokens": 4, "cost_usd": 0.4}},
        {"type": "message", "content": big + "!", "usage": {"tokens": 8, "cost_usd": 0.8}},
        {"type": "message", "content": "five", "usage": {"tokens": 16, "cost_usd": 1.6}},
    ]
    appended = caller.post(f"/v1/sessions/{sid}/events", {"events": events})
    assert appended.status == 201
    s3, bucket = _emulator_bucket(dev_server)
    assert len(_objects_of(s3, bucket, sid)) == 3  # event 2's content and payload, event 4's content

    removed = caller.delete(f"/v1/sessions/{sid}/events?seq=2&seq=3&seq=77&return_events=true")
    assert removed.status == 200, removed.body[:300]
    body = removed.json()
    assert (body["removed"], body["from_seq"], body["seqs"], body["version"]) == (2, None, [2, 3], 3)
    assert removed.headers["etag"] == '"3"'
    assert body["events"][0]["content"] == big and body["events"][0]["payload"] == {"p": "y" * (50 * KiB)}
    assert "content_url" not in body["events"][0]
    (left,) = _objects_of(s3, bucket, sid)  # event 2's objects deleted after the commit; event 4's stays
    assert f"/{appended.json()['events'][3]['event_id']}/" in left
    assert caller.get(f"/v1/sessions/{sid}/events/4").json()["content"] == big + "!"

    history = caller.get(f"/v1/sessions/{sid}/history?limit=100").json()
    assert [event["seq"] for event in history["events"]] == [1, 4, 5] and history["total"] == 3
    session = caller.get(f"/v1/sessions/{sid}").json()
    assert session["usage"] == {"tokens_used": 25, "cost_usd": 2.5, "event_count": 3, "task_count": 0}
    stats = caller.get("/v1/sessions/stats").json()
    assert (stats["events_total"], stats["tokens_used_total"], stats["cost_usd_total"]) == (3, 25, 2.5)

    again = caller.delete(f"/v1/sessions/{sid}/events?seq=2&seq=3")
    assert again.status == 200 and again.json() == {"removed": 0, "from_seq": None, "seqs": [], "version": 3}
    assert caller.post(f"/v1/sessions/{sid}/events", {"type": "message"}).json()["seq"] == 6  # holes stay holes

    (published,) = [e for e in events_of(bus, sid, 3) if e["detail-type"] == "session.events_removed"]
    detail = published["detail"]
    assert (detail["from_seq"], detail["count"], detail["seqs"], detail["version"]) == (None, 2, [2, 3], 3)
    assert "three" not in str(published) and big not in str(published)


def test_bad_removals_over_http_are_422_and_remove_nothing(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    sid = caller.post("/v1/sessions", {"events": [{"type": "message"}] * 3}).json()["session_id"]
    path = f"/v1/sessions/{sid}/events"
    for query in (
        "seq=0",
        "seq=abc",
        "seq=-5",
        "seq=1%2C1",  # a comma list, one seq twice
        "seq=1&seq=1",
        "seq=1&from_seq=1",
        "",
        "&".join(f"seq={seq}" for seq in range(1, 92)),
        "seq=1%00",
        "seq=" + "9" * 400,
    ):
        reply = caller.delete(f"{path}?{query}" if query else path)
        assert reply.status == 422, (query, reply.status, reply.body[:200])
        assert reply.content_type == "application/problem+json" and reply.json()["code"] == "validation_error"
    assert caller.get(f"/v1/sessions/{sid}").json()["usage"]["event_count"] == 3
    assert caller.delete(f"{path}?seq=1", headers={"If-Match": '"1"'}).status == 412
    assert api.as_(user="someone-else", tenant=tenant).delete(f"{path}?seq=1").status == 404


def test_concurrent_removals_and_appends_over_http_lose_nothing(api: Client, user: str, tenant: str) -> None:
    caller = api.as_(user=user, tenant=tenant)
    initial = [{"type": "message", "usage": {"tokens": 1, "cost_usd": 0.25}}] * 20
    sid = caller.post("/v1/sessions", {"events": initial}).json()["session_id"]
    path = f"/v1/sessions/{sid}/events"
    appends, removals = 6, 6

    def call(index: int) -> Reply:
        if index < removals:  # overlapping selections: 1-4, 4-7, … and seqs the appends are about to take
            seqs = [1 + 3 * index + offset for offset in range(4)] + [21 + index]
            return caller.delete(f"{path}?{'&'.join(f'seq={seq}' for seq in seqs)}&return_events=true")
        batch = [{"type": "message", "usage": {"tokens": 1, "cost_usd": 0.25}}] * 2
        return caller.post(path, {"events": batch})

    replies = all_at_once(appends + removals, call)
    assert all(reply.status in (200, 201) for reply in replies), [(r.status, r.body[:200]) for r in replies]
    given = sorted(event["seq"] for reply in replies[removals:] for event in reply.json()["events"])
    assert given == list(range(21, 21 + 2 * appends))
    removed = [seq for reply in replies[:removals] for seq in reply.json()["seqs"]]
    assert len(removed) == len(set(removed))  # each event removed once
    assert all(reply.json()["seqs"] == [e["seq"] for e in reply.json()["events"]] for reply in replies[:removals])
    kept = [event["seq"] for event in caller.get(f"/v1/sessions/{sid}/history?limit=100").json()["events"]]
    assert sorted(kept + removed) == list(range(1, 21 + 2 * appends))
    session = caller.get(f"/v1/sessions/{sid}").json()
    expected_cost = float(Decimal("0.25") * len(kept))
    assert session["usage"] == {
        "tokens_used": len(kept),
        "cost_usd": expected_cost,
        "event_count": len(kept),
        "task_count": 0,
    }

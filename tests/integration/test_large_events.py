"""Events up to 5 MiB: parts over 32 KiB in S3, read back whole, pages within Lambda's limits, purged with history."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.api.gateway import LambdaContext
from sessions.store.blobs import blob_prefix, history_blob_prefix
from sessions.usecases.large_events import LAMBDA_RESPONSE_MAX_BYTES
from tests.integration.conftest import expire_in_place, set_env

MIB = 1024 * 1024
LIMIT = 5 * MIB


@pytest.fixture(autouse=True)
def no_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")


def utf8_text(size: int) -> str:
    """Exactly `size` bytes of UTF-8 mixing 1-, 2-, 3- and 4-byte characters."""
    unit = "aé漢😀"  # 1 + 2 + 3 + 4 bytes
    text = unit * (size // 10)
    return text + "b" * (size - len(text.encode()))


def post_event(gateway, sid: str, event: dict[str, Any], **kwargs: Any) -> Any:
    # as a careful client sends it: UTF-8, not \\u escapes (which would count six bytes a character)
    raw = json.dumps(event, ensure_ascii=False).encode()
    return gateway.request("POST", f"/v1/sessions/{sid}/events", raw=raw, **kwargs)


def history(gateway, sid: str, query: str = "include_payload=true") -> Any:
    response = gateway.request("GET", f"/v1/sessions/{sid}/history", query=query)
    assert response.status == 200, response.body
    return response.body


def objects(aws, prefix: str = "") -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=aws["EventBlobsBucket"], Prefix=prefix)
    return [entry["Key"] for entry in listed.get("Contents", [])]


def event_items(table, sid: str) -> list[dict[str, Any]]:
    return table.query(
        KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
        ExpressionAttributeValues={":pk": f"T#acme#S#{sid}", ":e": "E#"},
    )["Items"]


def test_content_and_payload_of_5_mib_together_round_trip_exactly(gateway, aws, table):
    assert gateway.create({"session_id": "big"}).status == 201
    payload = {"text": utf8_text(2 * MIB), "numbers": [1, 2.5, 1e20, -0.0], "nested": {"ü": [True, None]}}
    # sized as the service stores and answers it: an integral number as an integer (1e20 is 21 digits)
    stored_form = {**payload, "numbers": [1, 2.5, 10**20, 0]}
    payload_bytes = len(json.dumps(stored_form, ensure_ascii=False, separators=(",", ":")).encode())
    content = utf8_text(LIMIT - payload_bytes)  # exactly 5 MiB together
    answered = post_event(gateway, "big", {"type": "message", "content": content, "payload": payload})
    assert answered.status == 201, answered.body
    assert answered.body["content"] == content and answered.body["payload"] == payload
    assert "blobs" not in answered.body

    (item,) = event_items(table, "big")
    assert "content" not in item and "payload" not in item  # the item keeps pointers only
    assert set(item["blobs"]) == {"content", "payload"}
    assert sorted(objects(aws)) == sorted(pointer["key"] for pointer in item["blobs"].values())

    (event,) = history(gateway, "big")["events"]
    assert event["content"] == content
    assert event["payload"] == {**payload, "numbers": [1, 2.5, 100000000000000000000, -0.0]}
    assert "blobs" not in event and "content_url" not in event
    without_payload = history(gateway, "big", "include_payload=false")["events"][0]
    assert without_payload["content"] == content and "payload" not in without_payload


def test_content_alone_of_5_mib_and_small_parts_stay_in_the_item(gateway, aws, table):
    assert gateway.create({"session_id": "one"}).status == 201
    content = utf8_text(LIMIT)
    assert post_event(gateway, "one", {"type": "message", "content": content}).status == 201
    small = {"type": "tool", "content": "x" * (32 * 1024), "payload": {"k": "v"}}  # exactly 32 KiB: inline
    assert post_event(gateway, "one", small).status == 201
    first, second = event_items(table, "one")
    assert set(first["blobs"]) == {"content"}
    assert "blobs" not in second and second["content"] == small["content"]
    page = history(gateway, "one")
    assert [event["content"] for event in page["events"]] == [content]  # 5 MiB and 32 KiB pass a page's 5 MiB
    rest = history(gateway, "one", f"include_payload=true&cursor={page['next_cursor']}")
    assert [event["content"] for event in rest["events"]] == [small["content"]] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "content": "x" * (LIMIT + 1)},
        {"type": "message", "content": "é" * (LIMIT // 2 + 1)},  # characters under the limit, bytes over it
        {"type": "message", "payload": {"p": "x" * LIMIT}},
        {"type": "message", "content": "x" * (3 * MIB), "payload": {"p": "x" * (2 * MIB)}},
    ],
    ids=["content", "content-bytes", "payload", "together"],
)
def test_more_than_5_mib_together_is_413_and_nothing_is_stored(gateway, aws, table, event):
    assert gateway.create({"session_id": "over"}).status == 201
    refused = post_event(gateway, "over", event)
    assert refused.status == 413, refused.body
    assert refused.body["code"] == "payload_too_large"
    assert objects(aws) == [] and event_items(table, "over") == []


def test_the_append_body_may_reach_6_000_000_bytes_and_no_more(gateway):
    assert gateway.create({"session_id": "body"}).status == 201
    padding = {"type": "message", "content": "x", "metadata": {}}
    frame = len(json.dumps(padding).encode())
    at_limit = json.dumps(padding).encode() + b" " * (6_000_000 - frame)
    assert gateway.request("POST", "/v1/sessions/body/events", raw=at_limit).status == 201
    refused = gateway.request("POST", "/v1/sessions/body/events", raw=at_limit + b" ")
    assert refused.status == 413 and "6000000" in refused.body["detail"]


def test_every_other_route_keeps_256_kib(gateway):
    assert gateway.create({"session_id": "small"}).status == 201
    over = json.dumps({"title": "t"}).encode() + b" " * (256 * 1024)
    assert gateway.request("POST", "/v1/sessions", raw=over).status == 413
    assert gateway.request("PATCH", "/v1/sessions/small", raw=over).status == 413
    # initial events on create keep the limits of the item they are stored in
    big_initial = {"events": [{"type": "message", "content": "x" * (32 * 1024 + 1)}]}
    assert gateway.create(big_initial).status == 413


def test_a_history_page_stops_before_5_mib_and_the_cursor_carries_on(gateway, aws):
    assert gateway.create({"session_id": "pages"}).status == 201
    for index in range(3):
        content = str(index) * (4 * MIB)
        assert post_event(gateway, "pages", {"type": "message", "content": content}).status == 201
    assert post_event(gateway, "pages", {"type": "message", "content": "small"}).status == 201
    seen, cursor, pages = [], None, 0
    while True:
        query = "include_payload=true&limit=10" + (f"&cursor={cursor}" if cursor else "")
        response = gateway.request("GET", "/v1/sessions/pages/history", query=query)
        raw = gateway.last_proxy_response
        assert len(json.dumps(raw, ensure_ascii=False).encode()) <= LAMBDA_RESPONSE_MAX_BYTES
        pages += 1
        seen += [(event["seq"], len(event["content"])) for event in response.body["events"]]
        cursor = response.body["next_cursor"]
        if cursor is None:
            break
    # one 4 MiB event per page; the small one fits beside the last of them
    assert pages == 3
    assert seen == [(1, 4 * MIB), (2, 4 * MIB), (3, 4 * MIB), (4, 5)]
    descending = history(gateway, "pages", "include_payload=true&order=desc&limit=3")
    assert [event["seq"] for event in descending["events"]] == [4, 3]


def test_a_lone_event_over_lambdas_response_limit_comes_with_presigned_urls(gateway, aws):
    assert gateway.create({"session_id": "escaped"}).status == 201
    # 2.5 MB of newlines: 5 MB as a JSON body, 10 MB once Lambda escapes the body again
    content = "\n" * 2_500_000
    answered = post_event(gateway, "escaped", {"type": "message", "content": content, "payload": {"p": 1}})
    assert answered.status == 201
    assert "content" not in answered.body and answered.body["payload"] == {"p": 1}  # the echo left it out
    (event,) = history(gateway, "escaped")["events"]
    assert "content" not in event and event["payload"] == {"p": 1}
    url = event["content_url"]
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=900" in url
    import requests  # moto answers it in-process, as S3 would the URL

    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content.decode("utf-8") == content


def rewind(gateway, sid: str, query: str) -> Any:
    response = gateway.request("DELETE", f"/v1/sessions/{sid}/events", query=query)
    assert response.status == 200, response.body
    raw = gateway.last_proxy_response
    assert len(json.dumps(raw, ensure_ascii=False).encode()) <= LAMBDA_RESPONSE_MAX_BYTES
    return response.body, json.dumps(raw)


def test_a_rewind_returns_its_large_events_whole_before_deleting_their_objects(gateway, aws):
    assert gateway.create({"session_id": "undo"}).status == 201
    content = utf8_text(3 * MIB)
    payload = {"text": utf8_text(MIB), "numbers": [1, 2.5, -3], "nested": {"ü": [True, None]}}
    appended = [
        {"type": "message", "content": "kept"},
        {"type": "message", "content": content, "payload": payload, "metadata": {"k": "v"}},
        {"type": "tool", "content": "small", "payload": {"p": 1}},
    ]
    for event in appended:
        assert post_event(gateway, "undo", event).status == 201
    assert len(objects(aws)) == 2

    body, raw = rewind(gateway, "undo", "from_seq=2&return_events=true")
    assert body["removed"] == 2
    large, small = body["events"]
    assert large["seq"] == 2 and large["content"] == content and large["payload"] == payload
    assert large["metadata"] == {"k": "v"}
    assert small["content"] == "small" and small["payload"] == {"p": 1}
    for event in body["events"]:
        assert not {"parts_omitted", "content_url", "payload_url"} & set(event)
    assert "X-Amz-Signature" not in raw
    assert objects(aws) == []  # deleted after the answer was read back
    assert [event["content"] for event in history(gateway, "undo")["events"]] == ["kept"]


def test_a_rewind_past_the_response_limit_leaves_parts_out_and_never_links_to_deleted_objects(gateway, aws):
    assert gateway.create({"session_id": "tail"}).status == 201
    # 2.5 MB of newlines: 10 MB once Lambda escapes the body again, so it can never fit one answer
    # (history answers it with content_url; a rewind deletes that object, so it must not)
    escaped = {"type": "message", "content": "\n" * 2_500_000, "payload": {"p": utf8_text(64 * 1024)}}
    assert post_event(gateway, "tail", escaped).status == 201
    fours = [str(index) * (4 * MIB) for index in range(2)]
    for content in fours:
        assert post_event(gateway, "tail", {"type": "message", "content": content}).status == 201
    assert post_event(gateway, "tail", {"type": "message", "content": "last", "payload": {"p": 1}}).status == 201
    assert "content_url" in history(gateway, "tail", "include_payload=true&limit=1")["events"][0]

    body, raw = rewind(gateway, "tail", "from_seq=1&return_events=true")
    assert body["removed"] == 4 and [event["seq"] for event in body["events"]] == [1, 2, 3, 4]
    first, second, third, fourth = body["events"]
    assert "content" not in first and first["parts_omitted"] == ["content"]
    assert first["payload"] == escaped["payload"]  # what still fits comes whole
    assert second["content"] == fours[0] and "parts_omitted" not in second
    assert "content" not in third and third["parts_omitted"] == ["content"]  # 4 MiB more would pass 6 MB
    assert fourth["content"] == "last" and fourth["payload"] == {"p": 1} and "parts_omitted" not in fourth
    for event in body["events"]:
        assert "content_url" not in event and "payload_url" not in event
    assert "X-Amz-Signature" not in raw
    assert objects(aws) == []


def test_a_retried_large_append_replays_its_response_from_a_small_record(gateway, aws):
    assert gateway.create({"session_id": "retry"}).status == 201
    event = {"type": "message", "content": utf8_text(3 * MIB), "payload": {"p": utf8_text(MIB)}}
    headers = {"Idempotency-Key": "large-1"}
    first = post_event(gateway, "retry", event, headers=headers)
    again = post_event(gateway, "retry", event, headers=headers)
    assert first.status == again.status == 201
    assert again.body == first.body and again.body["content"] == event["content"]
    records = boto3.resource("dynamodb").Table(aws["IdempotencyTable"]).scan()["Items"]
    assert len(records) == 1 and len(json.dumps(records[0], default=str)) < 4096
    assert len(history(gateway, "retry")["events"]) == 1


def test_the_cleanup_leaves_no_object_of_a_purged_history(gateway, aws, table):
    large = {"type": "message", "content": "x" * 40_000, "payload": {"p": "y" * 40_000}}
    for sid in ("deleted", "expired", "kept"):
        assert gateway.create({"session_id": sid}).status == 201
        assert post_event(gateway, sid, large).status == 201
    incarnations = {
        sid: table.get_item(Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"})["Item"]["incarnation"]
        for sid in ("deleted", "expired", "kept")
    }
    # an append whose transaction failed after its upload leaves an object under the same prefix
    orphan = blob_prefix("acme", "deleted", incarnations["deleted"]) + "0f0f/content"
    boto3.client("s3").put_object(Bucket=aws["EventBlobsBucket"], Key=orphan, Body=b"x")
    assert gateway.request("DELETE", "/v1/sessions/deleted").status == 204
    expire_in_place(table, ["expired"])
    assert len(objects(aws)) == 7
    context = LambdaContext("CleanupFunction", timeout_seconds=300)
    summary = gateway.handler("CleanupFunction")({}, context)
    assert (summary["sessions_purged"], summary["sessions_expired"], summary["complete"]) == (1, 1, True)
    assert objects(aws, blob_prefix("acme", "deleted", incarnations["deleted"])) == []
    assert objects(aws, blob_prefix("acme", "expired", incarnations["expired"])) == []
    assert len(objects(aws, blob_prefix("acme", "kept", incarnations["kept"]))) == 2
    assert history(gateway, "kept")["events"][0]["payload"] == large["payload"]


def test_tenant_prefixes_never_contain_each_other():
    assert blob_prefix("a/b", "s", "i") == "a%2Fb/s/i/"
    assert blob_prefix("a%2Fb", "s", "i") == "a%252Fb/s/i/"
    assert not blob_prefix("a/b", "c", "i").startswith(blob_prefix("a", "b", "c"))
    assert history_blob_prefix("T#a%23b#S#sess-1", "inc") == blob_prefix("a#b", "sess-1", "inc")


def test_the_cleanups_s3_work_grows_with_what_it_removes_not_with_the_bucket(gateway, aws, table):
    from collections import Counter

    from sessions import store

    large = {"type": "message", "content": "x" * 40_000}
    for index in range(6):
        assert gateway.create({"session_id": f"k{index}"}).status == 201
        for _ in range(3):
            assert post_event(gateway, f"k{index}", large).status == 201
    assert gateway.request("DELETE", "/v1/sessions/k0").status == 204
    made: Counter[str] = Counter()
    listed: list[int] = []

    def count(model: Any, **_: Any) -> None:
        made[model.name] += 1

    def keys_listed(parsed: Any, model: Any, **_: Any) -> None:
        if model.name == "ListObjectsV2":
            listed.append(len(parsed.get("Contents", [])))

    client = store.aws_client("s3")
    client.meta.events.register("before-call.s3", count)
    client.meta.events.register("after-call.s3", keys_listed)
    gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))
    # one purged session: one listing of its own prefix, one batch delete; the other 15 objects unseen
    assert made == Counter({"ListObjectsV2": 1, "DeleteObjects": 1}) and listed == [3]
    assert len(objects(aws)) == 15


def patch_event(gateway, sid: str, seq: int, body: dict[str, Any]) -> Any:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return gateway.request("PATCH", f"/v1/sessions/{sid}/events/{seq}", raw=raw)


def test_a_patch_of_an_event_over_lambdas_response_limit_answers_a_url_not_a_failed_response(gateway, aws):
    assert gateway.create({"session_id": "escaped-patch"}).status == 201
    content = "\n" * 2_500_000  # 10 MB once Lambda escapes the body again
    assert post_event(gateway, "escaped-patch", {"type": "message", "content": content}).status == 201
    for body in ({"metadata": {"reviewed": "yes"}}, {"metadata": {"reviewed": "yes"}}):  # a change, then none
        answered = patch_event(gateway, "escaped-patch", 1, body)
        assert answered.status == 200, answered.body
        assert len(json.dumps(gateway.last_proxy_response).encode()) <= LAMBDA_RESPONSE_MAX_BYTES
        assert "content" not in answered.body and "X-Amz-Signature=" in answered.body["content_url"]
        assert answered.body["metadata"] == {"reviewed": "yes"}


def test_a_patch_that_leaves_a_large_part_as_it_was_keeps_its_object(gateway, aws):
    assert gateway.create({"session_id": "keep"}).status == 201
    content, payload = "c" * (100 * 1024), {"blob": "p" * (100 * 1024)}
    assert post_event(gateway, "keep", {"type": "message", "content": content, "payload": payload}).status == 201
    before = set(objects(aws))
    assert patch_event(gateway, "keep", 1, {"metadata": {"k": "v"}}).status == 200
    assert set(objects(aws)) == before  # nothing uploaded again, nothing deleted
    assert patch_event(gateway, "keep", 1, {"content": "[redacted]"}).status == 200
    after = set(objects(aws))
    assert len(after) == 1 and after < before  # the content's object went; the payload's stayed
    event = gateway.request("GET", "/v1/sessions/keep/events/1").body
    assert event["content"] == "[redacted]" and event["payload"] == payload


def test_two_patches_planned_on_one_version_never_share_an_object():
    from sessions.usecases.large_events import offload_large_parts

    session = {"tenant_id": "acme", "session_id": "s", "incarnation": "i"}
    event = {"event_id": "e", "content": "x" * (64 * 1024)}
    first, second = (offload_large_parts(session, event, revision=True)["blobs"]["content"]["key"] for _ in "ab")
    assert first != second


def test_s3_failing_after_a_commit_never_fails_the_committed_rewind_or_patch(gateway, aws, monkeypatch):
    from botocore.exceptions import ClientError

    from sessions.store.blobs import EventBlobs

    assert gateway.create({"session_id": "flaky"}).status == 201
    for text in ("a", "b"):
        assert post_event(gateway, "flaky", {"type": "message", "content": text * (64 * 1024)}).status == 201

    def slow_down(*args: Any, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "op")

    monkeypatch.setattr(EventBlobs, "delete_keys", slow_down)
    assert patch_event(gateway, "flaky", 1, {"content": "[redacted]"}).status == 200
    monkeypatch.setattr(EventBlobs, "get", slow_down)
    answered, _ = rewind(gateway, "flaky", "from_seq=2&return_events=true")  # 200, within Lambda's limit
    assert answered["removed"] == 1 and answered["events"][0]["parts_omitted"] == ["content"]
    monkeypatch.undo()
    assert gateway.request("GET", "/v1/sessions/flaky/events/1").body["content"] == "[redacted]"
    assert gateway.request("GET", "/v1/sessions/flaky").body["usage"]["event_count"] == 1

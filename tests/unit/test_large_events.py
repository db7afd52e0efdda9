"""The pure rules of large events: response sizing, page budget, echo fitting, idempotency records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sessions.usecases import large_events
from sessions.usecases.large_events import (
    LAMBDA_RESPONSE_MAX_BYTES,
    RESPONSE_FRAME_BYTES,
    LargeParts,
    fit_echo,
    inline_parts,
    pack_append_response,
    removed_views,
    response_bytes,
    unpack_append_response,
)

MIB = 1024 * 1024


class FakeBlobs:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets: list[str] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data

    def get(self, key: str) -> bytes | None:
        self.gets.append(key)
        return self.objects.get(key)

    def delete_keys(self, keys: list[str]) -> list[str]:
        for key in keys:
            self.objects.pop(key, None)
        return []

    def presigned_get(self, key: str) -> str:
        return f"https://bucket/{key}?X-Amz-Expires=900"


@pytest.fixture
def blobs() -> Any:
    fake = FakeBlobs()
    large_events.use_blobs(fake)  # type: ignore[arg-type]
    yield fake
    large_events.use_blobs(None)


SESSION = {"tenant_id": "t/1", "session_id": "s", "incarnation": "inc"}


def stored_event(blobs: FakeBlobs, seq: int, content: str) -> dict[str, Any]:
    event = {"event_id": f"e{seq}", "seq": seq, "created_at": "2026-01-01T00:00:00.000Z", "type": "message"}
    return large_events.offload_large_parts(SESSION, {**event, "content": content})


def test_response_bytes_counts_the_escaping_of_the_proxy_response():
    assert response_bytes("é") == len('\\"é\\"'.encode())  # quotes escaped again; non-ASCII stays UTF-8
    assert response_bytes("\n") == len('\\"\\\\n\\"')  # "\n" in the body, its backslash escaped again


def test_small_parts_stay_in_the_item_and_large_ones_go_once(blobs):
    parts = LargeParts()
    event = {"event_id": "first", "seq": 1, "type": "message", "content": "x" * 40_000, "payload": {"k": 1}}
    answered, item = parts.offload(SESSION, event)
    assert answered == event and item["payload"] == {"k": 1} and "content" not in item
    assert item["blobs"] == {"content": {"key": "t%2F1/s/inc/first/content", "bytes": 40_000}}
    # a lost race plans again with a new id and seq: the same objects, the first id
    again, item_again = parts.offload(SESSION, {**event, "event_id": "second", "seq": 2})
    assert again["event_id"] == item_again["event_id"] == "first" and item_again["seq"] == 2
    assert list(blobs.objects) == ["t%2F1/s/inc/first/content"]


def test_a_page_stops_before_its_budget_without_reading_what_cannot_fit(blobs):
    events = [stored_event(blobs, seq, str(seq) * (2 * MIB)) for seq in (1, 2, 3)]
    views = inline_parts(events)
    assert [view["seq"] for view in views] == [1, 2]
    assert len(blobs.gets) == 2  # the third was never read: its stored size alone passes the budget
    assert [view["seq"] for view in inline_parts(events[2:])] == [3]


def test_the_first_event_is_always_returned_and_urls_replace_what_lambda_cannot_return(blobs):
    (view,) = inline_parts([stored_event(blobs, 1, "\n" * (3 * MIB))])
    assert "content" not in view and view["content_url"].startswith("https://bucket/")
    (whole,) = inline_parts([stored_event(blobs, 2, "x" * (5 * MIB))], budget=1)
    assert len(whole["content"]) == 5 * MIB


def test_a_rewind_answers_every_event_with_what_fits_and_names_what_it_leaves_out(blobs):
    events = [stored_event(blobs, seq, str(seq) * (2 * MIB)) for seq in (1, 2, 3, 4)]
    events.append({**stored_event(blobs, 5, "small"), "payload": {"p": 1}})
    views = removed_views(events)
    assert [view["seq"] for view in views] == [1, 2, 3, 4, 5]  # every removed event, unlike a page
    assert [len(view.get("content", "")) for view in views[:3]] == [2 * MIB, 2 * MIB, 0]
    assert views[2]["parts_omitted"] == views[3]["parts_omitted"] == ["content"]
    assert views[4]["content"] == "small" and views[4]["payload"] == {"p": 1} and "parts_omitted" not in views[4]
    assert len(blobs.gets) == 2  # what cannot fit is not even read
    assert not any(name.endswith("_url") for view in views for name in view)
    assert RESPONSE_FRAME_BYTES + response_bytes({"removed": 5, "events": views}) <= LAMBDA_RESPONSE_MAX_BYTES


def test_a_rewind_never_links_to_the_objects_it_deletes(blobs):
    escaped = stored_event(blobs, 1, "\n" * (3 * MIB))  # 12 MiB once Lambda escapes it: never fits
    (view,) = removed_views([escaped])
    assert "content" not in view and "content_url" not in view and view["parts_omitted"] == ["content"]
    missing = stored_event(blobs, 2, "x" * (64 * 1024))
    blobs.objects.clear()  # an object the bucket's lifecycle already expired
    (gone,) = removed_views([missing])
    assert gone["parts_omitted"] == ["content"]
    small = {**stored_event(blobs, 3, "y"), "payload": {"p": "z" * 100}}
    (tight,) = removed_views([small], limit=RESPONSE_FRAME_BYTES + 300)
    assert tight["content"] == "y" and tight["parts_omitted"] == ["payload"]  # small parts in the item too


def test_the_echo_leaves_out_large_parts_only_past_lambdas_limit():
    small = {"event_id": "e", "content": "x" * (5 * MIB)}
    assert fit_echo([small]) == [small]
    escaped = {"event_id": "e", "content": "\n" * (3 * MIB), "payload": {"p": 1}}
    (answered,) = fit_echo([escaped])
    assert answered == {"event_id": "e", "payload": {"p": 1}}
    assert response_bytes(answered) < LAMBDA_RESPONSE_MAX_BYTES


@pytest.mark.parametrize("batch", [False, True])
def test_an_idempotency_record_keeps_no_part_and_replays_them_from_the_request(batch):
    requested = {"type": "message", "content": "é" * 100_000, "payload": {"n": [1.5, 2]}}
    event = {"event_id": "e", "seq": 1, **requested}
    answer = {"events": [event, {**event, "seq": 2}]} if batch else event
    request_body = {"events": [requested, requested]} if batch else requested
    body = json.dumps(answer, ensure_ascii=False)
    kept = pack_append_response(body)
    assert len(kept) < 300 and "é" not in kept
    assert json.loads(unpack_append_response(kept, request_body)) == answer
    assert unpack_append_response('{"event_id": "old"}', request_body) == '{"event_id": "old"}'


def test_hooks_for_patch_and_rewind(blobs):
    event = {"event_id": "e", "seq": 1, "type": "message", "content": "x" * 40_000, "payload": {"p": "y" * 40_000}}
    item = large_events.offload_large_parts(SESSION, event)
    assert large_events.with_parts_inline(item) == event
    kept = {"payload": item["blobs"]["payload"]}  # a patch that left the payload as it was
    patched = large_events.offload_large_parts(SESSION, {**event, "content": "z" * 40_000}, revision=True, kept=kept)
    new_key = patched["blobs"]["content"]["key"]
    assert new_key.startswith("t%2F1/s/inc/e/content.") and patched["blobs"]["payload"] == kept["payload"]
    assert len(blobs.objects) == 3  # the committed item's objects stay until the change commits
    assert large_events.delete_event_blobs([{"blobs": {"content": item["blobs"]["content"]}}]) == []
    assert sorted(blobs.objects) == sorted([new_key, kept["payload"]["key"]])

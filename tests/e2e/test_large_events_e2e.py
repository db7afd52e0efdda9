"""Events up to 5 MiB over real HTTP: the dev server's bucket, history pages within Lambda's response limit."""

from __future__ import annotations

import json
import urllib.request

from tests.e2e.client import Client

MIB = 1024 * 1024
LAMBDA_RESPONSE_MAX_BYTES = 6 * MIB


def utf8_text(size: int) -> str:
    unit = "aé漢😀"  # 1 + 2 + 3 + 4 bytes
    text = unit * (size // 10)
    return text + "b" * (size - len(text.encode()))


def post_event(client: Client, session_id: str, event: dict) -> dict:
    reply = client.post(f"/v1/sessions/{session_id}/events", raw=json.dumps(event, ensure_ascii=False).encode())
    assert reply.status == 201, reply.body[:500]
    return reply.json()


def history_pages(client: Client, session_id: str, query: str = "include_payload=true&limit=100") -> list[bytes]:
    pages, cursor = [], None
    while True:
        reply = client.get(f"/v1/sessions/{session_id}/history?{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert reply.status == 200, reply.body[:500]
        # the body as Lambda returned it, escaped inside its proxy response, stayed within its limit
        assert len(json.dumps(reply.body.decode(), ensure_ascii=False).encode()) < LAMBDA_RESPONSE_MAX_BYTES
        pages.append(reply.body)
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return pages


def test_a_5_mib_event_round_trips_over_http(api: Client, user: str, tenant: str) -> None:
    client = api.as_(user=user, tenant=tenant)
    session_id = client.post("/v1/sessions", {}).json()["session_id"]
    payload = {"text": utf8_text(MIB), "n": [1, 2.5]}
    content = utf8_text(5 * MIB - len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()))
    answered = post_event(client, session_id, {"type": "message", "content": content, "payload": payload})
    assert answered["content"] == content and answered["payload"] == payload
    (page,) = history_pages(client, session_id)
    (event,) = json.loads(page)["events"]
    assert (event["content"], event["payload"]) == (content, payload)
    assert "blobs" not in event


def test_no_history_response_passes_lambdas_limit(api: Client, user: str, tenant: str) -> None:
    client = api.as_(user=user, tenant=tenant)
    session_id = client.post("/v1/sessions", {}).json()["session_id"]
    for index in range(3):
        post_event(client, session_id, {"type": "message", "content": str(index) * (4 * MIB)})
    pages = history_pages(client, session_id)
    assert len(pages) == 3  # one 4 MiB event a page
    contents = [event["content"] for page in pages for event in json.loads(page)["events"]]
    assert contents == [str(index) * (4 * MIB) for index in range(3)]
    # an event that no response can carry inline comes with a presigned URL the emulator serves
    escaped = "\n" * 2_500_000  # 10 MB once Lambda escapes the body
    post_event(client, session_id, {"type": "message", "content": escaped})
    last = json.loads(history_pages(client, session_id, "include_payload=true&order=desc&limit=1")[0])
    (event,) = last["events"]
    assert "content" not in event
    with urllib.request.urlopen(event["content_url"], timeout=30) as fetched:  # noqa: S310 - the emulator's URL
        assert fetched.read().decode("utf-8") == escaped

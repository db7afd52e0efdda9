"""Events up to 5 MiB through the client, and parts no response can inline fetched from their presigned URLs."""

from __future__ import annotations

import pytest
from conftest import SessionsBackend

import sessions_client as sc
from sessions_client import SessionsClient

MIB = 1024 * 1024


def test_a_large_event_round_trips(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="large")
    content = "é" * (2 * MIB)  # 4 MiB as UTF-8: stored in S3, returned inline
    payload = {"rows": ["x" * 1000] * 500}
    sessions_client.append_event(session.session_id, type="message", content=content, payload=payload)
    (event,) = sessions_client.get_history(session.session_id, include_payload=True).events
    assert (event.content, event.payload, event.content_url) == (content, payload, None)


@pytest.mark.anyio
async def test_parts_behind_presigned_urls_are_fetched(sessions_backend: SessionsBackend) -> None:
    client = sessions_backend.client()
    sid = client.create_session(title="escaped").session_id
    escaped = "\n" * 2_500_000  # 10 MB once Lambda escapes the response: no response can inline it
    client.append_event(sid, type="message", content=escaped)
    client.append_event(sid, type="message", content="small")

    (raw,) = client.get_history(sid, include_payload=True, limit=1, inline_parts=False).events
    assert raw.content is None and raw.content_url

    events = list(client.iter_history(sid, include_payload=True, page_size=1))
    assert [(event.seq, event.content, event.content_url) for event in events] == [
        (1, escaped, None),
        (2, "small", None),
    ]

    async_client = sessions_backend.async_client()
    fetched = [event.content async for event in async_client.iter_history(sid, include_payload=True)]
    assert fetched == [escaped, "small"]
    await async_client.aclose()


def test_a_rewind_returns_its_large_events_inline_and_names_what_it_leaves_out(sessions_client: SessionsClient) -> None:
    sid = sessions_client.create_session(title="rewind").session_id
    content = "é" * (2 * MIB)  # 4 MiB as UTF-8: stored in S3, read back before the rewind deletes it
    payload = {"rows": ["x" * 1000] * 50}
    sessions_client.append_event(sid, type="message", content=content, payload=payload)
    escaped = "\n" * 2_500_000  # 10 MB once Lambda escapes the response: no answer can inline it
    sessions_client.append_event(sid, type="message", content=escaped, payload={"p": 1})

    removed = sessions_client.delete_events(sid, 1, return_events=True)
    assert removed.removed == 2 and removed.events is not None
    whole, omitted = removed.events
    assert isinstance(whole, sc.RemovedEvent) and isinstance(whole, sc.Event)
    assert (whole.content, whole.payload, whole.parts_omitted) == (content, payload, None)
    assert (omitted.content, omitted.payload, omitted.parts_omitted) == (None, {"p": 1}, ["content"])
    assert all(event.content_url is None and event.payload_url is None for event in removed.events)
    assert sessions_client.get_history(sid).events == []

"""Events up to 5 MiB through the client, and parts no response can inline fetched from their presigned URLs."""

from __future__ import annotations

import pytest
from conftest import SessionsBackend

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

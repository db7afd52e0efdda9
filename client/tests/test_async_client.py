"""The async client against the real API: in-process over moto, and over HTTP against the dev server."""

from __future__ import annotations

import asyncio

import pytest

import sessions_client as sc
from sessions_client import AsyncSessionsClient

pytestmark = pytest.mark.anyio


async def test_async_round_trip(async_sessions_client: AsyncSessionsClient) -> None:
    client = async_sessions_client
    session = await client.create_session(title="async", context={"a": 1})
    changed = await client.update_session(session.session_id, {"context": {"b": 2}}, if_match=session)
    assert (changed.version, changed.context) == (2, {"a": 1, "b": 2})
    events = [await client.append_event(session.session_id, type="message", content=f"m{i}") for i in range(5)]
    assert [event.seq for event in events] == [1, 2, 3, 4, 5]
    assert [event.content async for event in client.iter_history(session.session_id, page_size=2)] == [
        f"m{i}" for i in range(5)
    ]
    ranged = client.iter_history(session.session_id, page_size=1, order="desc", from_seq=2, to_seq=4)
    assert [event.seq async for event in ranged] == [4, 3, 2]
    page = await client.get_history(session.session_id, from_seq=5)
    assert [event.seq for event in page.events] == [5] and page.total == 5
    assert [s.session_id async for s in client.iter_sessions(page_size=1)] == [session.session_id]
    assert (await client.get_stats()).events_total == 5
    with pytest.raises(sc.VersionMismatch) as stale:
        await client.update_session(session.session_id, if_match=1, title="x")
    assert stale.value.current_version == 7
    await client.delete_session(session.session_id)
    with pytest.raises(sc.SessionNotFound):
        await client.get_session(session.session_id)


async def test_async_concurrent_appends(async_sessions_client: AsyncSessionsClient) -> None:
    session = await async_sessions_client.create_session(title="gathered")
    events = await asyncio.gather(
        *(async_sessions_client.append_event(session.session_id, type="message", content=str(i)) for i in range(6))
    )
    assert sorted(event.seq for event in events) == [1, 2, 3, 4, 5, 6]
    assert (await async_sessions_client.get_session(session.session_id)).usage.event_count == 6

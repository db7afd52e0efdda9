"""fork_session: both clients, both backends (in-process and the dev server)."""

from __future__ import annotations

import pytest
from conftest import SessionsBackend

import sessions_client as sc
from sessions_client import SessionsClient


def test_fork_session_reads_the_parent_up_to_at_seq_then_its_own(sessions_client: SessionsClient) -> None:
    parent = sessions_client.create_session(title="main", metadata={"k": "v"})
    sessions_client.append_events(parent.session_id, [{"type": "message", "content": f"m{i}"} for i in range(1, 6)])
    fork = sessions_client.fork_session(parent.session_id, at_seq=3, new_session_id=f"{parent.session_id}-b", title="b")
    assert fork.session_id == f"{parent.session_id}-b" and fork.title == "b" and fork.metadata == {"k": "v"}
    assert fork.forked_from == sc.ForkPoint(session_id=parent.session_id, seq=3)
    assert fork.usage.event_count == 3 and fork.version == 1
    assert sessions_client.append_event(fork.session_id, type="message", content="own").seq == 4
    assert [event.content for event in sessions_client.iter_history(fork.session_id)] == ["m1", "m2", "m3", "own"]
    assert sessions_client.get_session(parent.session_id).forked_from is None
    listed = sessions_client.list_sessions().sessions
    assert next(s for s in listed if s.session_id == fork.session_id).forked_from == fork.forked_from
    with pytest.raises(sc.ValidationError):
        sessions_client.fork_session(parent.session_id, at_seq=6)
    with pytest.raises(sc.SessionIdTaken):
        sessions_client.fork_session(parent.session_id, new_session_id=parent.session_id)
    with pytest.raises(sc.SessionNotFound):
        sessions_client.fork_session("no-such-session")


@pytest.mark.anyio
async def test_async_fork_session(sessions_backend: SessionsBackend) -> None:
    client = sessions_backend.async_client()
    parent = await client.create_session(title="async main")
    await client.append_events(parent.session_id, [{"type": "message"}, {"type": "task"}])
    fork = await client.fork_session(parent.session_id, metadata={"branch": "1"}, idempotency_key="async-fork")
    again = await client.fork_session(parent.session_id, metadata={"branch": "1"}, idempotency_key="async-fork")
    assert fork.session_id == again.session_id and fork.forked_from == sc.ForkPoint(session_id=parent.session_id, seq=2)
    assert fork.metadata == {"branch": "1"} and fork.usage.task_count == 1
    empty = await client.fork_session(parent.session_id, at_seq=0)
    assert empty.usage.event_count == 0 and (await client.get_history(empty.session_id)).events == []
    await client.aclose()


def test_fork_session_with_a_context_of_its_own(sessions_client: SessionsClient) -> None:
    parent = sessions_client.create_session(context={"step": 2, "keep": "latest"})
    sessions_client.append_events(parent.session_id, [{"type": "message"}, {"type": "message"}])
    fork = sessions_client.fork_session(parent.session_id, at_seq=1, context={"step": 1})
    assert fork.context == {"step": 1} and sessions_client.get_session(fork.session_id).context == {"step": 1}
    assert sessions_client.get_session(parent.session_id).context == {"step": 2, "keep": "latest"}
    assert sessions_client.fork_session(parent.session_id).context == {"step": 2, "keep": "latest"}
    with pytest.raises(sc.PayloadTooLarge):
        sessions_client.fork_session(parent.session_id, context={"blob": "x" * (64 * 1024)})


@pytest.mark.anyio
async def test_async_fork_session_with_a_context_of_its_own(sessions_backend: SessionsBackend) -> None:
    client = sessions_backend.async_client()
    parent = await client.create_session(context={"a": 1})
    fork = await client.fork_session(parent.session_id, context={"b": [1, {"c": None}]})
    assert fork.context == {"b": [1, {"c": None}]}
    assert (await client.get_session(parent.session_id)).context == {"a": 1}
    await client.aclose()

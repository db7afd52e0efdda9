"""Batch append, If-Match and ETag on append, timestamps, one event (get, redact), rewind: both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import SessionsBackend

import sessions_client as sc
from sessions_client import SessionsClient


def test_batch_append_with_if_match(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="batch", token_budget=100)
    events = sessions_client.append_events(
        session.session_id,
        [{"type": "message", "role": "user", "content": "q"}, {"type": "message", "role": "assistant", "content": "a"}],
        if_match=session,
    )
    assert [event.seq for event in events] == [1, 2]
    assert events[-1].session_version == session.version + 1  # one atomic step, one version
    single = sessions_client.append_event(session.session_id, type="tool", content="t", if_match=events[-1])
    assert single.seq == 3 and single.session_version == session.version + 2

    with pytest.raises(sc.VersionMismatch) as stale:
        sessions_client.append_events(session.session_id, [{"type": "message"}], if_match=session)
    assert stale.value.current_version == session.version + 2

    with pytest.raises(sc.TokenBudgetExceeded):  # all or nothing
        sessions_client.append_events(
            session.session_id,
            [{"type": "message", "usage": {"tokens": 60}}, {"type": "message", "usage": {"tokens": 60}}],
        )
    assert sessions_client.get_session(session.session_id).usage.event_count == 3


def test_timestamps_and_time_filters(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="imported")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    sessions_client.append_events(
        session.session_id,
        [{"type": "message", "content": f"day {i}", "timestamp": base + timedelta(days=i)} for i in range(3)],
    )
    events = list(sessions_client.iter_history(session.session_id))
    assert [event.timestamp for event in events] == [base + timedelta(days=i) for i in range(3)]
    after = list(sessions_client.iter_history(session.session_id, after=base + timedelta(days=1)))
    assert [event.content for event in after] == ["day 1", "day 2"]
    before = list(sessions_client.iter_history(session.session_id, before=base + timedelta(days=1)))
    assert [event.content for event in before] == ["day 0"]


def test_get_and_redact_one_event(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="redaction")
    event = sessions_client.append_event(
        session.session_id, type="message", content="my card is 4111", payload={"card": "4111", "keep": 1}
    )
    read = sessions_client.get_event(session.session_id, event.seq)
    assert (read.content, read.payload) == ("my card is 4111", {"card": "4111", "keep": 1})

    redacted = sessions_client.update_event(
        session.session_id, event.seq, {"payload": {"card": None}}, content="[redacted]", if_match=event
    )
    assert (redacted.content, redacted.payload) == ("[redacted]", {"keep": 1})
    assert event.session_version is not None and redacted.session_version == event.session_version + 1
    with pytest.raises(sc.VersionMismatch):
        sessions_client.update_event(session.session_id, event.seq, content="x", if_match=event)
    with pytest.raises(sc.EventNotFound) as missing:
        sessions_client.get_event(session.session_id, 99)
    assert isinstance(missing.value, sc.NotFound) and missing.value.status == 404

    sessions_client.update_session(session.session_id, status="completed")
    again = sessions_client.update_event(session.session_id, event.seq, content="[gone]")  # closed: still allowed
    assert again.content == "[gone]"


def test_rewind(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="rewind")
    sid = session.session_id
    sessions_client.append_events(
        sid, [{"type": "message", "content": str(i), "usage": {"tokens": 1}} for i in range(6)]
    )

    removed = sessions_client.delete_events(sid, 4, return_events=True)
    assert isinstance(removed, sc.RemovedEvents)
    assert (removed.removed, removed.from_seq) == (3, 4)
    assert [event.seq for event in removed.events or []] == [4, 5, 6]
    after = sessions_client.get_session(sid)
    assert after.version == removed.version
    assert (after.usage.event_count, after.usage.tokens_used) == (3, 3)

    nothing = sessions_client.delete_events(sid, 50)
    assert (nothing.removed, nothing.events) == (0, None)
    with pytest.raises(sc.VersionMismatch):
        sessions_client.delete_events(sid, 1, if_match=1)

    following = sessions_client.append_event(sid, type="message", content="after the rewind")
    assert following.seq == 7  # seqs are never reused
    assert [event.seq for event in sessions_client.iter_history(sid)] == [1, 2, 3, 7]


def test_rewind_too_large(sessions_client: SessionsClient) -> None:
    sid = sessions_client.create_session(title="long").session_id
    for _ in range(5):
        sessions_client.append_events(sid, [{"type": "message"}] * 20)
    with pytest.raises(sc.RewindTooLarge) as too_large:
        sessions_client.delete_events(sid, 1)
    assert too_large.value.status == 409 and too_large.value.detail
    assert sessions_client.get_session(sid).usage.event_count == 100
    assert sessions_client.delete_events(sid, 11).removed == 90


def test_history_follow_sees_a_rewind(sessions_client: SessionsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from sessions_client import cli

    sid = sessions_client.create_session(title="followed").session_id
    sessions_client.append_events(sid, [{"type": "message", "content": str(i)} for i in range(1, 4)])
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            sessions_client.delete_events(sid, 2)
        elif len(polls) == 2:
            sessions_client.append_event(sid, type="message", content="after")
        elif len(polls) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", sleep)
    lines: list[str] = []
    code = cli.main(["--json", "history", sid, "--follow"], client=sessions_client, write=lines.append, environ={})
    assert code == 130
    printed = [json.loads(line) for line in lines]
    assert [(line.get("seq"), line.get("content"), line.get("rewound_to_seq")) for line in printed] == [
        (1, "1", None),
        (2, "2", None),
        (3, "3", None),
        (None, None, 1),
        (4, "after", None),
    ]


@pytest.mark.anyio
async def test_async_batch_event_and_rewind(sessions_backend: SessionsBackend) -> None:
    client = sessions_backend.async_client()
    session = await client.create_session(title="async events")
    events = await client.append_events(session.session_id, [{"type": "message", "content": "a"}, {"type": "tool"}])
    assert [event.seq for event in events] == [1, 2]
    redacted = await client.update_event(session.session_id, 1, content="[redacted]", if_match=events[-1])
    assert (await client.get_event(session.session_id, 1)).content == "[redacted]" == redacted.content
    removed = await client.delete_events(session.session_id, 2, return_events=True, if_match=redacted)
    assert removed.removed == 1 and [event.type for event in removed.events or []] == ["tool"]
    with pytest.raises(sc.EventNotFound):
        await client.get_event(session.session_id, 2)
    await client.aclose()


def test_get_event_fetches_parts_behind_presigned_urls(sessions_backend: SessionsBackend) -> None:
    client = sessions_backend.client()
    sid = client.create_session(title="escaped").session_id
    escaped = "\n" * 2_500_000  # 10 MB once Lambda escapes the response: no response can inline it
    client.append_event(sid, type="message", content=escaped, payload={"small": True})
    kept = client.get_event(sid, 1, inline_parts=False)
    assert (kept.content, kept.payload) == (None, {"small": True}) and kept.content_url
    event = client.get_event(sid, 1)
    assert (event.content, event.content_url, event.payload) == (escaped, None, {"small": True})

"""The sync client against the real API: in-process over moto, and over HTTP against the dev server."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from conftest import SessionsBackend
from inprocess import CountingTransport, InProcessApi, InProcessTransport

import sessions_client as sc
from sessions_client import SessionsClient


def test_session_round_trip(sessions_client: SessionsClient) -> None:
    created = sessions_client.create_session(
        title="Code review",
        app_name="reviewer",
        agent_id="agent-7",
        context={"step": 1, "files": ["a.py"]},
        metadata={"team": "payments"},
        runtime_backend="lambda",
        token_budget=1000,
    )
    assert isinstance(created, sc.Session)
    assert (created.title, created.status, created.version, created.context) == (
        "Code review",
        "active",
        1,
        {"step": 1, "files": ["a.py"]},
    )
    assert created.usage == sc.Usage()
    read = sessions_client.get_session(created.session_id)
    assert read == created

    changed = sessions_client.update_session(
        created.session_id, {"context": {"step": 2}}, if_match=read, title="Round 2"
    )
    assert (changed.version, changed.title, changed.context) == (2, "Round 2", {"step": 2, "files": ["a.py"]})

    with pytest.raises(sc.VersionMismatch) as stale:
        sessions_client.update_session(created.session_id, if_match=1, title="lost")
    assert (stale.value.status, stale.value.code, stale.value.current_version) == (412, "version_mismatch", 2)

    sessions_client.delete_session(created.session_id)
    sessions_client.delete_session(created.session_id)  # idempotent
    with pytest.raises(sc.SessionNotFound) as missing:
        sessions_client.get_session(created.session_id)
    assert isinstance(missing.value, sc.NotFound)
    assert (missing.value.status, missing.value.code) == (404, "session_not_found")
    assert missing.value.body["code"] == "session_not_found"


def test_merge_patch_none_removes(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="t", context={"keep": 1, "drop": 2}, metadata={"a": "1", "b": "2"})
    changed = sessions_client.update_session(
        session.session_id, title=None, context={"drop": None}, metadata={"b": None}
    )
    assert (changed.title, changed.context, changed.metadata) == (None, {"keep": 1}, {"a": "1"})


def test_list_and_iterate_sessions(sessions_client: SessionsClient) -> None:
    ids = [sessions_client.create_session(title=f"s{i}", app_name="lister").session_id for i in range(5)]
    sessions_client.update_session(ids[0], status="paused")
    first = sessions_client.list_sessions(limit=2)
    assert len(first.sessions) == 2 and first.next_cursor
    assert all(isinstance(item, sc.SessionSummary) for item in first.sessions)
    assert [s.session_id for s in sessions_client.iter_sessions(page_size=2)] == ids[::-1]
    assert [s.session_id for s in sessions_client.iter_sessions(page_size=2, order="asc")] == ids
    assert [s.session_id for s in sessions_client.iter_sessions(status=["paused"])] == [ids[0]]
    assert len(list(sessions_client.iter_sessions(status=("active", "paused"), app_name="lister"))) == 5
    assert list(sessions_client.iter_sessions(app_name="nobody")) == []


def test_list_by_activity_metadata_context_and_every_user(sessions_backend: SessionsBackend) -> None:
    """order_by, metadata (repeated key:value, values with commas), include_context, all_users, last_event_at."""
    client = sessions_backend.client()
    first = client.create_session(app_name="lister", metadata={"tag": "a,b:c"}, context={"n": 1})
    second = client.create_session(app_name="lister", metadata={"tag": "x"})
    assert first.last_event_at is None
    time.sleep(0.002)  # the append's millisecond comes after the second create's
    client.append_event(first.session_id, {"type": "message", "timestamp": "2024-05-06T07:08:09.010Z"})
    by_activity = client.list_sessions(order_by="last_active_at", include_context=True)
    assert [s.session_id for s in by_activity.sessions] == [first.session_id, second.session_id]
    assert [s.context for s in by_activity.sessions] == [{"n": 1}, {}]
    assert by_activity.sessions[0].last_event_at == datetime(2024, 5, 6, 7, 8, 9, 10_000, tzinfo=UTC)
    assert [s.session_id for s in client.iter_sessions(metadata={"tag": "a,b:c"})] == [first.session_id]
    assert client.list_sessions().sessions[0].context is None
    other = sessions_backend.client(identity=sessions_backend.identity(user="someone-else"))
    theirs = other.create_session(app_name="lister")
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc", roles=("service",)))
    everyone = {s.session_id for s in service.iter_sessions(all_users=True, app_name="lister", page_size=1)}
    assert everyone == {first.session_id, second.session_id, theirs.session_id}
    with pytest.raises(sc.Forbidden):
        client.list_sessions(all_users=True, app_name="lister")
    with pytest.raises(ValueError, match="app_name"):
        client.list_sessions(all_users=True)


def test_events_and_history(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="chat", token_budget=1000)
    appended = [
        sessions_client.append_event(
            session.session_id,
            {"type": "message", "role": "user" if i % 2 == 0 else "assistant"},
            content=f"turn {i}",
            payload={"i": i},
            usage={"tokens": 10, "cost_usd": 0.001},
        )
        for i in range(7)
    ]
    sessions_client.append_event(session.session_id, type="task", task_id="job-1", content="a task")
    assert [event.seq for event in appended] == list(range(1, 8))
    assert appended[0].usage == sc.EventUsage(tokens=10, cost_usd=0.001)

    events = list(sessions_client.iter_history(session.session_id, page_size=3))
    assert [event.seq for event in events] == list(range(1, 9))
    assert events[0].payload is None  # left out by default
    with_payload = list(sessions_client.iter_history(session.session_id, page_size=3, include_payload=True))
    assert [event.payload for event in with_payload[:7]] == [{"i": i} for i in range(7)]

    page = sessions_client.get_history(session.session_id, limit=2, order="desc")
    assert [event.seq for event in page.events] == [8, 7] and page.next_cursor and page.total == 8
    assert [e.seq for e in sessions_client.iter_history(session.session_id, type="task")] == [8]

    after = sessions_client.get_session(session.session_id)
    assert (after.usage.event_count, after.usage.task_count, after.usage.tokens_used) == (8, 1, 70)
    assert after.version == 9


def test_create_with_initial_events(sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(
        title="seeded", events=[{"type": "system", "content": "be brief"}, {"type": "message", "role": "user"}]
    )
    assert session.usage.event_count == 2
    assert [e.type for e in sessions_client.iter_history(session.session_id)] == ["system", "message"]


def test_problems_become_exceptions(sessions_backend: SessionsBackend, sessions_client: SessionsClient) -> None:
    session = sessions_client.create_session(title="errors", token_budget=10)
    sid = session.session_id

    with pytest.raises(sc.TokenBudgetExceeded) as budget:
        sessions_client.append_event(sid, type="message", usage={"tokens": 11})
    assert isinstance(budget.value, sc.Conflict) and budget.value.status == 409

    with pytest.raises(sc.ValidationError) as invalid:
        sessions_client.append_event(sid, type="Not A Type")
    assert invalid.value.status == 422
    assert any("type" in issue["loc"] for issue in invalid.value.errors)

    with pytest.raises(sc.PayloadTooLarge):
        sessions_client.create_session(context={"big": "x" * 70_000})

    with pytest.raises(sc.InvalidCursor):
        sessions_client.list_sessions(cursor="not-a-cursor")

    sessions_client.update_session(sid, status="completed")
    with pytest.raises(sc.SessionClosed):
        sessions_client.append_event(sid, type="message", content="late")
    crashed = sessions_client.update_session(sessions_client.create_session().session_id, status="crashed")
    with pytest.raises(sc.InvalidTransition):
        sessions_client.update_session(crashed.session_id, status="paused")

    anonymous = sessions_backend.client(identity=None)
    with pytest.raises(sc.Unauthenticated) as unauthenticated:
        anonymous.list_sessions()
    assert unauthenticated.value.status == 401

    with pytest.raises(sc.Forbidden):
        sessions_client.list_sessions(user_id="somebody-else")

    taken = sessions_client.create_session(session_id=f"fixed-{uuid.uuid4().hex[:8]}")
    other_user = sessions_backend.client(identity=sessions_backend.identity(user="u-other"))
    with pytest.raises(sc.SessionIdTaken):
        other_user.create_session(session_id=taken.session_id)
    with pytest.raises(sc.SessionNotFound):  # another user's session does not exist for them
        other_user.get_session(taken.session_id)


def test_idempotency_keys(sessions_client: SessionsClient) -> None:
    key = f"create-{uuid.uuid4()}"
    first = sessions_client.create_session(title="once", idempotency_key=key)
    again = sessions_client.create_session(title="once", idempotency_key=key)
    assert again.session_id == first.session_id
    with pytest.raises(sc.IdempotencyKeyReused):
        sessions_client.create_session(title="another body", idempotency_key=key)

    event_key = f"append-{uuid.uuid4()}"
    one = sessions_client.append_event(first.session_id, type="message", content="hi", idempotency_key=event_key)
    two = sessions_client.append_event(first.session_id, type="message", content="hi", idempotency_key=event_key)
    assert one.event_id == two.event_id and one.seq == two.seq == 1
    # without a key of one's own, every call is a new logical call: a new key each time
    sessions_client.append_event(first.session_id, type="message", content="hi")
    assert sessions_client.get_session(first.session_id).usage.event_count == 2


class LoseFirstResponse(httpx.BaseTransport):
    """Delivers each POST's first attempt to the server, then pretends the answer never came (read timeout)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seen: set[str] = set()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key not in self.seen:
            self.seen.add(str(key))
            response.read()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_retried_posts_happen_once(sessions_backend: SessionsBackend) -> None:
    """A POST whose answer is lost is retried with the same Idempotency-Key: the server replays, nothing doubles."""
    lossy = LoseFirstResponse(sessions_backend.transport())
    client = sessions_backend.client(transport=lossy, backoff=0)
    session = client.create_session(title="exactly once")
    event = client.append_event(session.session_id, type="message", content="exactly once")
    assert event.seq == 1
    posts = [request for request in lossy.requests if request.method == "POST"]
    assert len(posts) == 4
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert posts[2].headers["idempotency-key"] == posts[3].headers["idempotency-key"]
    assert posts[0].headers["idempotency-key"] != posts[2].headers["idempotency-key"]
    assert [s.session_id for s in client.iter_sessions()] == [session.session_id]
    assert client.get_session(session.session_id).usage.event_count == 1


def test_session_limit_is_not_retried(sessions_backend: SessionsBackend) -> None:
    counting = CountingTransport(sessions_backend.transport())
    client = sessions_backend.client(transport=counting, backoff=0)
    for i in range(10):  # the default cap of open sessions per user
        client.create_session(title=f"open {i}")
    before = len(counting.requests)
    with pytest.raises(sc.SessionLimitReached) as limit:
        client.create_session(title="one too many")
    assert limit.value.status == 429
    assert len(counting.requests) == before + 1


def test_one_http_call_per_operation(sessions_backend: SessionsBackend) -> None:
    counting = CountingTransport(sessions_backend.transport())
    client = sessions_backend.client(transport=counting)
    calls: dict[str, Any] = {}

    def count(name: str, operation: Any) -> Any:
        start = len(counting.requests)
        result = operation()
        calls[name] = len(counting.requests) - start
        return result

    session = count("create", lambda: client.create_session(title="count"))
    count("get", lambda: client.get_session(session.session_id))
    count("update", lambda: client.update_session(session.session_id, title="counted"))
    count("append", lambda: client.append_event(session.session_id, type="message"))
    count("history", lambda: client.get_history(session.session_id))
    count("list", client.list_sessions)
    count("stats", client.get_stats)
    count("delete", lambda: client.delete_session(session.session_id))
    assert calls == dict.fromkeys(calls, 1)


def test_admin_reads_and_lists_another_users_sessions(sessions_backend: SessionsBackend) -> None:
    owner = sessions_backend.client()
    session = owner.create_session(title="mine")
    admin = sessions_backend.client(identity=sessions_backend.identity(user="u-admin", roles=("admin",)))
    assert admin.get_session(session.session_id).title == "mine"
    assert [s.session_id for s in admin.iter_sessions(user_id=sessions_backend.user)] == [session.session_id]
    assert admin.get_stats(scope="tenant").scope == "tenant"
    with pytest.raises(sc.Forbidden):
        owner.get_stats(scope="tenant")


def test_history_full(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from sessions.core import settings

    monkeypatch.setenv("MAX_HISTORY_EVENTS", "2")
    settings.get_settings.cache_clear()
    client = SessionsClient(
        "http://sessions.invalid", identity={"user_id": "u-1"}, transport=InProcessTransport(inprocess_api)
    )
    sid = client.create_session().session_id
    client.append_event(sid, type="message")
    client.append_event(sid, type="message")
    with pytest.raises(sc.HistoryFull) as full:
        client.append_event(sid, type="message")
    assert full.value.code == "history_full"

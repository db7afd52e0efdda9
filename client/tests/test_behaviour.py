"""The client's own behaviour against a scripted server (httpx.MockTransport): retries, headers, errors, models."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import sessions_client as sc
from sessions_client import AsyncSessionsClient, DevIdentity, SessionsClient
from sessions_client.errors import BY_CODE

NOW = "2026-01-02T03:04:05.678Z"
SESSION: dict[str, Any] = {
    "session_id": "s-1",
    "tenant_id": "acme",
    "user_id": "u-1",
    "app_name": None,
    "agent_id": None,
    "session_type": "conversation",
    "title": None,
    "status": "active",
    "context": {},
    "checkpoint": None,
    "metadata": {},
    "runtime_backend": "unknown",
    "runtime_metadata": {},
    "token_budget": None,
    "usage": {"tokens_used": 0, "cost_usd": 0.0, "event_count": 0, "task_count": 0},
    "created_at": NOW,
    "updated_at": NOW,
    "last_active_at": NOW,
    "expires_at": NOW,
    "version": 3,
}
EVENT: dict[str, Any] = {"event_id": "e-1", "seq": 1, "created_at": NOW, "type": "message"}


def problem(status: int, code: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": code, "status": status, "detail": f"{code} happened", "code": code, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


class Script:
    """Answers requests in order from a list of responses (or exceptions); records the requests."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    waited: list[float] = []
    monkeypatch.setattr("sessions_client._sync.time.sleep", waited.append)

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("sessions_client._async.asyncio.sleep", fake_sleep)
    yield waited


def make(script: Script, **kwargs: Any) -> SessionsClient:
    return SessionsClient("http://api.test/prod", transport=httpx.MockTransport(script), **kwargs)


def make_async(script: Script, **kwargs: Any) -> AsyncSessionsClient:
    return AsyncSessionsClient("http://api.test/prod", transport=httpx.MockTransport(script), **kwargs)


def test_success_is_one_call(sleeps: list[float]) -> None:
    script = Script(httpx.Response(201, json=SESSION))
    session = make(script).create_session(title="x")
    assert session.version == 3 and len(script.requests) == 1 and sleeps == []
    request = script.requests[0]
    assert request.url.path == "/prod/v1/sessions"  # a stage path in the base URL is kept
    assert json.loads(request.content) == {"title": "x"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"]


def test_transient_failures_are_retried_with_one_idempotency_key(sleeps: list[float]) -> None:
    script = Script(
        problem(503, "internal_error"),
        httpx.Response(502, json={"message": "Internal Server Error"}),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(429, json={"message": "Too Many Requests"}),
        httpx.Response(201, json=EVENT),
    )
    client = make(script, retries=5, backoff=0.1, max_backoff=10)
    event = client.append_event("s-1", type="message")
    assert event.seq == 1 and len(script.requests) == 6
    assert len({request.headers["idempotency-key"] for request in script.requests}) == 1
    # full jitter: attempt n waits uniformly within [0, backoff * 2**n]
    assert len(sleeps) == 5
    assert all(0 <= wait <= 0.1 * 2**n for n, wait in enumerate(sleeps))


def test_each_logical_call_has_its_own_key_and_yours_is_kept(sleeps: list[float]) -> None:
    script = Script(httpx.Response(201, json=EVENT))
    client = make(script)
    client.append_event("s-1", type="message")
    client.append_event("s-1", type="message")
    client.append_event("s-1", type="message", idempotency_key="mine-1")
    keys = [request.headers["idempotency-key"] for request in script.requests]
    assert keys[0] != keys[1] and keys[2] == "mine-1"


# what a retry can fix: each is retried (with the call's one Idempotency-Key) until an answer comes
# (made afresh for each use: a response is read once)
RETRYABLE: dict[str, Callable[[], httpx.Response | Exception]] = {
    "429": lambda: httpx.Response(429, json={"message": "Too Many Requests"}),
    "502": lambda: httpx.Response(502, json={"message": "Internal Server Error"}),
    "503": lambda: problem(503, "service_unavailable"),
    "504": lambda: httpx.Response(504, json={"message": "Endpoint request timed out"}),
    "connect timeout": lambda: httpx.ConnectTimeout("no route"),
    "read timeout": lambda: httpx.ReadTimeout("slow"),
    "connection refused": lambda: httpx.ConnectError("refused"),
    "connection reset": lambda: httpx.ReadError("reset by peer"),
    "closed without answer": lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
}


@pytest.mark.parametrize("failure", sorted(RETRYABLE))
def test_what_a_retry_can_fix_is_retried_with_the_same_idempotency_key(sleeps: list[float], failure: str) -> None:
    script = Script(RETRYABLE[failure](), RETRYABLE[failure](), httpx.Response(201, json=EVENT))
    event = make(script, retries=3).append_event("s-1", type="message", content="hi")
    assert event.seq == 1 and len(script.requests) == 3 and len(sleeps) == 2
    assert len({request.headers["idempotency-key"] for request in script.requests}) == 1
    assert len({request.content for request in script.requests}) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("failure", sorted(RETRYABLE))
async def test_async_retries_what_a_retry_can_fix_with_the_same_idempotency_key(
    sleeps: list[float], failure: str
) -> None:
    script = Script(RETRYABLE[failure](), RETRYABLE[failure](), httpx.Response(201, json=SESSION))
    async with make_async(script, retries=3) as client:
        session = await client.create_session(title="x")
    assert session.version == 3 and len(script.requests) == 3 and len(sleeps) == 2
    assert len({request.headers["idempotency-key"] for request in script.requests}) == 1


@pytest.mark.parametrize("status", [500, 501, 505])
def test_a_server_error_a_retry_cannot_fix_is_attempted_once(sleeps: list[float], status: int) -> None:
    script = Script(problem(status, "internal_error"), httpx.Response(201, json=EVENT))
    with pytest.raises(sc.ServerError) as failed:
        make(script, retries=3).append_event("s-1", type="message")
    assert failed.value.status == status and len(script.requests) == 1 and sleeps == []


@pytest.mark.anyio
async def test_async_attempts_a_500_once(sleeps: list[float]) -> None:
    script = Script(problem(500, "internal_error"), httpx.Response(200, json=SESSION))
    async with make_async(script, retries=3) as client:
        with pytest.raises(sc.InternalError) as failed:
            await client.get_session("s-1")
    assert failed.value.status == 500 and len(script.requests) == 1 and sleeps == []


def test_retries_run_out(sleeps: list[float]) -> None:
    script = Script(problem(503, "internal_error"))
    with pytest.raises(sc.ServerError) as failed:
        make(script, retries=2).get_session("s-1")
    assert failed.value.status == 503
    assert len(script.requests) == 3

    script = Script(httpx.ConnectTimeout("no route"))
    with pytest.raises(sc.TransportError) as unreachable:
        make(script, retries=1).get_session("s-1")
    assert unreachable.value.status is None and len(script.requests) == 2

    script = Script(problem(503, "internal_error"))
    with pytest.raises(sc.ServerError):
        make(script, retries=0).get_session("s-1")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (problem(429, "session_limit_reached"), sc.SessionLimitReached),
        (problem(409, "session_closed"), sc.SessionClosed),
        (problem(412, "version_mismatch", current_version=7), sc.VersionMismatch),
        (problem(422, "validation_error", errors=[{"loc": ["body", "type"], "msg": "bad"}]), sc.ValidationError),
        (problem(404, "session_not_found"), sc.SessionNotFound),
        (problem(400, "malformed_request"), sc.MalformedRequest),
    ],
)
def test_client_errors_are_not_retried(sleeps: list[float], answer: httpx.Response, error: type[Exception]) -> None:
    script = Script(answer)
    with pytest.raises(error):
        make(script).create_session()
    assert len(script.requests) == 1 and sleeps == []


def test_retry_after_is_honoured(sleeps: list[float]) -> None:
    throttled = httpx.Response(429, json={"message": "Too Many Requests"}, headers={"Retry-After": "2"})
    script = Script(throttled, httpx.Response(200, json=SESSION))
    make(script, max_backoff=5).get_session("s-1")
    assert sleeps and 2 <= sleeps[0] <= 5


def test_every_code_has_its_exception() -> None:
    for code, cls in BY_CODE.items():
        error = sc.errors.error_for(418, {"code": code, "detail": "d"})
        assert type(error) is cls and error.code == code and error.detail == "d" and error.status == 418
    expected = {
        "session_not_found": sc.SessionNotFound,
        "event_not_found": sc.EventNotFound,
        "version_mismatch": sc.VersionMismatch,
        "session_closed": sc.SessionClosed,
        "token_budget_exceeded": sc.TokenBudgetExceeded,
        "history_full": sc.HistoryFull,
        "session_limit_reached": sc.SessionLimitReached,
        "idempotency_key_reused": sc.IdempotencyKeyReused,
        "validation_error": sc.ValidationError,
        "payload_too_large": sc.PayloadTooLarge,
        "unauthenticated": sc.Unauthenticated,
        "forbidden": sc.Forbidden,
        "rewind_too_large": sc.RewindTooLarge,
        "session_id_taken": sc.SessionIdTaken,
        "invalid_transition": sc.InvalidTransition,
        "invalid_cursor": sc.InvalidCursor,
        "unsupported_media_type": sc.UnsupportedMediaType,
        "internal_error": sc.InternalError,
        "session_has_no_app": sc.SessionHasNoApp,
        "erasure_not_found": sc.ErasureNotFound,
        "user_erasure_in_progress": sc.UserErasureInProgress,
    }
    assert {code: BY_CODE[code] for code in expected} == expected


def test_errors_without_a_problem_body() -> None:
    gateway_401 = sc.errors.error_for(401, {"message": "Unauthorized"})
    assert type(gateway_401) is sc.Unauthenticated and gateway_401.detail == "Unauthorized"
    assert type(sc.errors.error_for(502, "Bad gateway")) is sc.ServerError
    assert type(sc.errors.error_for(409, {"code": "something_new"})) is sc.Conflict
    assert type(sc.errors.error_for(418, None)) is sc.SessionsError
    mismatch = sc.errors.error_for(412, {"code": "version_mismatch", "current_version": 7})
    assert isinstance(mismatch, sc.VersionMismatch) and mismatch.current_version == 7
    assert "412 version_mismatch" in str(mismatch)


def test_identity_token_and_acting_user(sleeps: list[float]) -> None:
    script = Script(httpx.Response(200, json=SESSION), httpx.Response(201, json=SESSION))
    tokens = iter(["t-1", "t-2", "t-3"])
    client = make(script, token=lambda: next(tokens), user_id="u-9")
    client.get_session("s-1")
    client.create_session(title="for u-9")
    first, second = script.requests
    assert (first.headers["authorization"], second.headers["authorization"]) == ("Bearer t-1", "Bearer t-2")
    assert first.url.params["user_id"] == "u-9"
    assert json.loads(second.content) == {"title": "for u-9", "user_id": "u-9"}
    assert "user_id" not in second.url.params

    script = Script(httpx.Response(200, json=SESSION))
    dev = make(script, identity=DevIdentity("u-1", "acme", ("admin", "service")), token="static")
    dev.acting_for("u-2").get_session("s-1")
    dev.get_session("s-1")
    acting, itself = script.requests
    assert acting.headers["x-user-id"] == "u-1" and acting.headers["x-tenant-id"] == "acme"
    assert acting.headers["x-roles"] == "admin,service" and acting.headers["authorization"] == "Bearer static"
    assert acting.url.params["user_id"] == "u-2" and "user_id" not in itself.url.params


def test_token_refresh_across_retries(sleeps: list[float]) -> None:
    script = Script(problem(503, "internal_error"), httpx.Response(200, json=SESSION))
    calls = iter(["old", "new"])
    make(script, token=lambda: next(calls)).get_session("s-1")
    assert [request.headers["authorization"] for request in script.requests] == ["Bearer old", "Bearer new"]


def test_if_match_and_query_values() -> None:
    script = Script(lambda request: httpx.Response(200, json=SESSION if "history" not in request.url.path else {}))
    client = make(script)
    session = client.update_session("s-1", if_match=3, title="a")
    client.update_session("s-1", if_match=session, title="b")
    client.update_session("s-1", if_match='"5"', title="c")
    assert [request.headers["if-match"] for request in script.requests] == ['"3"', '"3"', '"5"']
    event = sc.Event.model_validate(EVENT)
    with pytest.raises(ValueError, match="session version"):
        client.update_session("s-1", if_match=event)
    event._session_version = 4
    assert sc._core.if_match_header(event) == {"If-Match": '"4"'}

    script = Script(httpx.Response(200, json={"sessions": [], "next_cursor": None}))
    make(script).list_sessions(
        status=["active", "paused"],
        created_after=datetime(2026, 1, 2, 4, 4, 5, 678900, tzinfo=timezone(timedelta(hours=1))),
        created_before="2026-02-01T00:00:00Z",
        limit=5,
    )
    params = script.requests[0].url.params
    assert params["status"] == "active,paused" and params["limit"] == "5"
    assert params["created_after"] == "2026-01-02T03:04:05.678Z"
    assert params["created_before"] == "2026-02-01T00:00:00Z"
    assert "cursor" not in params


def test_paths_and_bodies_of_the_newer_endpoints() -> None:
    """Requests of batch append, events, rewind and state, as the design states them."""
    answers = {
        ("POST", "/v1/sessions/s-1/events"): httpx.Response(201, json={"events": [EVENT]}, headers={"ETag": '"8"'}),
        ("GET", "/v1/sessions/s-1/events/1"): httpx.Response(200, json=EVENT, headers={"ETag": '"8"'}),
        ("PATCH", "/v1/sessions/s-1/events/1"): httpx.Response(200, json=EVENT, headers={"ETag": '"9"'}),
        ("DELETE", "/v1/sessions/s-1/events"): httpx.Response(200, json={"removed": 2, "from_seq": 3, "version": 10}),
        ("GET", "/v1/apps/app.1/state"): httpx.Response(200, json={"app_name": "app.1", "state": {}, "version": 0}),
        ("PATCH", "/v1/apps/app.1/state"): httpx.Response(
            200, json={"app_name": "app.1", "state": {"a": 1}, "version": 1}
        ),
        ("GET", "/v1/apps/app.1/users/u-2/state"): httpx.Response(
            200, json={"app_name": "app.1", "user_id": "u-2", "state": {}, "version": 0, "updated_at": None}
        ),
        ("PATCH", "/v1/apps/app.1/users/u-1/state"): httpx.Response(
            200, json={"app_name": "app.1", "user_id": "u-1", "state": {"b": 2}, "version": 2, "updated_at": NOW}
        ),
    }
    script = Script(lambda request: answers[(request.method, request.url.path)])
    client = SessionsClient("http://api.test", transport=httpx.MockTransport(script), identity={"user_id": "u-1"})
    events = client.append_events("s-1", [{"type": "message", "content": "a"}, {"type": "tool"}], if_match=7)
    assert [event.session_version for event in events] == [8]
    assert client.get_event("s-1", 1).session_version == 8
    assert client.update_event("s-1", 1, content=None, payload={"secret": None}).session_version == 9
    removed = client.delete_events("s-1", 3, return_events=True, if_match=events[0])
    assert (removed.removed, removed.from_seq, removed.version, removed.events) == (2, 3, 10, None)
    assert client.get_app_state("app.1").version == 0
    assert client.update_app_state("app.1", {"a": 1}).state == {"a": 1}
    assert client.get_user_state("app.1", "u-2").user_id == "u-2"
    assert client.update_user_state("app.1", b=2).updated_at == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    batch, _get, patch, rewind, *_ = script.requests
    assert json.loads(batch.content) == {"events": [{"type": "message", "content": "a"}, {"type": "tool"}]}
    assert batch.headers["if-match"] == '"7"' and batch.headers["idempotency-key"]
    assert json.loads(patch.content) == {"content": None, "payload": {"secret": None}}
    assert dict(rewind.url.params) == {"from_seq": "3", "return_events": "true"}
    assert rewind.headers["if-match"] == '"8"'
    with pytest.raises(ValueError, match="at least one"):
        client.append_events("s-1", [])
    with pytest.raises(ValueError, match="needs a type"):
        client.append_event("s-1", content="no type")
    with pytest.raises(ValueError, match="name the user"):
        SessionsClient("http://api.test", token="t").get_user_state("app.1")


def test_models_keep_unknown_fields() -> None:
    session = sc.Session.model_validate({**SESSION, "brand_new": {"x": 1}, "usage": {**SESSION["usage"], "more": 2}})
    assert session.model_extra == {"brand_new": {"x": 1}}
    assert session.usage.model_extra == {"more": 2}
    assert session.created_at == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    event = sc.Event.model_validate({**EVENT, "timestamp": "2025-12-31T23:00:00.000Z", "kind": "new"})
    assert event.timestamp is not None and event.timestamp.year == 2025 and event.model_extra == {"kind": "new"}


@pytest.mark.anyio
async def test_async_retries_and_async_token(sleeps: list[float]) -> None:
    script = Script(problem(503, "internal_error"), httpx.ReadTimeout("slow"), httpx.Response(201, json=EVENT))
    refreshed: list[str] = []

    async def token() -> str:
        refreshed.append("t")
        return f"t-{len(refreshed)}"

    async with make_async(script, token=token) as client:
        event = await client.append_event("s-1", {"type": "message"}, content="hi")
    assert event.seq == 1 and len(script.requests) == 3 and len(sleeps) == 2
    assert len({request.headers["idempotency-key"] for request in script.requests}) == 1
    assert [request.headers["authorization"] for request in script.requests] == [
        "Bearer t-1",
        "Bearer t-2",
        "Bearer t-3",
    ]

    failing = Script(problem(412, "version_mismatch", current_version=4))
    async with make_async(failing) as client:
        with pytest.raises(sc.VersionMismatch) as mismatch:
            await client.update_session("s-1", if_match=3, title="x")
    assert mismatch.value.current_version == 4 and len(failing.requests) == 1


@pytest.mark.anyio
async def test_async_iterators_follow_cursors() -> None:
    pages = {
        None: {"session_id": "s-1", "events": [EVENT], "next_cursor": "c1", "total": 2},
        "c1": {
            "session_id": "s-1",
            "events": [{**EVENT, "seq": 2, "event_id": "e-2"}],
            "next_cursor": None,
            "total": 2,
        },
    }
    script = Script(lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")]))
    async with make_async(script) as client:
        seqs = [event.seq async for event in client.iter_history("s-1", page_size=1)]
    assert seqs == [1, 2]
    assert [request.url.params.get("cursor") for request in script.requests] == [None, "c1"]
    assert all(request.url.params["limit"] == "1" for request in script.requests)


def test_parts_too_large_to_inline_are_fetched_from_their_urls(sleeps: list[float]) -> None:
    content_url = "https://blobs.test/bucket/t/s-1/1/e-1/content?X-Amz-Signature=abc"
    payload_url = "https://blobs.test/bucket/t/s-1/1/e-1/payload?X-Amz-Signature=def"
    big = {**EVENT, "content_url": content_url, "payload_url": payload_url}
    answers = {
        "/prod/v1/sessions/s-1/history": httpx.Response(
            200, json={"session_id": "s-1", "events": [EVENT, big], "next_cursor": None, "total": 2}
        ),
        "/prod/v1/sessions/s-1/events/1": httpx.Response(200, json=big, headers={"ETag": '"5"'}),
        "/bucket/t/s-1/1/e-1/content": httpx.Response(200, content='\n"é'.encode()),
        "/bucket/t/s-1/1/e-1/payload": httpx.Response(200, json={"k": [1, 2]}),
    }
    failed_once: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "blobs.test" and request.url.path not in failed_once:
            failed_once.add(request.url.path)
            return httpx.Response(503, content=b"<Error>SlowDown</Error>")
        return answers[request.url.path]

    script = Script(answer)
    client = make(script, token="secret", identity={"user_id": "u-1"})
    history = client.get_history("s-1", include_payload=True)
    assert [event.content for event in history.events] == [None, '\n"é']
    assert history.events[1].payload == {"k": [1, 2]}
    assert (history.events[1].content_url, history.events[1].payload_url) == (None, None)
    blob_requests = [request for request in script.requests if request.url.host == "blobs.test"]
    assert len(blob_requests) == 4  # each retried once after its 503
    assert all("authorization" not in r.headers and "x-user-id" not in r.headers for r in blob_requests)
    assert str(blob_requests[0].url) == content_url

    event = client.get_event("s-1", 1)
    assert (event.content, event.payload, event.session_version) == ('\n"é', {"k": [1, 2]}, 5)
    kept = client.get_event("s-1", 1, inline_parts=False)
    assert (kept.content, kept.content_url) == (None, content_url)
    assert [e.content for e in client.iter_history("s-1", inline_parts=False)] == [None, None]


@pytest.mark.anyio
async def test_async_fetches_parts(sleeps: list[float]) -> None:
    big = {**EVENT, "content_url": "https://blobs.test/c"}
    script = Script(
        lambda request: (
            httpx.Response(200, text="large") if request.url.host == "blobs.test" else httpx.Response(200, json=big)
        )
    )
    async with make_async(script, token="t") as client:
        event = await client.get_event("s-1", 1)
    assert event.content == "large" and "authorization" not in script.requests[-1].headers


def test_clients_from_the_environment() -> None:
    client = SessionsClient.from_env(
        {"SESSIONS_URL": "http://x:1/", "SESSIONS_USER": "u", "SESSIONS_TENANT": "t", "SESSIONS_ROLES": "service"},
        retries=1,
    )
    assert (client.base_url, client.identity, client.retries) == ("http://x:1", DevIdentity("u", "t", ("service",)), 1)
    deployed = AsyncSessionsClient.from_env(
        {"SESSIONS_URL": "https://api", "SESSIONS_TOKEN": "tok", "SESSIONS_ACT_AS": "u-2"}
    )
    assert (deployed.token, deployed.user_id, deployed.identity) == ("tok", "u-2", None)
    assert SessionsClient.from_env({}).base_url == "http://127.0.0.1:3000"

"""SessionsAdkService against the service, in-process over moto and over HTTP against the dev server.

What ADK's own contract tests assert is ported one for one in test_adk_contract.py. This file holds
what they leave out: how the adapter stores ADK's model in the service (ids, events, state documents,
large events), ADK behaviours its tests state only in code (database ordering, state written in one
call), None state values through every scope and reader, and an ADK Runner with a scripted model (no
key, no network) that keeps its conversation across two runs. ADK's users are users of the test's
tenant: the client's own user and others, reached with the `service` role.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.events import Event, EventActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session as AdkSession
from google.genai import types
from pydantic import Field

from sessions_client import AsyncSessionsClient
from sessions_client import errors as client_errors
from sessions_client.adapters.adk import (
    SessionsAdkService,
    service_session_id,
)

pytestmark = pytest.mark.anyio
APP = "my_app"


@pytest.fixture
def raw(sessions_backend: Any) -> AsyncSessionsClient:
    """A plain client of the test's tenant, to look at what the adapter stored."""
    return sessions_backend.async_client(identity=sessions_backend.identity(roles=("service",)))


@pytest.fixture
def service(sessions_backend: Any) -> SessionsAdkService:
    """The adapter on a `service` client (it writes app state and acts for other users)."""
    return SessionsAdkService(sessions_backend.async_client(identity=sessions_backend.identity(roles=("service",))))


@pytest.fixture
def user(sessions_backend: Any) -> str:
    """ADK's user id: the client's own user (no `user_id` parameter needed)."""
    return sessions_backend.user


@pytest.fixture
def other(user: str) -> str:
    """A second ADK user: another user of the tenant (the `service` client acts for it)."""
    return f"{user}-2"


def stored_id(session: AdkSession) -> str:
    """The service's id of an ADK session (to look at it with the plain client)."""
    return service_session_id(session.app_name, session.user_id, session.id)


def text_event(author: str, text: str, **fields: Any) -> Event:
    role = "user" if author == "user" else "model"
    return Event(
        invocation_id="invocation",
        author=author,
        content=types.Content(role=role, parts=[types.Part(text=text)]),
        **fields,
    )


# --- ADK behaviours of its database service, and how the adapter stores them ---------------------------


async def test_list_sessions_orders_by_update_time_then_user_then_id(
    service: SessionsAdkService, user: str, other: str
) -> None:
    """As test_database_session_service_list_sessions_orders_by_update_time_then_id (ORDER BY update_time,
    user_id, id): events stamped 2026-01-01 … 01-03 set the update times; equal times order by user, then id."""
    day = 86400.0
    jan_1 = 1767225600.0  # 2026-01-01T00:00:00Z
    update_times = {"orphan": jan_1, "middle": jan_1 + day, "active_a": jan_1 + 2 * day, "active_b": jan_1 + 2 * day}
    for session_id in ("orphan", "active_b", "middle", "active_a"):
        session = await service.create_session(app_name=APP, user_id=user, session_id=session_id)
        await service.append_event(session, Event(author="user", timestamp=update_times[session_id]))
    tie = await service.create_session(app_name=APP, user_id=other, session_id="active_0")
    await service.append_event(tie, Event(author="user", timestamp=jan_1 + 2 * day))

    response = await service.list_sessions(app_name=APP, user_id=user)
    assert [session.id for session in response.sessions] == ["orphan", "middle", "active_a", "active_b"]
    assert [s.last_update_time for s in response.sessions] == [update_times[s.id] for s in response.sessions]
    everyone = (await service.list_sessions(app_name=APP)).sessions
    first, second = sorted([user, other])
    ties = [(s.user_id, s.id) for s in everyone if s.last_update_time == jan_1 + 2 * day]
    assert ties == sorted([(user, "active_a"), (user, "active_b"), (other, "active_0")])
    assert ties[0][0] == first and ties[-1][0] == second


async def test_list_sessions_state_holds_app_and_user_keys(service: SessionsAdkService, user: str, other: str) -> None:
    """ADK's database and SQLite list_sessions merge app state and each session's user state
    (_merge_state(app_state, user_state, session_state)) into every listed session, of every user."""
    mine = await service.create_session(app_name=APP, user_id=user, session_id="s1", state={"sk": 1, "user:u": "me"})
    await service.append_event(mine, Event(author="user", actions=EventActions(state_delta={"app:a": "shared"})))
    await service.create_session(app_name=APP, user_id=other, session_id="s1", state={"user:u": "them"})

    (listed,) = (await service.list_sessions(app_name=APP, user_id=user)).sessions
    assert listed.state == {"sk": 1, "app:a": "shared", "user:u": "me"}
    assert listed.events == []
    everyone = {(s.user_id, s.id): s.state for s in (await service.list_sessions(app_name=APP)).sessions}
    assert everyone == {
        (user, "s1"): {"sk": 1, "app:a": "shared", "user:u": "me"},
        (other, "s1"): {"app:a": "shared", "user:u": "them"},
    }


async def test_list_sessions_of_every_user_needs_the_service_or_admin_role(sessions_backend: Any) -> None:
    """ADK lists every user without user_id; the service lets only roles service and admin see every user."""
    plain = SessionsAdkService(sessions_backend.async_client(identity=sessions_backend.identity()))
    await plain.create_session(app_name=APP, user_id=sessions_backend.user, session_id="mine")
    with pytest.raises(client_errors.Forbidden):
        await plain.list_sessions(app_name=APP)
    admin = SessionsAdkService(sessions_backend.async_client(identity=sessions_backend.identity("boss", ("admin",))))
    assert [s.id for s in (await admin.list_sessions(app_name=APP)).sessions] == ["mine"]


async def test_large_event_round_trips(service: SessionsAdkService, user: str) -> None:
    """An ADK event far over the inline limits (here 300 kB of image bytes) reads back equal (events up to 5 MiB)."""
    session = await service.create_session(app_name=APP, user_id=user)
    image = bytes(range(256)) * 1200
    text = "long answer " * 4000  # over 32 KiB: `content` keeps its first 32 KiB, the payload all of it
    event = Event(
        invocation_id="invocation",
        author="helper",
        content=types.Content(
            role="model", parts=[types.Part(text=text), types.Part.from_bytes(data=image, mime_type="image/png")]
        ),
    )
    await service.append_event(session, event)
    read = await service.get_session(app_name=APP, user_id=user, session_id=session.id)
    assert read is not None
    assert read.events == [event]


async def test_get_session_config_as_the_database_service_selects(service: SessionsAdkService, user: str) -> None:
    """DatabaseSessionService/SqliteSessionService: `timestamp >= after_timestamp` to the microsecond (the
    service keeps milliseconds), then LIMIT num_recent_events: the most recent of the events at or after it."""
    base = 1704067200.0  # 2024-01-01T00:00:00Z
    session = await service.create_session(app_name=APP, user_id=user)
    # one millisecond, two events either side of base + 0.0005; the later-appended one is the earlier instant
    for invocation, offset in (("a", 0.0006), ("b", 0.0004)):
        await service.append_event(session, Event(invocation_id=invocation, author="user", timestamp=base + offset))

    async def selected(**config: Any) -> list[str]:
        read = await service.get_session(
            app_name=APP, user_id=user, session_id=session.id, config=GetSessionConfig(**config)
        )
        assert read is not None
        return [event.invocation_id for event in read.events]

    assert await selected(after_timestamp=base + 0.0005) == ["a"]
    assert await selected(after_timestamp=base + 0.0006) == ["a"]  # inclusive
    assert await selected(after_timestamp=base + 0.0004) == ["a", "b"]
    assert await selected(after_timestamp=base + 0.0005, num_recent_events=1) == ["a"]
    assert await selected(after_timestamp=base + 0.0007, num_recent_events=1) == []
    assert await selected(num_recent_events=0, after_timestamp=base) == []


# --- behaviours of ADK's services that its tests state only in code ---------------------------------


async def test_temp_state_is_never_stored(service: SessionsAdkService, raw: AsyncSessionsClient, user: str) -> None:
    """_extract_state_delta drops temp: keys: neither in the state nor in the stored event."""
    session = await service.create_session(app_name=APP, user_id=user, state={"temp:seed": 1, "kept": 1})
    assert "temp:seed" not in session.state
    event = text_event("user", "hi", actions=EventActions(state_delta={"temp:scratch": "x", "kept": 2}))
    await service.append_event(session, event)

    stored = await raw.get_session(stored_id(session))
    assert stored.context == {"kept": 2}
    history = await raw.get_history(stored_id(session), include_payload=True)
    document = history.events[0].payload["adk_event"]  # type: ignore[index]
    assert document["actions"]["stateDelta"] == {"kept": 2}


async def test_sessions_are_scoped_by_app(service: SessionsAdkService, user: str) -> None:
    """Sessions are keyed by (app, user, id): another app's session is neither read nor deleted."""
    await service.create_session(app_name=APP, user_id=user, session_id="mine")
    assert await service.get_session(app_name="other_app", user_id=user, session_id="mine") is None
    await service.delete_session(app_name="other_app", user_id=user, session_id="mine")
    assert await service.get_session(app_name=APP, user_id=user, session_id="mine") is not None


async def test_events_are_history_events(service: SessionsAdkService, raw: AsyncSessionsClient, user: str) -> None:
    """The stored history is readable without ADK: role, type, text, timestamp, author."""
    session = await service.create_session(app_name=APP, user_id=user)
    await service.append_event(session, text_event("user", "question"))
    await service.append_event(session, text_event("helper", "answer"))
    call = types.Part(function_call=types.FunctionCall(name="lookup", args={"q": "x"}))
    await service.append_event(session, Event(author="helper", content=types.Content(role="model", parts=[call])))

    events = (await raw.get_history(stored_id(session))).events
    assert [(e.type, e.role, e.content) for e in events] == [
        ("message", "user", "question"),
        ("message", "assistant", "answer"),
        ("tool", "assistant", None),
    ]
    assert [e.metadata["adk_author"] for e in events if e.metadata] == ["user", "helper", "helper"]


# --- an ADK Runner with a scripted model --------------------------------------------------------------


class ScriptedLlm(BaseLlm):
    """Answers from a script and records what it was sent (no key, no network)."""

    replies: list[str]
    seen: list[list[tuple[str, str]]] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.seen.append([(c.role or "", "".join(p.text or "" for p in c.parts or [])) for c in llm_request.contents])
        reply = self.replies[len(self.seen) - 1]
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=reply)]))


async def test_runner_keeps_the_conversation(service: SessionsAdkService, raw: AsyncSessionsClient, user: str) -> None:
    model = ScriptedLlm(model="scripted", replies=["Hello Ada.", "Your name is Ada."], seen=[])
    agent = LlmAgent(name="assistant", model=model, instruction="Be brief.", output_key="last_reply")
    runner = Runner(app_name=APP, agent=agent, session_service=service)
    session = await service.create_session(app_name=APP, user_id=user)

    async def say(text: str) -> list[str]:
        message = types.Content(role="user", parts=[types.Part(text=text)])
        replies = []
        async for event in runner.run_async(user_id=user, session_id=session.id, new_message=message):
            if event.content and event.content.parts and event.content.parts[0].text:
                replies.append(event.content.parts[0].text)
        return replies

    assert await say("My name is Ada.") == ["Hello Ada."]
    assert await say("What is my name?") == ["Your name is Ada."]
    # the second call saw the first exchange, read back from the service
    assert model.seen[1] == [
        ("user", "My name is Ada."),
        ("model", "Hello Ada."),
        ("user", "What is my name?"),
    ]
    stored = await raw.get_session(stored_id(session))
    assert stored.context["last_reply"] == "Your name is Ada."
    assert stored.usage.event_count == 4
    read = await service.get_session(app_name=APP, user_id=user, session_id=session.id)
    assert read is not None and [e.author for e in read.events] == ["user", "assistant", "user", "assistant"]


async def test_session_ids_are_scoped_by_app_and_user(
    service: SessionsAdkService, raw: AsyncSessionsClient, user: str, other: str
) -> None:
    """ADK keys sessions by (app_name, user_id, session_id) (InMemorySessionService's sessions[app][user][id],
    the database's and SQLite's primary key): the same id in another app or of another user is another
    session; reading or deleting through the wrong app or user finds nothing and changes nothing."""
    mine = await service.create_session(app_name=APP, user_id=user, session_id="s1", state={"who": "me"})
    theirs = await service.create_session(app_name=APP, user_id=other, session_id="s1", state={"who": "them"})
    elsewhere = await service.create_session(app_name="other_app", user_id=user, session_id="s1", state={"who": "x"})
    assert mine.id == theirs.id == elsewhere.id == "s1"
    assert len({stored_id(mine), stored_id(theirs), stored_id(elsewhere)}) == 3

    await service.delete_session(app_name=APP, user_id=other, session_id="s1")  # the other user's only
    assert await service.get_session(app_name=APP, user_id=other, session_id="s1") is None
    read = await service.get_session(app_name=APP, user_id=user, session_id="s1")
    assert read is not None and read.state == {"who": "me"}
    await service.delete_session(app_name="third_app", user_id=user, session_id="s1")  # no such session: nothing
    read = await service.get_session(app_name="other_app", user_id=user, session_id="s1")
    assert read is not None and read.state == {"who": "x"}
    assert await service.get_session(app_name="third_app", user_id=user, session_id="s1") is None
    assert (await raw.get_session(stored_id(mine))).metadata["adk_session_id"] == "s1"


async def test_session_ids_are_any_string_adk_takes(service: SessionsAdkService, user: str) -> None:
    """ADK's services store any id string; the service's own id pattern does not apply to ADK ids."""
    ids = ("my session/1", "ünïcode:ид", "stats", "-leading", "x" * 300)
    for session_id in ids:
        created = await service.create_session(app_name=APP, user_id=user, session_id=session_id, state={"k": 1})
        assert created.id == session_id
        read = await service.get_session(app_name=APP, user_id=user, session_id=session_id)
        assert read is not None and read.id == session_id and read.state == {"k": 1}
        await service.append_event(read, text_event("user", "hi"))
    listed = await service.list_sessions(app_name=APP, user_id=user)
    assert sorted(s.id for s in listed.sessions) == sorted(
        ("my session/1", "ünïcode:ид", "stats", "-leading", "x" * 300)
    )


async def test_generated_session_ids_are_uuid4(service: SessionsAdkService, user: str) -> None:
    """InMemory/Database/SqliteSessionService give an id-less session platform_uuid.new_uuid(): a uuid4 string."""
    import uuid

    session = await service.create_session(app_name=APP, user_id=user)
    assert uuid.UUID(session.id).version == 4 and str(uuid.UUID(session.id)) == session.id


# --- None state values: stored and read back as None (session, user: and app: scopes) -----------------
# ADK's services apply a state delta with dict.update (BaseSessionService._update_session_state, and
# DatabaseSessionService's app/user state rows): a key set to None is kept, holding None. Its tests above
# (test_session_state_is_not_shared, test_user_state_is_shared_only_by_user_sessions,
# test_app_state_is_shared_by_all_users_of_app, test_get_user_state_*) set values through state_delta and
# create_session(state=...); these run the same steps with None values.


def fresh(sessions_backend: Any) -> SessionsAdkService:
    """Another adapter instance on its own client: nothing of the first one's memory is shared."""
    return SessionsAdkService(sessions_backend.async_client(identity=sessions_backend.identity(roles=("service",))))


async def test_session_state_none_is_stored(service: SessionsAdkService, sessions_backend: Any, user: str) -> None:
    """Mirrors test_session_state_is_not_shared (sk1 set by create, sk2 by append_event) with None values."""
    session1 = await service.create_session(
        app_name=APP, user_id=user, session_id="s1", state={"sk1": None, "kept": {"a": None}}
    )
    assert session1.state == {"sk1": None, "kept": {"a": None}}
    event = Event(invocation_id="inv1", author="user", actions=EventActions(state_delta={"sk2": None, "kept": None}))
    await service.append_event(session=session1, event=event)
    assert session1.state == {"sk1": None, "sk2": None, "kept": None}

    for reader in (service, fresh(sessions_backend)):
        got = await reader.get_session(app_name=APP, user_id=user, session_id="s1")
        assert got is not None
        assert "sk1" in got.state and got.state["sk1"] is None
        assert "sk2" in got.state and got.state["sk2"] is None
        assert got.state == session1.state  # what the append left in memory is what storage holds
        assert got.events[0].actions.state_delta == {"sk2": None, "kept": None}

    # Creating another session s1b for the user does not see sk1 or sk2
    session1b = await service.create_session(app_name=APP, user_id=user, session_id="s1b")
    assert session1b.state == {}


async def test_user_state_none_is_stored(service: SessionsAdkService, sessions_backend: Any, user: str) -> None:
    """Mirrors test_user_state_is_shared_only_by_user_sessions with None values (user:k1 by create, user:k2 by
    append_event), and test_get_user_state_reflects_latest_write (a value, then None)."""
    other = f"{user}-2"
    session1 = await service.create_session(
        app_name=APP, user_id=user, session_id="s1", state={"user:k1": None, "user:k3": "v3"}
    )
    assert session1.state == {"user:k1": None, "user:k3": "v3"}
    event = Event(
        invocation_id="inv1", author="user", actions=EventActions(state_delta={"user:k2": None, "user:k3": None})
    )
    await service.append_event(session=session1, event=event)
    assert session1.state == {"user:k1": None, "user:k2": None, "user:k3": None}

    # Another session for the user sees user:k1 and user:k2, as None
    session1b = await service.create_session(app_name=APP, user_id=user, session_id="s1b")
    assert session1b.state == {"user:k1": None, "user:k2": None, "user:k3": None}
    for reader in (service, fresh(sessions_backend)):
        got = await reader.get_session(app_name=APP, user_id=user, session_id="s1")
        assert got is not None and got.state == session1.state
        assert await reader.get_user_state(app_name=APP, user_id=user) == {"k1": None, "k2": None, "k3": None}
    # A session for another user does not see them
    session2 = await service.create_session(app_name=APP, user_id=other, session_id="s2")
    assert session2.state == {}
    assert await service.get_user_state(app_name=APP, user_id=other) == {}


async def test_app_state_none_is_stored(service: SessionsAdkService, sessions_backend: Any, user: str) -> None:
    """Mirrors test_app_state_is_shared_by_all_users_of_app with None values (app:k1 by create, app:k2 by
    append_event): every user's sessions see them as None."""
    session1 = await service.create_session(
        app_name=APP, user_id=user, session_id="s1", state={"app:k1": None, "app:k3": {"nested": "v"}}
    )
    assert session1.state == {"app:k1": None, "app:k3": {"nested": "v"}}
    event = Event(
        invocation_id="inv1",
        author="user",
        actions=EventActions(state_delta={"app:k2": None, "app:k3": {"nested": None}}),
    )
    await service.append_event(session=session1, event=event)
    expected = {"app:k1": None, "app:k2": None, "app:k3": {"nested": None}}
    assert session1.state == expected

    # User 2 creates a new session session2, it sees app:k1 and app:k2
    session2 = await service.create_session(app_name=APP, user_id=f"{user}-2", session_id="s2")
    assert session2.state == expected
    for reader in (service, fresh(sessions_backend)):
        session1_got = await reader.get_session(app_name=APP, user_id=user, session_id="s1")
        assert session1_got is not None and session1_got.state == expected
        assert "app:k1" in session1_got.state and session1_got.state.get("app:k1") is None


async def test_none_then_a_value_then_none(service: SessionsAdkService, sessions_backend: Any, user: str) -> None:
    """Mirrors test_get_user_state_reflects_latest_write and test_append_event_to_stale_session's reads (the
    latest write wins; `state.get(key) is None` for a key never set), in every scope, None and values in turn."""
    session = await service.create_session(app_name=APP, user_id=user, state={"sk": "v", "user:uk": 1, "app:ak": 1})
    for value in (None, {"a": [None, 1]}, None):
        delta = {"sk": value, "user:uk": value, "app:ak": value}
        await service.append_event(session, Event(author="system", actions=EventActions(state_delta=delta)))
        got = await fresh(sessions_backend).get_session(app_name=APP, user_id=user, session_id=session.id)
        assert got is not None
        assert got.state == session.state == delta
        assert await service.get_user_state(app_name=APP, user_id=user) == {"uk": value}
    assert got.state.get("never") is None and "never" not in got.state


async def test_create_session_writes_state_in_one_call(
    service: SessionsAdkService, raw: AsyncSessionsClient, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_session(state={"app:…", "user:…", …}) is one create of the service (no separate state writes), so
    the session and its app and user state are stored together or not at all."""
    calls: list[str] = []
    for name in ("update_app_state", "update_user_state", "create_session"):
        original = getattr(service.client, name)

        async def recording(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_name)
            return await _original(*args, **kwargs)

        monkeypatch.setattr(service.client, name, recording)
    session = await service.create_session(
        app_name=APP, user_id=user, session_id="one", state={"app:a": None, "user:u": None, "s": None}
    )
    assert calls == ["create_session"]
    assert session.state == {"app:a": None, "user:u": None, "s": None}
    assert (await raw.get_app_state(APP)).state == {"a": None}
    assert (await raw.get_user_state(APP, user)).state == {"u": None}
    assert (await raw.get_session(service_session_id(APP, user, "one"))).context == {"s": None}

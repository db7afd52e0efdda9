"""SessionsAdkService.fork_session: a new ADK session holding a session's events up to a point.

ADK 2.13 has no fork (google/adk-python#4010 proposes one); its in-place `Runner.rewind_async` is the
reference: a fork before an invocation holds the events and state a rewind before it leaves live, in a
new session, and the parent keeps everything. Checked against ADK's own in-memory service running the
same events (the runner's rewind, and a manual copy for the events and `last_update_time`).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.adk.agents import LlmAgent
from google.adk.errors import InvocationNotFoundError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events import Event, EventActions
from google.adk.events._rewind_events import _apply_rewinds
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.session import Session as AdkSession
from google.genai import types

from sessions_client.adapters.adk import AlreadyExistsError, SessionsAdkService, StaleSessionError, service_session_id

pytestmark = pytest.mark.anyio
APP = "fork_app"
T0 = 1767225600.0  # 2026-01-01T00:00:00Z: timestamps the service keeps exactly (milliseconds)


@pytest.fixture
def service(sessions_backend: Any) -> SessionsAdkService:
    return SessionsAdkService(sessions_backend.async_client(identity=sessions_backend.identity(roles=("service",))))


@pytest.fixture
def user(sessions_backend: Any) -> str:
    return sessions_backend.user


def event(invocation: str, index: int, text: str | None = None, delta: dict[str, Any] | None = None) -> Event:
    author = "user" if index % 2 == 0 else "assistant"
    content = (
        types.Content(role="user" if author == "user" else "model", parts=[types.Part(text=text)]) if text else None
    )
    return Event(
        id=f"event-{index}",  # the same events in both services
        invocation_id=invocation,
        author=author,
        timestamp=T0 + index,
        content=content,
        actions=EventActions(state_delta=delta or {}),
    )


def conversation() -> list[Event]:
    """Three invocations changing session, app, user and temp state, with a None value and a key removed later."""
    return [
        event("inv1", 0, "hello", {"step": 1, "topic": "fork", "user:lang": "fr"}),
        event("inv1", 1, "hi", {"app:tier": "gold", "temp:scratch": 1}),
        event("inv2", 2, "plan", {"step": 2, "plan": {"a": [1, 2]}, "topic": None}),
        event("inv2", 3, None, {"user:lang": "de"}),
        event("inv3", 4, "go", {"step": 3, "late": True}),
        event("inv3", 5, "done"),
    ]


async def fill(session_service: Any, session: AdkSession, events: list[Event]) -> None:
    for one in events:
        await session_service.append_event(session, one.model_copy(deep=True))


def session_scoped(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if not key.startswith(("app:", "user:", "temp:"))}


@pytest.mark.parametrize("invocation", ["inv1", "inv2", "inv3"])
async def test_a_fork_before_an_invocation_is_what_adks_rewind_leaves_live(
    service: SessionsAdkService, user: str, invocation: str
) -> None:
    parent = await service.create_session(app_name=APP, user_id=user, session_id="main", state={"seed": 0})
    await fill(service, parent, conversation())
    before = await service.get_session(app_name=APP, user_id=user, session_id="main")

    forked = await service.fork_session(
        app_name=APP, user_id=user, session_id="main", new_session_id="branch", before_invocation_id=invocation
    )

    # ADK's own: the same session on its in-memory service, rewound by its runner
    memory = InMemorySessionService()
    runner = Runner(app_name=APP, agent=LlmAgent(name="assistant", model="gemini-2.5-flash"), session_service=memory)
    reference = await memory.create_session(app_name=APP, user_id=user, session_id="main", state={"seed": 0})
    await fill(memory, reference, conversation())
    await runner.rewind_async(user_id=user, session_id="main", rewind_before_invocation_id=invocation)
    rewound = await memory.get_session(app_name=APP, user_id=user, session_id="main")
    assert rewound is not None
    cut = next(i for i, one in enumerate(rewound.events) if one.invocation_id == invocation)
    # a copy of what the rewind leaves live, on ADK's in-memory service: the events and their last time
    copy = await memory.create_session(app_name=APP, user_id=user, session_id="copy")
    await fill(memory, copy, rewound.events[:cut])

    assert forked.id == "branch" and forked.app_name == APP and forked.user_id == user
    assert forked.events == _apply_rewinds(rewound.events) == copy.events
    assert forked.state == rewound.state  # session keys as the rewind sets them; app: and user: the shared ones
    assert session_scoped(forked.state) == session_scoped(rewound.state)
    if cut:
        assert forked.last_update_time == copy.last_update_time == rewound.events[cut - 1].timestamp
    # the fork reads back as returned; the parent is as it was
    assert await service.get_session(app_name=APP, user_id=user, session_id="branch") == forked
    assert await service.get_session(app_name=APP, user_id=user, session_id="main") == before


async def test_a_fork_at_the_latest_event_and_both_go_on_independently(service: SessionsAdkService, user: str) -> None:
    parent = await service.create_session(app_name=APP, user_id=user, session_id="main", state={"seed": 0})
    await fill(service, parent, conversation())
    forked = await service.fork_session(app_name=APP, user_id=user, session_id="main")
    assert str(uuid.UUID(forked.id, version=4)) == forked.id  # generated as create_session generates ids
    assert forked.events == parent.events
    assert forked.state == {key: value for key, value in parent.state.items() if not key.startswith("temp:")}
    assert forked.state["seed"] == 0  # a whole copy: the state as it is now, keys given at creation included
    assert forked.last_update_time == parent.last_update_time
    assert forked._storage_update_marker == "1"

    await service.append_event(forked, event("fork-inv", 10, "fork only", {"step": "f", "user:lang": "it"}))
    await service.append_event(parent, event("main-inv", 11, "main only", {"step": "m"}))
    main = await service.get_session(app_name=APP, user_id=user, session_id="main")
    branch = await service.get_session(app_name=APP, user_id=user, session_id=forked.id)
    assert main is not None and branch is not None
    assert [one.invocation_id for one in main.events][-1] == "main-inv" and main.state["step"] == "m"
    assert [one.invocation_id for one in branch.events][-1] == "fork-inv" and branch.state["step"] == "f"
    assert len(main.events) == len(branch.events) == 7
    assert main.state["user:lang"] == branch.state["user:lang"] == "it"  # user: state is the user's, shared
    listed = {session.id for session in (await service.list_sessions(app_name=APP, user_id=user)).sessions}
    assert listed == {"main", forked.id}


async def test_the_fork_has_the_stale_session_rules_of_any_session(service: SessionsAdkService, user: str) -> None:
    parent = await service.create_session(app_name=APP, user_id=user, session_id="main")
    await fill(service, parent, conversation()[:2])
    forked = await service.fork_session(app_name=APP, user_id=user, session_id="main", new_session_id="b")
    stale = forked.model_copy(deep=True)
    await service.append_event(forked, event("inv9", 9, "first"))
    with pytest.raises(StaleSessionError, match="modified in storage"):
        await service.append_event(stale, event("inv9", 10, "second"))
    # the parent's objects are not stale: a fork is no change of the parent
    await service.append_event(parent, event("inv9", 11, "parent goes on"))
    reread = await service.get_session(app_name=APP, user_id=user, session_id="b")
    assert reread is not None and [one.content.parts[0].text for one in reread.events if one.content][-1] == "first"


async def test_fork_errors_are_adks(service: SessionsAdkService, user: str) -> None:
    parent = await service.create_session(app_name=APP, user_id=user, session_id="main")
    await fill(service, parent, conversation()[:2])
    await service.create_session(app_name=APP, user_id=user, session_id="taken")
    with pytest.raises(InvocationNotFoundError, match="Invocation ID not found: nope"):
        await service.fork_session(app_name=APP, user_id=user, session_id="main", before_invocation_id="nope")
    with pytest.raises(SessionNotFoundError):
        await service.fork_session(app_name=APP, user_id=user, session_id="missing")
    with pytest.raises(SessionNotFoundError):  # ids are scoped by app and user, as create scopes them
        await service.fork_session(app_name="other_app", user_id=user, session_id="main")
    with pytest.raises(AlreadyExistsError):
        await service.fork_session(app_name=APP, user_id=user, session_id="main", new_session_id="taken")
    with pytest.raises(AlreadyExistsError):
        await service.fork_session(app_name=APP, user_id=user, session_id="main", new_session_id="main")
    listed = {session.id for session in (await service.list_sessions(app_name=APP, user_id=user)).sessions}
    assert listed == {"main", "taken"}  # nothing written by a refused fork


async def test_a_fork_for_another_user_of_the_tenant(service: SessionsAdkService, user: str) -> None:
    other = f"{user}-2"
    parent = await service.create_session(app_name=APP, user_id=other, session_id="s", state={"k": 1})
    await fill(service, parent, conversation()[:3])
    forked = await service.fork_session(app_name=APP, user_id=other, session_id="s", new_session_id="s2")
    assert forked.user_id == other
    stored = await service.client.get_session(service_session_id(APP, other, "s2"), user_id=other)
    assert stored.metadata == {"framework": "google-adk", "adk_session_id": "s2"}
    assert stored.forked_from is not None and stored.forked_from.seq == 3


async def test_a_fork_of_a_compacted_session_shows_what_the_parent_shows(
    service: SessionsAdkService, user: str
) -> None:
    from google.adk.events.event_actions import EventCompaction

    parent = await service.create_session(app_name=APP, user_id=user, session_id="main")
    await fill(service, parent, conversation()[:4])
    summary = types.Content(role="model", parts=[types.Part(text="summary")])
    compaction = Event(
        invocation_id="inv-c",
        author="user",
        timestamp=T0 + 4,
        actions=EventActions(
            compaction=EventCompaction(start_timestamp=T0, end_timestamp=T0 + 3, compacted_content=summary)
        ),
    )
    await service.append_event(parent, compaction)
    await service.append_event(parent, event("inv4", 5, "after", {"step": 4}))
    assert (await service.client.get_session(service_session_id(APP, user, "main"))).history_base_seq == 5
    loaded = await service.get_session(app_name=APP, user_id=user, session_id="main")
    forked = await service.fork_session(app_name=APP, user_id=user, session_id="main", new_session_id="latest")
    assert loaded is not None and forked.events == loaded.events and forked.state == loaded.state
    # before an invocation the compaction covers: the whole stored history is replayed, as ADK's rewind replays it
    early = await service.fork_session(
        app_name=APP, user_id=user, session_id="main", new_session_id="early", before_invocation_id="inv2"
    )
    assert early.events == parent.events[:2] and session_scoped(early.state) == {
        "step": 1,
        "topic": "fork",
        "plan": None,
    }
    assert await service.get_session(app_name=APP, user_id=user, session_id="early") == early

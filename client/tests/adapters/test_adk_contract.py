"""google-adk 2.13.0's session-service contract, test by test, against `SessionsAdkService`.

Every test here ports one upstream test of google/adk-python `tests/unittests/sessions/test_session_service.py`
and carries over every assertion it makes, with the same calls and values: the contract tests (those
that take the `session_service` fixture, which upstream runs against every backend it ships), then
the tests upstream runs against its database, SQLite or in-memory backends whose behaviour a
third-party backend owes too (stale writers, concurrent creates, non-JSON state values, listing and
deleting across users). Tests of one backend's internals (SQL dialects, engines, rollbacks, table
creation) have nothing to port. Each runs in-process on moto and over HTTP on the dev server.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events import Event, EventActions
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from google.adk.tools.tool_confirmation import ToolConfirmation
from google.genai import types

from sessions_client.adapters.adk import SessionsAdkService

pytestmark = pytest.mark.anyio
APP = "my_app"


@pytest.fixture
def svc(sessions_backend: Any) -> SessionsAdkService:
    """The adapter on a `service` client: it acts for every ADK user of the test's tenant."""
    return SessionsAdkService(sessions_backend.async_client(identity=sessions_backend.identity(roles=("service",))))


def user_event(**fields: Any) -> Event:
    return Event(invocation_id=fields.pop("invocation_id", "inv1"), author=fields.pop("author", "user"), **fields)


def delta(values: dict[str, Any], **fields: Any) -> Event:
    return user_event(actions=EventActions(state_delta=values), **fields)


# --- contract tests (upstream's `session_service` fixture: every backend) -----------------------------


async def test_get_empty_session(svc: SessionsAdkService) -> None:
    assert not await svc.get_session(app_name=APP, user_id="test_user", session_id="123")


async def test_create_get_session(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="test_user", state={"key": "value"})
    assert session.app_name == APP
    assert session.user_id == "test_user"
    assert session.id
    assert session.state == {"key": "value"}
    assert session.last_update_time <= time.time()

    got = await svc.get_session(app_name=APP, user_id="test_user", session_id=session.id)
    assert got == session
    assert got is not None and got.last_update_time <= time.time()

    await svc.delete_session(app_name=APP, user_id="test_user", session_id=session.id)
    assert await svc.get_session(app_name=APP, user_id="test_user", session_id=session.id) is None


async def test_create_and_list_sessions(svc: SessionsAdkService) -> None:
    session_ids = ["session" + str(i) for i in range(5)]
    for session_id in session_ids:
        await svc.create_session(
            app_name=APP, user_id="test_user", session_id=session_id, state={"key": "value" + session_id}
        )
    sessions = (await svc.list_sessions(app_name=APP, user_id="test_user")).sessions
    assert len(sessions) == len(session_ids)
    assert {session.id for session in sessions} == set(session_ids)
    for session in sessions:
        assert session.state == {"key": "value" + session.id}


async def test_list_sessions_ordered_by_last_update_time(svc: SessionsAdkService) -> None:
    for session_id in ("a", "b", "c"):
        await svc.create_session(app_name=APP, user_id="test_user", session_id=session_id)
    session_a = await svc.get_session(app_name=APP, user_id="test_user", session_id="a")
    assert session_a is not None
    await asyncio.sleep(0.01)
    await svc.append_event(session=session_a, event=Event(invocation_id="invocation", author="user"))
    sessions = (await svc.list_sessions(app_name=APP, user_id="test_user")).sessions
    assert [session.id for session in sessions] == ["b", "c", "a"]


async def test_list_sessions_all_users(svc: SessionsAdkService) -> None:
    await svc.create_session(app_name=APP, user_id="user1", session_id="session1a", state={"key": "value1a"})
    await svc.create_session(app_name=APP, user_id="user1", session_id="session1b", state={"key": "value1b"})
    await svc.create_session(app_name=APP, user_id="user2", session_id="session2a", state={"key": "value2a"})

    user1 = (await svc.list_sessions(app_name=APP, user_id="user1")).sessions
    assert len(user1) == 2
    by_id = {session.id: session for session in user1}
    assert by_id["session1a"].state == {"key": "value1a"}
    assert by_id["session1b"].state == {"key": "value1b"}

    user2 = (await svc.list_sessions(app_name=APP, user_id="user2")).sessions
    assert len(user2) == 1
    assert user2[0].id == "session2a"
    assert user2[0].state == {"key": "value2a"}

    everyone = (await svc.list_sessions(app_name=APP, user_id=None)).sessions
    assert len(everyone) == 3
    by_id = {session.id: session for session in everyone}
    assert by_id["session1a"].state == {"key": "value1a"}
    assert by_id["session1b"].state == {"key": "value1b"}
    assert by_id["session2a"].state == {"key": "value2a"}


async def test_app_state_is_shared_by_all_users_of_app(svc: SessionsAdkService) -> None:
    session1 = await svc.create_session(app_name=APP, user_id="u1", session_id="s1", state={"app:k1": "v1"})
    await svc.append_event(session=session1, event=delta({"app:k2": "v2"}))
    session2 = await svc.create_session(app_name=APP, user_id="u2", session_id="s2")
    assert session2.state == {"app:k1": "v1", "app:k2": "v2"}
    got = await svc.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert got is not None
    assert got.state.get("app:k1") == "v1"
    assert got.state.get("app:k2") == "v2"


async def test_user_state_is_shared_only_by_user_sessions(svc: SessionsAdkService) -> None:
    session1 = await svc.create_session(app_name=APP, user_id="u1", session_id="s1", state={"user:k1": "v1"})
    await svc.append_event(session=session1, event=delta({"user:k2": "v2"}))
    session1b = await svc.create_session(app_name=APP, user_id="u1", session_id="s1b")
    assert session1b.state == {"user:k1": "v1", "user:k2": "v2"}
    session2 = await svc.create_session(app_name=APP, user_id="u2", session_id="s2")
    assert session2.state == {}


async def test_session_state_is_not_shared(svc: SessionsAdkService) -> None:
    session1 = await svc.create_session(app_name=APP, user_id="u1", session_id="s1", state={"sk1": "v1"})
    await svc.append_event(session=session1, event=delta({"sk2": "v2"}))
    got = await svc.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert got is not None
    assert got.state.get("sk1") == "v1"
    assert got.state.get("sk2") == "v2"
    session1b = await svc.create_session(app_name=APP, user_id="u1", session_id="s1b")
    assert session1b.state == {}


async def test_dict_valued_state_delta_replaces_stored_value(svc: SessionsAdkService) -> None:
    session = await svc.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={"profile": {"name": "ada", "role": "admin"}}
    )
    await svc.append_event(session=session, event=delta({"profile": {"name": "bob"}}))
    reloaded = await svc.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None
    assert reloaded.state.get("profile") == {"name": "bob"}
    assert session.state.get("profile") == {"name": "bob"}


async def test_none_valued_state_delta_is_stored_not_dropped(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1", session_id="s1", state={"flag": True})
    await svc.append_event(session=session, event=delta({"flag": None}))
    reloaded = await svc.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None
    assert "flag" in reloaded.state
    assert reloaded.state.get("flag") is None
    assert "flag" in session.state
    assert session.state.get("flag") is None


async def test_boolean_state_survives_unrelated_state_delta(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1", session_id="s1", state={"flag": False})
    await svc.append_event(session=session, event=delta({"new_flag": True}))
    reloaded = await svc.get_session(app_name=APP, user_id="u1", session_id="s1")
    assert reloaded is not None
    assert reloaded.state.get("new_flag") is True
    assert reloaded.state.get("flag") is False
    assert session.state.get("new_flag") is True
    assert session.state.get("flag") is False


async def test_app_state_dict_valued_delta_replaces_stored_value(svc: SessionsAdkService) -> None:
    session1 = await svc.create_session(
        app_name=APP, user_id="u1", session_id="s1", state={"app:cfg": {"name": "ada", "role": "admin"}}
    )
    await svc.append_event(session=session1, event=delta({"app:cfg": {"name": "bob"}}))
    session2 = await svc.create_session(app_name=APP, user_id="u2", session_id="s2")
    assert session2.state.get("app:cfg") == {"name": "bob"}
    assert session1.state.get("app:cfg") == {"name": "bob"}


async def test_user_state_none_valued_delta_is_stored_not_dropped(svc: SessionsAdkService) -> None:
    session1 = await svc.create_session(app_name=APP, user_id="u1", session_id="s1", state={"user:pref": "dark_mode"})
    await svc.append_event(session=session1, event=delta({"user:pref": None}))
    session1b = await svc.create_session(app_name=APP, user_id="u1", session_id="s1b")
    assert "user:pref" in session1b.state
    assert session1b.state.get("user:pref") is None
    assert "user:pref" in session1.state
    assert session1.state.get("user:pref") is None


async def test_temp_state_is_not_persisted_in_state_or_events(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1", session_id="s1")
    event = delta({"temp:k1": "v1", "sk": "v2"})
    await svc.append_event(session=session, event=event)
    assert session.state.get("temp:k1") == "v1"
    assert session.state.get("sk") == "v2"
    assert "temp:k1" not in event.actions.state_delta
    assert event.actions.state_delta.get("sk") == "v2"


async def test_temp_state_visible_across_sequential_events(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1", session_id="s_seq")
    event1 = delta({"temp:output": "result_from_a1"}, author="agent1")
    await svc.append_event(session=session, event=event1)
    assert session.state.get("temp:output") == "result_from_a1"
    assert "temp:output" not in event1.actions.state_delta


async def test_get_session_respects_user_id(svc: SessionsAdkService) -> None:
    session1 = await svc.create_session(app_name=APP, user_id="u1", session_id="s1")
    await svc.append_event(session=session1, event=user_event())
    await svc.create_session(app_name=APP, user_id="u2", session_id="s1")
    got = await svc.get_session(app_name=APP, user_id="u2", session_id="s1")
    assert got is not None
    assert got.user_id == "u2"
    assert len(got.events) == 0


async def test_create_session_with_existing_id_raises_error(svc: SessionsAdkService) -> None:
    await svc.create_session(app_name=APP, user_id="test_user", session_id="existing_session")
    with pytest.raises(AlreadyExistsError):
        await svc.create_session(app_name=APP, user_id="test_user", session_id="existing_session")


async def test_padded_session_id_reads_and_deletes(svc: SessionsAdkService) -> None:
    created = await svc.create_session(
        app_name=APP, user_id="test_user", session_id="order-42\n", state={"cart": "book"}
    )
    got = await svc.get_session(app_name=APP, user_id="test_user", session_id="order-42\n")
    assert created.id == "order-42"
    assert got is not None
    assert got.id == "order-42"
    assert got.state["cart"] == "book"
    await svc.delete_session(app_name=APP, user_id="test_user", session_id="order-42\n")
    assert await svc.get_session(app_name=APP, user_id="test_user", session_id="order-42") is None


async def test_append_event_bytes(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    content = types.Content(role="user", parts=[types.Part.from_bytes(data=b"test_image_data", mime_type="image/png")])
    grounding = types.GroundingMetadata(search_entry_point=types.SearchEntryPoint(sdk_blob=b"test_sdk_blob"))
    event = Event(invocation_id="invocation", author="user", content=content, grounding_metadata=grounding)
    await svc.append_event(session=session, event=event)
    assert session.events[0].content == content

    reloaded = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None
    assert len(reloaded.events) == 1
    assert reloaded.events[0].content == content
    assert reloaded.events[0].grounding_metadata == grounding


async def test_append_event_complete(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    event = Event(
        invocation_id="invocation",
        author="user",
        content=types.Content(role="user", parts=[types.Part(text="test_text")]),
        turn_complete=True,
        partial=False,
        actions=EventActions(artifact_delta={"file": 0}, transfer_to_agent="agent", escalate=True),
        long_running_tool_ids={"tool1"},
        error_code="error_code",
        error_message="error_message",
        interrupted=True,
        grounding_metadata=types.GroundingMetadata(web_search_queries=["query1"]),
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=1, candidates_token_count=1, total_token_count=2
        ),
        citation_metadata=types.CitationMetadata(),
        custom_metadata={"custom_key": "custom_value"},
        timestamp=1700000000.123,
        input_transcription=types.Transcription(text="input transcription", finished=True),
        output_transcription=types.Transcription(text="output transcription", finished=True),
    )
    await svc.append_event(session=session, event=event)
    assert await svc.get_session(app_name=APP, user_id="user", session_id=session.id) == session


async def test_append_event_with_requested_tool_confirmations(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    confirmation = ToolConfirmation(
        hint="dynamic hint", confirmed=False, payload={"collection_name": "photos", "resource_id": "album_1"}
    )
    event = Event(
        invocation_id="invocation",
        author="user",
        actions=EventActions(requested_tool_confirmations={"tool_call_1": confirmation}),
    )
    await svc.append_event(session=session, event=event)
    reloaded = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None
    assert len(reloaded.events) == 1
    assert reloaded.events[0].actions is not None
    confirmations = reloaded.events[0].actions.requested_tool_confirmations
    assert "tool_call_1" in confirmations
    assert confirmations["tool_call_1"].hint == "dynamic hint"
    assert confirmations["tool_call_1"].payload == {"collection_name": "photos", "resource_id": "album_1"}
    assert not confirmations["tool_call_1"].confirmed


async def test_session_last_update_time_updates_on_event(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    original = session.last_update_time
    timestamp = original + 10
    await svc.append_event(session=session, event=Event(invocation_id="invocation", author="user", timestamp=timestamp))
    assert session.last_update_time == pytest.approx(timestamp, abs=1e-6)
    reloaded = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None
    assert reloaded.last_update_time == pytest.approx(timestamp, abs=1e-6)
    assert reloaded.last_update_time > original


async def test_append_event_to_unknown_session_raises_session_not_found(svc: SessionsAdkService) -> None:
    session = Session(app_name=APP, user_id="user", id="never_created")
    with pytest.raises(SessionNotFoundError):
        await svc.append_event(session=session, event=user_event())


async def test_get_session_with_config(svc: SessionsAdkService) -> None:
    base = int(time.time())
    session = await svc.create_session(app_name=APP, user_id="user")
    for offset in range(1, 6):
        await svc.append_event(session=session, event=Event(author="user", timestamp=base + offset))

    async def events(config: GetSessionConfig | None = None) -> list[Event]:
        got = await svc.get_session(app_name=APP, user_id="user", session_id=session.id, config=config)
        assert got is not None
        return got.events

    assert len(await events()) == 5
    assert not await events(GetSessionConfig(num_recent_events=0))
    recent = await events(GetSessionConfig(num_recent_events=3))
    assert len(recent) == 3
    assert recent[0].timestamp == base + 3
    after = await events(GetSessionConfig(after_timestamp=base + 4))
    assert len(after) == 2
    assert after[0].timestamp == base + 4
    assert not await events(GetSessionConfig(after_timestamp=base + 50))
    assert len(await events(GetSessionConfig(after_timestamp=base + 4, num_recent_events=3))) == 2


async def test_partial_events_are_not_persisted(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    await svc.append_event(session=session, event=Event(author="user", partial=True))
    assert len(session.events) == 0
    got = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert got is not None
    assert len(got.events) == 0


async def test_get_user_state_returns_empty_dict_when_no_state_exists(svc: SessionsAdkService) -> None:
    assert not await svc.get_user_state(app_name=APP, user_id="u1")


async def test_get_user_state_returns_state_written_via_append_event(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1")
    event = Event(
        author="system", actions=EventActions(state_delta={"user:profile": {"name": "Alice"}, "session_key": 1})
    )
    await svc.append_event(session=session, event=event)
    state = await svc.get_user_state(app_name=APP, user_id="u1")
    assert state == {"profile": {"name": "Alice"}}
    assert "session_key" not in state


async def test_get_user_state_is_not_visible_across_users(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1")
    event = Event(author="system", actions=EventActions(state_delta={"user:secret": "only-for-u1"}))
    await svc.append_event(session=session, event=event)
    assert not await svc.get_user_state(app_name=APP, user_id="u2")


async def test_get_user_state_is_not_visible_across_apps(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1")
    event = Event(author="system", actions=EventActions(state_delta={"user:data": "only-app-a"}))
    await svc.append_event(session=session, event=event)
    assert not await svc.get_user_state(app_name="other_app", user_id="u1")


async def test_get_user_state_available_before_session_is_created(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1")
    event = Event(author="system", actions=EventActions(state_delta={"user:ctx": {"v": 1}}))
    await svc.append_event(session=session, event=event)
    assert await svc.get_user_state(app_name=APP, user_id="u1") == {"ctx": {"v": 1}}


async def test_get_user_state_reflects_latest_write(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="u1")
    for counter in (1, 2):
        event = Event(author="system", actions=EventActions(state_delta={"user:counter": counter}))
        await svc.append_event(session=session, event=event)
    assert (await svc.get_user_state(app_name=APP, user_id="u1"))["counter"] == 2


@pytest.fixture
def local_timezone_with_dst() -> Iterator[None]:
    """Upstream's fixture: local time in America/New_York, where 01:00-02:00 happens twice in November."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.usefixtures("local_timezone_with_dst")
async def test_get_session_keeps_exact_epoch_across_a_repeated_local_hour(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    for timestamp in (1730613600.0, 1730615400.0):
        await svc.append_event(session=session, event=Event(author="user", timestamp=timestamp))
    reloaded = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None
    assert [event.timestamp for event in reloaded.events] == [1730613600.0, 1730615400.0]


# --- upstream tests of its persistent backends whose behaviour every backend owes -------------------


async def test_append_event_to_deleted_session_raises_session_not_found(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    await svc.delete_session(app_name=APP, user_id="user", session_id=session.id)
    with pytest.raises(SessionNotFoundError):
        await svc.append_event(session=session, event=user_event())


async def test_append_event_to_stale_session(svc: SessionsAdkService) -> None:
    now = time.time()
    original = await svc.create_session(app_name=APP, user_id="user")
    await svc.append_event(session=original, event=delta({"sk1": "v1"}, invocation_id="inv1", timestamp=now + 1))
    updated = await svc.get_session(app_name=APP, user_id="user", session_id=original.id)
    assert updated is not None
    await svc.append_event(session=updated, event=delta({"sk2": "v2"}, invocation_id="inv2", timestamp=now + 2))
    assert original.last_update_time < updated.last_update_time
    assert len(original.events) == 1
    assert "sk2" not in original.state

    with pytest.raises(StaleSessionError, match="modified in storage"):
        await svc.append_event(session=original, event=delta({"sk3": "v3"}, invocation_id="inv3", timestamp=now + 3))

    final = await svc.get_session(app_name=APP, user_id="user", session_id=original.id)
    assert final is not None
    assert len(final.events) == 2
    assert final.state.get("sk1") == "v1"
    assert final.state.get("sk2") == "v2"
    assert final.state.get("sk3") is None
    assert [event.invocation_id for event in final.events] == ["inv1", "inv2"]


async def test_sqlite_append_event_uses_typed_stale_session_error(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name="app", user_id="user")
    stale = session.model_copy(deep=True)
    await svc.append_event(
        session=session, event=user_event(invocation_id="winner", timestamp=session.last_update_time + 1)
    )
    with pytest.raises(StaleSessionError) as raised:
        await svc.append_event(
            session=stale, event=user_event(invocation_id="stale", timestamp=session.last_update_time + 1)
        )
    assert isinstance(raised.value, ValueError)


async def test_append_event_concurrent_stale_sessions_reject_stale_writer(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    rounds = 8
    for i in range(rounds):
        latest = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
        assert latest is not None
        copy1, copy2 = latest.model_copy(deep=True), latest.model_copy(deep=True)
        base = latest.last_update_time + 10.0
        results = await asyncio.gather(
            svc.append_event(
                session=copy1, event=delta({f"sk{i}-1": f"v{i}-1"}, invocation_id=f"inv{i}-1", timestamp=base + 1)
            ),
            svc.append_event(
                session=copy2, event=delta({f"sk{i}-2": f"v{i}-2"}, invocation_id=f"inv{i}-2", timestamp=base + 2)
            ),
            return_exceptions=True,
        )
        successes = [result for result in results if not isinstance(result, BaseException)]
        errors = [result for result in results if isinstance(result, BaseException)]
        assert len(successes) == 1
        assert len(errors) == 1
        assert isinstance(errors[0], StaleSessionError)
        assert "modified in storage" in str(errors[0])

    final = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert final is not None
    for i in range(rounds):
        landed = {final.state.get(f"sk{i}-1"), final.state.get(f"sk{i}-2")}
        assert landed & {f"v{i}-1", f"v{i}-2"}
        assert None in landed
    assert len(final.events) == rounds


async def test_create_session_concurrent_same_id_raises_already_exists_error(svc: SessionsAdkService) -> None:
    await svc.create_session(app_name=APP, user_id="user", session_id="warmup-session")
    for i in range(5):
        session_id = f"race-session-{i}"
        results = await asyncio.gather(
            svc.create_session(app_name=APP, user_id="user", session_id=session_id),
            svc.create_session(app_name=APP, user_id="user", session_id=session_id),
            return_exceptions=True,
        )
        successes = [result for result in results if isinstance(result, Session)]
        errors = [result for result in results if isinstance(result, BaseException)]
        assert len(successes) == 1
        assert len(errors) == 1
        assert isinstance(errors[0], AlreadyExistsError)
        assert session_id in str(errors[0])
        final = await svc.get_session(app_name=APP, user_id="user", session_id=session_id)
        assert final is not None
        assert final.id == successes[0].id


async def test_append_event_with_non_serializable_state_delta(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="user")
    await svc.append_event(session=session, event=delta({"callback": lambda: 1, "ok": 2}, invocation_id="invocation"))
    reloaded = await svc.get_session(app_name=APP, user_id="user", session_id=session.id)
    assert reloaded is not None
    assert len(reloaded.events) == 1
    assert reloaded.state["ok"] == 2
    assert isinstance(reloaded.state["callback"], str)


async def test_list_sessions_sync_strips_events_and_merges_scoped_state(svc: SessionsAdkService) -> None:
    session = await svc.create_session(
        app_name=APP,
        user_id="u1",
        session_id="s1",
        state={"app:a": "av", "user:u": "uv", "sk": "sv", "temp:t": "tv"},
    )
    await svc.append_event(session=session, event=delta({"sk2": "sv2"}))
    sessions = (await svc.list_sessions(app_name=APP, user_id="u1")).sessions
    assert [listed.id for listed in sessions] == ["s1"]
    assert sessions[0].events == []
    assert sessions[0].state == {"app:a": "av", "user:u": "uv", "sk": "sv", "sk2": "sv2"}


async def test_list_sessions_sync_unknown_app_or_user_returns_empty_response(svc: SessionsAdkService) -> None:
    await svc.create_session(app_name=APP, user_id="u1", session_id="s1")
    assert (await svc.list_sessions(app_name="unknown_app")).sessions == []
    assert (await svc.list_sessions(app_name=APP, user_id="unknown_user")).sessions == []
    assert [session.id for session in (await svc.list_sessions(app_name=APP)).sessions] == ["s1"]


async def test_delete_session_sync_removes_only_the_targeted_users_session(svc: SessionsAdkService) -> None:
    await svc.create_session(app_name=APP, user_id="u1", session_id="s1")
    await svc.create_session(app_name=APP, user_id="u2", session_id="s1")
    await svc.delete_session(app_name=APP, user_id="u1", session_id="s1")
    assert await svc.get_session(app_name=APP, user_id="u1", session_id="s1") is None
    remaining = await svc.get_session(app_name=APP, user_id="u2", session_id="s1")
    assert remaining is not None
    assert remaining.id == "s1"


async def test_delete_session_sync_unknown_session_is_a_noop(svc: SessionsAdkService) -> None:
    await svc.create_session(app_name=APP, user_id="u1", session_id="s1")
    await svc.delete_session(app_name=APP, user_id="u1", session_id="unknown_session")
    await svc.delete_session(app_name=APP, user_id="unknown_user", session_id="s1")
    await svc.delete_session(app_name="unknown_app", user_id="u1", session_id="s1")
    assert await svc.get_session(app_name=APP, user_id="u1", session_id="s1") is not None


async def test_create_session_with_padded_duplicate_id_raises_error(svc: SessionsAdkService) -> None:
    await svc.create_session(
        app_name=APP, user_id="test_user", session_id="existing_session", state={"keep": "original"}
    )
    with pytest.raises(AlreadyExistsError):
        await svc.create_session(
            app_name=APP, user_id="test_user", session_id="  existing_session  ", state={"keep": "clobbered"}
        )
    got = await svc.get_session(app_name=APP, user_id="test_user", session_id="existing_session")
    assert got is not None
    assert got.state["keep"] == "original"


async def test_create_session_with_blank_id_generates_one(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name=APP, user_id="test_user", session_id="   ")
    assert session.id.strip()


async def test_append_event_is_idempotent_for_same_event_id(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name="test_app", user_id="user_dup", session_id="session_dup")
    event = Event(invocation_id="inv_dup", author="user", actions=EventActions(state_delta={"session:counter": 1}))
    await svc.append_event(session=session, event=event)
    await svc.append_event(session=session, event=event)
    await svc.append_event(session=session, event=event.model_copy(deep=True))
    retrieved = await svc.get_session(app_name="test_app", user_id="user_dup", session_id="session_dup")
    assert retrieved is not None
    assert len([stored for stored in retrieved.events if stored.id == event.id]) == 1
    assert retrieved.state.get("session:counter") == 1


async def test_append_different_events_not_deduplicated(svc: SessionsAdkService) -> None:
    session = await svc.create_session(app_name="test_app", user_id="user_multi", session_id="session_multi")
    await svc.append_event(session=session, event=Event(id="shared-event-id", invocation_id="inv_a", author="user"))
    await svc.append_event(session=session, event=Event(id="shared-event-id", invocation_id="inv_b", author="agent"))
    retrieved = await svc.get_session(app_name="test_app", user_id="user_multi", session_id="session_multi")
    assert retrieved is not None
    assert len(retrieved.events) == 2
    assert [stored.author for stored in retrieved.events] == ["user", "agent"]

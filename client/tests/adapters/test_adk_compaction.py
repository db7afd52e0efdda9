"""ADK over the service: loading a session costs O(page) calls whatever its length, and ADK's event compaction
becomes the base of the history. In-process over moto and over HTTP on the dev server.

Framework behaviour checked: `BaseSessionService.get_session` (state merged from `app:`/`user:` documents,
events oldest first) and ADK's compaction (`EventActions.compaction`, whose covered events ADK's
`_process_compaction_events` hides from the model): what the model is shown is the same whether the
session is loaded whole (as DatabaseSessionService returns it) or from the base.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.adk.events import Event, EventActions
from google.adk.events.event_actions import EventCompaction
from google.adk.flows.llm_flows.context._compaction import _process_compaction_events
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types
from inprocess import AsyncInProcessTransport

from sessions_client.adapters.adk import SessionsAdkService, compacts_everything, service_session_id

pytestmark = pytest.mark.anyio
APP = "compacting_app"


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def counting_service(backend: Any) -> tuple[SessionsAdkService, AsyncCountingTransport]:
    inner = AsyncInProcessTransport(backend.api) if backend.api is not None else httpx.AsyncHTTPTransport()
    transport = AsyncCountingTransport(inner)
    client = backend.async_client(identity=backend.identity(roles=("service",)), transport=transport)
    return SessionsAdkService(client), transport


def text_event(author: str, text: str, timestamp: float, **fields: Any) -> Event:
    role = "user" if author == "user" else "model"
    return Event(
        invocation_id="inv",
        author=author,
        timestamp=timestamp,
        content=types.Content(role=role, parts=[types.Part(text=text)]),
        **fields,
    )


def compaction_event(start: float, end: float, timestamp: float, summary: str = "summary") -> Event:
    compacted = types.Content(role="model", parts=[types.Part(text=summary)])
    return Event(
        invocation_id="inv",
        author="user",
        timestamp=timestamp,
        actions=EventActions(
            compaction=EventCompaction(start_timestamp=start, end_timestamp=end, compacted_content=compacted)
        ),
    )


def model_view(events: list[Event]) -> list[tuple[str | None, str]]:
    """What ADK's compaction processing shows the model: (role, text) of each content, in order."""
    shown = _process_compaction_events(events, agent_name="assistant")
    return [(e.content.role, "".join(p.text or "" for p in e.content.parts)) for e in shown if e.content]


async def test_a_compaction_of_everything_becomes_the_base_and_loads_show_the_model_the_same(
    sessions_backend: Any,
) -> None:
    service, transport = counting_service(sessions_backend)
    user = sessions_backend.user
    session = await service.create_session(app_name=APP, user_id=user, state={"app:tier": "gold", "user:lang": "fr"})
    for index in range(6):
        await service.append_event(
            session, text_event("user" if index % 2 == 0 else "assistant", f"t{index}", 10.0 + index)
        )
    whole_before = list(session.events)
    await service.append_event(session, compaction_event(10.0, 15.0, 16.0))
    await service.append_event(session, text_event("user", "after", 17.0))

    stored = await service.client.get_session(service_session_id(APP, user, session.id))
    assert stored.history_base_seq == 7
    transport.requests.clear()
    loaded = await service.get_session(app_name=APP, user_id=user, session_id=session.id)
    assert loaded is not None
    assert len(transport.requests) == 2  # the session with its state documents, one page of history
    assert [event.timestamp for event in loaded.events] == [16.0, 17.0]
    assert loaded.state["app:tier"] == "gold" and loaded.state["user:lang"] == "fr"
    # what the model sees: the same as from the whole history (what DatabaseSessionService returns)
    assert model_view(loaded.events) == model_view([*whole_before, *session.events[6:]])
    assert model_view(loaded.events) == [("model", "summary"), ("user", "after")]


async def test_a_compaction_that_leaves_events_out_is_no_base(sessions_backend: Any) -> None:
    service, _ = counting_service(sessions_backend)
    user = sessions_backend.user
    session = await service.create_session(app_name=APP, user_id=user)
    for index in range(4):
        await service.append_event(session, text_event("user", f"t{index}", 10.0 + index))
    await service.append_event(session, compaction_event(11.0, 13.0, 14.0))  # t0 stays shown: a sliding window
    assert (await service.client.get_session(service_session_id(APP, user, session.id))).history_base_seq is None
    loaded = await service.get_session(app_name=APP, user_id=user, session_id=session.id)
    assert loaded is not None and len(loaded.events) == 5


async def test_only_a_session_object_that_holds_its_whole_history_marks_a_base(sessions_backend: Any) -> None:
    service, _ = counting_service(sessions_backend)
    user = sessions_backend.user
    session = await service.create_session(app_name=APP, user_id=user)
    for index in range(4):
        await service.append_event(session, text_event("user", f"t{index}", 10.0 + index))
    recent = await service.get_session(
        app_name=APP, user_id=user, session_id=session.id, config=GetSessionConfig(num_recent_events=2)
    )
    assert recent is not None and len(recent.events) == 2
    await service.append_event(recent, compaction_event(12.0, 13.0, 14.0))  # covers what it holds, not t0, t1
    assert (await service.client.get_session(service_session_id(APP, user, session.id))).history_base_seq is None


def test_coverage_rule() -> None:
    """The rule the adapter applies before it marks a base (pure: ADK events only)."""
    call = Event(
        invocation_id="inv",
        author="assistant",
        timestamp=2.0,
        content=types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(id="c1", name="f"))]),
    )
    answer = Event(
        invocation_id="inv",
        author="assistant",
        timestamp=3.0,
        content=types.Content(
            role="user", parts=[types.Part(function_response=types.FunctionResponse(id="c1", name="f", response={}))]
        ),
    )
    first = text_event("user", "hi", 1.0)
    assert compacts_everything(compaction_event(1.0, 3.0, 4.0), [first, call, answer])
    assert not compacts_everything(compaction_event(1.0, 2.0, 4.0), [first, call])  # a call waits for its answer
    assert not compacts_everything(compaction_event(1.5, 3.0, 4.0), [first, call, answer])  # first left out
    assert not compacts_everything(text_event("user", "x", 4.0), [first])  # not a compaction
    assert not compacts_everything(compaction_event(1.0, 3.0, 4.0), [])  # nothing to compact
    earlier = compaction_event(1.0, 2.0, 2.5)
    assert compacts_everything(compaction_event(1.0, 3.0, 4.0), [earlier, answer])
    assert not compacts_everything(compaction_event(2.0, 3.0, 4.0), [earlier, answer])  # the earlier range survives
    other_branch = text_event("user", "hi", 1.0, branch="a.b")
    assert not compacts_everything(compaction_event(1.0, 3.0, 4.0), [other_branch])

"""`SessionSettings.limit` over `ServiceSession`, in-process (moto) and over the dev server.

Ports openai-agents 0.24.0 `tests/memory/test_session_limit.py` test by test, every assertion, with
`ServiceSession` in place of `SQLiteSession`, through each of the Runner's three methods (`run`,
`run_sync` in a thread with its own event loop and client, `run_streamed`), as upstream does.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, Runner, set_tracing_disabled
from agents.items import TResponseInputItem
from agents.memory import SessionSettings
from agents.testing import ScriptedModel, assistant_message

from sessions_client.adapters.openai_agents import ServiceSession

set_tracing_disabled(True)

pytestmark = pytest.mark.anyio
RUNNER_METHODS = ["run", "run_sync", "run_streamed"]


class Conversation:
    """One service session, opened anew for `run_sync` (its own event loop needs its own client)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.session_id = f"oai-limit-{uuid.uuid4().hex[:12]}"
        self.session = ServiceSession(self.session_id, backend.async_client())

    async def run(self, method: str, agent: Agent[Any], text: str, **kwargs: Any) -> Any:
        if method == "run":
            return await Runner.run(agent, text, session=self.session, **kwargs)
        if method == "run_sync":

            def in_thread() -> Any:
                session = ServiceSession(self.session_id, self.backend.async_client())
                return Runner.run_sync(agent, text, session=session, **kwargs)

            return await asyncio.to_thread(in_thread)
        result = Runner.run_streamed(agent, text, session=self.session, **kwargs)
        async for _ in result.stream_events():
            pass
        return result


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_parameter(sessions_backend: Any, runner_method: str) -> None:
    conversation = Conversation(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    for turn in (1, 2, 3):
        model.enqueue([assistant_message(f"Reply {turn}")])
        await conversation.run(runner_method, agent, f"Message {turn}")

    all_items = await conversation.session.get_items()
    assert len(all_items) == 6

    model.enqueue([assistant_message("Reply 4")])
    await conversation.run(
        runner_method, agent, "Message 4", run_config=RunConfig(session_settings=SessionSettings(limit=2))
    )
    last_input = model.calls[-1].input
    assert len(last_input) == 3
    assert last_input[0].get("content") == "Message 3"
    assert last_input[1].get("content")[0]["text"] == "Reply 3"
    assert last_input[2].get("content") == "Message 4"


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_drops_unmatched_history_function_call_output(
    sessions_backend: Any, runner_method: str
) -> None:
    conversation = Conversation(sessions_backend)
    history = cast(
        list[TResponseInputItem],
        [
            {"role": "user", "content": "What is the weather?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
            },
        ],
    )
    await conversation.session.add_items(history)
    assert await conversation.session.get_items(limit=2) == history[-2:]

    model = ScriptedModel()
    model.enqueue([assistant_message("Tomorrow is sunny too.")])
    agent = Agent(name="test", model=model)
    await conversation.run(
        runner_method, agent, "What about tomorrow?", run_config=RunConfig(session_settings=SessionSettings(limit=2))
    )
    assert model.calls[-1].input == [history[-1], {"role": "user", "content": "What about tomorrow?"}]


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_zero(sessions_backend: Any, runner_method: str) -> None:
    conversation = Conversation(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    for turn in (1, 2):
        model.enqueue([assistant_message(f"Reply {turn}")])
        await conversation.run(runner_method, agent, f"Message {turn}")

    model.enqueue([assistant_message("Reply 3")])
    await conversation.run(
        runner_method, agent, "Message 3", run_config=RunConfig(session_settings=SessionSettings(limit=0))
    )
    last_input = model.calls[-1].input
    assert len(last_input) == 1
    assert last_input[0].get("content") == "Message 3"


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_none_gets_all_history(sessions_backend: Any, runner_method: str) -> None:
    conversation = Conversation(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    for turn in range(1, 6):
        model.enqueue([assistant_message(f"Reply {turn}")])
        await conversation.run(runner_method, agent, f"Message {turn}")

    all_items = await conversation.session.get_items()
    assert len(all_items) == 10

    model.enqueue([assistant_message("Reply 6")])
    await conversation.run(
        runner_method, agent, "Message 6", run_config=RunConfig(session_settings=SessionSettings(limit=None))
    )
    last_input = model.calls[-1].input
    assert len(last_input) == 11
    assert last_input[0].get("content") == "Message 1"
    assert last_input[-1].get("content") == "Message 6"


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_larger_than_history(sessions_backend: Any, runner_method: str) -> None:
    conversation = Conversation(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    model.enqueue([assistant_message("Reply 1")])
    await conversation.run(runner_method, agent, "Message 1")

    model.enqueue([assistant_message("Reply 2")])
    await conversation.run(
        runner_method, agent, "Message 2", run_config=RunConfig(session_settings=SessionSettings(limit=100))
    )
    last_input = model.calls[-1].input
    assert len(last_input) == 3
    assert last_input[0].get("content") == "Message 1"
    assert last_input[1].get("content")[0]["text"] == "Reply 1"
    assert last_input[2].get("content") == "Message 2"

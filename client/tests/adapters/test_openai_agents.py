"""The OpenAI Agents SDK session backend, against the service in-process (moto) and over the dev server.

Each test names the upstream test it ports (openai-agents-python `tests/memory/test_session.py`
and `tests/extensions/memory/test_redis_session.py`, `test_sqlalchemy_session.py`): the same
calls and the same assertions, against `ServiceSession`. The runs use the SDK's own scripted
model (`agents.testing.ScriptedModel`): no API key, no network.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, SessionSettings, function_tool, set_tracing_disabled
from agents.memory import Session
from agents.testing import ScriptedModel, assistant_message, function_call
from inprocess import AsyncInProcessTransport

from sessions_client.adapters.openai_agents import ServiceSession

set_tracing_disabled(True)  # no trace exporter (it would want an API key and the network)

pytestmark = pytest.mark.anyio


def new_session(
    backend: Any, session_id: str | None = None, timeout: float | None = None, **options: Any
) -> ServiceSession:
    client = backend.async_client(**({"timeout": timeout} if timeout else {}))
    return ServiceSession(session_id or f"oai-{uuid.uuid4().hex[:12]}", client, **options)


def contents(items: list[Any]) -> list[Any]:
    return [item.get("content") for item in items]


async def run(agent: Agent[Any], text: Any, streamed: bool = False, **kwargs: Any) -> Any:
    if not streamed:
        return await Runner.run(agent, text, **kwargs)
    result = Runner.run_streamed(agent, text, **kwargs)
    async for _ in result.stream_events():
        pass
    return result


async def test_implements_the_session_protocol(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    assert isinstance(session, Session)
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit is None


# upstream: test_session.py::test_sqlite_session_memory_direct, test_redis_session.py::test_redis_session_direct_ops
async def test_direct_ops(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items([{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}])
    retrieved = await session.get_items()
    assert len(retrieved) == 2
    assert retrieved[0].get("role") == "user"
    assert retrieved[0].get("content") == "Hello"
    assert retrieved[1].get("role") == "assistant"
    assert retrieved[1].get("content") == "Hi there!"

    popped = await session.pop_item()
    assert popped is not None
    assert popped.get("content") == "Hi there!"
    assert contents(await session.get_items()) == ["Hello"]

    await session.clear_session()
    assert await session.get_items() == []


# upstream: test_session.py::test_sqlite_session_memory_pop_item
async def test_pop_item(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    assert await session.pop_item() is None
    await session.add_items(
        [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi there!"},
            {"role": "user", "content": "How are you?"},
        ]
    )
    assert len(await session.get_items()) == 3

    popped = await session.pop_item()
    assert popped == {"role": "user", "content": "How are you?"}
    after = await session.get_items()
    assert len(after) == 2
    assert after[-1].get("content") == "Hi there!"

    assert (await session.pop_item()) == {"role": "assistant", "content": "Hi there!"}
    assert (await session.pop_item()) == {"role": "user", "content": "Hello"}
    assert await session.pop_item() is None
    assert await session.get_items() == []

    # seqs are never reused: items added after pops come back in order
    await session.add_items([{"role": "user", "content": "again"}])
    assert contents(await session.get_items()) == ["again"]


# upstream: test_session.py::test_session_memory_pop_different_sessions
async def test_pop_only_affects_its_session(sessions_backend: Any) -> None:
    session_1 = new_session(sessions_backend)
    session_2 = new_session(sessions_backend)
    await session_1.add_items([{"role": "user", "content": "Session 1 message"}])
    await session_2.add_items(
        [{"role": "user", "content": "Session 2 message 1"}, {"role": "user", "content": "Session 2 message 2"}]
    )
    popped = await session_2.pop_item()
    assert popped is not None
    assert popped.get("content") == "Session 2 message 2"
    assert contents(await session_1.get_items()) == ["Session 1 message"]
    assert contents(await session_2.get_items()) == ["Session 2 message 1"]


# upstream: test_session.py::test_sqlite_session_get_items_with_limit, test_redis_session.py::test_get_items_with_limit
async def test_get_items_with_limit(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(
        [
            {"role": "user", "content": "Message 1"},
            {"role": "assistant", "content": "Response 1"},
            {"role": "user", "content": "Message 2"},
            {"role": "assistant", "content": "Response 2"},
            {"role": "user", "content": "Message 3"},
            {"role": "assistant", "content": "Response 3"},
        ]
    )
    all_items = await session.get_items()
    assert len(all_items) == 6
    assert all_items[0].get("content") == "Message 1"
    assert all_items[-1].get("content") == "Response 3"
    assert contents(await session.get_items(limit=2)) == ["Message 3", "Response 3"]
    assert contents(await session.get_items(limit=4)) == ["Message 2", "Response 2", "Message 3", "Response 3"]
    latest_10 = await session.get_items(limit=10)
    assert len(latest_10) == 6
    assert latest_10[0].get("content") == "Message 1"
    assert await session.get_items(limit=0) == []


# upstream: test_session.py::test_sqlite_session_get_items_limit_skips_corrupt_newest_rows and
# ::test_sqlite_session_pop_item_skips_corrupt_most_recent (here: events another writer appended,
# which hold no item)
async def test_limit_and_pop_skip_events_without_an_item(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(
        [
            {"role": "user", "content": "valid 0"},
            {"role": "assistant", "content": "valid 1"},
            {"role": "user", "content": "valid 2"},
        ]
    )
    await session.client.append_event(session.session_id, type="system", role="system", content="not an item")
    assert contents(await session.get_items(limit=2)) == ["valid 1", "valid 2"]
    assert len(await session.get_items()) == 3
    assert await session.pop_item() == {"role": "user", "content": "valid 2"}
    assert contents(await session.get_items()) == ["valid 0", "valid 1"]


# upstream: test_redis_session.py::test_get_items_limit_returns_fewer_when_history_exhausted
async def test_limit_returns_fewer_when_history_exhausted(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items([{"role": "user", "content": "only valid"}])
    assert contents(await session.get_items(limit=5)) == ["only valid"]


# upstream: test_redis_session.py::test_pop_from_empty_session, ::test_add_empty_items_list
async def test_empty_session(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    assert await session.get_items() == []
    assert await session.pop_item() is None
    await session.add_items([])
    assert await session.get_items() == []
    await session.clear_session()  # nothing to clear: no error
    assert await session.get_items() == []


# upstream: test_session.py::test_sqlite_session_unicode_content,
# ::test_sqlite_session_special_characters_and_sql_injection,
# test_redis_session.py::test_special_characters_and_json_safety, ::test_data_integrity_with_problematic_strings
async def test_content_round_trips_unchanged(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    texts = [
        "こんにちは",
        "😊👍",
        "Привет",
        "O'Reilly",
        "DROP TABLE sessions;",
        '"SELECT * FROM users WHERE name = "admin";"',
        "Robert'); DROP TABLE students;--",
        '{"malicious": "json"}',
        "\\n\\t\\r Special escapes",
        "Line1\nLine2\tTabbed",
        "Normal message",
    ]
    items = [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(texts)]
    await session.add_items(items)
    assert await session.get_items() == items


async def test_items_the_service_cannot_hold_as_json_round_trip_as_text(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    odd = {"type": "function_call_output", "call_id": "c1", "output": "ok", "extra": {"": 1, "big": 10**40}}
    tiny = {"role": "user", "content": "x", "score": 1e-200}
    await session.add_items([odd, tiny])
    assert await session.get_items() == [odd, tiny]


# upstream: test_session.py::test_sqlite_session_concurrent_access, test_redis_session.py::test_concurrent_access
async def test_concurrent_access(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)

    async def add_messages(start: int, count: int) -> None:
        await session.add_items([{"role": "user", "content": f"Message {start + i}"} for i in range(count)])

    await asyncio.gather(add_messages(0, 5), add_messages(5, 5), add_messages(10, 5))
    retrieved = await session.get_items()
    assert len(retrieved) == 15
    assert set(contents(retrieved)) == {f"Message {i}" for i in range(15)}
    # each add_items call is one atomic batch: its items stay together and in order
    runs = [contents(retrieved)[i : i + 5] for i in range(0, 15, 5)]
    assert sorted(runs) == sorted([[f"Message {s + i}" for i in range(5)] for s in (0, 5, 10)])


async def test_more_than_20_items_go_in_ordered_chunks(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    items = [{"role": "user", "content": f"m{i}"} for i in range(45)]
    await session.add_items(items)
    assert await session.get_items() == items
    assert contents(await session.get_items(limit=3)) == ["m42", "m43", "m44"]
    history = await session.client.get_history(session.session_id, limit=100)
    assert [event.seq for event in history.events] == list(range(1, 46))


# upstream: test_session.py::test_session_settings_constructor, ::test_get_items_uses_session_settings_limit,
# ::test_get_items_explicit_limit_overrides_session_settings
async def test_session_settings_limit(sessions_backend: Any) -> None:
    session = new_session(sessions_backend, session_settings=SessionSettings(limit=3))
    assert session.session_settings is not None
    assert session.session_settings.limit == 3
    await session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(10)])
    assert contents(await session.get_items()) == ["Message 7", "Message 8", "Message 9"]
    assert contents(await session.get_items(limit=2)) == ["Message 8", "Message 9"]
    from_dict = new_session(sessions_backend, session_settings={"limit": 0})
    assert from_dict.session_settings is not None
    assert from_dict.session_settings.limit == 0


async def test_clear_session_keeps_the_session_and_its_attributes(sessions_backend: Any) -> None:
    session = new_session(sessions_backend, create_options={"title": "Support", "metadata": {"source": "test"}})
    await session.add_items([{"role": "user", "content": "Hello"}])
    await session.client.update_session(session.session_id, context={"customer": "c-1"})
    await session.clear_session()
    assert await session.get_items() == []
    again = await session.client.get_session(session.session_id)
    assert again.title == "Support"
    assert again.metadata == {"source": "test"}
    assert again.context == {"customer": "c-1"}
    assert again.usage.event_count == 0
    await session.add_items([{"role": "user", "content": "after clear"}])
    assert contents(await session.get_items()) == ["after clear"]


async def test_items_are_readable_events(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(
        [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]},
            {"type": "function_call", "call_id": "c1", "name": "add", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "4"},
        ]
    )
    history = await session.client.get_history(session.session_id)
    assert [(e.type, e.role, e.content) for e in history.events] == [
        ("message", "system", "be brief"),
        ("message", "user", "What is 2+2?"),
        ("tool", "assistant", None),
        ("tool", "tool", None),
    ]


# --- agent runs with the SDK's scripted model ---------------------------------------------------


# upstream: test_session.py::test_session_memory_basic_functionality_parametrized (run, run_streamed),
# test_redis_session.py::test_runner_integration
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_runner_remembers_the_conversation(sessions_backend: Any, streamed: bool) -> None:
    session = new_session(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    model.enqueue([assistant_message("San Francisco")])
    result1 = await run(agent, "What city is the Golden Gate Bridge in?", streamed, session=session)
    assert result1.final_output == "San Francisco"

    model.enqueue([assistant_message("California")])
    result2 = await run(agent, "What state is it in?", streamed, session=session)
    assert result2.final_output == "California"

    last_input = model.calls[-1].input
    assert len(last_input) > 1
    assert any("Golden Gate Bridge" in str(item.get("content", "")) for item in last_input)
    assert len(await session.get_items()) == 4  # two user messages, two answers


async def test_a_second_process_resumes_the_conversation(sessions_backend: Any) -> None:
    session_id = f"oai-{uuid.uuid4().hex[:12]}"
    model = ScriptedModel([[assistant_message("Nice to meet you, Ada")]])
    first = new_session(sessions_backend, session_id)
    await Runner.run(Agent(name="test", model=model), "My name is Ada", session=first)

    # another client, another session object, another agent: the history comes from the service
    model_2 = ScriptedModel([[assistant_message("Your name is Ada")]])
    second = new_session(sessions_backend, session_id)
    result = await Runner.run(Agent(name="test", model=model_2), "What is my name?", session=second)
    assert result.final_output == "Your name is Ada"
    first_input = model_2.calls[0].input
    assert contents(first_input)[0] == "My name is Ada"
    assert contents(first_input)[-1] == "What is my name?"


async def test_tool_calls_are_stored_and_replayed(sessions_backend: Any) -> None:
    @function_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    session = new_session(sessions_backend)
    model = ScriptedModel(
        [
            [function_call("add", {"a": 2, "b": 2}, call_id="call-1")],
            [assistant_message("2 + 2 = 4")],
            [assistant_message("I said 4")],
        ]
    )
    agent = Agent(name="calc", model=model, tools=[add])
    assert (await Runner.run(agent, "What is 2+2?", session=session)).final_output == "2 + 2 = 4"
    assert (await Runner.run(agent, "What did you say?", session=session)).final_output == "I said 4"
    replayed = model.calls[-1].input
    types = [item.get("type", "message") for item in replayed]
    assert "function_call" in types
    assert "function_call_output" in types
    output = next(item for item in replayed if item.get("type") == "function_call_output")
    assert output["call_id"] == "call-1"
    assert "4" in str(output["output"])


# upstream: test_session.py::test_session_memory_different_sessions_parametrized,
# test_redis_session.py::test_session_isolation
async def test_sessions_are_isolated(sessions_backend: Any) -> None:
    session_1 = new_session(sessions_backend)
    session_2 = new_session(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    model.enqueue([assistant_message("I like cats")])
    await Runner.run(agent, "I like cats", session=session_1)
    model.enqueue([assistant_message("I like dogs")])
    await Runner.run(agent, "I like dogs", session=session_2)
    model.enqueue([assistant_message("Yes, you mentioned cats")])
    result = await Runner.run(agent, "What did I say I like?", session=session_1)
    assert result.final_output == "Yes, you mentioned cats"
    seen = str(model.calls[-1].input)
    assert "cats" in seen
    assert "dogs" not in seen


# upstream: test_session.py::test_session_memory_appends_list_input_by_default
async def test_list_input_is_appended_to_the_history(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    initial_history = [{"role": "user", "content": "Earlier message"}, {"role": "assistant", "content": "Saved reply"}]
    await session.add_items(initial_history)
    model = ScriptedModel([[assistant_message("This should run")]])
    list_input = [{"role": "user", "content": "Test message"}]
    await Runner.run(Agent(name="test", model=model), list_input, session=session)
    assert model.calls[-1].input == initial_history + list_input


# upstream: test_session.py::test_runner_with_session_settings_override
async def test_run_config_session_settings_override(sessions_backend: Any) -> None:
    session = new_session(sessions_backend, session_settings=SessionSettings(limit=100))
    await session.add_items([{"role": "user", "content": f"Turn {i}"} for i in range(10)])
    model = ScriptedModel([[assistant_message("Got it")]])
    await Runner.run(
        Agent(name="test", model=model),
        "New question",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=2)),
    )
    history_items = [item for item in model.calls[-1].input if item.get("content") != "New question"]
    assert contents(history_items) == ["Turn 8", "Turn 9"]


# upstream: test_session.py::test_session_callback_prepared_input
async def test_session_input_callback(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    initial_history = [
        {"role": "user", "content": "Hello there."},
        {"role": "assistant", "content": "Hi, I'm here to assist you."},
    ]
    await session.add_items(initial_history)

    def only_user_messages(history: list[Any], new_input: list[Any]) -> list[Any]:
        return [item for item in history if item["role"] == "user"] + new_input

    model = ScriptedModel([[assistant_message("I'm a scripted model")]])
    new_turn_input = [{"role": "user", "content": "What your name?"}]
    await Runner.run(
        Agent(name="test", model=model),
        new_turn_input,
        session=session,
        run_config=RunConfig(session_input_callback=only_user_messages),
    )
    assert model.calls[-1].input == [initial_history[0], new_turn_input[0]]


# upstream: test_sqlalchemy_session.py::test_concurrent_pop_item_returns_each_row_once
async def test_concurrent_pops_return_each_item_once(sessions_backend: Any) -> None:
    writer = new_session(sessions_backend)
    await writer.add_items([{"role": "user", "content": f"m{i}"} for i in range(6)])
    poppers = [ServiceSession(writer.session_id, sessions_backend.async_client()) for _ in range(3)]
    popped = await asyncio.gather(*(popper.pop_item() for popper in poppers for _ in range(2)))
    assert sorted(contents([item for item in popped if item is not None])) == [f"m{i}" for i in range(6)]
    assert await writer.get_items() == []


async def test_a_service_acts_for_a_user(sessions_backend: Any) -> None:
    service = sessions_backend.async_client(identity=sessions_backend.identity(user="svc-bot", roles=("service",)))
    session = ServiceSession(f"oai-{uuid.uuid4().hex[:12]}", service, user_id="u-ada")
    await session.add_items([{"role": "user", "content": "for Ada"}, {"role": "assistant", "content": "noted"}])
    ada = sessions_backend.async_client(identity=sessions_backend.identity(user="u-ada"))
    assert contents(await ServiceSession(session.session_id, ada).get_items()) == ["for Ada", "noted"]
    assert (await ada.get_session(session.session_id)).user_id == "u-ada"
    assert await session.pop_item() == {"role": "assistant", "content": "noted"}
    await session.clear_session()
    assert (await ada.get_session(session.session_id)).usage.event_count == 0


async def test_an_item_larger_than_an_inline_event(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    big = {"type": "function_call_output", "call_id": "c1", "output": "x" * 200_000}
    await session.add_items([{"role": "user", "content": "read the file"}, big])
    assert (await session.get_items())[-1] == big
    assert await session.pop_item() == big


# upstream: test_session.py::test_session_callback_repeating_history_does_not_grow_session
async def test_repeating_history_in_the_input_callback_does_not_grow_the_session(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    def repeat_first(history: list[Any], new_input: list[Any]) -> list[Any]:
        return [*history, history[0], *new_input] if history else new_input

    for turn in range(3):
        model.enqueue([assistant_message(f"assistant {turn}")])
        await Runner.run(
            agent, f"user {turn}", session=session, run_config=RunConfig(session_input_callback=repeat_first)
        )
    stored = await session.get_items()
    assert [item.get("content") for item in stored if item.get("role") == "user"] == ["user 0", "user 1", "user 2"]
    assert len(stored) == 6


# upstream: test_session.py::test_session_add_items_exception_propagates_in_streamed
async def test_a_refused_write_reaches_the_caller(sessions_backend: Any) -> None:
    from sessions_client.errors import SessionClosed

    session = new_session(sessions_backend)
    await session.add_items([{"role": "user", "content": "Hello"}])
    await session.client.update_session(session.session_id, status="completed")
    model = ScriptedModel([[assistant_message("never stored")]])
    with pytest.raises(SessionClosed):
        await run(Agent(name="test", model=model), "Hi again", streamed=True, session=session)
    assert contents(await session.get_items()) == ["Hello"]


async def test_from_url_owns_its_client(sessions_backend: Any) -> None:
    options: dict[str, Any] = {"identity": sessions_backend.identity()}
    if sessions_backend.api is not None:
        options["transport"] = AsyncInProcessTransport(sessions_backend.api)
    session = ServiceSession.from_url(f"oai-{uuid.uuid4().hex[:12]}", sessions_backend.base_url, **options)
    await session.add_items([{"role": "user", "content": "Hello"}])
    assert contents(await session.get_items()) == ["Hello"]
    await session.close()
    assert session.client._http.is_closed


async def test_an_item_too_large_to_inline_in_a_response(sessions_backend: Any) -> None:
    """A payload whose escaped response would pass Lambda's 6 MB comes as a presigned `payload_url`;
    the client fetches it, for reads and for the events a rewind returns."""
    session = new_session(sessions_backend, timeout=120)
    huge = {"role": "user", "content": '"' * 2_500_000}  # 5 MB as JSON, twice that escaped again
    await session.add_items([{"role": "user", "content": "first"}])
    await session.add_items([huge])
    raw = await session.client.get_event(session.session_id, 2, inline_parts=False)
    assert raw.payload is None
    assert raw.payload_url
    assert await session.get_items() == [{"role": "user", "content": "first"}, huge]
    assert await session.get_items(limit=1) == [huge]
    assert await session.pop_item() == huge

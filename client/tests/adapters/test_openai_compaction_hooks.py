"""Compaction over a store with the snapshot hooks: openai-agents 0.24.0's own tests, on `ServiceSession`.

Ports, against `ServiceSession` (in-process on moto and over the dev server: `sessions_backend`), every
assertion of the tests of openai-agents 0.24.0 that exercise a store implementing `_get_compaction_snapshot`
(SQLiteSession, AsyncSQLiteSession, SQLAlchemySession) or the store under `OpenAIResponsesCompactionSession`:

- tests/memory/test_compaction_suffix.py
- tests/memory/test_compaction_model_visibility.py
- tests/memory/test_sqlalchemy_compaction.py

Each test names the upstream one. Where upstream uses SQLiteSession/AsyncSQLiteSession/SQLAlchemySession or
SimpleListSession as the store, this uses a `ServiceSession`; "another instance on the same engine" is another
`ServiceSession` on the same service session; where upstream reads the SQLite rows back it reads what the
service stored (`get_items`, the client's history). The compaction API is a mock and the model a `ScriptedModel`
(no network). Upstream's `sqlite`/`async-sqlite` and `file`/`memory` fixture parameters select SQL engines: they
become the fixture's two service backends (in-process, dev server). A failure injected upstream with a SQL trigger
or a paused SQLAlchemy transaction is injected here at the client's `append_events` (the request that carries the
replacement): refused before it is sent, or held before it is sent / after it has committed.

Upstream tests written over SimpleListSession (no snapshot hook) where the SDK's outcome depends on the hook (a
filter hid history from the model: over SimpleListSession the SDK skips compaction, over a hooked store it
compacts the suffix it matched) run over SQLiteSession and over ServiceSession in the same test
(`same_as_sqlite`): the assertions that hold for both stay as upstream wrote them, the others become a record of
the outcome that must equal SQLiteSession's. Parameters that do not touch the store (`streamed`, EncryptedSession
`outer`/inner, `with_wrapper`) take one value per service backend rather than multiplying the runs.

Not ported (with why):
- test_automatic_compaction_respects_backend_id_matching_policy: exercises `IdStrippingSession`, a test store that
  drops item ids on write (`_ignore_ids_for_matching`); `ServiceSession` keeps ids as given, so there is no such
  policy to carry over (the duplicates half is test_automatic_compaction_preserves_filtered_duplicate_occurrences).
- test_replacement_uses_timestamp_order_not_id_order: rewrites a row's `created_at` with SQL so that timestamp and
  id order disagree; the service orders a history by seq (append order) and has no other order to disagree with.
- test_compaction_with_engine_managed_sqlite_begin: SQLAlchemy engine transaction configuration (SQL engine only).
- test_parent_constraint_rejection_propagates: a SQL trigger on the sessions table (SQL engine only).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, Literal, cast
from unittest.mock import AsyncMock, MagicMock

import pytest
from agents import (
    Agent,
    HostedMCPTool,
    ModelSettings,
    RunConfig,
    Runner,
    RunState,
    function_tool,
    handoff,
    set_tracing_disabled,
)
from agents.handoffs import HandoffInputData
from agents.items import TResponseInputItem
from agents.memory import OpenAIResponsesCompactionSession, Session
from agents.memory.session import SessionABC
from agents.result import RunResult, RunResultStreaming
from agents.run_config import CallModelData, ModelInputData
from agents.testing import ModelStep, ScriptedModel
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
)
from openai.types.responses.response_output_item import McpApprovalRequest

from sessions_client import errors
from sessions_client.adapters.openai_agents import ServiceSession

set_tracing_disabled(True)

pytestmark = pytest.mark.anyio

LOCAL_OUTPUT = "synthetic-local-only-result"


# --- helpers (upstream's tests/test_responses.py and model_test_helpers.py, as used) ---------------------


def get_text_message(content: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="1",
        type="message",
        role="assistant",
        content=[ResponseOutputText(text=content, type="output_text", annotations=[], logprobs=[])],
        status="completed",
    )


def get_function_tool(name: str | None = None, return_value: str | None = None) -> Any:
    def _foo() -> str:
        return return_value or "result_ok"

    return function_tool(_foo, name_override=name)


def get_function_tool_call(name: str, arguments: str | None = None, call_id: str | None = None) -> Any:
    return ResponseFunctionToolCall(
        id="1", call_id=call_id or "2", type="function_call", name=name, arguments=arguments or ""
    )


def get_handoff_tool_call(to_agent: Agent[Any]) -> Any:
    from agents import Handoff

    return get_function_tool_call(Handoff.default_tool_name(to_agent), call_id=f"handoff_{to_agent.name}")


def get_exact_output_stream_step(output: list[Any]) -> ModelStep:
    from agents.testing.model import _response_for_step

    async def events(_call: object) -> Any:
        for index, item in enumerate(output):
            yield ResponseOutputItemDoneEvent(
                type="response.output_item.done", item=item, output_index=index, sequence_number=index
            )
        response = _response_for_step(ModelStep(output=list(output)), list(output))
        yield ResponseCompletedEvent(type="response.completed", response=response, sequence_number=len(output))

    return ModelStep.stream(events)


def new_store(backend: Any, session_id: str | None = None, **options: Any) -> ServiceSession:
    return ServiceSession(session_id or f"hk-{uuid.uuid4().hex[:12]}", backend.async_client(), **options)


def other_instance(store: ServiceSession) -> ServiceSession:
    """Another instance on the same service session (upstream: another SQLAlchemySession on the same engine)."""
    return ServiceSession(store.session_id, store.client)


def compact_client(output: list[Any] | None = None, side_effect: Any = None) -> MagicMock:
    client = MagicMock()
    if side_effect is not None:
        client.responses.compact = AsyncMock(side_effect=side_effect)
    else:
        client.responses.compact = AsyncMock(return_value=SimpleNamespace(output=list(output or [])))
    return client


async def run(
    agent: Agent[Any],
    prompt: Any,
    session: Session,
    streamed: bool,
    config: RunConfig | None = None,
) -> RunResult | RunResultStreaming:
    if not streamed:
        return await Runner.run(agent, prompt, session=session, run_config=config)
    result = Runner.run_streamed(agent, prompt, session=session, run_config=config)
    async for _ in result.stream_events():
        pass
    return result


def without_tools(items: list[Any]) -> list[Any]:
    return [item for item in items if item.get("type") not in {"function_call", "function_call_output"}]


def filter_tools(data: CallModelData[Any]) -> ModelInputData:
    return ModelInputData(input=without_tools(data.model_data.input), instructions=data.model_data.instructions)


def carries_compaction(events: Any) -> bool:
    return "compaction" in str(events)


async def stored_items(store: ServiceSession) -> list[dict[str, Any]]:
    """What the service holds for the session, read with the client (not through the adapter's get_items)."""
    from sessions_client.adapters.openai_agents import item_of

    items = []
    async for event in store.client.iter_history(store.session_id, order="asc", include_payload=True):
        if (item := item_of(event.payload)) is not None:
            items.append(item)
    return items


def streamed_for(backend: Any) -> bool:
    """Upstream's `streamed`: non-streamed in-process, streamed over the dev server (both covered, not doubled)."""
    return bool(backend.kind == "dev_server")


def compact_calls(client: MagicMock) -> list[dict[str, Any]]:
    return [dict(call.kwargs) for call in client.responses.compact.await_args_list]


Body = Any  # async (store, record) -> None


async def same_as_sqlite(backend: Any, body: Body) -> None:
    """Run `body` over SQLiteSession, then over a ServiceSession: what each recorded must be equal.

    For upstream tests written over SimpleListSession (a store without the snapshot hook), where the SDK's
    outcome depends on the hook: SQLiteSession and ServiceSession both implement it, so the SDK compacts the
    suffix of the history the model saw where, over SimpleListSession, it skips; those assertions become a
    record compared with SQLiteSession's (upstream's other assertions stay as they are).
    """
    from agents.memory import SQLiteSession

    reference: list[Any] = []
    sqlite = SQLiteSession(f"ref-{uuid.uuid4().hex[:8]}")
    try:
        await body(sqlite, reference.append)
    finally:
        sqlite.close()
    ours: list[Any] = []
    await body(new_store(backend), ours.append)
    assert ours == reference


SUFFIX_SETTINGS = {"limit": 20}  # upstream's suffix and SQLAlchemy fixtures: session_settings={"limit": 20}


# --- tests/memory/test_compaction_suffix.py ----------------------------------------------------------------


# upstream: test_suffix_transaction_rolls_back_failed_insert
async def test_suffix_transaction_rolls_back_failed_insert(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    original: list[TResponseInputItem] = [{"role": "user", "content": str(i)} for i in range(4)]
    await backend.add_items(original)
    append_events = backend.client.append_events

    async def reject_summary(session_id: str, events: Any, **kwargs: Any) -> Any:
        if carries_compaction(events):
            raise errors.TransportError("synthetic insert failure")
        return await append_events(session_id, events, **kwargs)

    monkeypatch.setattr(backend.client, "append_events", reject_summary)
    client = compact_client([{"type": "compaction", "id": "cmp", "encrypted_content": "synthetic-summary"}])
    session = OpenAIResponsesCompactionSession(
        "suffix", backend, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
    )
    reply = get_text_message("done")
    with pytest.raises(errors.TransportError, match="synthetic insert failure"):
        await Runner.run(
            Agent(name="worker", model=ScriptedModel(steps=[[reply]])),
            "continue",
            session=session,
            run_config=RunConfig(session_settings={"limit": 1}),
        )
    expected = [*original, {"role": "user", "content": "continue"}, reply.model_dump(exclude_unset=True)]
    assert await backend.get_items(limit=100) == expected
    assert await stored_items(backend) == expected


# upstream: test_new_backend_write_invalidates_snapshot
async def test_new_backend_write_invalidates_snapshot(sessions_backend: Any) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    original: list[TResponseInputItem] = [{"role": "user", "content": str(i)} for i in range(4)]
    await backend.add_items(original)
    newer: TResponseInputItem = {"role": "user", "content": "concurrent backend append"}

    async def compact(**kwargs: Any) -> Any:
        await backend.add_items([newer])
        return SimpleNamespace(output=[])

    session = OpenAIResponsesCompactionSession(
        "suffix",
        backend,
        client=compact_client(side_effect=compact),
        compaction_mode="input",
        should_trigger_compaction=lambda _: True,
    )
    reply = get_text_message("done")
    await Runner.run(
        Agent(name="worker", model=ScriptedModel(steps=[[reply]])),
        "continue",
        session=session,
        run_config=RunConfig(session_settings={"limit": 1}),
    )
    assert await backend.get_items(limit=100) == [
        *original,
        {"role": "user", "content": "continue"},
        reply.model_dump(exclude_unset=True),
        newer,
    ]


# upstream: test_partial_previous_response_mode_preserves_history
async def test_partial_previous_response_mode_preserves_history(sessions_backend: Any) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    await backend.add_items([{"role": "user", "content": str(i)} for i in range(4)])
    client = compact_client([])
    session = OpenAIResponsesCompactionSession(
        "suffix",
        backend,
        client=client,
        compaction_mode="previous_response_id",
        should_trigger_compaction=lambda _: True,
    )
    await Runner.run(
        Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]])),
        "continue",
        session=session,
        run_config=RunConfig(session_settings={"limit": 1}),
    )
    client.responses.compact.assert_not_awaited()
    assert len(await backend.get_items(limit=100)) == 6


# upstream: test_cancelled_suffix_transaction_settles_before_newer_append
async def test_cancelled_suffix_transaction_settles_before_newer_append(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    original: list[TResponseInputItem] = [{"role": "user", "content": str(i)} for i in range(4)]
    await backend.add_items(original)
    started = asyncio.Event()
    release = asyncio.Event()
    append_events = backend.client.append_events

    async def gated_insert(session_id: str, events: Any, **kwargs: Any) -> Any:
        if carries_compaction(events):
            started.set()
            await release.wait()
        return await append_events(session_id, events, **kwargs)

    monkeypatch.setattr(backend.client, "append_events", gated_insert)
    summary: TResponseInputItem = cast(
        TResponseInputItem, {"type": "compaction", "id": "cmp", "encrypted_content": "synthetic"}
    )
    session = OpenAIResponsesCompactionSession(
        "suffix",
        backend,
        client=compact_client([summary]),
        compaction_mode="input",
        should_trigger_compaction=lambda _: True,
    )
    work = asyncio.create_task(
        Runner.run(
            Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]])),
            "continue",
            session=session,
            run_config=RunConfig(session_settings={"limit": 1}),
        )
    )
    newer: TResponseInputItem = {"role": "user", "content": "newer"}
    append = None
    try:
        await asyncio.wait_for(started.wait(), 5)
        work.cancel()
        append = asyncio.create_task(session.add_items([newer]))
        await asyncio.sleep(0)
        work.cancel()
        await asyncio.sleep(0)
        assert not append.done()
        release.set()
        results = await asyncio.gather(work, append, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert results[1] is None
        assert await backend.get_items(limit=100) == [*original[:-1], summary, newer]
    finally:
        release.set()
        if not work.done():
            work.cancel()
        await asyncio.gather(work, *([append] if append is not None else []), return_exceptions=True)


# upstream: test_partial_compaction_does_not_split_tool_call_and_output
async def test_partial_compaction_does_not_split_tool_call_and_output(sessions_backend: Any) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    history: list[TResponseInputItem] = [
        {"type": "function_call", "call_id": "call", "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call", "output": "synthetic"},
    ]
    await backend.add_items(history)
    client = compact_client([])
    session = OpenAIResponsesCompactionSession(
        "suffix", backend, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
    )

    def rewrite_call(data: CallModelData[Any]) -> ModelInputData:
        items = list(data.model_data.input)
        items[0] = {
            "type": "function_call",
            "call_id": "call",
            "name": "lookup",
            "arguments": '{"query":"model-visible"}',
        }
        return ModelInputData(input=items, instructions=data.model_data.instructions)

    model = ScriptedModel(steps=[[get_text_message("done")]])
    await Runner.run(
        Agent(name="worker", model=model),
        "continue",
        session=session,
        run_config=RunConfig(call_model_input_filter=rewrite_call),
    )
    assert "model-visible" in str(model.calls[0].input)
    client.responses.compact.assert_awaited_once()
    assert client.responses.compact.call_args.kwargs["input"][0] == {"role": "user", "content": "continue"}
    assert await backend.get_items(limit=100) == history


# upstream: test_partial_compaction_preserves_reasoning_and_its_follower
@pytest.mark.parametrize("follower", ["tool", "message"])
@pytest.mark.parametrize("filtered", [False, True], ids=["limited", "filtered"])
async def test_partial_compaction_preserves_reasoning_and_its_follower(
    sessions_backend: Any, follower: str, filtered: bool
) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    history: list[TResponseInputItem] = [
        cast(TResponseInputItem, {"type": "reasoning", "id": "rs_stored", "summary": []})
    ]
    if follower == "tool":
        history.extend(
            [
                {"type": "function_call", "call_id": "call", "name": "lookup", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call", "output": "synthetic"},
            ]
        )
    else:
        history.append(cast(TResponseInputItem, get_text_message("stored reply").model_dump(exclude_unset=True)))
    await backend.add_items(history)
    summary: TResponseInputItem = cast(
        TResponseInputItem, {"type": "compaction", "id": "cmp", "encrypted_content": "synthetic"}
    )
    client = compact_client([summary])
    session = OpenAIResponsesCompactionSession(
        "suffix", backend, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
    )

    def omit_reasoning(data: CallModelData[Any]) -> ModelInputData:
        return ModelInputData(
            input=[item for item in data.model_data.input if item.get("type") != "reasoning"],
            instructions=data.model_data.instructions,
        )

    reply = get_text_message("done")
    model = ScriptedModel(steps=[[reply], [get_text_message("replayed")]])
    agent = Agent(name="worker", model=model)
    config = (
        RunConfig(call_model_input_filter=omit_reasoning)
        if filtered
        else RunConfig(session_settings={"limit": len(history) - 1})
    )
    await Runner.run(agent, "continue", session=session, run_config=config)
    assert all(item.get("type") != "reasoning" for item in model.calls[0].input)
    client.responses.compact.assert_awaited_once()
    assert client.responses.compact.call_args.kwargs["input"] == [
        {"role": "user", "content": "continue"},
        reply.model_dump(exclude_unset=True),
    ]
    assert await backend.get_items(limit=100) == [*history, summary]

    session.should_trigger_compaction = lambda _: False
    await Runner.run(agent, "replay", session=session, run_config=RunConfig(session_settings={"limit": 100}))
    assert model.calls[1].input[: len(history)] == history


# --- tests/memory/test_sqlalchemy_compaction.py (any snapshot-hook store) -----------------------------------


# upstream: test_limited_sqlalchemy_compacts_visible_suffix
async def test_limited_store_compacts_visible_suffix(sessions_backend: Any) -> None:
    streamed = streamed_for(sessions_backend)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    hidden: TResponseInputItem = {"role": "user", "content": "older hidden history"}
    await backend.add_items(
        [hidden] + [{"role": "assistant" if i % 2 else "user", "content": f"visible {i}"} for i in range(20)]
    )
    client = compact_client([])
    session = OpenAIResponsesCompactionSession("bounded", backend, client=client)
    for turn in range(5):
        agent = Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]]))
        await run(agent, f"turn {turn}", session, streamed)
    client.responses.compact.assert_awaited_once()
    assert len(client.responses.compact.call_args.kwargs["input"]) == 22
    assert "older hidden history" not in str(client.responses.compact.call_args.kwargs)
    retained = await backend.get_items(limit=100)
    assert retained[0] == hidden
    assert len(retained) == 9


# upstream: test_other_instance_mutation_invalidates_suffix
@pytest.mark.parametrize("operation", ["append", "pop", "clear"])
async def test_other_instance_mutation_invalidates_suffix(sessions_backend: Any, operation: str) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    original: list[TResponseInputItem] = [{"role": "user", "content": f"item {i}"} for i in range(24)]
    await backend.add_items(original)
    other = other_instance(backend)
    newer: TResponseInputItem = {"role": "user", "content": "concurrent"}
    reply = get_text_message("done")
    expected: list[Any] = [*original, {"role": "user", "content": "continue"}, reply.model_dump(exclude_unset=True)]

    async def compact(**kwargs: Any) -> Any:
        if operation == "append":
            await other.add_items([newer])
            expected.append(newer)
        elif operation == "pop":
            assert await other.pop_item() == expected.pop()
        else:
            await other.clear_session()
            expected.clear()
        return SimpleNamespace(output=[])

    client = compact_client(side_effect=compact)
    session = OpenAIResponsesCompactionSession(
        "bounded", backend, client=client, should_trigger_compaction=lambda _: True
    )
    await Runner.run(Agent(name="worker", model=ScriptedModel(steps=[[reply]])), "continue", session=session)
    client.responses.compact.assert_awaited_once()
    assert await backend.get_items(limit=100) == expected


# upstream: test_cancelled_replacement_settles_before_other_instance_append
async def test_cancelled_replacement_settles_before_other_instance_append(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    await backend.add_items([{"role": "user", "content": f"old {i}"} for i in range(24)])
    deleted = asyncio.Event()
    release = asyncio.Event()
    append_events = backend.client.append_events

    async def paused(session_id: str, events: Any, **kwargs: Any) -> Any:
        # The replacement has committed (the service's one transaction); its answer is held back.
        stored = await append_events(session_id, events, **kwargs)
        if carries_compaction(events):
            deleted.set()
            await release.wait()
        return stored

    monkeypatch.setattr(backend.client, "append_events", paused)
    other = ServiceSession(backend.session_id, sessions_backend.async_client())
    summary = {"type": "compaction", "id": "cmp", "encrypted_content": "synthetic-summary"}
    session = OpenAIResponsesCompactionSession(
        "bounded", backend, client=compact_client([summary]), should_trigger_compaction=lambda _: True
    )
    work = asyncio.create_task(
        Runner.run(
            Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]])),
            "continue",
            session=session,
        )
    )
    append = None
    newer: TResponseInputItem = {"role": "user", "content": "surviving append"}
    try:
        await asyncio.wait_for(deleted.wait(), 5)
        work.cancel()
        append = asyncio.create_task(other.add_items([newer]))
        await asyncio.sleep(0)
        work.cancel()
        await asyncio.sleep(0)
        assert not work.done()
        # upstream also asserts `not append.done()` here: the other instance waits on the database lock the held
        # transaction keeps; the service holds no lock across requests (README, "What cannot be matched").
        release.set()
        results = await asyncio.gather(work, append, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert results[1] is None
    finally:
        release.set()
        await asyncio.gather(work, *([append] if append is not None else []), return_exceptions=True)
    stored = await backend.get_items(limit=100)
    assert stored == [{"role": "user", "content": f"old {i}"} for i in range(4)] + [summary, newer]


# upstream: test_failed_replacement_preserves_history_during_other_instance_access
async def test_failed_replacement_preserves_history_during_other_instance_access(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    original: list[TResponseInputItem] = [{"role": "user", "content": f"old {i}"} for i in range(24)]
    await backend.add_items(original)
    deleted = asyncio.Event()
    release = asyncio.Event()
    append_events = backend.client.append_events

    async def failing(session_id: str, events: Any, **kwargs: Any) -> Any:
        if carries_compaction(events):
            deleted.set()
            await release.wait()
            raise RuntimeError("synthetic replacement failure")
        return await append_events(session_id, events, **kwargs)

    monkeypatch.setattr(backend.client, "append_events", failing)
    other = ServiceSession(backend.session_id, sessions_backend.async_client())
    reply = get_text_message("done")
    session = OpenAIResponsesCompactionSession(
        "bounded",
        backend,
        client=compact_client([{"type": "compaction", "id": "cmp", "encrypted_content": "synthetic-summary"}]),
        should_trigger_compaction=lambda _: True,
    )
    work = asyncio.create_task(
        Runner.run(Agent(name="worker", model=ScriptedModel(steps=[[reply]])), "continue", session=session)
    )
    append = read = None
    newer: TResponseInputItem = {"role": "user", "content": "surviving append"}
    try:
        await asyncio.wait_for(deleted.wait(), 5)
        append = asyncio.create_task(other.add_items([newer]))
        read = asyncio.create_task(other.get_items(limit=100))
        # upstream also asserts the append has not finished 0.1 s later (it waits on the held SQL transaction's
        # lock); the service holds no lock across requests (README, "What cannot be matched").
        await asyncio.wait({append}, timeout=0.1)
        release.set()
        outcomes = await asyncio.gather(work, append, read, return_exceptions=True)
        assert isinstance(outcomes[0], RuntimeError)
        assert outcomes[1] is None
        assert isinstance(outcomes[2], list)
        assert outcomes[2][:24] == original
    finally:
        release.set()
        await asyncio.gather(work, *[task for task in (append, read) if task is not None], return_exceptions=True)
    assert await other.get_items(limit=100) == [
        *original,
        {"role": "user", "content": "continue"},
        reply.model_dump(exclude_unset=True),
        newer,
    ]


# --- tests/memory/test_compaction_model_visibility.py ---------------------------------------------------------


# upstream: test_automatic_compaction_retains_hidden_tool_output_until_full_replay
@pytest.mark.parametrize("filter_kind", ["model", "session", "redact"])
async def test_automatic_compaction_retains_hidden_tool_output_until_full_replay(
    sessions_backend: Any, filter_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    streamed = streamed_for(sessions_backend)

    async def body(store: Any, record: Any) -> None:
        caplog.clear()
        summary = {"type": "compaction", "id": "cmp-test", "encrypted_content": "synthetic-summary"}
        client = compact_client([summary])
        session = OpenAIResponsesCompactionSession(
            "visibility", store, client=client, should_trigger_compaction=lambda _: True
        )
        await scenario(session, client, summary, record)

    async def scenario(session: Any, client: Any, summary: Any, record: Any) -> None:
        model = ScriptedModel(
            steps=[[get_function_tool_call("lookup")], [get_text_message("ok")], [get_text_message("done")]]
        )
        agent = Agent(
            name="worker",
            model=model,
            model_settings=ModelSettings(store=False),
            tools=[get_function_tool(name="lookup", return_value=LOCAL_OUTPUT)],
            tool_use_behavior="stop_on_first_tool",
        )
        await run(agent, "first", session, streamed)
        client.responses.compact.assert_not_awaited()

        def session_filter(history: list[Any], new_input: list[Any]) -> list[Any]:
            return without_tools(history) + new_input

        def redact(data: CallModelData[Any]) -> ModelInputData:
            items = [
                cast(TResponseInputItem, {**item, "output": "redacted"})
                if item.get("type") == "function_call_output"
                else item
                for item in data.model_data.input
            ]
            return ModelInputData(input=items, instructions=data.model_data.instructions)

        config = (
            RunConfig(session_input_callback=session_filter)
            if filter_kind == "session"
            else RunConfig(call_model_input_filter=redact if filter_kind == "redact" else filter_tools)
        )
        await run(agent, "second", session, streamed, config)
        assert LOCAL_OUTPUT not in str(model.calls[1].input)
        # upstream (SimpleListSession): compact not awaited, "Session history was retained" logged
        record(compact_calls(client))
        assert LOCAL_OUTPUT in str(await session.get_items())
        assert LOCAL_OUTPUT not in caplog.text

        await run(agent, "third", session, streamed)
        assert LOCAL_OUTPUT in str(model.calls[2].input)
        # upstream: compact awaited once, with the hidden output; the history is then [summary]
        record(compact_calls(client))
        record(await session.get_items())

    await same_as_sqlite(sessions_backend, body)


# upstream: test_manual_compaction_can_explicitly_replace_filtered_history (with_wrapper: True over the dev server)
@pytest.mark.parametrize("mode", ["input", "previous_response_id"])
async def test_manual_compaction_can_explicitly_replace_filtered_history(
    sessions_backend: Any, mode: Literal["input", "previous_response_id"]
) -> None:
    with_wrapper = sessions_backend.kind == "dev_server"

    async def body(store: Any, record: Any) -> None:
        client = compact_client([])
        await store.add_items([{"role": "user", "content": LOCAL_OUTPUT}])
        session = OpenAIResponsesCompactionSession(
            "manual", store, client=client, compaction_mode=mode, should_trigger_compaction=lambda _: True
        )
        model = ScriptedModel(steps=[[get_text_message("ok")]])
        result = await run(
            Agent(name="worker", model=model),
            "visible",
            session,
            False,
            RunConfig(session_input_callback=lambda _history, new: new),
        )
        # upstream (SimpleListSession): compact not awaited by the run
        record(compact_calls(client))
        assert LOCAL_OUTPUT in str(await session.get_items())
        client.responses.compact.reset_mock()
        await session.run_compaction({"force": True}, wrapper=result.context_wrapper if with_wrapper else None)
        # upstream: compact awaited once (in input mode with LOCAL_OUTPUT in its input), the history then empty;
        # over a snapshot-hook store (the run compacted the suffix it matched), the outcome is SQLiteSession's
        record(compact_calls(client))
        items = await session.get_items()
        record(items)
        if isinstance(store, ServiceSession):
            assert await stored_items(store) == items

    await same_as_sqlite(sessions_backend, body)


# upstream: test_automatic_compaction_hook_approves_the_reloaded_snapshot
@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("deferred", [False, True])
async def test_automatic_compaction_hook_approves_the_reloaded_snapshot(
    sessions_backend: Any, encrypted: bool, deferred: bool
) -> None:
    streamed = streamed_for(sessions_backend)
    client = compact_client([])
    backend = new_store(sessions_backend, session_settings={"limit": 1})
    approved_views: list[list[Any]] = []

    def approve(context: Any) -> bool:
        items = context["session_items"]
        approved_views.append(list(items))
        return LOCAL_OUTPUT not in str(items)

    compaction = OpenAIResponsesCompactionSession(
        "hook-snapshot", backend, client=client, compaction_mode="input", should_trigger_compaction=approve
    )
    session: SessionABC = compaction
    if encrypted:
        from agents.extensions.memory.encrypt_session import EncryptedSession

        session = EncryptedSession("hook-snapshot", compaction, encryption_key="synthetic-test-key")
    await session.add_items([{"role": "user", "content": LOCAL_OUTPUT}, {"role": "user", "content": "visible tail"}])
    model = ScriptedModel(steps=([[get_function_tool_call("lookup")]] if deferred else []) + [[get_text_message("ok")]])
    await run(
        Agent(name="worker", model=model, tools=[get_function_tool(name="lookup", return_value="tool result")]),
        "full read",
        session,
        streamed,
        RunConfig(session_settings={"limit": 100}),
    )
    assert LOCAL_OUTPUT in str(model.calls[-1].input)
    assert LOCAL_OUTPUT not in str(approved_views[0])
    client.responses.compact.assert_not_awaited()
    assert LOCAL_OUTPUT in str(approved_views[-1])
    assert LOCAL_OUTPUT in str(await session.get_items(limit=100))
    if deferred:
        assert compaction._get_deferred_compaction_response_id() is not None


# upstream: test_handoff_filter_cannot_expose_omitted_history_through_compaction
async def test_handoff_filter_cannot_expose_omitted_history_through_compaction(sessions_backend: Any) -> None:
    streamed = streamed_for(sessions_backend)
    client = compact_client([])
    session = OpenAIResponsesCompactionSession(
        "handoff",
        new_store(sessions_backend),
        client=client,
        compaction_mode="input",
        should_trigger_compaction=lambda _: True,
    )
    target_model = ScriptedModel(steps=[[get_text_message("done")]])
    target = Agent(name="target", model=target_model)

    def omit_history(data: HandoffInputData) -> HandoffInputData:
        return replace(data, input_history=())

    source = Agent(
        name="source",
        model=ScriptedModel(steps=[[get_handoff_tool_call(target)]]),
        handoffs=[handoff(target, input_filter=omit_history)],
    )
    await run(source, LOCAL_OUTPUT, session, streamed)
    assert LOCAL_OUTPUT not in str(target_model.calls[0].input)
    client.responses.compact.assert_not_awaited()
    assert LOCAL_OUTPUT in str(await session.get_items())


# upstream: test_encrypted_session_checks_decrypted_history
async def test_encrypted_session_checks_decrypted_history(sessions_backend: Any) -> None:
    from agents.extensions.memory.encrypt_session import EncryptedSession

    async def body(backend: Any, record: Any) -> None:
        client = compact_client([])
        compaction = OpenAIResponsesCompactionSession(
            "encrypted", backend, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
        )
        session = EncryptedSession("encrypted", compaction, encryption_key="synthetic-test-key")
        await session.add_items([{"role": "user", "content": LOCAL_OUTPUT}])
        model = ScriptedModel(steps=[[get_text_message("ok")], [get_text_message("done")]])
        agent = Agent(name="worker", model=model)
        await run(agent, "visible", session, True, RunConfig(session_input_callback=lambda _h, new: new))
        # upstream (SimpleListSession): compact not awaited
        record(len(compact_calls(client)))
        assert LOCAL_OUTPUT in str(await session.get_items())
        assert LOCAL_OUTPUT not in str(await backend.get_items())
        if isinstance(backend, ServiceSession):
            assert LOCAL_OUTPUT not in str(await stored_items(backend))
        await run(agent, "full replay", session, True)
        # upstream: compact awaited once, LOCAL_OUTPUT in its input
        record(len(compact_calls(client)))
        record(LOCAL_OUTPUT in str(client.responses.compact.call_args.kwargs["input"]))
        record(len(await backend.get_items()))

    await same_as_sqlite(sessions_backend, body)


# upstream: test_resumed_tool_output_stays_local_when_filtered
async def test_resumed_tool_output_stays_local_when_filtered(sessions_backend: Any) -> None:
    streamed = streamed_for(sessions_backend)

    async def body(store: Any, record: Any) -> None:
        client = compact_client([])
        session = OpenAIResponsesCompactionSession(
            "resume", store, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
        )
        tool = get_function_tool(name="lookup", return_value=LOCAL_OUTPUT)
        tool.needs_approval = True
        model = ScriptedModel(steps=[[get_function_tool_call("lookup")], [get_text_message("ok")]])
        agent = Agent(name="worker", model=model, tools=[tool], tool_use_behavior="stop_on_first_tool")
        interrupted = await run(agent, "first", session, streamed)
        state = interrupted.to_state()
        state.approve(interrupted.interruptions[0])
        serialized = state.to_json()
        assert "_session_compaction_model_exchange" not in str(serialized)
        restored = await RunState.from_json(agent, serialized)
        resumed = await run(agent, restored, session, streamed)
        assert resumed.final_output == LOCAL_OUTPUT
        await run(agent, "second", session, streamed, RunConfig(call_model_input_filter=filter_tools))
        assert LOCAL_OUTPUT not in str(model.calls[-1].input)
        # upstream (SimpleListSession): compact not awaited
        record(compact_calls(client))
        assert LOCAL_OUTPUT in str(await session.get_items())
        record(await session.get_items())

    await same_as_sqlite(sessions_backend, body)


# upstream: test_pending_approval_defers_automatic_compaction (atomic_backend: both stores are a ServiceSession)
@pytest.mark.parametrize("approve", [False, True])
async def test_pending_approval_defers_automatic_compaction(sessions_backend: Any, approve: bool) -> None:
    streamed = streamed_for(sessions_backend)
    summary = {"type": "compaction", "id": "cmp-test", "encrypted_content": "synthetic-summary"}
    client = compact_client([summary])
    session = OpenAIResponsesCompactionSession(
        "approval",
        new_store(sessions_backend),
        client=client,
        compaction_mode="input",
        should_trigger_compaction=lambda _: True,
    )
    tool = get_function_tool(name="lookup", return_value=LOCAL_OUTPUT)
    tool.needs_approval = True
    call = get_function_tool_call("lookup")
    model = ScriptedModel(
        steps=[[call], [get_text_message("resolved")], [get_text_message("next")], [get_text_message("done")]]
    )
    agent = Agent(name="worker", model=model, tools=[tool])
    interrupted = await run(agent, "first", session, streamed)
    assert len(interrupted.interruptions) == 1
    client.responses.compact.assert_not_awaited()
    assert any(item.get("call_id") == call.call_id for item in await session.get_items())

    state = await RunState.from_json(agent, interrupted.to_state().to_json())
    if approve:
        state.approve(interrupted.interruptions[0])
    else:
        state.reject(interrupted.interruptions[0])
    await run(agent, state, session, streamed)

    for items in (model.calls[1].input, await session.get_items()):
        assert [item["type"] for item in items if item.get("call_id") == call.call_id] == [
            "function_call",
            "function_call_output",
        ]

    await run(agent, "second", session, streamed)
    client.responses.compact.assert_awaited_once()
    assert [
        item["type"]
        for item in client.responses.compact.call_args.kwargs["input"]
        if item.get("call_id") == call.call_id
    ] == ["function_call", "function_call_output"]
    assert await session.get_items() == [summary]

    await run(agent, "third", session, streamed)
    assert model.calls[3].input == [summary, {"role": "user", "content": "third"}]


# upstream: test_pending_hosted_mcp_approval_defers_automatic_compaction
@pytest.mark.parametrize("approve", [False, True])
async def test_pending_hosted_mcp_approval_defers_automatic_compaction(sessions_backend: Any, approve: bool) -> None:
    streamed = streamed_for(sessions_backend)
    summary = {"type": "compaction", "id": "cmp-mcp", "encrypted_content": "synthetic-summary"}
    client = compact_client([summary])
    session = OpenAIResponsesCompactionSession(
        "mcp-approval",
        new_store(sessions_backend),
        client=client,
        compaction_mode="input",
        should_trigger_compaction=lambda _: True,
    )
    request = McpApprovalRequest(
        id="approval-1", type="mcp_approval_request", arguments="{}", name="lookup", server_label="synthetic"
    )
    model = ScriptedModel(
        steps=[
            get_exact_output_stream_step([request]) if streamed else [request],
            [get_text_message("resolved")],
            [get_text_message("next")],
            [get_text_message("done")],
        ]
    )
    agent = Agent(
        name="worker",
        model=model,
        tools=[
            HostedMCPTool(
                tool_config={
                    "type": "mcp",
                    "server_label": "synthetic",
                    "server_url": "https://synthetic.example/mcp",
                    "require_approval": "always",
                }
            )
        ],
    )
    interrupted = await run(agent, "first", session, streamed)
    assert len(interrupted.interruptions) == 1
    client.responses.compact.assert_not_awaited()
    assert request.model_dump(exclude_unset=True) in await session.get_items()

    state = await RunState.from_json(agent, interrupted.to_state().to_json())
    if approve:
        state.approve(interrupted.interruptions[0])
    else:
        state.reject(interrupted.interruptions[0])
    await run(agent, state, session, streamed)
    for items in (model.calls[1].input, await session.get_items()):
        assert request.model_dump(exclude_unset=True) in items
        responses = [item for item in items if item.get("type") == "mcp_approval_response"]
        assert len(responses) == 1
        assert responses[0]["approval_request_id"] == request.id
        assert responses[0]["approve"] is approve

    await run(agent, "second", session, streamed)
    client.responses.compact.assert_awaited_once()
    compact_input = client.responses.compact.call_args.kwargs["input"]
    assert request.model_dump(exclude_unset=True) in compact_input
    assert any(
        item.get("type") == "mcp_approval_response"
        and item.get("approval_request_id") == request.id
        and item.get("approve") is approve
        for item in compact_input
    )
    assert await session.get_items() == [summary]

    await run(agent, "third", session, streamed)
    assert model.calls[3].input == [summary, {"role": "user", "content": "third"}]


# upstream: test_backend_read_limit_cannot_hide_retained_history_from_compaction
@pytest.mark.parametrize("encrypted", [False, True])
async def test_backend_read_limit_cannot_hide_retained_history_from_compaction(
    sessions_backend: Any, encrypted: bool
) -> None:
    streamed = streamed_for(sessions_backend)
    client = compact_client([])
    backend = new_store(sessions_backend, session_settings={"limit": 1})
    session: SessionABC = OpenAIResponsesCompactionSession(
        "limited", backend, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
    )
    if encrypted:
        from agents.extensions.memory.encrypt_session import EncryptedSession

        session = EncryptedSession("limited", session, encryption_key="synthetic-test-key")
    await session.add_items([{"role": "user", "content": LOCAL_OUTPUT}, {"role": "user", "content": "visible tail"}])
    model = ScriptedModel(steps=[[get_text_message("ok")], [get_text_message("done")]])
    agent = Agent(name="worker", model=model)
    await run(agent, "limited read", session, streamed)
    assert LOCAL_OUTPUT not in str(model.calls[0].input)
    client.responses.compact.assert_awaited_once()
    assert LOCAL_OUTPUT not in str(client.responses.compact.call_args.kwargs["input"])
    assert LOCAL_OUTPUT in str(await session.get_items(limit=100))

    await run(agent, "full read", session, streamed, RunConfig(session_settings={"limit": 100}))
    assert LOCAL_OUTPUT in str(model.calls[1].input)
    assert client.responses.compact.await_count == 2
    assert LOCAL_OUTPUT in str(client.responses.compact.call_args.kwargs["input"])
    assert await session.get_items(limit=100) == []


# upstream: test_automatic_compaction_does_not_reload_unbounded_hidden_history
@pytest.mark.parametrize("approve", [False, True])
@pytest.mark.parametrize("encryption", ["none", "outer", "inner"])
async def test_automatic_compaction_does_not_reload_unbounded_hidden_history(
    sessions_backend: Any, approve: bool, encryption: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = compact_client([])
    backend = new_store(sessions_backend, session_settings={"limit": 1})
    session: SessionABC = OpenAIResponsesCompactionSession(
        "bounded", backend, client=client, compaction_mode="input", should_trigger_compaction=lambda _: approve
    )
    clock = [1000]
    if encryption != "none":
        from agents.extensions.memory.encrypt_session import EncryptedSession

        clock = frozen_clock(monkeypatch)
        if encryption == "outer":
            session = EncryptedSession("bounded", session, encryption_key="synthetic-test-key", ttl=10)
        else:
            session = OpenAIResponsesCompactionSession(
                "bounded",
                EncryptedSession("bounded", backend, encryption_key="synthetic-test-key", ttl=10),
                client=client,
                compaction_mode="input",
                should_trigger_compaction=lambda _: approve,
            )
    await session.add_items([{"role": "user", "content": f"retained-{index}"} for index in range(100)])
    if encryption != "none":
        clock[0] += 11
        await session.add_items([{"role": "user", "content": "fresh tail"}])
    read = AsyncMock(wraps=backend.get_items)
    backend.get_items = read  # type: ignore[method-assign]
    snapshot_read = AsyncMock(wraps=backend._get_compaction_snapshot)
    backend._get_compaction_snapshot = snapshot_read  # type: ignore[method-assign]
    model = ScriptedModel(steps=[[get_text_message("ok")], [get_text_message("done")]])
    agent = Agent(name="worker", model=model)
    for prompt in ("first", "second"):
        read.reset_mock()
        snapshot_read.reset_mock()
        await run(agent, prompt, session, False)
        # One stored input, one new prompt, one response, and one lookahead item.
        limits = [call.kwargs.get("limit", call.args[0] if call.args else None) for call in read.call_args_list]
        if approve:
            assert all(call.args[0] <= 4 for call in snapshot_read.call_args_list)
            assert snapshot_read.await_count == 1
        else:
            assert all(limit is None or limit == 1 for limit in limits)
            snapshot_read.assert_not_awaited()
            client.responses.compact.assert_not_awaited()
    assert client.responses.compact.await_count == (2 if approve else 0)
    assert len(await backend.get_items(limit=1000)) == (
        (0 if encryption != "none" else 98) if approve else (105 if encryption != "none" else 104)
    )
    # Explicit manual compaction can still process the application's approved
    # logical history, including when limited reads omit live history.
    client.responses.compact.reset_mock()
    await session.run_compaction({"force": True})  # type: ignore[attr-defined]
    client.responses.compact.assert_awaited_once()
    if not approve:
        assert "done" in str(client.responses.compact.call_args.kwargs["input"])
    assert await backend.get_items(limit=1000) == []


# upstream: test_automatic_compaction_preserves_filtered_duplicate_occurrences
@pytest.mark.parametrize("mode", ["input", "previous_response_id"])
async def test_automatic_compaction_preserves_filtered_duplicate_occurrences(
    sessions_backend: Any, mode: Literal["input", "previous_response_id"]
) -> None:
    streamed = streamed_for(sessions_backend)
    duplicate: TResponseInputItem = {"role": "user", "content": "repeated request"}

    async def body(store: Any, record: Any) -> None:
        client = compact_client([])
        await store.add_items([duplicate, duplicate])
        session = OpenAIResponsesCompactionSession(
            "duplicates", store, client=client, compaction_mode=mode, should_trigger_compaction=lambda _: True
        )
        model = ScriptedModel(steps=[[get_text_message("ok")], [get_text_message("done")]])
        agent = Agent(name="worker", model=model)
        await run(
            agent,
            "filtered",
            session,
            streamed,
            RunConfig(session_input_callback=lambda history, new: history[1:] + new),
        )
        assert model.calls[0].input.count(duplicate) == 1
        # upstream (SimpleListSession): compact not awaited, both occurrences kept
        record(compact_calls(client))
        record(await session.get_items())

        await run(agent, "complete", session, streamed)
        # upstream: both occurrences replayed, compacted once, the history then empty
        record(model.calls[1].input)
        record(compact_calls(client))
        record(await session.get_items())

    await same_as_sqlite(sessions_backend, body)


# upstream: test_automatic_compaction_preserves_reordered_history
@pytest.mark.parametrize("mode", ["input", "previous_response_id"])
@pytest.mark.parametrize("filter_kind", ["model", "session"])
async def test_automatic_compaction_preserves_reordered_history(
    sessions_backend: Any, mode: Literal["input", "previous_response_id"], filter_kind: str
) -> None:
    streamed = streamed_for(sessions_backend)
    first: TResponseInputItem = {"role": "user", "content": "first stored request"}
    second: TResponseInputItem = {"role": "user", "content": "second stored request"}
    model_only: TResponseInputItem = {"role": "user", "content": "model-only context"}

    def reorder(data: CallModelData[Any]) -> ModelInputData:
        items = data.model_data.input
        return ModelInputData(input=[items[1], items[0], *items[2:]], instructions=data.model_data.instructions)

    def add_context(data: CallModelData[Any]) -> ModelInputData:
        items = data.model_data.input
        return ModelInputData(input=[items[0], model_only, *items[1:]], instructions=data.model_data.instructions)

    async def body(store: Any, record: Any) -> None:
        client = compact_client([])
        await store.add_items([first, second])
        session = OpenAIResponsesCompactionSession(
            "ordered", store, client=client, compaction_mode=mode, should_trigger_compaction=lambda _: True
        )
        model = ScriptedModel(steps=[[get_text_message("ok")], [get_text_message("done")]])
        agent = Agent(name="worker", model=model)
        config = (
            RunConfig(call_model_input_filter=reorder)
            if filter_kind == "model"
            else RunConfig(session_input_callback=lambda history, new: [*reversed(history), *new])
        )
        await run(agent, "reordered", session, streamed, config)
        assert model.calls[0].input[:2] == [second, first]
        # upstream (SimpleListSession): compact not awaited, the history still starts [first, second]
        record(compact_calls(client))
        record(await session.get_items())

        await run(agent, "ordered", session, streamed, RunConfig(call_model_input_filter=add_context))
        # upstream: the model saw [first, model_only, second]
        record(model.calls[1].input)
        # upstream: compacted once ([first, second] first in its input, not the model-only item), history empty
        record(compact_calls(client))
        record(await session.get_items())

    await same_as_sqlite(sessions_backend, body)


# upstream: test_automatic_compaction_applies_current_reasoning_id_policy
@pytest.mark.parametrize("mode", ["input", "previous_response_id"])
async def test_automatic_compaction_applies_current_reasoning_id_policy(
    sessions_backend: Any, mode: Literal["input", "previous_response_id"]
) -> None:
    streamed = streamed_for(sessions_backend)
    backend = new_store(sessions_backend)
    client = compact_client([])
    session = OpenAIResponsesCompactionSession(
        backend.session_id, backend, client=client, compaction_mode=mode, should_trigger_compaction=lambda _: False
    )
    model = ScriptedModel(
        steps=[
            [ResponseReasoningItem(id="rs_stored", type="reasoning", summary=[]), get_text_message("old")],
            [get_text_message("done")],
        ]
    )
    agent = Agent(name="worker", model=model)
    await run(agent, "before policy", session, streamed)
    stored_reasoning = next(item for item in await backend.get_items() if item.get("type") == "reasoning")
    assert stored_reasoning.get("id") == "rs_stored"
    decisions: list[list[Any]] = []

    def approve(context: dict[str, Any]) -> bool:
        decisions.append(context["session_items"])
        return True

    session.should_trigger_compaction = approve
    await run(agent, "adopt policy", session, streamed, RunConfig(reasoning_item_id_policy="omit"))
    sent_reasoning = next(item for item in model.calls[1].input if item.get("type") == "reasoning")
    assert "id" not in sent_reasoning
    assert len(decisions) == 2
    approved_reasoning = next(item for item in decisions[-1] if item.get("type") == "reasoning")
    assert approved_reasoning == sent_reasoning
    client.responses.compact.assert_awaited_once()
    if mode == "input":
        compact_reasoning = next(
            item for item in client.responses.compact.call_args.kwargs["input"] if item.get("type") == "reasoning"
        )
        assert compact_reasoning == sent_reasoning
    assert await backend.get_items() == []


# upstream: test_reasoning_policy_does_not_authorize_other_input_changes
@pytest.mark.parametrize("omit_policy", [False, True])
async def test_reasoning_policy_does_not_authorize_other_input_changes(
    sessions_backend: Any, omit_policy: bool
) -> None:
    reasoning: TResponseInputItem = cast(
        TResponseInputItem,
        {"type": "reasoning", "id": "rs_stored", "summary": [], "encrypted_content": "synthetic-content"},
    )

    def change_reasoning(data: CallModelData[Any]) -> ModelInputData:
        items = [dict(item) for item in data.model_data.input]
        if omit_policy:
            items[0]["encrypted_content"] = "different-content"
        else:
            items[0].pop("id")
        return ModelInputData(input=cast(list[Any], items), instructions=data.model_data.instructions)

    async def body(store: Any, record: Any) -> None:
        client = compact_client([])
        await store.add_items([reasoning])
        session = OpenAIResponsesCompactionSession(
            "reasoning-filter", store, client=client, compaction_mode="input", should_trigger_compaction=lambda _: True
        )
        model = ScriptedModel(steps=[[get_text_message("done")]])
        await run(
            Agent(name="worker", model=model),
            "filtered",
            session,
            False,
            RunConfig(
                reasoning_item_id_policy="omit" if omit_policy else None, call_model_input_filter=change_reasoning
            ),
        )
        assert "id" not in model.calls[0].input[0]
        # upstream (SimpleListSession): compact not awaited
        record(compact_calls(client))
        assert (await session.get_items())[0] == reasoning
        record(await session.get_items())

    await same_as_sqlite(sessions_backend, body)


# upstream: test_omit_policy_preserves_model_visible_reasoning_ids
@pytest.mark.parametrize("restore_history_id", [False, True])
async def test_omit_policy_preserves_model_visible_reasoning_ids(
    sessions_backend: Any, restore_history_id: bool
) -> None:
    streamed = streamed_for(sessions_backend)
    backend = new_store(sessions_backend)
    client = compact_client([])
    decisions: list[list[Any]] = []

    def approve(context: dict[str, Any]) -> bool:
        decisions.append(context["session_items"])
        return True

    session = OpenAIResponsesCompactionSession(
        backend.session_id, backend, client=client, compaction_mode="input", should_trigger_compaction=approve
    )

    def restore_id(data: CallModelData[Any]) -> ModelInputData:
        items = [dict(item) for item in data.model_data.input]
        items[0]["id"] = "rs_stored"
        return ModelInputData(input=cast(list[Any], items), instructions=data.model_data.instructions)

    model = ScriptedModel(steps=[[get_text_message("done")]])
    await session.add_items([cast(TResponseInputItem, {"type": "reasoning", "id": "rs_stored", "summary": []})])
    await run(
        Agent(name="worker", model=model),
        [{"type": "reasoning", "id": "rs_caller", "summary": []}, {"role": "user", "content": "continue"}],
        session,
        streamed,
        RunConfig(
            reasoning_item_id_policy="omit",
            session_input_callback=lambda history, new: history + new,
            call_model_input_filter=restore_id if restore_history_id else None,
        ),
    )
    sent_reasoning = [item for item in model.calls[0].input if item.get("type") == "reasoning"]
    assert sent_reasoning[0].get("id") == ("rs_stored" if restore_history_id else None)
    assert sent_reasoning[1].get("id") == "rs_caller"
    client.responses.compact.assert_awaited_once()
    compact_reasoning = [
        item for item in client.responses.compact.call_args.kwargs["input"] if item.get("type") == "reasoning"
    ]
    assert compact_reasoning == sent_reasoning
    assert [item for item in decisions[-1] if item.get("type") == "reasoning"] == sent_reasoning
    assert await backend.get_items() == []


# --- expiry (EncryptedSession's ttl over the store: the snapshot's prune_prefix) ---------------------------------
# Upstream's `outer` parameter (EncryptedSession outside or inside OpenAIResponsesCompactionSession): inside
# in-process, outside over the dev server (both covered, not doubled).


def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    clock = [1000]
    monkeypatch.setattr("cryptography.fernet.time.time", lambda: clock[0])
    return clock


def encrypted_compaction(
    name: str, backend: Any, client: Any, outer: bool, *, ttl: int | None = 10, **options: Any
) -> SessionABC:
    from agents.extensions.memory.encrypt_session import EncryptedSession

    keys: dict[str, Any] = {"encryption_key": "synthetic-key"}
    if ttl is not None:
        keys["ttl"] = ttl
    if outer:
        return EncryptedSession(name, OpenAIResponsesCompactionSession(name, backend, client=client, **options), **keys)
    return OpenAIResponsesCompactionSession(name, EncryptedSession(name, backend, **keys), client=client, **options)


def live_items(count: int = 20) -> list[Any]:
    return [{"role": "assistant" if i % 2 else "user", "content": f"live {i}"} for i in range(count)]


# upstream: test_expired_prefix_does_not_block_full_live_window (streamed: upstream's async-sqlite variant)
@pytest.mark.parametrize("expired_count", [1, 40])
async def test_expired_prefix_does_not_block_full_live_window(
    sessions_backend: Any, expired_count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = streamed = streamed_for(sessions_backend)
    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    client = compact_client([])
    session = encrypted_compaction("suffix", backend, client, outer)
    await session.add_items([{"role": "user", "content": "expired"}] * expired_count)
    clock[0] += 11
    await session.add_items(live_items())
    agent = Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]]))
    await run(agent, "continue", session, streamed, RunConfig())
    client.responses.compact.assert_awaited_once()
    assert "expired" not in str(client.responses.compact.call_args.kwargs)
    if expired_count > 1:
        # Auto mode must scope the request to the suffix, not the whole response chain.
        assert len(client.responses.compact.call_args.kwargs["input"]) == 22
    remaining = await backend.get_items(limit=100)
    assert remaining == []
    assert await stored_items(backend) == []


# upstream: test_failed_encrypted_suffix_transaction_preserves_original_tokens
async def test_failed_encrypted_suffix_transaction_preserves_original_tokens(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = streamed_for(sessions_backend)
    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    client = MagicMock()
    session = encrypted_compaction(
        "suffix", backend, client, outer, compaction_mode="input", should_trigger_compaction=lambda _: True
    )
    await session.add_items([{"role": "user", "content": "expired"}] * 4)
    clock[0] += 11
    await session.add_items([{"role": "user", "content": str(i)} for i in range(4)])
    saved: list[Any] = []
    append_events = backend.client.append_events
    reject = False

    async def reject_all(session_id: str, events: Any, **kwargs: Any) -> Any:
        if reject:
            raise errors.TransportError("synthetic insert failure")
        return await append_events(session_id, events, **kwargs)

    monkeypatch.setattr(backend.client, "append_events", reject_all)

    async def compact(**kwargs: Any) -> Any:
        nonlocal reject
        saved.extend(await backend.get_items(limit=100))
        reject = True
        return SimpleNamespace(output=[{"type": "compaction", "id": "cmp", "encrypted_content": "synthetic-summary"}])

    client.responses.compact = AsyncMock(side_effect=compact)
    with pytest.raises(errors.TransportError, match="synthetic insert failure"):
        await Runner.run(
            Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]])),
            "continue",
            session=session,
            run_config=RunConfig(session_settings={"limit": 1}),
        )
    assert len(saved) == 10
    assert await backend.get_items(limit=100) == saved


# upstream: test_repeated_ttl_bursts_do_not_accumulate_expired_rows
async def test_repeated_ttl_bursts_do_not_accumulate_expired_rows(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = streamed_for(sessions_backend)
    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    client = compact_client([])
    session = encrypted_compaction("suffix", backend, client, outer)
    model = ScriptedModel(steps=[[get_text_message("done")] for _ in range(20)])
    agent = Agent(name="worker", model=model)
    for cycle in range(2):
        for _ in range(3):
            for _ in range(3):
                await Runner.run(agent, "below threshold", session=session)
            clock[0] += 11
        assert client.responses.compact.await_count == cycle
        await session.add_items(live_items())
        await Runner.run(agent, "cross threshold", session=session)
        assert client.responses.compact.await_count == cycle + 1
        assert await backend.get_items(limit=100) == []


# upstream: test_prefix_cleanup_stops_before_retained_history
@pytest.mark.parametrize("untrusted", [False, True], ids=["live", "wrong-key"])
async def test_prefix_cleanup_stops_before_retained_history(
    sessions_backend: Any, untrusted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.extensions.memory.encrypt_session import EncryptedSession

    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    encrypted = EncryptedSession("suffix", backend, encryption_key="synthetic-key", ttl=10)
    await encrypted.add_items([{"role": "user", "content": "expired"}] * 40)
    retained: list[Any] = []
    if untrusted:
        other = EncryptedSession("suffix", backend, encryption_key="other-synthetic-key", ttl=10)
        await other.add_items([{"role": "user", "content": "unknown key"}])
        retained.extend(await backend.get_items(limit=1))
    clock[0] += 11
    await encrypted.add_items([{"role": "user", "content": "retained live"}] * 2)
    retained.extend(await backend.get_items(limit=2))
    await encrypted.add_items(live_items())
    # Fernet accepts a token exactly at its TTL boundary; cleanup must do so too.
    clock[0] += 10
    client = compact_client([])
    session = OpenAIResponsesCompactionSession("suffix", encrypted, client=client)
    await Runner.run(
        Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]])),
        "cross threshold",
        session=session,
    )
    client.responses.compact.assert_awaited_once()
    assert "retained live" not in str(client.responses.compact.call_args.kwargs)
    assert await backend.get_items(limit=100) == retained
    assert await stored_items(backend) == retained


# upstream: test_unverifiable_rows_inside_snapshot_are_retained
@pytest.mark.parametrize("interspersed", [False, True], ids=["prefix", "interspersed"])
async def test_unverifiable_rows_inside_snapshot_are_retained(sessions_backend: Any, interspersed: bool) -> None:
    from agents.extensions.memory.encrypt_session import EncryptedSession

    outer = streamed_for(sessions_backend)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    client = compact_client([])
    session = encrypted_compaction("suffix", backend, client, outer, ttl=None, should_trigger_compaction=lambda _: True)
    if interspersed:
        await session.add_items([{"role": "user", "content": "earlier visible history"}])
    other = EncryptedSession("suffix", backend, encryption_key="other-synthetic-key")
    await other.add_items([{"role": "user", "content": "retained under another key"}])
    retained = await backend.get_items(limit=100)
    reply = get_text_message("done")
    await Runner.run(Agent(name="worker", model=ScriptedModel(steps=[[reply]])), "continue", session=session)
    client.responses.compact.assert_awaited_once()
    assert await backend.get_items(limit=100) == retained
    assert client.responses.compact.call_args.kwargs["input"] == [
        {"role": "user", "content": "continue"},
        reply.model_dump(exclude_unset=True),
    ]


# upstream: test_encrypted_prefix_cleanup_is_atomic (test_sqlalchemy_compaction.py)
@pytest.mark.parametrize("reject_insert", [False, True])
async def test_encrypted_prefix_cleanup_is_atomic(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch, reject_insert: bool
) -> None:
    outer = streamed_for(sessions_backend)
    now = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    summary = {"type": "compaction", "id": "cmp", "encrypted_content": "synthetic-summary"}
    client = compact_client([summary])
    session = encrypted_compaction("bounded", backend, client, outer)
    await session.add_items([{"role": "user", "content": "expired"}] * 40)
    now[0] += 11
    await session.add_items(live_items())
    stored_before = await backend.get_items(limit=100)
    compacting = False

    async def compact(**kwargs: Any) -> Any:
        nonlocal compacting
        compacting = True
        return SimpleNamespace(output=[summary])

    client.responses.compact.side_effect = compact
    append_events = backend.client.append_events

    async def fail_insert(session_id: str, events: Any, **kwargs: Any) -> Any:
        if reject_insert and compacting:
            raise RuntimeError("synthetic summary insertion failure")
        return await append_events(session_id, events, **kwargs)

    monkeypatch.setattr(backend.client, "append_events", fail_insert)
    agent = Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]]))
    if reject_insert:
        with pytest.raises(RuntimeError, match="synthetic summary insertion failure"):
            await Runner.run(agent, "continue", session=session)
        stored_after = await backend.get_items(limit=100)
        assert stored_after[:60] == stored_before
        assert len(stored_after) == 62
    else:
        await Runner.run(agent, "continue", session=session)
        assert len(await backend.get_items(limit=100)) == 1
        assert await session.get_items() == [summary]
    client.responses.compact.assert_awaited_once()
    assert "expired" not in str(client.responses.compact.call_args.kwargs)


# upstream: test_encrypted_unknown_row_is_retained (test_sqlalchemy_compaction.py)
async def test_encrypted_unknown_row_is_retained(sessions_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.extensions.memory.encrypt_session import EncryptedSession

    now = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings=SUFFIX_SETTINGS)
    encrypted = EncryptedSession("bounded", backend, encryption_key="synthetic-key", ttl=10)
    wrong_key = EncryptedSession("bounded", backend, encryption_key="other-synthetic-key", ttl=10)
    await encrypted.add_items([{"role": "user", "content": "expired"}] * 40)
    await wrong_key.add_items([{"role": "user", "content": "unverifiable"}])
    retained = (await backend.get_items(limit=100))[-1]
    now[0] += 11
    await encrypted.add_items(live_items())
    client = compact_client([])
    session = OpenAIResponsesCompactionSession("bounded", encrypted, client=client)
    await Runner.run(
        Agent(name="worker", model=ScriptedModel(steps=[[get_text_message("done")]])), "continue", session=session
    )
    client.responses.compact.assert_awaited_once()
    assert await backend.get_items(limit=100) == [retained]


# upstream: test_manual_compaction_refreshes_expired_encrypted_history
async def test_manual_compaction_refreshes_expired_encrypted_history(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = streamed_for(sessions_backend)
    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend)
    # Echo the request so stale input would also be written back with a fresh TTL.
    client = compact_client(side_effect=lambda **kwargs: SimpleNamespace(output=kwargs["input"]))
    session = encrypted_compaction(
        "manual-expiry", backend, client, outer, compaction_mode="input", should_trigger_compaction=lambda _: False
    )
    await session.add_items([{"role": "assistant", "content": "synthetic expired item"}])
    await session.run_compaction()  # type: ignore[attr-defined]  # A declined policy check can populate the cache.
    client.responses.compact.assert_not_awaited()

    clock[0] += 11
    assert await session.get_items() == []
    await session.run_compaction({"force": True})  # type: ignore[attr-defined]
    client.responses.compact.assert_awaited_once_with(model="gpt-4.1", input=[])
    assert await session.get_items() == []

    live: TResponseInputItem = {"role": "user", "content": "synthetic live item"}
    await session.add_items([live])
    await session.run_compaction({"force": True})  # type: ignore[attr-defined]
    assert client.responses.compact.call_args.kwargs["input"] == [live]
    assert await session.get_items() == [live]


# upstream: test_automatic_compaction_recovers_after_encrypted_history_expires
@pytest.mark.parametrize("limited_default", [False, True])
async def test_automatic_compaction_recovers_after_encrypted_history_expires(
    sessions_backend: Any, limited_default: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = streamed = streamed_for(sessions_backend)
    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings={"limit": 20} if limited_default else None)
    client = compact_client([])
    session = encrypted_compaction("expiry", backend, client, outer, compaction_mode="input")
    model = ScriptedModel(steps=[[get_text_message("ok")] for _ in range(15)])
    agent = Agent(name="worker", model=model)
    config = RunConfig(session_settings={"limit": 100}) if limited_default else None
    await session.add_items([{"role": "user", "content": "expired request"}])
    clock[0] += 11
    for index in range(15):
        await run(agent, f"turn {index}", session, streamed, config)
    client.responses.compact.assert_awaited_once()
    assert len(client.responses.compact.call_args.kwargs["input"]) == 20
    assert "expired request" not in str(client.responses.compact.call_args.kwargs["input"])
    assert len(await backend.get_items(limit=100)) == 10


# upstream: test_expired_read_overhead_does_not_authorize_hidden_history
async def test_expired_read_overhead_does_not_authorize_hidden_history(
    sessions_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = streamed_for(sessions_backend)
    clock = frozen_clock(monkeypatch)
    backend = new_store(sessions_backend, session_settings={"limit": 1})
    client = compact_client([])
    session = encrypted_compaction(
        backend.session_id,
        backend,
        client,
        outer,
        compaction_mode="input",
        should_trigger_compaction=lambda _: True,
    )

    def hide_history(data: CallModelData[Any]) -> ModelInputData:
        return ModelInputData(
            input=[item for item in data.model_data.input if item.get("content") != LOCAL_OUTPUT]
            + [{"role": "user", "content": "model-only context"}],
            instructions=data.model_data.instructions,
        )

    model = ScriptedModel(steps=[[get_text_message("ok")] for _ in range(3)])
    agent = Agent(name="worker", model=model)
    await session.add_items([{"role": "user", "content": "expired"}] * 10)
    clock[0] += 11
    await session.add_items([{"role": "user", "content": LOCAL_OUTPUT}])
    await run(
        agent,
        "filtered",
        session,
        False,
        RunConfig(session_settings={"limit": 100}, call_model_input_filter=hide_history),
    )
    client.responses.compact.assert_awaited_once()
    assert LOCAL_OUTPUT not in str(model.calls[0].input)
    assert LOCAL_OUTPUT not in str(client.responses.compact.call_args.kwargs["input"])
    assert len(await backend.get_items(limit=100)) == 1
    assert LOCAL_OUTPUT in str(await session.get_items(limit=100))

    read = AsyncMock(wraps=backend.get_items)
    backend.get_items = read  # type: ignore[method-assign]
    await run(agent, "bounded", session, False, RunConfig(call_model_input_filter=hide_history))
    # The previous full read's overhead is not carried into a new bounded turn.
    limits = [call.kwargs.get("limit", call.args[0] if call.args else None) for call in read.call_args_list]
    assert all(limit is None or limit <= 4 for limit in limits)
    assert client.responses.compact.await_count == 2
    assert LOCAL_OUTPUT not in str(client.responses.compact.call_args.kwargs["input"])
    await run(agent, "visible", session, False, RunConfig(session_settings={"limit": 100}))
    assert client.responses.compact.await_count == 3
    assert LOCAL_OUTPUT in str(client.responses.compact.call_args.kwargs["input"])
    assert await session.get_items(limit=100) == []

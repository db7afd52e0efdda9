"""The LangGraph checkpointers against the service, in-process over moto and over HTTP (dev server).

What a checkpointer owes beyond the conformance suite (test_langgraph_conformance.py): assertions
ported from langgraph-checkpoint 4.3.2's tests/test_memory.py (metadata merged from the config,
search by metadata across threads, the DeltaChannel ancestor walk through the public interface) and
from langgraph 1.2.24's graph tests that run with a checkpointer (state kept across invocations,
`get_state_history`, `update_state`, `interrupt` and `Command(resume=...)`, replay from a
`checkpoint_id`, subgraph namespaces), each run on both savers and compared with InMemorySaver.
Then how a thread lives on the service: a session of its user, isolated, large values.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    Checkpoint,
    CheckpointMetadata,
    create_checkpoint,
    empty_checkpoint,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from sessions_client import errors
from sessions_client.adapters.langgraph import AsyncSessionsSaver, SessionsSaver, thread_session_id

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["async", "sync"])
async def saver(request: pytest.FixtureRequest, langgraph_backend: Any) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Either saver, on a `service` client acting for a fresh user (the async interface: graphs use it)."""
    identity = langgraph_backend.identity(roles=("service",))
    user = f"lg-{uuid.uuid4().hex[:12]}"
    if request.param == "async":
        client = langgraph_backend.async_client(identity=identity, user_id=user)
        yield AsyncSessionsSaver(client)
        await client.aclose()
    else:
        yield SessionsSaver(langgraph_backend.client(identity=identity, user_id=user))


def thread(thread_id: str | None = None) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id or str(uuid.uuid4())}}


# --- ported from langgraph-checkpoint's tests/test_memory.py -----------------------------------------


def memory_fixtures() -> tuple[list[tuple[RunnableConfig, Checkpoint, CheckpointMetadata]], RunnableConfig]:
    """test_memory.py's setup: two threads, a child namespace, metadata with custom keys."""
    config_1: RunnableConfig = {"configurable": {"thread_id": "thread-1", "checkpoint_ns": "", "checkpoint_id": "1"}}
    config_2: RunnableConfig = {"configurable": {"thread_id": "thread-2", "checkpoint_ns": "", "checkpoint_id": "2"}}
    config_3: RunnableConfig = {
        "configurable": {"thread_id": "thread-2", "checkpoint_id": "2-inner", "checkpoint_ns": "inner"}
    }
    chkpnt_1 = empty_checkpoint()
    chkpnt_2 = create_checkpoint(chkpnt_1, {}, 1)
    chkpnt_3 = empty_checkpoint()
    metadata_1: CheckpointMetadata = {"source": "input", "step": 2, "writes": {}, "score": 1}  # type: ignore[typeddict-unknown-key]
    metadata_2: CheckpointMetadata = {"source": "loop", "step": 1, "writes": {"foo": "bar"}, "score": None}  # type: ignore[typeddict-unknown-key]
    metadata_3: CheckpointMetadata = {}
    puts = [(config_1, chkpnt_1, metadata_1), (config_2, chkpnt_2, metadata_2), (config_3, chkpnt_3, metadata_3)]
    return puts, config_2


async def test_combined_metadata(saver: BaseCheckpointSaver[str]) -> None:
    puts, _ = memory_fixtures()
    _, chkpnt_2, metadata_2 = puts[1]
    config: RunnableConfig = {
        "configurable": {"thread_id": "thread-2", "checkpoint_ns": "", "__super_private_key": "super_private_value"},
        "metadata": {"run_id": "my_run_id"},
    }
    await saver.aput(config, chkpnt_2, metadata_2, chkpnt_2["channel_versions"])
    checkpoint = await saver.aget_tuple(config)
    assert checkpoint is not None
    assert checkpoint.metadata == {**metadata_2, "run_id": "my_run_id"}


async def test_search(saver: BaseCheckpointSaver[str]) -> None:
    puts, _ = memory_fixtures()
    for config, checkpoint, metadata in puts:
        await saver.aput(config, checkpoint, metadata, checkpoint["channel_versions"])

    async def search(config: RunnableConfig | None, query: dict[str, Any]) -> list[Any]:
        return [found async for found in saver.alist(config, filter=query)]

    found_1 = await search(None, {"source": "input"})  # by one key
    assert [found.metadata for found in found_1] == [puts[0][2]]
    found_2 = await search(None, {"step": 1, "writes": {"foo": "bar"}})  # by several keys
    assert [found.metadata for found in found_2] == [puts[1][2]]
    assert len(await search(None, {})) == 3  # every checkpoint of the user
    assert await search(None, {"source": "update", "step": 1}) == []  # no match
    # by config: every namespace of the thread
    by_thread = await search({"configurable": {"thread_id": "thread-2"}}, {})
    assert {found.config["configurable"]["checkpoint_ns"] for found in by_thread} == {"", "inner"}
    assert len(by_thread) == 2


async def test_search_by_standard_keys_is_exact(saver: BaseCheckpointSaver[str]) -> None:
    """The keys asked of the server (source, step, run_id) match as Python's == does, nothing more."""
    config = thread()
    config["configurable"]["checkpoint_ns"] = ""
    for step, run_id in [(1, "1"), (2, "x" * 600), (3, "y" * 600), (4, "json:4")]:
        await saver.aput(config, empty_checkpoint(), {"source": "loop", "step": step, "run_id": run_id}, {})  # type: ignore[typeddict-unknown-key]

    async def steps(query: dict[str, Any]) -> list[int]:
        return [found.metadata["step"] async for found in saver.alist(config, filter=query)]

    assert await steps({"step": 1}) == [1]
    assert await steps({"step": 1.0}) == [1]  # 1.0 == 1
    assert await steps({"step": "1"}) == []  # a string is not a number
    assert await steps({"run_id": "1"}) == [1]
    assert await steps({"run_id": 1}) == []
    assert await steps({"run_id": "x" * 600}) == [2]  # long values compare by digest
    assert await steps({"run_id": "json:4"}) == [4]  # a string that looks encoded is still itself
    assert await steps({"source": "loop", "step": 3}) == [3]


async def test_delta_history_without_checkpoint_id_reads_the_latest(saver: BaseCheckpointSaver[str]) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    parent = await saver.aput(config, empty_checkpoint(), {}, {})
    await saver.aput_writes(parent, [("messages", "hi")], "task1")
    await saver.aput(parent, empty_checkpoint(), {}, {})
    result = await saver.aget_delta_channel_history(config=config, channels=["messages"])
    assert result == {"messages": {"writes": [("task1", "messages", "hi")]}}


async def test_delta_history_collects_ancestor_writes_only(saver: BaseCheckpointSaver[str]) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    first = await saver.aput(config, empty_checkpoint(), {}, {})
    await saver.aput_writes(first, [("messages", {"content": "hi"})], "task1")
    second = await saver.aput(first, empty_checkpoint(), {}, {})
    await saver.aput_writes(second, [("messages", {"content": "pending"})], "task2")  # pending: not history
    result = (await saver.aget_delta_channel_history(config=second, channels=["messages"]))["messages"]
    assert "seed" not in result
    assert [value for _, _, value in result["writes"]] == [{"content": "hi"}]
    root = (await saver.aget_delta_channel_history(config=first, channels=["messages"]))["messages"]
    assert root == {"writes": []}


# --- graphs: ported from langgraph's checkpointer tests, compared with InMemorySaver ------------------


class State(TypedDict):
    items: Annotated[list[str], operator.add]
    count: int


def counting_graph(checkpointer: BaseCheckpointSaver[str]) -> Any:
    def add(state: State) -> dict[str, Any]:
        return {"items": [f"a{state['count']}"], "count": state["count"] + 1}

    def double(state: State) -> dict[str, Any]:
        return {"items": ["b"], "count": state["count"] * 2}

    builder = StateGraph(State)
    builder.add_node("add", add)
    builder.add_node("double", double)
    builder.add_edge(START, "add")
    builder.add_edge("add", "double")
    builder.add_edge("double", END)
    return builder.compile(checkpointer=checkpointer)


def approval_graph(checkpointer: BaseCheckpointSaver[str]) -> Any:
    def ask(state: State) -> dict[str, Any]:
        answer = interrupt({"question": "approve?", "count": state["count"]})
        return {"items": [f"answer:{answer}"]}

    def finish(state: State) -> dict[str, Any]:
        return {"count": state["count"] + 100}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_node("finish", finish)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


def nested_graph(checkpointer: BaseCheckpointSaver[str]) -> Any:
    def inner_step(state: State) -> dict[str, Any]:
        answer = interrupt("inner?")
        return {"items": [f"inner:{answer}"]}

    inner = StateGraph(State)
    inner.add_node("inner_step", inner_step)
    inner.add_edge(START, "inner_step")
    inner_graph = inner.compile()

    outer = StateGraph(State)
    outer.add_node("before", lambda state: {"items": ["before"]})
    outer.add_node("sub", inner_graph)
    outer.add_edge(START, "before")
    outer.add_edge("before", "sub")
    outer.add_edge("sub", END)
    return outer.compile(checkpointer=checkpointer)


def snapshot(state: Any) -> tuple[Any, ...]:
    """What a StateSnapshot says, without the ids and times that differ from run to run."""
    return (
        state.values,
        state.next,
        state.metadata.get("source") if state.metadata else None,
        state.metadata.get("step") if state.metadata else None,
        [(task.name, [item.value for item in task.interrupts]) for task in state.tasks],
        state.parent_config is not None,
    )


async def history(graph: Any, config: RunnableConfig) -> list[tuple[Any, ...]]:
    return [snapshot(state) async for state in graph.aget_state_history(config)]


Scenario = Callable[[BaseCheckpointSaver[str]], Any]


async def run_counting(checkpointer: BaseCheckpointSaver[str]) -> list[Any]:
    graph = counting_graph(checkpointer)
    config = thread()
    results = [await graph.ainvoke({"items": [], "count": 1}, config)]
    results.append(await graph.ainvoke({"items": ["again"], "count": 5}, config))  # state kept across invocations
    results.append(snapshot(await graph.aget_state(config)))
    results.append(await history(graph, config))
    return results


async def run_approval(checkpointer: BaseCheckpointSaver[str]) -> list[Any]:
    graph = approval_graph(checkpointer)
    config = thread()
    first = await graph.ainvoke({"items": [], "count": 3}, config)
    results: list[Any] = [first["__interrupt__"][0].value, snapshot(await graph.aget_state(config))]
    results.append(await graph.ainvoke(Command(resume="yes"), config))
    results.append(await history(graph, config))
    return results


async def run_update_state(checkpointer: BaseCheckpointSaver[str]) -> list[Any]:
    graph = counting_graph(checkpointer)
    config = thread()
    await graph.ainvoke({"items": [], "count": 1}, config)
    updated = await graph.aupdate_state(config, {"items": ["manual"], "count": 40}, as_node="double")
    results = [snapshot(await graph.aget_state(config)), snapshot(await graph.aget_state(updated))]
    results.append(await history(graph, config))
    return results


async def run_time_travel(checkpointer: BaseCheckpointSaver[str]) -> list[Any]:
    graph = counting_graph(checkpointer)
    config = thread()
    await graph.ainvoke({"items": [], "count": 1}, config)
    states = [state async for state in graph.aget_state_history(config)]
    before_double = next(state for state in states if state.next == ("double",))
    replayed = await graph.ainvoke(None, before_double.config)  # replay from a checkpoint_id
    forked_config = await graph.aupdate_state(before_double.config, {"count": 1000})  # a branch of it
    forked = await graph.ainvoke(None, forked_config)
    return [replayed, forked, snapshot(await graph.aget_state(config)), await history(graph, config)]


async def run_subgraph(checkpointer: BaseCheckpointSaver[str]) -> list[Any]:
    graph = nested_graph(checkpointer)
    config = thread()
    first = await graph.ainvoke({"items": [], "count": 0}, config)
    state = await graph.aget_state(config, subgraphs=True)
    sub_state = state.tasks[0].state
    results: list[Any] = [
        first["__interrupt__"][0].value,
        snapshot(state),
        snapshot(sub_state),
        sub_state.config["configurable"]["checkpoint_ns"].split(":")[0],
    ]
    results.append(await graph.ainvoke(Command(resume="ok"), config))
    results.append(await history(graph, config))
    return results


@pytest.mark.parametrize(
    "scenario", [run_counting, run_approval, run_update_state, run_time_travel, run_subgraph], ids=lambda s: s.__name__
)
async def test_graph_runs_as_on_in_memory_saver(saver: BaseCheckpointSaver[str], scenario: Scenario) -> None:
    """The same graph, run with InMemorySaver and with the saver: the same answers, states and histories."""
    expected = await scenario(InMemorySaver())
    assert await scenario(saver) == expected


async def test_state_kept_across_invocations_and_saver_instances(
    saver: BaseCheckpointSaver[str], langgraph_backend: Any
) -> None:
    graph = counting_graph(saver)
    config = thread()
    assert await graph.ainvoke({"items": [], "count": 1}, config) == {"items": ["a1", "b"], "count": 4}
    # a new saver on a new client of the same user reads the same thread
    client = saver.client
    if isinstance(saver, AsyncSessionsSaver):
        other: BaseCheckpointSaver[str] = AsyncSessionsSaver(
            langgraph_backend.async_client(identity=client.identity, user_id=client.user_id)
        )
    else:
        other = SessionsSaver(langgraph_backend.client(identity=client.identity, user_id=client.user_id))
    again = counting_graph(other)
    assert await again.ainvoke({"items": ["x"], "count": 2}, config) == {
        "items": ["a1", "b", "x", "a2", "b"],
        "count": 6,
    }
    assert len([state async for state in again.aget_state_history(config)]) == 8


# --- how a thread lives on the service ---------------------------------------------------------------


async def test_a_thread_is_a_session_of_its_user(langgraph_backend: Any) -> None:
    user = f"lg-{uuid.uuid4().hex[:12]}"
    service = langgraph_backend.async_client(identity=langgraph_backend.identity(roles=("service",)), user_id=user)
    saver = AsyncSessionsSaver(service, app_name="graphs", ttl_seconds=3600)
    await counting_graph(saver).ainvoke({"items": [], "count": 1}, thread("t-1"))
    owner = langgraph_backend.async_client(identity=langgraph_backend.identity(user=user))
    listed = [session async for session in owner.iter_sessions(session_type="langgraph")]
    assert [session.session_id for session in listed] == [thread_session_id(user, "t-1")]
    session = listed[0]
    assert (session.user_id, session.app_name, session.metadata["langgraph_thread_id"]) == (user, "graphs", "t-1")
    events = [event async for event in owner.iter_history(session.session_id, include_payload=True)]
    assert {event.type for event in events} == {"langgraph.checkpoint", "langgraph.writes"}
    assert all(event.metadata and event.metadata["langgraph_ns"] == "" for event in events)
    stats = await owner.get_stats()
    assert stats.sessions.active == 1 and stats.events_total == len(events)


async def test_threads_are_isolated_by_user_and_tenant(langgraph_backend: Any) -> None:
    def saver_for(user: str, tenant: str | None = None) -> AsyncSessionsSaver:
        identity = langgraph_backend.identity(roles=("service",), tenant=tenant)
        return AsyncSessionsSaver(langgraph_backend.async_client(identity=identity, user_id=user))

    alice, bob, elsewhere = saver_for("alice"), saver_for("bob"), saver_for("alice", tenant=f"t-{uuid.uuid4().hex[:8]}")
    await counting_graph(alice).ainvoke({"items": [], "count": 1}, thread("shared-name"))
    for stranger in (bob, elsewhere):
        assert await stranger.aget_tuple(thread("shared-name")) is None
        assert [found async for found in stranger.alist(None)] == []
    assert await counting_graph(bob).ainvoke({"items": [], "count": 10}, thread("shared-name")) == {
        "items": ["a10", "b"],
        "count": 22,
    }
    assert (await alice.aget_tuple(thread("shared-name"))).checkpoint["channel_values"]["count"] == 4  # type: ignore[union-attr]


async def test_delete_thread_then_reuse_it(saver: BaseCheckpointSaver[str]) -> None:
    graph = counting_graph(saver)
    config = thread()
    await graph.ainvoke({"items": [], "count": 1}, config)
    await saver.adelete_thread(config["configurable"]["thread_id"])
    assert await saver.aget_tuple(config) is None
    assert await graph.ainvoke({"items": [], "count": 2}, config) == {"items": ["a2", "b"], "count": 6}


async def test_a_channel_value_of_12_mib(saver: BaseCheckpointSaver[str]) -> None:
    """Values past the service's event limit are cut into parts, each stored by the large-event path (S3)."""
    big = "x" * (12 * 2**20)
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4()), "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"big": big, "small": 1}
    checkpoint["channel_versions"] = {"big": "1", "small": "1"}
    stored = await saver.aput(config, checkpoint, {"source": "input", "step": -1}, {"big": "1", "small": "1"})
    await saver.aput_writes(stored, [("big", big + "!")], "task-1")
    found = await saver.aget_tuple(config)
    assert found is not None
    assert found.checkpoint["channel_values"] == {"big": big, "small": 1}
    assert found.pending_writes == [("task-1", "big", big + "!")]
    listed = [item async for item in saver.alist(config)]
    assert [item.checkpoint["channel_values"]["big"] == big for item in listed] == [True]


async def test_a_failed_put_leaves_no_parts(langgraph_backend: Any) -> None:
    """A record cut into parts whose last append is refused takes its parts back out."""
    user = f"lg-{uuid.uuid4().hex[:12]}"
    client = langgraph_backend.async_client(identity=langgraph_backend.identity(roles=("service",)), user_id=user)
    saver = AsyncSessionsSaver(client)
    config: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    first = await saver.aput(config, empty_checkpoint(), {}, {})
    session_id = thread_session_id(user, "t")
    await client.update_session(session_id, status="completed")  # a completed session refuses appends
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"big": "y" * (6 * 2**20)}
    checkpoint["channel_versions"] = {"big": "1"}
    with pytest.raises(errors.SessionClosed):
        await saver.aput(first, checkpoint, {}, {"big": "1"})
    events = [event async for event in client.iter_history(session_id)]
    assert [event.type for event in events] == ["langgraph.checkpoint"]


def test_sync_saver_with_a_sync_graph(langgraph_backend: Any) -> None:
    """SessionsSaver on the sync client: put, get, list, writes, delete, and a graph run with invoke."""
    client = langgraph_backend.client(
        identity=langgraph_backend.identity(roles=("service",)), user_id=f"lg-{uuid.uuid4().hex[:12]}"
    )
    saver = SessionsSaver(client)
    config: RunnableConfig = {"configurable": {"thread_id": "sync", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"k": "v"}
    checkpoint["channel_versions"] = {"k": "1"}
    stored = saver.put(config, checkpoint, {"source": "input", "step": -1}, {"k": "1"})
    saver.put_writes(stored, [("k", "w"), ("__error__", "boom")], "task")
    found = saver.get_tuple(config)
    assert found is not None and found.checkpoint["channel_values"] == {"k": "v"}
    assert found.pending_writes == [("task", "__error__", "boom"), ("task", "k", "w")]
    assert [item.config for item in saver.list(config)] == [stored]
    saver.delete_thread("sync")
    assert saver.get_tuple(config) is None and list(saver.list(config)) == []

    graph = counting_graph(saver)
    run = thread()
    assert graph.invoke({"items": [], "count": 1}, run) == {"items": ["a1", "b"], "count": 4}
    assert graph.invoke({"items": [], "count": 3}, run) == {"items": ["a1", "b", "a3", "b"], "count": 8}
    memory_graph = counting_graph(InMemorySaver())
    memory_run = thread()
    memory_graph.invoke({"items": [], "count": 1}, memory_run)
    memory_graph.invoke({"items": [], "count": 3}, memory_run)
    assert [snapshot(state) for state in graph.get_state_history(run)] == [
        snapshot(state) for state in memory_graph.get_state_history(memory_run)
    ]


async def test_async_saver_sync_calls(langgraph_backend: Any) -> None:
    """As LangGraph's async savers: sync calls from another thread run on the loop; on the loop they raise."""
    import asyncio

    client = langgraph_backend.async_client(
        identity=langgraph_backend.identity(roles=("service",)), user_id=f"lg-{uuid.uuid4().hex[:12]}"
    )
    saver = AsyncSessionsSaver(client)
    config: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    with pytest.raises(asyncio.InvalidStateError):
        saver.get_tuple(config)  # never awaited yet: no loop to run on
    stored = await saver.aput(config, empty_checkpoint(), {}, {})
    with pytest.raises(asyncio.InvalidStateError):
        saver.get_tuple(config)  # on the loop's own thread
    found = await asyncio.to_thread(saver.get_tuple, config)
    assert found is not None and found.config == stored
    listed = await asyncio.to_thread(lambda: [item.config for item in saver.list(config)])
    assert listed == [stored]

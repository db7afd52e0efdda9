"""Removing and copying checkpoints: prune, delete_for_runs, copy_thread, fork_thread, DeltaChannel safety.

Graphs with a `DeltaChannel` (LangGraph stores only deltas between snapshots and rebuilds the value
from the parent chain) carry a plain reducer channel fed the same values as an oracle, as LangGraph's
own tests/test_delta_channel_fork.py does: whatever is removed or copied, the two stay equal.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from operator import add
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import StateGraph

from sessions_client import AsyncSessionsClient
from sessions_client.adapters.langgraph import AsyncSessionsSaver, thread_session_id

pytestmark = pytest.mark.anyio


def _append(current: list[Any] | None, writes: Sequence[Any]) -> list[Any]:
    out = list(current or [])
    for write in writes:
        out.extend(write if isinstance(write, list) else [write])
    return out


class DeltaState(TypedDict):
    log: Annotated[list[str], DeltaChannel(_append, snapshot_frequency=3)]
    plain: Annotated[list[str], add]


def delta_graph(checkpointer: Any) -> Any:
    def node(state: DeltaState) -> dict[str, Any]:
        entry = f"n{len(state['plain'])}"
        return {"log": [entry], "plain": [entry]}

    builder = StateGraph(DeltaState)
    builder.add_node("n", node)
    builder.set_entry_point("n")
    builder.set_finish_point("n")
    return builder.compile(checkpointer=checkpointer)


class Owner:
    """A saver on a `service` client acting for a fresh user, and that user's own client to look at the sessions."""

    def __init__(self, backend: Any) -> None:
        self.user = f"lg-{uuid.uuid4().hex[:12]}"
        self.client: AsyncSessionsClient = backend.async_client(
            identity=backend.identity(roles=("service",)), user_id=self.user
        )
        self.saver = AsyncSessionsSaver(self.client)

    async def event_types(self, thread_id: str) -> list[str]:
        session_id = thread_session_id(self.user, thread_id)
        return [event.type async for event in self.client.iter_history(session_id)]


@pytest.fixture
async def owner(langgraph_backend: Any) -> AsyncIterator[Owner]:
    found = Owner(langgraph_backend)
    yield found
    await found.client.aclose()


def thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


async def run_delta(checkpointer: Any, thread_id: str, invokes: int = 5) -> Any:
    graph = delta_graph(checkpointer)
    for turn in range(invokes):
        await graph.ainvoke({"log": [f"in{turn}"], "plain": [f"in{turn}"]}, thread(thread_id))
    return graph


async def test_a_delta_channel_graph_runs_as_on_in_memory_saver(owner: Owner) -> None:
    ours = await run_delta(owner.saver, "t")
    memory = await run_delta(InMemorySaver(), "t")
    state = await ours.aget_state(thread("t"))
    assert state.values["log"] == state.values["plain"]
    assert state.values == (await memory.aget_state(thread("t"))).values
    ours_history = [s.values async for s in ours.aget_state_history(thread("t"))]
    assert ours_history == [s.values async for s in memory.aget_state_history(thread("t"))]


async def test_prune_keep_latest_keeps_what_delta_channels_rebuild_from(owner: Owner) -> None:
    graph = await run_delta(owner.saver, "t")
    before = (await graph.aget_state(thread("t"))).values
    count_before = len([s async for s in graph.aget_state_history(thread("t"))])
    await owner.saver.aprune(["t"], strategy="keep_latest")
    after = await graph.aget_state(thread("t"))
    assert after.values == before and after.values["log"] == after.values["plain"]
    kept = len([s async for s in graph.aget_state_history(thread("t"))])
    assert 1 <= kept < count_before  # the chain back to the last snapshot, not the whole history
    # the thread goes on from the kept checkpoint
    await graph.ainvoke({"log": ["more"], "plain": ["more"]}, thread("t"))
    final = (await graph.aget_state(thread("t"))).values
    assert final["log"] == final["plain"] == [*before["plain"], "more", f"n{len(before['plain']) + 1}"]


async def test_prune_keep_latest_without_delta_channels_keeps_one_checkpoint_and_its_parts(owner: Owner) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "big", "checkpoint_ns": ""}}
    large = empty_checkpoint()
    large["channel_values"] = {"blob": "z" * (6 * 2**20)}
    large["channel_versions"] = {"blob": "1"}
    first = await owner.saver.aput(config, large, {"step": 0}, {"blob": "1"})
    await owner.saver.aput_writes(first, [("blob", "w" * (6 * 2**20))], "task")
    latest = empty_checkpoint()
    latest["channel_values"] = {"blob": "small"}
    latest["channel_versions"] = {"blob": "2"}
    second = await owner.saver.aput(first, latest, {"step": 1}, {"blob": "2"})
    await owner.saver.aput_writes(second, [("blob", "pending")], "task")
    assert "langgraph.part" in await owner.event_types("big")
    await owner.saver.aprune(["big"], strategy="keep_latest")
    assert await owner.event_types("big") == ["langgraph.checkpoint", "langgraph.writes"]
    found = await owner.saver.aget_tuple(config)
    assert found is not None and found.config == second
    assert found.checkpoint["channel_values"] == {"blob": "small"}
    assert found.pending_writes == [("task", "blob", "pending")]


async def test_prune_delete_removes_the_threads_only(owner: Owner) -> None:
    await run_delta(owner.saver, "gone", invokes=1)
    await run_delta(owner.saver, "kept", invokes=1)
    await owner.saver.aprune(["gone", "never-existed"], strategy="delete")
    assert await owner.saver.aget_tuple(thread("gone")) is None
    assert await owner.saver.aget_tuple(thread("kept")) is not None
    with pytest.raises(ValueError, match="unknown prune strategy"):
        await owner.saver.aprune(["kept"], strategy="keep_some")


async def test_delete_for_runs_removes_those_runs_in_every_thread(owner: Owner) -> None:
    doomed, kept = str(uuid.uuid4()), str(uuid.uuid4())
    stored: dict[str, RunnableConfig] = {}
    for thread_id in ("a", "b"):
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        big = empty_checkpoint()
        big["channel_values"] = {"blob": "q" * (6 * 2**20)}
        big["channel_versions"] = {"blob": "1"}
        first = await owner.saver.aput(config, big, {"run_id": doomed, "step": 0}, {"blob": "1"})  # type: ignore[typeddict-unknown-key]
        await owner.saver.aput_writes(first, [("blob", "x")], "task")
        stored[thread_id] = await owner.saver.aput(first, empty_checkpoint(), {"run_id": kept, "step": 1}, {})  # type: ignore[typeddict-unknown-key]
    await owner.saver.adelete_for_runs([doomed])
    for thread_id in ("a", "b"):
        listed = [found async for found in owner.saver.alist(thread(thread_id))]
        assert [found.config for found in listed] == [stored[thread_id]]
        assert await owner.event_types(thread_id) == ["langgraph.checkpoint"]  # its writes and parts went too


async def test_copy_thread_forks_every_checkpoint_of_a_delta_graph(owner: Owner) -> None:
    graph = await run_delta(owner.saver, "source")
    await owner.saver.acopy_thread("source", "copy")
    source = [(s.values, s.next) async for s in graph.aget_state_history(thread("source"))]
    copied = [(s.values, s.next) async for s in graph.aget_state_history(thread("copy"))]
    assert copied == source
    summary = await owner.client.get_session(thread_session_id(owner.user, "copy"))
    assert summary.metadata["langgraph_thread_id"] == "copy" and summary.session_type == "langgraph"
    # the copy goes its own way; the source is unchanged
    await graph.ainvoke({"log": ["only-copy"], "plain": ["only-copy"]}, thread("copy"))
    assert [(s.values, s.next) async for s in graph.aget_state_history(thread("source"))] == source
    state = (await graph.aget_state(thread("copy"))).values
    assert state["log"] == state["plain"] and "only-copy" in state["plain"]
    with pytest.raises(ValueError, match="already exists"):
        await owner.saver.acopy_thread("source", "copy")


async def test_fork_thread_at_a_checkpoint_is_time_travel_on_a_branch_of_its_own(owner: Owner) -> None:
    graph = await run_delta(owner.saver, "main", invokes=3)
    history = [s async for s in graph.aget_state_history(thread("main"))]
    past = next(s for s in history if s.next == () and len(s.values["plain"]) == 4)  # after the second invoke
    config = await owner.saver.afork_thread(
        "main", "branch", checkpoint_id=past.config["configurable"]["checkpoint_id"]
    )
    assert config is not None
    branch = await graph.aget_state(thread("branch"))
    assert (
        branch.values == past.values
        and branch.config["configurable"]["checkpoint_id"] == config["configurable"]["checkpoint_id"]
    )
    await graph.ainvoke({"log": ["alt"], "plain": ["alt"]}, thread("branch"))
    values = (await graph.aget_state(thread("branch"))).values
    assert values["log"] == values["plain"] == [*past.values["plain"], "alt", "n5"]
    assert len([s async for s in graph.aget_state_history(thread("main"))]) == len(history)
    assert await owner.saver.afork_thread("main", "nowhere", checkpoint_id=str(uuid.uuid4())) is None
    assert await owner.saver.afork_thread("missing", "nowhere") is None

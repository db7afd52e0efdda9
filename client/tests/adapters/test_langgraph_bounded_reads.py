"""The LangGraph savers' reads do not grow with the thread: a checkpoint's writes are bounded by seq.

LangGraph calls put_writes(C) without waiting for put(C), so a writes event may be stored before its
checkpoint's. The saver records on C's event the lowest seq its writes may hold (a put waits for the
writes of C this instance has in flight; a put_writes waits for the put of C in flight), and reads
read back from the end of the thread down to that bound only. Here: writes that raced ahead of their
checkpoint are still found, by the saver that wrote them and by a fresh one (another process's view),
with real threads racing put and put_writes; and what get_tuple and list read (DynamoDB's
ScannedCount, in-process) is the same for a 200-checkpoint thread as for a 20-checkpoint one.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint

from local.testing import record_store_calls
from sessions_client.adapters._langgraph_core import WRITES_FROM
from sessions_client.adapters.langgraph import AsyncSessionsSaver, SessionsSaver, thread_session_id

pytestmark = pytest.mark.anyio


def _checkpoint(step: int) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = f"1ef00000-0000-6000-8000-{step:012d}"  # ids sort as they are put, as LangGraph's do
    checkpoint["channel_values"] = {"count": step}
    checkpoint["channel_versions"] = {"count": str(step + 1)}
    return checkpoint


def _config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _user() -> str:
    return f"lg-{uuid.uuid4().hex[:12]}"


def _service(backend: Any) -> Any:
    return backend.identity(roles=("service",))


def _put_step(saver: SessionsSaver, thread_id: str, step: int, *, writes_first: bool) -> str:
    """Checkpoint `step` (child of step-1) and one task's writes for it; the writes stored first when asked."""
    checkpoint = _checkpoint(step)
    parent = _config(thread_id, _checkpoint(step - 1)["id"] if step else None)
    writes = [("count", step * 10), ("__error__", f"boom {step}")]
    if writes_first:
        saver.put_writes(_config(thread_id, checkpoint["id"]), writes, f"task-{step}")
    saver.put(parent, checkpoint, {"source": "loop", "step": step}, {"count": str(step + 1)})
    if not writes_first:
        saver.put_writes(_config(thread_id, checkpoint["id"]), writes, f"task-{step}")
    return checkpoint["id"]


def _expected_writes(step: int) -> list[tuple[str, str, Any]]:
    return [(f"task-{step}", "__error__", f"boom {step}"), (f"task-{step}", "count", step * 10)]


def test_writes_stored_before_their_checkpoint_are_found_by_every_reader(langgraph_backend: Any) -> None:
    """put_writes(C) completes before put(C) is called: get_tuple (latest, by id) and list still find them."""
    user = _user()
    writer = SessionsSaver(langgraph_backend.client(identity=_service(langgraph_backend), user_id=user))
    ids = [_put_step(writer, "t", step, writes_first=step % 2 == 1) for step in range(6)]
    fresh = SessionsSaver(langgraph_backend.client(identity=_service(langgraph_backend), user_id=user))
    for reader in (writer, fresh):
        latest = reader.get_tuple(_config("t"))
        assert latest is not None and latest.config["configurable"]["checkpoint_id"] == ids[5]
        assert latest.pending_writes == _expected_writes(5)
        for step in (1, 2, 3):
            found = reader.get_tuple(_config("t", ids[step]))
            assert found is not None and found.pending_writes == _expected_writes(step), step
        listed = list(reader.list(_config("t")))
        assert [item.config["configurable"]["checkpoint_id"] for item in listed] == ids[::-1]
        assert [item.pending_writes for item in listed] == [_expected_writes(step) for step in range(5, -1, -1)]
        page = list(reader.list(_config("t"), before=_config("t", ids[4]), limit=2))
        assert [item.pending_writes for item in page] == [_expected_writes(3), _expected_writes(2)]
    # what the puts recorded: the seq of the writes that came first, else the checkpoint's own
    history = list(writer.client.iter_history(thread_session_id(user, "t"), page_size=100))
    recorded = {
        event.metadata["langgraph_checkpoint_id"]: event.metadata[WRITES_FROM]
        for event in history
        if event.type == "langgraph.checkpoint"
    }
    first_writes = {
        event.metadata["langgraph_checkpoint_id"]: str(event.seq)
        for event in reversed(history)
        if event.type == "langgraph.writes"
    }
    assert recorded == {ids[step]: first_writes[ids[step]] if step % 2 else "own" for step in range(6)}


async def test_the_async_saver_bounds_writes_that_came_first(langgraph_backend: Any) -> None:
    user = _user()
    client = langgraph_backend.async_client(identity=_service(langgraph_backend), user_id=user)
    saver = AsyncSessionsSaver(client)
    checkpoint = _checkpoint(0)
    await saver.aput_writes(_config("a", checkpoint["id"]), [("count", 1)], "early")
    await saver.aput(_config("a"), checkpoint, {}, {"count": "1"})
    await saver.aput_writes(_config("a", checkpoint["id"]), [("count", 2)], "late")
    fresh = AsyncSessionsSaver(langgraph_backend.async_client(identity=_service(langgraph_backend), user_id=user))
    for reader in (saver, fresh):
        found = await reader.aget_tuple(_config("a"))
        assert found is not None and sorted(found.pending_writes) == [("early", "count", 1), ("late", "count", 2)]
        listed = [item async for item in reader.alist(_config("a"))]
        assert [sorted(item.pending_writes) for item in listed] == [[("early", "count", 1), ("late", "count", 2)]]
    await client.aclose()


def test_put_and_put_writes_racing_on_threads_never_lose_a_write(langgraph_backend: Any) -> None:
    """As LangGraph's sync loop: put(C) and put_writes(C) from worker threads at once, for many checkpoints."""
    user = _user()
    saver = SessionsSaver(langgraph_backend.client(identity=_service(langgraph_backend), user_id=user))
    ids = []
    for step in range(8):
        checkpoint = _checkpoint(step)
        ids.append(checkpoint["id"])
        parent = _config("race", _checkpoint(step - 1)["id"] if step else None)
        start = threading.Barrier(3)

        def put(checkpoint: Checkpoint = checkpoint, parent: RunnableConfig = parent, start: Any = start) -> None:
            start.wait()
            saver.put(parent, checkpoint, {}, {"count": "1"})

        def write(task: str, checkpoint: Checkpoint = checkpoint, start: Any = start) -> None:
            start.wait()
            saver.put_writes(_config("race", checkpoint["id"]), [("count", task)], task)

        threads = [threading.Thread(target=put), *(threading.Thread(target=write, args=(t,)) for t in ("a", "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a put or put_writes never returned"
    fresh = SessionsSaver(langgraph_backend.client(identity=_service(langgraph_backend), user_id=user))
    listed = list(fresh.list(_config("race")))
    assert [item.config["configurable"]["checkpoint_id"] for item in listed] == ids[::-1]
    assert all(sorted(item.pending_writes) == [("a", "count", "a"), ("b", "count", "b")] for item in listed)
    history = list(saver.client.iter_history(thread_session_id(user, "race"), page_size=100))
    bound = {
        event.metadata["langgraph_checkpoint_id"]: event.seq
        if event.metadata[WRITES_FROM] == "own"
        else int(event.metadata[WRITES_FROM])
        for event in history
        if event.type == "langgraph.checkpoint"
    }
    for event in history:
        if event.type == "langgraph.writes":  # every write at or after the bound its checkpoint recorded
            assert event.seq >= bound[event.metadata["langgraph_checkpoint_id"]]


@pytest.fixture
def scanned(langgraph_backend: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The items each DynamoDB Query of the in-process service reads (ScannedCount: what it is charged for)."""
    return record_store_calls(monkeypatch).scanned


@pytest.mark.parametrize("langgraph_backend", ["inprocess"], indirect=True)
def test_reads_of_a_long_thread_cost_what_a_short_one_costs(langgraph_backend: Any, scanned: list[int]) -> None:
    """get_tuple (latest, a recent one by id) and a list page read as many items for 200 checkpoints as for 20."""
    saver = SessionsSaver(langgraph_backend.client(identity=_service(langgraph_backend), user_id=_user()))
    ids = {
        thread_id: [_put_step(saver, thread_id, step, writes_first=step % 2 == 1) for step in range(steps)]
        for thread_id, steps in (("short", 20), ("long", 200))
    }

    def reads(call: Any) -> int:
        scanned.clear()
        call()
        return sum(scanned)

    for thread_id in ("short", "long"):
        assert saver.get_tuple(_config(thread_id)).pending_writes == _expected_writes(len(ids[thread_id]) - 1)
    measured = {
        thread_id: (
            reads(lambda t=thread_id: saver.get_tuple(_config(t))),
            reads(lambda t=thread_id: saver.get_tuple(_config(t, ids[t][-3]))),
            reads(lambda t=thread_id: list(saver.list(_config(t), limit=3))),
        )
        for thread_id in ("short", "long")
    }
    assert measured["long"] == measured["short"], measured
    assert measured["long"][0] <= 3  # the latest: its event and its writes, one more read ahead

"""LangGraph checkpointers on the session service: `SessionsSaver` (sync) and `AsyncSessionsSaver` (async).

    from langgraph.graph import StateGraph
    from sessions_client import AsyncSessionsClient
    from sessions_client.adapters.langgraph import AsyncSessionsSaver

    saver = AsyncSessionsSaver(AsyncSessionsClient(url, token=token, user_id="user-1"))
    graph = builder.compile(checkpointer=saver)
    await graph.ainvoke(inputs, {"configurable": {"thread_id": "t1"}})

How LangGraph's model maps onto the service (client/README.md has the whole story):
- A thread is a session of the client's user (its `user_id`, else its identity's user; a `service`
  client acting for users is the normal deployment): id `lg-` + SHA-256 of [user, thread_id]
  (`thread_session_id`), `session_type` `langgraph`, `metadata.langgraph_thread_id` = the thread id
  (1 to 512 characters), `app_name` and `ttl_seconds` as given to the saver. So a thread is listed,
  counted, expired, cleaned up and isolated as every session is; its first `put` creates it.
- A checkpoint is one event `langgraph.checkpoint`: its payload holds the checkpoint and its
  metadata serialized by the saver's `serde` (typed, base64), the parent id, the namespace, and the
  value of every versioned channel at that checkpoint (each checkpoint is whole: reading one reads
  one event). Its event metadata (string pairs) holds what reads filter on, server-side:
  `langgraph_kind`, `langgraph_ns`, `langgraph_checkpoint_id`, `langgraph_parent_id`,
  `langgraph_source`, `langgraph_step`, `langgraph_run_id` (see `metadata_value` for the encoding).
- `put_writes` is one event `langgraph.writes` per call; pending writes are resolved on read as
  LangGraph's own savers keep them (first write of a (task, index) wins, a special channel's last).
  A checkpoint's event records `langgraph_writes_from`, the lowest seq its writes may hold (writes sent
  before its put landed come first: `_Flights`), and reads read the history back from its end down to
  it, a seq range, so they do not grow with the thread.
- A record (checkpoint or writes) over 5,000,000 bytes is cut into `langgraph.part` events appended
  before it (the service keeps each in S3): channel values of any size, up to the session's limits.
- `copy_thread` forks the session (O(1) on the service); `fork_thread` forks at a checkpoint.
- `delete_thread` deletes the session; `delete_for_runs` and `prune` remove selected events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, TypeVar

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol

from sessions_client import errors
from sessions_client._async import AsyncSessionsClient
from sessions_client._sync import SessionsClient
from sessions_client.adapters._langgraph_core import (
    CHECKPOINT_TYPE,
    PART_TYPE,
    SESSION_TYPE,
    THREAD_ID_KEY,
    WRITES_TYPE,
    CheckpointPlans,
    Emit,
    Plan,
    Wait,
    metadata_value,
    thread_session_id,
)

T = TypeVar("T")

# --- running plans ----------------------------------------------------------------------------------


def _advance(plan: Plan[T], reply: Any, failure: errors.SessionsError | None) -> Any:
    """The plan's next step, given the last answer or error (StopIteration when it is done)."""
    return plan.throw(failure) if failure is not None else plan.send(reply)


def _drive(client: SessionsClient, plan: Plan[T]) -> Generator[CheckpointTuple, None, T]:
    """Run a plan on the sync client: what it emits is yielded, what it returns returned.

    However the run ends (an error of another kind, a caller that stops listing), the plan is closed, so
    that what it registered as in flight (its `finally` blocks) is released.
    """
    reply: Any = None
    failure: errors.SessionsError | None = None
    with contextlib.closing(plan):
        while True:
            try:
                step = _advance(plan, reply, failure)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, failure = None, None
            if isinstance(step, Emit):
                yield step.value
                continue
            if isinstance(step, Wait):
                step.signal.wait()
                continue
            try:
                reply = getattr(client, step.method)(*step.args, **step.kwargs)
            except errors.SessionsError as error:
                failure = error


def _run(client: SessionsClient, plan: Plan[T]) -> T:
    steps = _drive(client, plan)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def _adrive(client: AsyncSessionsClient, plan: Plan[Any]) -> AsyncIterator[CheckpointTuple]:
    """Run a plan on the async client, yielding what it emits; closed however it ends (a cancellation too)."""
    reply: Any = None
    failure: errors.SessionsError | None = None
    with contextlib.closing(plan):
        while True:
            try:
                step = _advance(plan, reply, failure)
            except StopIteration:
                return
            reply, failure = None, None
            if isinstance(step, Emit):
                yield step.value
                continue
            if isinstance(step, Wait):
                await step.signal.wait()
                continue
            try:
                reply = await getattr(client, step.method)(*step.args, **step.kwargs)
            except errors.SessionsError as error:
                failure = error


async def _arun(client: AsyncSessionsClient, plan: Plan[T]) -> T:
    result: list[T] = []

    def keep(inner: Plan[T]) -> Plan[None]:
        result.append((yield from inner))

    async for _ in _adrive(client, keep(plan)):
        pass
    return result[0]


# --- the savers -------------------------------------------------------------------------------------


class SessionsSaver(CheckpointPlans):
    """A LangGraph checkpointer (`BaseCheckpointSaver`) on a `SessionsClient`.

    `client`: its user owns the threads (a `service` client with `user_id=` acts for that user).
    `app_name`, `ttl_seconds`: given to the sessions it creates. `serde`: LangGraph's serializer
    (default JsonPlusSerializer; an EncryptedSerializer encrypts everything stored).
    The async methods run the sync ones in a worker thread (`alist` collects its answer there).
    """

    client: SessionsClient

    def __init__(
        self,
        client: SessionsClient,
        *,
        app_name: str | None = None,
        ttl_seconds: int | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(client, app_name=app_name, ttl_seconds=ttl_seconds, serde=serde)

    def _signal(self) -> threading.Event:
        return threading.Event()  # plans run on the caller's thread (LangGraph's worker threads)

    def _run(self, plan: Plan[T]) -> T:
        return _run(self.client, plan)

    def _iterate(self, plan: Plan[None]) -> Iterator[CheckpointTuple]:
        return _drive(self.client, plan)

    async def _arun(self, plan: Plan[T]) -> T:
        return await asyncio.to_thread(_run, self.client, plan)

    async def _aiterate(self, plan: Plan[None]) -> AsyncIterator[CheckpointTuple]:
        for item in await asyncio.to_thread(lambda: [*_drive(self.client, plan)]):
            yield item


class AsyncSessionsSaver(CheckpointPlans):
    """A LangGraph checkpointer (`BaseCheckpointSaver`) on an `AsyncSessionsClient`.

    As `SessionsSaver`. The sync methods, as LangGraph's own async savers have them, run on the event
    loop the saver was last awaited on, from another thread (a sync graph in a worker thread); called
    on that loop's own thread they raise `asyncio.InvalidStateError` (use the async methods there).
    """

    client: AsyncSessionsClient

    def __init__(
        self,
        client: AsyncSessionsClient,
        *,
        app_name: str | None = None,
        ttl_seconds: int | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(client, app_name=app_name, ttl_seconds=ttl_seconds, serde=serde)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _signal(self) -> asyncio.Event:
        return asyncio.Event()  # plans run on the saver's event loop, its sync methods' too

    async def _arun(self, plan: Plan[T]) -> T:
        self.loop = asyncio.get_running_loop()
        return await _arun(self.client, plan)

    async def _aiterate(self, plan: Plan[None]) -> AsyncIterator[CheckpointTuple]:
        self.loop = asyncio.get_running_loop()
        async for item in _adrive(self.client, plan):
            yield item

    def _loop_for_sync_call(self) -> asyncio.AbstractEventLoop:
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is not None and current is self.loop:
            raise asyncio.InvalidStateError(
                "Synchronous calls to AsyncSessionsSaver are only allowed from a different thread. From the main"
                " thread, use the async interface. For example, use `await checkpointer.aget_tuple(...)` or"
                " `await graph.ainvoke(...)`."
            )
        if self.loop is None or not self.loop.is_running():
            raise asyncio.InvalidStateError(
                "AsyncSessionsSaver's sync methods run on the event loop it is awaited on, and none is running:"
                " use its async methods, or SessionsSaver in synchronous code."
            )
        return self.loop

    def _run(self, plan: Plan[T]) -> T:
        loop = self._loop_for_sync_call()
        return asyncio.run_coroutine_threadsafe(_arun(self.client, plan), loop).result()

    def _iterate(self, plan: Plan[None]) -> Iterator[CheckpointTuple]:
        loop = self._loop_for_sync_call()
        listed = _adrive(self.client, plan)
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(anext(listed), loop).result()  # type: ignore[arg-type]
            except StopAsyncIteration:
                return


__all__ = [
    "CHECKPOINT_TYPE",
    "PART_TYPE",
    "SESSION_TYPE",
    "THREAD_ID_KEY",
    "WRITES_TYPE",
    "AsyncSessionsSaver",
    "SessionsSaver",
    "metadata_value",
    "thread_session_id",
]

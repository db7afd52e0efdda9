"""LangGraph checkpointers on DynamoDB, side by side on moto: the service's `AsyncSessionsSaver` against
langgraph-checkpoint-aws's `DynamoDBSaver` (1.2.6), for the same graph run.

The graph: three nodes in a line (plan, act, answer), each adding a message of MESSAGE_CHARS characters
to a `messages` channel (LangGraph's `add_messages`), run `invokes` times on one thread, each run adding
the user's message first: the state grows as a conversation's does. Both checkpointers run it in one
process, on one moto account:
- ours: `AsyncSessionsSaver` on an `AsyncSessionsClient` whose transport answers in-process (the
  template's handlers and tables, local/api/inprocess.py, as the client's tests use them; the service
  keeps an event's payload over 32 KiB in S3);
- theirs: `DynamoDBSaver` on a table of the layout it needs (PK and SK strings, on demand), with an S3
  bucket for its offload of payloads over 350 KB (the bench's payloads stay below it).

Each checkpointer call goes through `Metered`, which runs one call at a time (LangGraph overlaps a step's
`put` with the next step's work: one at a time, every DynamoDB request belongs to the call that made it)
and meters it with bench/cost.py's `CostMeter` on the DynamoDB client that serves it (the service's store
client; the saver's own): calls, write units and read units as DynamoDB sizes them (a transaction's
items count twice, an index its entries; a consistent read a full unit per 4 KB, an eventually
consistent read half of one). S3 calls are counted apart.

A LangGraph step is one `put` and the `put_writes` of the tasks whose results that checkpoint records
(the calls whose config names the put's parent). Figures per step (mean, and the largest step), per
`put` and `put_writes`, per `get_tuple` the graph makes as each run starts, per `get_tuple` of an older
checkpoint by id, per `list` page as `get_state_history` pages (`limit=PAGE`, then `before=` its last),
and for the whole history. Target: ours <= theirs per step. Reads are not equal in kind: ours are
strongly consistent (ConsistentRead), theirs eventually consistent (half the read units, and a read
right after a write may miss it).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.graph import END, START, MessagesState, StateGraph
from sessions_client import AsyncSessionsClient, DevIdentity
from sessions_client.adapters.langgraph import AsyncSessionsSaver

from bench.calls import CallCounter, Stack, in_process_stack
from bench.common import ratio, table, verdict
from bench.cost import CostMeter, Shape, Usage, item_size, table_shapes, write_units
from local.api.inprocess import AsyncInProcessTransport, InProcessApi

T = TypeVar("T")

MESSAGE_CHARS = 400  # each node's message (a short model answer)
INVOKES = 10  # runs of the graph on the thread
PAGE = 10  # checkpoints per list page (get_state_history(config, limit=PAGE))
THEIR_TABLE, THEIR_BUCKET = "langgraph-checkpoints", "langgraph-checkpoints-offload"
TENANT, USER, THREAD = "bench-langgraph", "u-langgraph", "conversation-1"
CONSISTENCY = {
    "ours": "strongly consistent reads (ConsistentRead): a full read unit per 4 KB",
    "theirs": "eventually consistent reads (no ConsistentRead): half a read unit per 4 KB",
}

# --- the graph ------------------------------------------------------------------------------------


class Node:
    """A graph node: it adds one message, of MESSAGE_CHARS characters, to the conversation."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, state: MessagesState) -> dict[str, Any]:
        turn = len(state["messages"])
        return {"messages": [AIMessage(f"{self.name} {turn}: " + "x" * MESSAGE_CHARS)]}


def build_graph(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    """plan -> act -> answer."""
    builder = StateGraph(MessagesState)
    names = ("plan", "act", "answer")
    for name in names:
        builder.add_node(name, Node(name))
    builder.add_edge(START, names[0])
    for before, after in itertools.pairwise(names):
        builder.add_edge(before, after)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=checkpointer)


# --- metering every checkpointer call -------------------------------------------------------------


@dataclass
class Call:
    """One checkpointer call and what it cost."""

    operation: str  # put, put_writes, get_tuple, list
    label: str  # "graph run", or what the bench read itself
    checkpoint_id: str | None = None  # put: the checkpoint stored
    parent_id: str | None = None  # put: its parent; put_writes: the checkpoint the writes belong to
    writes: int = 0  # put_writes: how many
    answered: int = 0  # get_tuple and list: checkpoints answered
    pending_writes: int = 0  # get_tuple and list: the pending writes they came with
    usage: Usage = field(default_factory=Usage)
    s3_calls: int = 0
    requests: int = 0  # ours: HTTP requests to the service


class CountingAsyncTransport(httpx.AsyncBaseTransport):
    """Counts the requests a client sends through `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)


class Meter:
    """One side's meters, taken per checkpointer call: DynamoDB units (CostMeter), S3 calls, HTTP requests."""

    def __init__(
        self, costs: CostMeter, dynamodb: Any, s3: Any, transport: CountingAsyncTransport | None = None
    ) -> None:
        self.costs = costs
        self.costs.attach(dynamodb)
        self.counter = CallCounter()
        self.counter.attach(dynamodb, s3)
        self.transport = transport

    def reset(self) -> None:
        self.costs.take()
        self.counter.reset()
        if self.transport is not None:
            self.transport.requests = 0

    def into(self, call: Call) -> None:
        call.usage = self.costs.take()
        call.s3_calls = sum(self.counter.s3_calls.values())
        call.requests = self.transport.requests if self.transport is not None else 0
        self.reset()


def _checkpoint_id(config: Any) -> str | None:
    checkpoint_id: str | None = config["configurable"].get("checkpoint_id")
    return checkpoint_id


class Metered(BaseCheckpointSaver[Any]):
    """`saver` as LangGraph's checkpointer: its async calls one at a time, each metered into `calls`.

    One at a time, because LangGraph overlaps a step's `put` with the next step's work; so every
    DynamoDB request belongs to the call that made it. Only the async interface (the graph runs with
    `ainvoke`).
    """

    def __init__(self, saver: BaseCheckpointSaver[Any], meter: Meter) -> None:
        super().__init__(serde=saver.serde)
        self.saver = saver
        self.meter = meter
        self.calls: list[Call] = []
        self.label = "graph run"
        self._lock = asyncio.Lock()

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.saver.get_next_version(current, channel)

    async def _metered(self, call: Call, work: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:
            self.meter.reset()
            result = await work()
            self.meter.into(call)
            self.calls.append(call)
            return result

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        call = Call("put", self.label, checkpoint_id=checkpoint["id"], parent_id=_checkpoint_id(config))
        return await self._metered(call, lambda: self.saver.aput(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        call = Call("put_writes", self.label, parent_id=_checkpoint_id(config), writes=len(writes))
        await self._metered(call, lambda: self.saver.aput_writes(config, writes, task_id, task_path))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        call = Call("get_tuple", self.label)
        found = await self._metered(call, lambda: self.saver.aget_tuple(config))
        call.answered, call.pending_writes = (1, len(found.pending_writes or ())) if found else (0, 0)
        return found

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        call = Call("list", self.label)

        async def whole() -> list[CheckpointTuple]:
            return [item async for item in self.saver.alist(config, filter=filter, before=before, limit=limit)]

        listed = await self._metered(call, whole)
        call.answered, call.pending_writes = len(listed), sum(len(item.pending_writes or ()) for item in listed)
        for item in listed:
            yield item


# --- the two sides --------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    checkpointer: Metered
    close: Callable[[], Awaitable[None]] | None = None


def create_their_resources(session: Any) -> None:
    """The one table DynamoDBSaver needs (it creates none) and its offload bucket."""
    session.client("dynamodb").create_table(
        TableName=THEIR_TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    session.client("s3").create_bucket(Bucket=THEIR_BUCKET)


def theirs(session: Any, reader: Any) -> Side:
    """DynamoDBSaver on its table, metered on its own DynamoDB and S3 clients."""
    from langgraph_checkpoint_aws import DynamoDBSaver

    saver = DynamoDBSaver(table_name=THEIR_TABLE, session=session, s3_offload_config={"bucket_name": THEIR_BUCKET})
    costs = CostMeter(reader, {THEIR_TABLE: Shape(("PK", "SK"), {})})
    return Side("theirs", Metered(saver, Meter(costs, saver.client, saver.storage.s3_client)))


def ours(stack: Stack, reader: Any) -> Side:
    """AsyncSessionsSaver on a client answered in-process by the stack's handlers, metered on the store's clients."""
    from sessions import store

    transport = CountingAsyncTransport(AsyncInProcessTransport(InProcessApi(stack.specs)))
    client = AsyncSessionsClient(
        "http://sessions.invalid",  # never resolved: the transport answers in-process
        transport=transport,
        identity=DevIdentity(USER, TENANT),
    )
    costs = CostMeter(reader, table_shapes(stack.names))
    meter = Meter(costs, store.dynamodb_client(), store.aws_client("s3"), transport)
    return Side("ours", Metered(AsyncSessionsSaver(client), meter), client.aclose)


# --- running --------------------------------------------------------------------------------------


async def exercise(side: Side, invokes: int) -> None:
    """The graph run, then the reads the bench makes itself (each call labelled with what it read)."""
    checkpointer = side.checkpointer
    graph = build_graph(checkpointer)
    config: RunnableConfig = {"configurable": {"thread_id": THREAD}}
    for turn in range(invokes):
        await graph.ainvoke({"messages": [("user", f"question {turn}: " + "q" * MESSAGE_CHARS)]}, config)
    puts = [call for call in checkpointer.calls if call.operation == "put"]
    # from the middle of the history, a checkpoint whose tasks wrote (its pending writes are read with it)
    older: RunnableConfig = {
        "configurable": {
            "thread_id": THREAD,
            "checkpoint_ns": "",
            "checkpoint_id": puts[len(puts) // 2 + 1].checkpoint_id,
        }
    }
    checkpointer.label = "get_tuple latest"
    await checkpointer.aget_tuple(config)
    checkpointer.label = "get_tuple by id"
    await checkpointer.aget_tuple(older)
    checkpointer.label = "list page 1"
    first = [item async for item in checkpointer.alist(config, limit=PAGE)]
    checkpointer.label = "list page 2"
    _ = [item async for item in checkpointer.alist(config, before=first[-1].config, limit=PAGE)]
    checkpointer.label = "list whole history"
    _ = [item async for item in checkpointer.alist(config)]


FIGURES = ("calls", "wru", "rru", "s3_calls", "requests")


def _summed(calls: Sequence[Call]) -> dict[str, Any]:
    operations: Counter[str] = Counter()
    for call in calls:
        operations.update(call.usage.calls)
    return {
        "calls": sum(operations.values()),
        "operations": dict(operations),
        "wru": sum(call.usage.wru for call in calls),
        "rru": sum(call.usage.rru for call in calls),
        "s3_calls": sum(call.s3_calls for call in calls),
        "requests": sum(call.requests for call in calls),
    }


def _mean(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {key: sum(item[key] for item in items) / len(items) for key in FIGURES} | {"count": len(items)}


def steps_of(calls: Sequence[Call]) -> list[dict[str, Any]]:
    """Each put with the put_writes whose results it records (the writes' checkpoint is the put's parent)."""
    writes_of: dict[str | None, list[Call]] = {}
    for call in calls:
        if call.operation == "put_writes":
            writes_of.setdefault(call.parent_id, []).append(call)
    steps = []
    for put in (call for call in calls if call.operation == "put"):
        members = [put, *writes_of.pop(put.parent_id, [])]
        steps.append(_summed(members) | {"put_writes": len(members) - 1, "writes": sum(c.writes for c in members)})
    unrecorded = sum(len(left) for left in writes_of.values())
    if unrecorded:  # writes that no checkpoint records: an interrupted run, which this graph never is
        raise RuntimeError(f"{unrecorded} put_writes calls belong to no step")
    return steps


def figures_of(calls: Sequence[Call]) -> dict[str, Any]:
    """One side's figures: per step, per operation of the graph run, per read the bench made."""
    run = [call for call in calls if call.label == "graph run"]
    steps = steps_of(run)
    largest = max(steps, key=lambda step: (step["wru"], step["calls"]))
    operations = {
        "step": _mean(steps),
        "step (largest)": {key: largest[key] for key in FIGURES} | {"count": 1},
        **{
            name: _mean([_summed([call]) for call in run if call.operation == operation])
            for name, operation in (
                ("put", "put"),
                ("put_writes", "put_writes"),
                ("get_tuple at each run's start", "get_tuple"),
            )
        },
    }
    answered = {}
    for call in calls:
        if call.label != "graph run":
            operations[call.label] = _summed([call]) | {"count": 1}
            answered[call.label] = {"checkpoints": call.answered, "pending_writes": call.pending_writes}
    return {"steps": steps, "operations": operations, "answered": answered}


def their_stored(reader: Any) -> dict[str, int]:
    """Theirs' table after the run: its items, and the write units they cost if each was written once."""
    items = [item for page in reader.get_paginator("scan").paginate(TableName=THEIR_TABLE) for item in page["Items"]]
    return {"items": len(items), "wru_written_once": sum(write_units(item_size(item)) for item in items)}


async def measure(invokes: int) -> dict[str, Any]:
    """Both sides on one moto account, ours first; each side's figures, and theirs' table as stored."""
    import boto3

    from local.aws.moto_fixes import adapt_moto

    adapt_moto()
    measured: dict[str, Any] = {}
    with in_process_stack() as stack:
        session = boto3.Session()
        reader = session.client("dynamodb")  # uncounted: sizes the items the metered calls touch
        create_their_resources(session)
        for side in (ours(stack, reader), theirs(session, reader)):
            await exercise(side, invokes)
            if side.close is not None:
                await side.close()
            measured[side.name] = figures_of(side.checkpointer.calls)
        measured["their_table"] = their_stored(reader)
    return measured


# --- reporting ------------------------------------------------------------------------------------


def run(invokes: int = INVOKES) -> dict[str, Any]:
    """Measure both checkpointers, print them side by side, return the figures."""
    measured = asyncio.run(measure(invokes))
    mine, other = measured["ours"]["operations"], measured["theirs"]["operations"]
    ratios = {
        label: {key: ratio(mine[label][key], other[label][key]) for key in ("calls", "wru", "rru")} for label in mine
    }
    meets = mine["step"]["calls"] <= other["step"]["calls"] and mine["step"]["wru"] <= other["step"]["wru"]
    figures = {
        "graph": {"invokes": invokes, "nodes": 3, "message_chars": MESSAGE_CHARS, "page": PAGE},
        "consistency": CONSISTENCY,
        **measured,
        "ratios": ratios,
        "meets_target": meets,
    }
    rows = [
        [
            label,
            *(
                cell
                for key in ("calls", "wru", "rru")
                for cell in (f"{mine[label][key]:g}", f"{other[label][key]:g}", ratios[label][key])
            ),
            f"{mine[label]['s3_calls']:g} / {other[label]['s3_calls']:g}",
            f"{mine[label]['requests']:g}",
        ]
        for label in mine
    ]
    headers = ["per (mean)", "calls ours", "theirs", "ours/theirs", "WRU ours", "theirs", "ours/theirs"]
    headers += ["RRU ours", "theirs", "ours/theirs", "S3 calls ours / theirs", "HTTP requests ours"]
    steps = len(measured["ours"]["steps"])
    title = (
        "LangGraph checkpointers, DynamoDB calls and request units (moto): AsyncSessionsSaver (ours) against "
        f"langgraph-checkpoint-aws's DynamoDBSaver (theirs), {invokes} runs of a 3-node graph on one thread "
        f"({steps} steps, a {MESSAGE_CHARS}-character message per node)"
    )
    print(table(headers, rows, title=title))
    print(f"  reads: ours, {CONSISTENCY['ours']}; theirs, {CONSISTENCY['theirs']}")
    step = ratios["step"]
    print(
        f"  per step, ours <= theirs in calls and write units: {verdict(meets)} "
        f"(calls {step['calls']:.2f}x, WRU {step['wru']:.2f}x theirs)"
    )
    return figures

"""LangGraph checkpointers on DynamoDB, side by side on moto: the service's `AsyncSessionsSaver` against
langgraph-checkpoint-aws's `DynamoDBSaver` (1.2.6), for the same graph run.

The graph: three nodes in a line (plan, act, answer), each adding a message of MESSAGE_CHARS characters
to a `messages` channel (LangGraph's `add_messages`), run `invokes` times on one thread, each run adding
the user's message first: the state grows as a conversation's does. Both checkpointers run it in one
process, on one moto account:
- ours: `AsyncSessionsSaver` on an `AsyncSessionsClient` whose transport answers in-process (the
  template's handlers and tables, as client/tests/inprocess.py serves them to the client's tests);
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
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.calls import CallCounter, in_process_stack
from bench.common import ratio, table, verdict
from bench.cost import CostMeter, Shape, Usage, item_size, table_shapes, write_units

MESSAGE_CHARS = 400  # each node's message (a short model answer)
INVOKES = 10  # runs of the graph on the thread
PAGE = 10  # checkpoints per list page (get_state_history(config, limit=PAGE))
THEIR_TABLE, THEIR_BUCKET = "langgraph-checkpoints", "langgraph-checkpoints-offload"
TENANT, USER, THREAD = "bench-langgraph", "u-langgraph", "conversation-1"
CLIENT_TESTS = Path(__file__).resolve().parents[1] / "client" / "tests"
CONSISTENCY = {
    "ours": "strongly consistent reads (ConsistentRead): a full read unit per 4 KB",
    "theirs": "eventually consistent reads (no ConsistentRead): half a read unit per 4 KB",
}

# --- the graph ------------------------------------------------------------------------------------


def build_graph(checkpointer: Any) -> Any:
    """plan -> act -> answer, each adding one message to the conversation."""
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    def node(name: str) -> Callable[[MessagesState], dict[str, Any]]:
        def step(state: MessagesState) -> dict[str, Any]:
            turn = len(state["messages"])
            return {"messages": [AIMessage(f"{name} {turn}: " + "x" * MESSAGE_CHARS)]}

        return step

    builder = StateGraph(MessagesState)
    names = ("plan", "act", "answer")
    for name in names:
        builder.add_node(name, node(name))
    builder.add_edge(START, names[0])
    for before, after in zip(names, names[1:], strict=False):
        builder.add_edge(before, after)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=checkpointer)


# --- metering every checkpointer call -------------------------------------------------------------


@dataclass
class Call:
    """One checkpointer call and what it cost."""

    operation: str  # put, put_writes, get_tuple, list
    label: str  # what the bench did, for the calls it makes itself
    usage: Usage
    s3_calls: int
    checkpoint_id: str | None = None  # put: the checkpoint stored
    parent_id: str | None = None  # put: its parent; put_writes: the checkpoint the writes belong to
    writes: int = 0  # put_writes: how many
    listed: int = 0  # list: checkpoints answered; get_tuple: pending writes answered


class Meter:
    """One side's meters: DynamoDB units (CostMeter) and S3 calls, taken per checkpointer call."""

    def __init__(self, costs: CostMeter, dynamodb: Any, s3: Any) -> None:
        self.costs = costs
        self.costs.attach(dynamodb)
        self.counter = CallCounter()
        self.counter.attach(dynamodb, s3)

    def take(self) -> tuple[Usage, int]:
        s3_calls = sum(self.counter.s3_calls.values())
        self.counter.reset()
        return self.costs.take(), s3_calls


def _ids(config: Any) -> tuple[str | None, str | None]:
    configurable = (config or {}).get("configurable", {})
    return configurable.get("thread_id"), configurable.get("checkpoint_id")


def metered(saver: Any, meter: Meter) -> Any:
    """`saver` as a LangGraph checkpointer whose async calls run one at a time, each metered into `calls`."""
    from langgraph.checkpoint.base import BaseCheckpointSaver

    class Metered(BaseCheckpointSaver):  # type: ignore[type-arg]
        def __init__(self) -> None:
            super().__init__(serde=saver.serde)
            self.calls: list[Call] = []
            self.label = "graph run"
            self._lock = asyncio.Lock()

        def get_next_version(self, current: Any, channel: Any) -> Any:
            return saver.get_next_version(current, channel)

        async def _metered(self, call: Call, work: Callable[[], Awaitable[Any]]) -> Any:
            async with self._lock:
                meter.take()
                result = await work()
                call.usage, call.s3_calls = meter.take()
                self.calls.append(call)
                return result

        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            call = Call("put", self.label, Usage(), 0, checkpoint["id"], _ids(config)[1])
            return await self._metered(call, lambda: saver.aput(config, checkpoint, metadata, new_versions))

        async def aput_writes(self, config: Any, writes: Sequence[Any], task_id: str, task_path: str = "") -> None:
            call = Call("put_writes", self.label, Usage(), 0, parent_id=_ids(config)[1], writes=len(writes))
            await self._metered(call, lambda: saver.aput_writes(config, writes, task_id, task_path))

        async def aget_tuple(self, config: Any) -> Any:
            call = Call("get_tuple", self.label, Usage(), 0)

            async def work() -> Any:
                found = await saver.aget_tuple(config)
                call.listed = len(found.pending_writes or ()) if found else 0
                return found

            return await self._metered(call, work)

        async def alist(
            self, config: Any, *, filter: Any = None, before: Any = None, limit: int | None = None
        ) -> AsyncIterator[Any]:
            call = Call("list", self.label, Usage(), 0)

            async def work() -> list[Any]:
                return [item async for item in saver.alist(config, filter=filter, before=before, limit=limit)]

            listed = await self._metered(call, work)
            call.listed = len(listed)
            for item in listed:
                yield item

    return Metered()


# --- the two sides --------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    checkpointer: Any  # a Metered saver
    close: Callable[[], Awaitable[None]] | None = None


def their_shape() -> Shape:
    return Shape(("PK", "SK"), {})


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
    from langgraph_checkpoint_aws import DynamoDBSaver

    saver = DynamoDBSaver(table_name=THEIR_TABLE, session=session, s3_offload_config={"bucket_name": THEIR_BUCKET})
    meter = Meter(CostMeter(reader, {THEIR_TABLE: their_shape()}), saver.client, saver.storage.s3_client)
    return Side("theirs", metered(saver, meter))


def ours(specs: dict[str, Any], reader: Any, names: dict[str, str]) -> Side:
    if str(CLIENT_TESTS) not in sys.path:  # the client tests' in-process transport (httpx to the handlers)
        sys.path.insert(0, str(CLIENT_TESTS))
    from inprocess import AsyncInProcessTransport, InProcessApi
    from sessions import store
    from sessions_client import AsyncSessionsClient, DevIdentity
    from sessions_client.adapters.langgraph import AsyncSessionsSaver

    client = AsyncSessionsClient(
        "http://sessions.invalid",  # never resolved: the transport answers in-process
        transport=AsyncInProcessTransport(InProcessApi(specs)),
        identity=DevIdentity(USER, TENANT),
    )
    meter = Meter(CostMeter(reader, table_shapes(names)), store.dynamodb_client(), store.aws_client("s3"))
    return Side("ours", metered(AsyncSessionsSaver(client), meter), client.aclose)


# --- running --------------------------------------------------------------------------------------


async def exercise(side: Side, invokes: int) -> None:
    """The graph run, then the reads the bench makes itself (each call labelled)."""
    checkpointer = side.checkpointer
    graph = build_graph(checkpointer)
    config = {"configurable": {"thread_id": THREAD}}
    for turn in range(invokes):
        await graph.ainvoke({"messages": [("user", f"question {turn}: " + "q" * MESSAGE_CHARS)]}, config)
    puts = [call for call in checkpointer.calls if call.operation == "put"]
    middle = puts[len(puts) // 2].checkpoint_id  # an older checkpoint, with pending writes
    checkpointer.label = "get_tuple latest"
    await checkpointer.aget_tuple(config)
    checkpointer.label = "get_tuple by id"
    await checkpointer.aget_tuple({"configurable": {**config["configurable"], "checkpoint_ns": "", "checkpoint_id": middle}})
    checkpointer.label = "list page 1"
    first = [item async for item in checkpointer.alist(config, limit=PAGE)]
    checkpointer.label = "list page 2"
    _ = [item async for item in checkpointer.alist(config, before=first[-1].config, limit=PAGE)]
    checkpointer.label = "list whole history"
    _ = [item async for item in checkpointer.alist(config)]


def steps_of(calls: list[Call]) -> list[dict[str, Any]]:
    """Each put with the put_writes whose results it records (their checkpoint is the put's parent)."""
    writes_by_checkpoint: dict[str | None, list[Call]] = {}
    for call in calls:
        if call.operation == "put_writes":
            writes_by_checkpoint.setdefault(call.parent_id, []).append(call)
    steps = []
    for put in (call for call in calls if call.operation == "put"):
        members = [put, *writes_by_checkpoint.pop(put.parent_id, [])]
        steps.append(_summed(members) | {"writes": sum(call.writes for call in members)})
    unrecorded = sum(len(left) for left in writes_by_checkpoint.values())
    if unrecorded:  # writes no checkpoint records: an interrupted run, which this graph never is
        raise RuntimeError(f"{unrecorded} put_writes calls belong to no step")
    return steps


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
    }


def _mean(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    count = len(items)
    return {key: sum(item[key] for item in items) / count for key in ("calls", "wru", "rru", "s3_calls")} | {
        "count": count
    }


def figures_of(calls: list[Call]) -> dict[str, Any]:
    """One side's figures: per step, per operation of the run, per read the bench made."""
    run = [call for call in calls if call.label == "graph run"]
    steps = steps_of(run)
    largest = max(steps, key=lambda step: (step["wru"], step["calls"]))
    operations = {
        "step": _mean(steps),
        "step (largest)": {key: largest[key] for key in ("calls", "wru", "rru", "s3_calls")} | {"count": 1},
        "put": _mean([_summed([call]) for call in run if call.operation == "put"]),
        "put_writes": _mean([_summed([call]) for call in run if call.operation == "put_writes"]),
        "get_tuple at each run's start": _mean([_summed([call]) for call in run if call.operation == "get_tuple"]),
    }
    reads = {}
    for call in calls:
        if call.label != "graph run":
            operations[call.label] = _summed([call]) | {"count": 1}
            reads[call.label] = call.listed
    return {"steps": steps, "operations": operations, "answered": reads}


async def measure_async(invokes: int) -> dict[str, Any]:
    import boto3

    from local.aws.moto_fixes import adapt_moto

    adapt_moto()
    with in_process_stack({"POWERTOOLS_LOG_LEVEL": "WARNING"}) as stack:
        session = boto3.Session()
        reader = session.client("dynamodb")  # uncounted: sizes the items each write touches
        create_their_resources(session)
        sides = [ours(stack.specs, reader, stack.names), theirs(session, reader)]
        result: dict[str, Any] = {}
        for side in sides:
            await exercise(side, invokes)
            if side.close is not None:
                await side.close()
            result[side.name] = figures_of(side.checkpointer.calls)
        result["stored"] = their_stored(reader)
    return result


def their_stored(reader: Any) -> dict[str, Any]:
    """Theirs' table after the run: its items, and the write units they cost if each was written once."""
    items = []
    for page in reader.get_paginator("scan").paginate(TableName=THEIR_TABLE):
        items.extend(page["Items"])
    return {"items": len(items), "wru_written_once": sum(write_units(item_size(item)) for item in items)}


# --- reporting ------------------------------------------------------------------------------------


def run(invokes: int = INVOKES) -> dict[str, Any]:
    measured = asyncio.run(measure_async(invokes))
    ours_ops, theirs_ops = measured["ours"]["operations"], measured["theirs"]["operations"]
    ratios = {
        label: {key: ratio(ours_ops[label][key], theirs_ops[label][key]) for key in ("calls", "wru", "rru")}
        for label in ours_ops
    }
    step = ratios["step"]
    meets = ours_ops["step"]["calls"] <= theirs_ops["step"]["calls"] and ours_ops["step"]["wru"] <= theirs_ops["step"]["wru"]
    steps = len(measured["ours"]["steps"])
    figures = {
        "graph": {
            "invokes": invokes,
            "nodes": 3,
            "message_chars": MESSAGE_CHARS,
            "steps": steps,
            "page": PAGE,
        },
        "consistency": CONSISTENCY,
        "ours": measured["ours"],
        "theirs": measured["theirs"],
        "their_table": measured["stored"],
        "ratios": ratios,
        "meets_target": meets,
    }
    rows = []
    for label, mine in ours_ops.items():
        other = theirs_ops[label]
        rows.append(
            [
                label,
                f"{mine['calls']:g}",
                f"{other['calls']:g}",
                ratios[label]["calls"],
                f"{mine['wru']:g}",
                f"{other['wru']:g}",
                ratios[label]["wru"],
                f"{mine['rru']:g}",
                f"{other['rru']:g}",
                ratios[label]["rru"],
                f"{mine['s3_calls']:g} / {other['s3_calls']:g}",
            ]
        )
    headers = [
        "per",
        "calls ours",
        "theirs",
        "ours/theirs",
        "WRU ours",
        "theirs",
        "ours/theirs",
        "RRU ours",
        "theirs",
        "ours/theirs",
        "S3 calls",
    ]
    title = (
        f"LangGraph checkpointers on DynamoDB (moto): AsyncSessionsSaver (ours) vs langgraph-checkpoint-aws "
        f"DynamoDBSaver (theirs); {invokes} runs of a 3-node graph, {steps} steps, a {MESSAGE_CHARS}-character "
        "message per node (means per call)"
    )
    print(table(headers, rows, title=title))
    print(f"  consistency: ours, {CONSISTENCY['ours']}; theirs, {CONSISTENCY['theirs']}")
    print(
        f"  per step ours <= theirs (calls and write units): {verdict(meets)} "
        f"(calls {step['calls']:.2f}x, WRU {step['wru']:.2f}x)"
    )
    return figures

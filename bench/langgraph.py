"""LangGraph checkpointing: SessionsSaver on the service against langgraph-checkpoint-aws's DynamoDBSaver.

One graph, run the same way with each saver, both on moto in this process: a chat-like thread whose
every invoke appends a user message and an answer (~300 bytes each) to a list channel, so the state
grows as a conversation does. Counted on the DynamoDB clients (bench/cost.py's meter: calls by
operation, write units sized from the items written, transactional writes twice, index entries
included; read units): per checkpoint stored (a step), and per `get_tuple` of the thread's latest
checkpoint (what every invoke starts with). Ours goes through the whole service (the API's handlers:
the event, the session's counters and indexes, idempotency records); the publisher's stream work is
left out (the DynamoDBSaver has none).

Target: ours at most theirs, in DynamoDB calls and in write units per step.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Annotated, Any, TypedDict

from bench.calls import in_process_stack
from bench.common import table, verdict
from bench.cost import CostMeter, Shape, Usage, table_shapes

TARGET_RATIO = 1.0
USER, TENANT = "u-langgraph", "acme"
THEIR_TABLE = "langgraph-checkpoints"


class Chat(TypedDict):
    messages: Annotated[list[str], operator.add]


def chat_graph(checkpointer: Any) -> Any:
    from langgraph.graph import START, StateGraph

    def answer(state: Chat) -> dict[str, Any]:
        return {"messages": [f"answer {len(state['messages'])}: " + "a" * 280]}

    builder = StateGraph(Chat)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=checkpointer)


def measure(saver: Any, meter: CostMeter, turns: int) -> dict[str, Any]:
    graph = chat_graph(saver)
    config = {"configurable": {"thread_id": "thread-1"}}
    meter.take()
    for turn in range(turns):
        graph.invoke({"messages": [f"user {turn}: " + "u" * 280]}, config)
    steps = meter.take()
    checkpoints = len(list(saver.list(config)))
    meter.take()
    found = saver.get_tuple(config)
    read = meter.take()
    assert found is not None and len(found.checkpoint["channel_values"]["messages"]) == 2 * turns
    return {"checkpoints": checkpoints, "steps": steps, "get_tuple": read}


def per(usage: Usage, count: int) -> tuple[float, float, float]:
    return sum(usage.calls.values()) / count, usage.wru / count, usage.rru / count


def run(turns: int = 20) -> dict[str, Any]:
    with in_process_stack({"MAX_OPEN_SESSIONS_PER_USER": "0"}) as stack:
        import boto3
        from langgraph_checkpoint_aws import DynamoDBSaver  # type: ignore[import-untyped]
        from sessions_client import DevIdentity, SessionsClient
        from sessions_client.adapters.langgraph import SessionsSaver

        from local.api.inprocess import InProcessApi, InProcessTransport
        from sessions import store

        session = boto3.Session()
        reader = session.client("dynamodb")
        reader.create_table(
            TableName=THEIR_TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        shapes = {**table_shapes(stack.names), THEIR_TABLE: Shape(("PK", "SK"), {})}

        ours_meter = CostMeter(reader, shapes)
        ours_meter.attach(store.dynamodb_client())
        client = SessionsClient(
            "http://sessions.invalid",
            identity=DevIdentity("svc", TENANT, ("service",)),
            user_id=USER,
            transport=InProcessTransport(InProcessApi(stack.specs)),
        )
        ours = measure(SessionsSaver(client), ours_meter, turns)

        theirs_saver = DynamoDBSaver(THEIR_TABLE, region_name=session.region_name or "us-east-1")
        theirs_meter = CostMeter(reader, shapes)
        theirs_meter.attach(theirs_saver.client)
        theirs = measure(theirs_saver, theirs_meter, turns)

    rows = []
    figures: dict[str, Any] = {}
    for name, result in (("SessionsSaver (the service)", ours), ("DynamoDBSaver", theirs)):
        calls, wru, rru = per(result["steps"], result["checkpoints"])
        read_calls, _, read_rru = per(result["get_tuple"], 1)
        figures[name] = {
            "checkpoints": result["checkpoints"],
            "calls_per_step": calls,
            "wru_per_step": wru,
            "rru_per_step": rru,
            "get_tuple_calls": read_calls,
            "get_tuple_rru": read_rru,
            "operations": dict(result["steps"].calls + Counter()),
        }
        rows.append(
            [
                name,
                result["checkpoints"],
                f"{calls:.2f}",
                f"{wru:.1f}",
                f"{rru:.1f}",
                f"{read_calls:.0f}",
                f"{read_rru:.1f}",
            ]
        )
    ours_figures, theirs_figures = figures["SessionsSaver (the service)"], figures["DynamoDBSaver"]
    calls_ok = ours_figures["calls_per_step"] <= theirs_figures["calls_per_step"] * TARGET_RATIO
    wru_ok = ours_figures["wru_per_step"] <= theirs_figures["wru_per_step"] * TARGET_RATIO
    print(
        table(
            ["saver", "checkpoints", "DynamoDB calls/step", "WRU/step", "RRU/step", "get_tuple calls", "get_tuple RRU"],
            rows,
            title=f"LangGraph: a {turns}-turn conversation on one thread (a step = a checkpoint stored)",
        )
    )
    print(f"calls per step <= DynamoDBSaver's: {verdict(calls_ok)}; write units per step: {verdict(wru_ok)}")
    for name, figure in figures.items():
        print(f"  {name}: {figure['operations']}")
    return {"turns": turns, **figures, "calls_ok": calls_ok, "wru_ok": wru_ok}


if __name__ == "__main__":
    run()

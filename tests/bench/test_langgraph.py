"""bench langgraph: what its figures must hold, and how it groups a graph run's calls into steps.

`figures_hold` checks the figures of a whole run (tests/bench/test_sections.py runs the section as
docs/benchmarks.md shows, at its smallest size, and hands its JSON here). Each figure is checked against what it
must be, not against zero: theirs' calls against what DynamoDBSaver 1.2.6 does per operation (two
items per checkpoint and per write, then one read per item and one writes Query per checkpoint read),
their write units against the table they left behind, ours against the service's requests (an append:
the session read, one transaction, the idempotency record; a history page: the session, its events), both
runs against each other (the same graph: the same steps, the same writes, the same answers), and the
ratios and the verdict against the figures they come from.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.cost import Usage
from bench.langgraph import Call, steps_of

STEPS_PER_INVOKE = 5  # the input checkpoint, __start__'s, and one per node (plan, act, answer)
READS = ("get_tuple latest", "get_tuple by id", "list page 1", "list page 2", "list whole history")


def _their_reads_hold(operations: dict[str, Any], answered: dict[str, Any]) -> None:
    for label in READS:
        calls, found = operations[label]["operations"], answered[label]
        checkpoints, writes = found["checkpoints"], found["pending_writes"]
        if label == "get_tuple latest":  # the newest checkpoint (Limit=1), its payload, its writes, each write's
            expected = {"Query": 2, "GetItem": 1 + writes}
        elif label == "get_tuple by id":  # the checkpoint's item and payload, its writes, each write's payload
            expected = {"GetItem": 2 + writes, "Query": 1}
        else:  # one Query of the checkpoints, then per checkpoint: its payload, its writes, each write's payload
            expected = {"Query": 1 + checkpoints, "GetItem": checkpoints + writes}
        assert calls == expected, (label, calls, expected)
        assert operations[label]["wru"] == 0, label
        rru = operations[label]["rru"]
        # eventually consistent: half a unit per 4 KB, at least half a unit per call
        assert (rru * 2).is_integer() and rru >= 0.5 * sum(calls.values()), (label, rru)


def figures_hold(figures: dict[str, Any]) -> bool:
    ours, theirs = figures["ours"], figures["theirs"]
    graph = figures["graph"]
    steps = graph["invokes"] * STEPS_PER_INVOKE
    assert len(ours["steps"]) == len(theirs["steps"]) == steps
    # the same graph run on both sides: the same writes at every step, the same answers to the same reads
    assert [step["writes"] for step in ours["steps"]] == [step["writes"] for step in theirs["steps"]]
    assert ours["answered"] == theirs["answered"]
    assert theirs["answered"]["list page 1"]["checkpoints"] == min(graph["page"], steps)
    assert theirs["answered"]["list page 2"]["checkpoints"] == min(graph["page"], max(steps - graph["page"], 0))
    assert theirs["answered"]["list whole history"]["checkpoints"] == steps
    assert theirs["answered"]["get_tuple by id"]["pending_writes"] > 0  # an older checkpoint, with writes

    # theirs: two PutItems per checkpoint and per write, every item written once
    for step in theirs["steps"]:
        assert step["operations"] == {"PutItem": 2 + 2 * step["writes"]}, step
        assert step["rru"] == 0 and step["s3_calls"] == 0, step  # small payloads: nothing offloaded to S3
    stored = figures["their_table"]
    assert stored["items"] == sum(2 + 2 * step["writes"] for step in theirs["steps"])
    assert sum(step["wru"] for step in theirs["steps"]) == stored["wru_written_once"]
    _their_reads_hold(theirs["operations"], theirs["answered"])

    # ours: one append per put and per put_writes (the first put also creates the session), each append
    # the session read, one transaction, and the Idempotency-Key's record (put, then completed)
    for step in ours["steps"][1:]:
        requests = step["requests"]
        assert requests == 1 + step["put_writes"], step
        assert step["operations"] == dict.fromkeys(("GetItem", "TransactWriteItems", "PutItem", "UpdateItem"), requests)
    # each read a history page (the session, then its events: one Query or more) or one event (the session,
    # then the event: a GetItem), as a checkpoint by id is read once the history walked back to it
    for label in READS:
        read, requests = ours["operations"][label], ours["operations"][label]["requests"]
        gets, queries = read["operations"]["GetItem"], read["operations"]["Query"]
        assert requests <= gets <= 2 * requests and queries >= 1 and gets + queries >= 2 * requests, (label, read)
        assert set(read["operations"]) == {"GetItem", "Query"} and read["wru"] == 0, (label, read)
        # strongly consistent: whole units, at least one per call
        assert read["rru"].is_integer() and read["rru"] >= read["calls"], (label, read)

    # the means, ratios and verdict follow from the figures
    for side in (ours, theirs):
        step_mean = side["operations"]["step"]
        assert step_mean["count"] == steps
        for key in ("calls", "wru", "rru"):
            assert math.isclose(step_mean[key], sum(step[key] for step in side["steps"]) / steps), key
        largest = side["operations"]["step (largest)"]
        assert largest["wru"] == max(step["wru"] for step in side["steps"])
    for label, ratios in figures["ratios"].items():
        for key, value in ratios.items():
            mine, other = ours["operations"][label][key], theirs["operations"][label][key]
            if other == 0:  # no ratio (NaN, null in the JSON report)
                assert value is None or math.isnan(value), (label, key, value)
            else:
                assert math.isclose(value, mine / other), (label, key, value)
    mine, other = ours["operations"]["step"], theirs["operations"]["step"]
    assert figures["meets_target"] == (mine["calls"] <= other["calls"] and mine["wru"] <= other["wru"])
    assert "eventually consistent" in figures["consistency"]["theirs"]
    return True


# --- grouping a run's calls into steps ---------------------------------------------------------------


def _call(operation: str, *, checkpoint: str | None = None, parent: str | None = None, writes: int = 0) -> Call:
    usage = Usage()
    usage.calls["PutItem"] = 1
    usage.table_wru = 1
    return Call(operation, "graph run", checkpoint_id=checkpoint, parent_id=parent, writes=writes, usage=usage)


def test_a_step_is_a_put_with_the_writes_its_parent_received_in_whatever_order_they_came() -> None:
    calls = [
        _call("put", checkpoint="c1"),
        _call("put_writes", parent="c1", writes=2),
        _call("put_writes", parent="c1", writes=1),
        _call("put_writes", parent="c2", writes=1),  # LangGraph may put c2's writes before c2 itself
        _call("put", checkpoint="c2", parent="c1"),
        _call("put", checkpoint="c3", parent="c2"),
    ]
    steps = steps_of(calls)
    assert [(step["put_writes"], step["writes"], step["calls"], step["wru"]) for step in steps] == [
        (0, 0, 1, 1),
        (2, 3, 3, 3),
        (1, 1, 2, 2),
    ]


def test_writes_no_checkpoint_records_are_refused() -> None:
    with pytest.raises(RuntimeError, match="1 put_writes calls belong to no step"):
        steps_of(
            [
                _call("put", checkpoint="c1"),
                _call("put_writes", parent="c1"),
                _call("put", checkpoint="c2", parent="c1"),
                _call("put_writes", parent="c9"),
            ]
        )

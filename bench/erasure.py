"""Erasing a user with many sessions x 50 events (and a large part per session): time and DynamoDB calls per item.

The issue asks for 200 sessions x 50 events; the default is 50 sessions, because moto's memory grows
with every transaction on a large table (past 7 GB for 200 x 50, killed): the erasure's calls are
the same per session whatever their number (`python -m bench erasure` prints them per operation),
so 200 sessions cost four times the calls of 50. Run `bench.erasure.run(sessions=200)` on a big machine.

In-process on moto: one session is created through the API's use case, the others are put as copies
of its item with their histories and a large part each in S3, then one erasure runs to completion as
the worker runs it. Printed: the
wall time, what was removed, every DynamoDB and S3 call by operation, and DynamoDB calls per removed
item (target: well under 1, since events go 25 to a BatchWriteItem; never a Scan).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from bench.calls import CallCounter, in_process_stack
from bench.common import table

if TYPE_CHECKING:
    from sessions.domain.records import EventRecord

TENANT = "bench-erasure"
USER = "bench-user"
BIG = "x" * (40 * 1024)  # over the inline limit: one S3 object per session


def _seed(sessions: int, events: int) -> None:
    """One session created as the API creates it; the others put as copies of its item, each with its history
    and one large part in S3, in batches of 25 (moto's transactions slow down as the table grows)."""
    import uuid

    from sessions import store
    from sessions.core.attribute_values import to_item
    from sessions.domain.identity import Identity
    from sessions.domain.models import CreateSessionRequest
    from sessions.store.blobs import blob_key, default_blobs
    from sessions.store.keys import event_item, session_item
    from sessions.usecases import session_writes

    identity = Identity(TENANT, USER)
    client, table_name = store.dynamodb_client(), store.default_store()._table
    blobs = default_blobs()
    request = CreateSessionRequest.model_validate({"session_id": "s0", "app_name": "bench"})
    first, _ = session_writes.create_session(identity, request)
    items: list[dict[str, Any]] = []
    for index in range(sessions):
        record = first if index == 0 else {**first, "session_id": f"s{index}", "incarnation": uuid.uuid4().hex[:12]}
        if index:
            items.append(session_item(record | {"holds_slot": False}))
        appended = record["created_at"]  # as an append stores it (its age indexes it for history retention)
        items += [
            event_item(
                record,
                cast(
                    "EventRecord",
                    {"seq": seq, "event_id": f"e{seq}", "type": "message", "content": "words", "created_at": appended},
                ),
            )
            for seq in range(1, events + 1)
        ]
        key = blob_key(TENANT, record["session_id"], record["incarnation"], f"e{events}", "content")
        blobs.put(key, BIG.encode(), "text/plain; charset=utf-8")
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={table_name: batch})  # type: ignore[dict-item]


def run(sessions: int = 50, events: int = 50) -> dict[str, Any]:
    print(f"Erasure of a user: {sessions} sessions x {events} events, in-process on moto")
    with in_process_stack({"MAX_OPEN_SESSIONS_PER_USER": "0"}):
        from sessions import store
        from sessions.domain.identity import Identity
        from sessions.usecases import erasure

        seeding = time.perf_counter()
        _seed(sessions, events)
        print(f"  seeded {sessions} sessions x {events} events in {time.perf_counter() - seeding:.1f} s")
        counter = CallCounter()
        counter.attach(store.dynamodb_client(), store.aws_client("s3"))
        started = time.perf_counter()
        job, _ = erasure.start_erasure(Identity(TENANT, USER, frozenset({"service"}), "svc"), USER)
        outcome = erasure.run_erasure(TENANT, job["erasure_id"], remaining_ms=lambda: 900_000)
        elapsed = time.perf_counter() - started
        done = erasure.get_erasure(Identity(TENANT, USER), job["erasure_id"])
    counts = done["counts"]
    removed = sessions + counts["events_deleted"] + counts["markers_deleted"] + counts["state_documents_deleted"]
    dynamodb_calls = sum(counter.calls.values())
    print(f"  outcome: {outcome}, status {done['status']}, {elapsed:.1f} s (moto, in-process)")
    print(table(["removed", "count"], [[name, value] for name, value in counts.items()]))
    rows = [[f"dynamodb {name}", count] for name, count in counter.calls.most_common()]
    rows += [[f"s3 {name}", count] for name, count in counter.s3_calls.most_common()]
    print(table(["call", "count"], rows))
    per_item = dynamodb_calls / removed if removed else float("nan")
    print(f"  {dynamodb_calls} DynamoDB calls for {removed} items: {per_item:.3f} calls per removed item")
    assert "Scan" not in counter.calls  # the erasure's promise
    return {
        "sessions": sessions,
        "events_per_session": events,
        "seconds": elapsed,
        "counts": counts,
        "dynamodb_calls": dict(counter.calls),
        "s3_calls": dict(counter.s3_calls),
        "dynamodb_calls_per_removed_item": per_item,
        "status": done["status"],
    }

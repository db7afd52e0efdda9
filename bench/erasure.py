"""Erasing a user with 200 sessions x 50 events (and a large part per session): time and DynamoDB calls per item.

In-process on moto: the sessions are seeded through the use cases (creates with 20 initial events,
then appends of 20 and 10), then one erasure runs to completion as the worker runs it. Printed: the
wall time, what was removed, every DynamoDB and S3 call by operation, and DynamoDB calls per removed
item (target: well under 1, since events go 25 to a BatchWriteItem; never a Scan).
"""

from __future__ import annotations

import time
from typing import Any

from bench.calls import CallCounter, in_process_stack
from bench.common import table

TENANT = "bench-erasure"
USER = "bench-user"
BIG = "x" * (40 * 1024)  # over the inline limit: one S3 object per session


def _seed(sessions: int, events: int) -> None:
    from sessions.domain.identity import Identity
    from sessions.domain.models import AppendEventRequest, CreateSessionRequest
    from sessions.usecases import events as history
    from sessions.usecases import session_writes

    identity = Identity(TENANT, USER)
    for index in range(sessions):
        first = min(20, events)
        request = CreateSessionRequest.model_validate(
            {"session_id": f"s{index}", "app_name": "bench", "events": [{"type": "message"}] * first}
        )
        session_writes.create_session(identity, request)
        left = events - first - 1
        while left > 0:
            batch = [AppendEventRequest.model_validate({"type": "message", "content": "words"})] * min(20, left)
            history.append_events(identity, f"s{index}", batch)
            left -= len(batch)
        history.append_events(identity, f"s{index}", [AppendEventRequest.model_validate({"type": "m", "content": BIG})])


def run(sessions: int = 200, events: int = 50) -> dict[str, Any]:
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

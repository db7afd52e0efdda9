"""Exporting a user with 200 sessions x 50 events (and a large part per session): time and DynamoDB calls per
exported item.

In-process on moto: the user's data is seeded as bench erasure seeds it (one session created through the
API's use case, the others put as copies with their histories and a large part each in S3), then one
export runs to completion as the worker runs it. Printed: the wall time, what was written, every DynamoDB
and S3 call by operation, and DynamoDB calls per exported item (a session, an event or a state document:
one GetItem per session, one Query per 100 events, so well under 1; never a Scan).
"""

from __future__ import annotations

import time
from typing import Any

from bench.calls import CallCounter, in_process_stack
from bench.common import table
from bench.erasure import TENANT, USER, seed


def run(sessions: int = 200, events: int = 50) -> dict[str, Any]:
    print(f"Export of a user: {sessions} sessions x {events} events, in-process on moto")
    with in_process_stack({"MAX_OPEN_SESSIONS_PER_USER": "0"}):
        from sessions import store
        from sessions.domain.identity import Identity
        from sessions.usecases import export, state

        seeding = time.perf_counter()
        seed(sessions, events)
        state.update_user_state(Identity(TENANT, USER), "bench", USER, {"likes": "benches"}, None)
        print(f"  seeded {sessions} sessions x {events} events in {time.perf_counter() - seeding:.1f} s")
        counter = CallCounter()
        counter.attach(store.dynamodb_client(), store.aws_client("s3"))
        started = time.perf_counter()
        job, _ = export.start_export(Identity(TENANT, USER, frozenset({"service"}), "svc"), USER)
        outcome = export.run_export(TENANT, job["export_id"], remaining_ms=lambda: 900_000)
        elapsed = time.perf_counter() - started
        done = export.get_export(Identity(TENANT, USER), job["export_id"])
    counts = done["counts"]
    exported = counts["sessions"] + counts["events"] + counts["state_documents"]
    dynamodb_calls = sum(counter.calls.values())
    print(f"  outcome: {outcome}, status {done['status']}, {elapsed:.1f} s (moto, in-process)")
    print(table(["exported", "count"], [[name, value] for name, value in counts.items()]))
    rows = [[f"dynamodb {name}", count] for name, count in counter.calls.most_common()]
    rows += [[f"s3 {name}", count] for name, count in counter.s3_calls.most_common()]
    print(table(["call", "count"], rows))
    per_item = dynamodb_calls / exported if exported else float("nan")
    print(f"  {dynamodb_calls} DynamoDB calls for {exported} items: {per_item:.3f} calls per exported item")
    assert "Scan" not in counter.calls  # reads by key only
    return {
        "sessions": sessions,
        "events_per_session": events,
        "seconds": elapsed,
        "counts": counts,
        "dynamodb_calls": dict(counter.calls),
        "s3_calls": dict(counter.s3_calls),
        "dynamodb_calls_per_exported_item": per_item,
        "status": done["status"],
    }

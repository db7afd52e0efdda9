"""Erasing a user with 200 sessions x 50 events (and a large part per session): DynamoDB calls and time per item.

Two runs of the same erasure:
- in-process on moto (with the dev server's adaptations), for the calls: one session is created through
  the API's use case, the others are put as copies of its item with their histories and a large part each
  in S3, then one erasure runs to completion as the worker runs it. Printed: what was removed, every
  DynamoDB and S3 call by operation, and DynamoDB calls per removed item (well under 1, since events go
  25 to a BatchWriteItem; never a Scan).
- on the dev server, for the time: the user's sessions made through the API (creates and batched appends),
  then `POST /v1/users/{user_id}/erasure` and `GET /v1/erasures/{id}` until it says completed; the worker
  runs in its own execution environment, woken by the job's stream records, as deployed.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bench.calls import CallCounter, in_process_stack, report_job
from bench.common import DevServerApi
from local.aws.moto_fixes import adapt_moto
from local.launcher import launch_dev_server
from local.seeding import Seeder

if TYPE_CHECKING:
    from sessions.domain.records import EventRecord

TENANT = "bench-erasure"
USER = "bench-user"
BIG = "x" * (40 * 1024)  # over the inline limit: one S3 object per session


def seed(sessions: int, events: int) -> None:
    """One session created as the API creates it; the others put as copies of its item, each with its history
    (its last event's content in S3, as an append of a large part stores it), in batches of 25 (moto's
    transactions slow down as the table grows)."""
    import uuid

    from sessions.domain.identity import Identity
    from sessions.domain.models import CreateSessionRequest
    from sessions.store.blobs import blob_key, default_blobs
    from sessions.store.keys import event_item, session_item
    from sessions.usecases import session_writes

    identity = Identity(TENANT, USER)
    seeder = Seeder.in_process()
    blobs = default_blobs()
    request = CreateSessionRequest.model_validate({"session_id": "s0", "app_name": "bench"})
    first, _ = session_writes.create_session(identity, request)
    items: list[dict[str, Any]] = []
    for index in range(sessions):
        record = first if index == 0 else {**first, "session_id": f"s{index}", "incarnation": uuid.uuid4().hex[:12]}
        if index:
            items.append(session_item(record | {"holds_slot": False}))
        key = blob_key(TENANT, record["session_id"], record["incarnation"], f"e{events}", "content")
        blobs.put(key, BIG.encode(), "text/plain; charset=utf-8")
        large = {"blobs": {"content": {"key": key, "bytes": len(BIG)}}}  # the last event's content: in S3
        appended = record["created_at"]  # as an append stores it (its age indexes it for history retention)
        items += [
            event_item(
                record,
                cast(
                    "EventRecord",
                    {"seq": seq, "event_id": f"e{seq}", "type": "message", "created_at": appended}
                    | (large if seq == events else {"content": "words"}),
                ),
            )
            for seq in range(1, events + 1)
        ]
    seeder.put_items(items)


def run(sessions: int = 200, events: int = 50) -> dict[str, Any]:
    return {**count_calls(sessions, events), "dev_server": time_on_dev_server(sessions, events)}


def count_calls(sessions: int, events: int) -> dict[str, Any]:
    print(f"Erasure of a user: {sessions} sessions x {events} events, in-process on moto (the DynamoDB calls)")
    adapt_moto()  # transactions journal what they touch, as on the dev server (moto alone copies the table)
    with in_process_stack({"MAX_OPEN_SESSIONS_PER_USER": "0"}):
        from sessions import store
        from sessions.domain.identity import Identity
        from sessions.usecases import erasure

        seeding = time.perf_counter()
        seed(sessions, events)
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
    per_item = report_job("removed", outcome, done, elapsed, removed, counter)
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


def time_on_dev_server(sessions: int, events: int) -> dict[str, Any]:
    """The same user made through the dev server's API, then erased by its worker (woken by the job's stream
    records, in its own execution environment): from the POST to the GET that says completed."""
    print(f"Erasure of a user: {sessions} sessions x {events} events, on the dev server (the time)")
    environment = {**os.environ, "DEFAULT_TENANT": "", "MAX_OPEN_SESSIONS_PER_USER": "0"}
    environment.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir), environment)
        try:
            api = DevServerApi(server.api_url, TENANT, USER)
            seeding = time.perf_counter()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda index: _make_session(api, index, events), range(sessions)))
            seconds = time.perf_counter() - seeding
            print(f"  made {sessions} sessions x {events} events through the API in {seconds:.0f} s")
            started = time.perf_counter()
            status, job = api.call("POST", f"/v1/users/{USER}/erasure")
            assert status == 202, job
            while job["status"] == "running" and time.perf_counter() - started < 1800:
                time.sleep(0.5)
                status, job = api.call("GET", f"/v1/erasures/{job['erasure_id']}")
            elapsed = time.perf_counter() - started
            status, left = api.call("GET", "/v1/sessions?limit=1")
        finally:
            server.stop(signal.SIGINT)
    assert job["status"] == "completed" and left["sessions"] == [], (job, left)
    counts = job["counts"]
    removed = counts["sessions_erased"] + counts["events_deleted"] + counts["markers_deleted"]
    print(f"  erased in {elapsed:.1f} s: {counts}; {1000 * elapsed / removed:.2f} ms per removed item")
    return {"seconds": elapsed, "counts": counts, "ms_per_removed_item": 1000 * elapsed / removed}


def _make_session(api: DevServerApi, index: int, events: int) -> None:
    """A session with `events` events in batches of 20, the last one's content large (stored in S3)."""
    status, session = api.call("POST", "/v1/sessions", {"session_id": f"s{index}", "app_name": "bench"})
    assert status == 201, session
    turns = [{"type": "message", "role": "user", "content": f"turn {seq}"} for seq in range(1, events)]
    turns.append({"type": "message", "role": "assistant", "content": BIG})
    for start in range(0, len(turns), 20):
        status, answer = api.call("POST", f"/v1/sessions/s{index}/events", {"events": turns[start : start + 20]})
        assert status == 201, answer

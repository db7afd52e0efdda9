"""Bulk cleanup: remove what expired, idled too long or was deleted, and the history it left behind.

It finds its work through the ByExpiry index (hour buckets of `purge_at`, a few shards each),
walking only the hours since its checkpoint, so it reads what it removes and never the table.
Deletes go out in BatchWriteItem calls of 25, across sessions; a session's history is queued
before the session itself. It stops with a safety margin before its own timeout: what it did not
reach stays in the index, and the next run carries on. Counts are taken when DynamoDB confirms a
delete, so a run that stops half-way counts exactly what it removed.

Removing a session is seen by the stream: the publisher announces `session.expired` (reason
`cleanup` or `inactive`), counts it out of its owner's stats and frees its slot, exactly once.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sessions.clock import format_ms, now_ms, parse_timestamp
from sessions.settings import get_settings
from sessions.store import (
    EXPIRY_SHARDS,
    MARKER_LIFETIME_SECONDS,
    PURGE_SK_PREFIX,
    SESSION_SK,
    SessionStore,
    default_store,
)

SAFETY_MARGIN_MS = 10_000
FIRST_RUN_LOOKBACK_HOURS = 24
BATCH_WRITE_MAX = 25
HOUR_MS = 3_600_000


@dataclass
class Summary:
    dry_run: bool
    sessions_expired: int = 0
    sessions_purged: int = 0
    history_events_deleted: int = 0
    complete: bool = True


class _Deleter:
    """Buffers write requests into BatchWriteItem calls of 25; counts each one once DynamoDB took it."""

    def __init__(self, store: SessionStore, summary: Summary, out_of_time: Callable[[], bool]) -> None:
        self._store, self._summary, self._out_of_time = store, summary, out_of_time
        self._pending: list[tuple[dict[str, Any], str | None]] = []  # (request, what it counts as)

    def add(self, request: dict[str, Any], counts_as: str | None) -> None:
        if self._summary.dry_run:
            self._count(counts_as)
            return
        self._pending.append((request, counts_as))
        if len(self._pending) >= BATCH_WRITE_MAX:
            self.flush(full_batches_only=True)

    def flush(self, *, full_batches_only: bool = False) -> None:
        while self._pending and (len(self._pending) >= BATCH_WRITE_MAX or not full_batches_only):
            batch, self._pending = self._pending[:BATCH_WRITE_MAX], self._pending[BATCH_WRITE_MAX:]
            self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], str | None]]) -> None:
        attempt = 0
        while batch:
            unprocessed = self._store.batch_write([request for request, _ in batch])
            left = [entry for entry in batch if entry[0] in unprocessed]
            for request, counts_as in batch:
                if request not in unprocessed:
                    self._count(counts_as)
            batch = left
            if batch:
                if self._out_of_time():
                    self._summary.complete = False  # the next run finds these again in the index
                    return
                time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter
                attempt += 1

    def _count(self, counts_as: str | None) -> None:
        if counts_as is not None:
            setattr(self._summary, counts_as, getattr(self._summary, counts_as) + 1)


def _hours(first: str, last: str) -> list[str]:
    """Every hour bucket from first to last inclusive, as 'YYYY-MM-DDTHH'."""
    start, end = parse_timestamp(f"{first}:00:00Z"), parse_timestamp(f"{last}:00:00Z")
    return [format_ms(moment)[:13] for moment in range(start, end + 1, HOUR_MS)]


def run_cleanup(*, dry_run: bool, remaining_ms: Callable[[], int], store: SessionStore | None = None) -> dict[str, Any]:
    store = store or default_store()
    started = now_ms()
    now = format_ms(started)
    summary = Summary(dry_run=dry_run)

    def out_of_time() -> bool:
        return remaining_ms() < SAFETY_MARGIN_MS

    deleter = _Deleter(store, summary, out_of_time)
    current_hour = now[:13]
    first_hour = store.get_cleanup_checkpoint() or format_ms(started - FIRST_RUN_LOOKBACK_HOURS * HOUR_MS)[:13]
    # the previous hour is walked again next time: a delete at an hour's very end may land in it late
    settled_before = format_ms(started - HOUR_MS)[:13]
    checkpoint = first_hour
    for hour in _hours(first_hour, current_hour):
        for shard in range(EXPIRY_SHARDS):
            if not _clean_bucket(store, deleter, f"{hour}#{shard}", now, out_of_time):
                summary.complete = False
                break
        if not summary.complete:
            break
        if hour < settled_before:
            checkpoint = _hours(hour, current_hour)[1]
    deleter.flush()
    if not dry_run:
        if summary.complete and checkpoint != first_hour:
            store.put_cleanup_checkpoint(checkpoint)
        store.put_cleanup_run(str(uuid.uuid4()), asdict(summary), now_ms())
    return asdict(summary)


def _clean_bucket(
    store: SessionStore, deleter: _Deleter, bucket: str, now: str, out_of_time: Callable[[], bool]
) -> bool:
    """Remove everything due in one bucket; False when time ran out first."""
    start = None
    while True:
        if out_of_time():
            return False
        entries, start = store.due_for_removal(bucket, now, start)
        for entry in entries:
            _remove(store, deleter, entry, now)
        if not start:
            return True


def _remove(store: SessionStore, deleter: _Deleter, entry: dict[str, Any], now: str) -> None:
    if entry["SK"] == SESSION_SK:
        counts_as = _why_due(entry, now)
        if counts_as is None:
            return  # its deadline moved (activity, a shorter inactivity setting undone): not due after all
        for key in store.history_keys(entry["PK"], entry["incarnation"]):
            deleter.add({"DeleteRequest": {"Key": key}}, "history_events_deleted")
        deleter.add({"DeleteRequest": {"Key": _key(entry)}}, counts_as)
    elif entry["SK"].startswith(PURGE_SK_PREFIX):
        # history left behind by a session DynamoDB's TTL removed, or whose id was taken again
        for key in store.history_keys(entry["PK"], entry["incarnation"]):
            deleter.add({"DeleteRequest": {"Key": key}}, "history_events_deleted")
        kept = {
            "PK": {"S": entry["PK"]},
            "SK": {"S": entry["SK"]},
            "incarnation": {"S": entry["incarnation"]},
            "ttl": {"N": str(parse_timestamp(now) // 1000 + MARKER_LIFETIME_SECONDS)},
        }
        deleter.add({"PutRequest": {"Item": kept}}, None)  # out of the index, kept against redelivery


def _why_due(entry: dict[str, Any], now: str) -> str | None:
    if "deleted_at" in entry:
        return "sessions_purged"
    if entry["expires_at"] <= now:
        return "sessions_expired"
    idle_seconds = get_settings().inactivity_timeout_seconds
    if idle_seconds and format_ms(parse_timestamp(entry["last_active_at"]) + idle_seconds * 1000) <= now:
        return "sessions_expired"
    return None


def _key(entry: dict[str, Any]) -> dict[str, Any]:
    return {"PK": {"S": entry["PK"]}, "SK": {"S": entry["SK"]}}

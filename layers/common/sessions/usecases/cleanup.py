"""Bulk cleanup: remove what expired, idled too long or was deleted, and the history it left behind.

It finds its work through the ByExpiry index (hour buckets of `purge_at`, a few shards each),
walking only the hours since its checkpoint, so it reads what it removes and never the table.

A session is deleted first, one conditional DeleteItem each: only if it is still the same
incarnation and still due (a session re-created under its id, or active again since the index
was read, stays). Its history then goes in BatchWriteItem calls of 25, across sessions. Whatever
history a run does not reach is not lost: the stream sees every removal, and the publisher leaves
a purge marker in the index for it, which a later run works off (deleting the marker once that
history is confirmed gone). A run stops with a safety margin before its timeout; what it did not
reach stays in the index and the next run carries on. Counts are taken when DynamoDB confirms a
delete, so a run that stops half-way counts exactly what it removed.

What a run counts, each once: `sessions_expired` and `sessions_purged` are the expired and the
deleted sessions whose remains it removed. That is the run whose conditional DeleteItem removed
the session item; or, when no run did (DynamoDB's TTL or a new session under the id removed it),
the run whose delete removed its purge marker, i.e. that finished its history (such a marker says
why the session ended; one the settlement of a run's own removal leaves, or a slot repair that
cannot tell who removed the session, is worked off uncounted).
`history_events_deleted` counts event items; `retention_events_deleted` the events of live sessions
removed past their tenant's history retention (usecases/retention.py), once the due sessions are
done and if time is left (a dry run leaves retention out). The lease, the checkpoint and the markers that settle a
removal already counted are bookkeeping, never counted: a run that finds only those reports zeros.

Runs are single-flight: a real run first takes a lease item in the table (a conditional PutItem
whose expiry is a little past the run's own timeout) and gives it back when done. A run that finds
the lease held returns at once with `skipped: true` and announces nothing; a lease left by a run
that died expires, and the next run takes it over. A dry run deletes nothing and needs no lease.

Forks (store/forks.py) that read a purged history get their own copy of it first: the purge closes
the incarnation's fork counter (no fork registers with it after that), copies the events each fork
still reads into that fork (large parts too), then deletes the history with the counter and the
registrations. A session never forked costs one GetItem more (its counter, absent).

An incarnation's history includes its large event parts in S3 (store/blobs.py): purging it deletes
the objects under its prefix too (one ListObjectsV2 per 1,000 objects, one DeleteObjects per page),
so the work still grows with what is removed. A purge marker stays until S3 confirmed every delete.

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

from sessions.core.clock import format_ms, now_ms, parse_timestamp
from sessions.core.settings import get_settings
from sessions.domain.records import ExpiryEntry
from sessions.store import default_store
from sessions.store.blobs import EventBlobs, default_blobs, history_blob_prefix
from sessions.store.keys import EXPIRY_SHARDS, LAST_SEQ, PURGE_SK_PREFIX, SESSION_SK
from sessions.usecases.ports import RemovalStorePort
from sessions.usecases.retention import enforce_retention

SAFETY_MARGIN_MS = 10_000
FIRST_RUN_LOOKBACK_HOURS = 24
BATCH_WRITE_MAX = 25
HOUR_MS = 3_600_000
LEASE_MARGIN_MS = 30_000  # a run never outlives its timeout, so a lease this much longer outlives the run


@dataclass
class Summary:
    dry_run: bool
    sessions_expired: int = 0
    sessions_purged: int = 0
    history_events_deleted: int = 0
    retention_events_deleted: int = 0  # events past their tenant's history retention (usecases/retention.py)
    complete: bool = True
    skipped: bool = False  # another run held the lease: this one did nothing

    def count(self, name: str | None) -> None:
        if name is not None:
            setattr(self, name, getattr(self, name) + 1)


class _Deleter:
    """Buffers write requests into BatchWriteItem calls of 25; counts each one once DynamoDB took it."""

    def __init__(self, store: RemovalStorePort, summary: Summary, out_of_time: Callable[[], bool]) -> None:
        self._store, self._summary, self._out_of_time = store, summary, out_of_time
        self._pending: list[tuple[dict[str, Any], str | None]] = []  # (request, what it counts as)
        self.gave_up = False  # time ran out with requests unconfirmed: nothing after them is sent

    def add(self, request: dict[str, Any], counts_as: str | None) -> None:
        if self._summary.dry_run:
            self._summary.count(counts_as)
            return
        self._pending.append((request, counts_as))
        if len(self._pending) >= BATCH_WRITE_MAX:
            self.flush(full_batches_only=True)

    def flush(self, *, full_batches_only: bool = False) -> None:
        while self._pending and not self.gave_up and (len(self._pending) >= BATCH_WRITE_MAX or not full_batches_only):
            if full_batches_only and self._out_of_time():
                # a long history may not fit in this run: its purge marker hands the rest to the next
                self._summary.complete = False
                self.gave_up = True
                return
            batch, self._pending = self._pending[:BATCH_WRITE_MAX], self._pending[BATCH_WRITE_MAX:]
            self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], str | None]]) -> None:
        attempt = 0
        while batch:
            unprocessed = self._store.batch_write([request for request, _ in batch])
            left = [entry for entry in batch if entry[0] in unprocessed]
            for request, counts_as in batch:
                if request not in unprocessed:
                    self._summary.count(counts_as)
            batch = left
            if batch:
                if self._out_of_time():
                    self._summary.complete = False  # the next run finds these again in the index
                    self.gave_up = True
                    return
                time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter
                attempt += 1


class _Sweep:
    """What one run removes: due sessions (each on its own condition), their history, worked-off markers."""

    def __init__(
        self, store: RemovalStorePort, blobs: EventBlobs, summary: Summary, now: str, out_of_time: Callable[[], bool]
    ) -> None:
        self._store, self._blobs, self._summary, self._now, self.out_of_time = store, blobs, summary, now, out_of_time
        self._history = _Deleter(store, summary, out_of_time)
        self._markers: list[ExpiryEntry] = []  # deleted once the history they stand for is gone

    def take(self, entry: ExpiryEntry) -> None:
        if self.out_of_time() or self._history.gave_up:
            self._summary.complete = False  # left in the index for the next run
            return
        if entry["SK"] == SESSION_SK:
            counts_as = _why_due(entry, self._now)
            if counts_as is None:
                return  # its deadline moved since it was indexed (activity): not due after all
            if self._summary.dry_run or self._store.delete_due_session(entry, self._now):
                self._summary.count(counts_as)
                self._purge(entry["PK"], entry["incarnation"])
        elif entry["SK"].startswith(PURGE_SK_PREFIX) and self._purge(entry["PK"], entry["incarnation"]):
            # history left by a session DynamoDB's TTL, a re-used id or an earlier run removed
            self._markers.append(entry)

    def finish(self) -> None:
        self._history.flush()
        if self._history.gave_up:
            return  # the markers stay: their history is not all gone
        markers = _Deleter(self._store, self._summary, self.out_of_time)
        for entry in self._markers:
            key = {"PK": {"S": entry["PK"]}, "SK": {"S": entry["SK"]}}
            counts_as = _why_ended(entry)
            if counts_as is None:  # its session was counted by the run that removed its item
                markers.add({"DeleteRequest": {"Key": key}}, None)
            elif self.out_of_time():
                self._summary.complete = False  # the next run works it off, and counts it
            elif self._summary.dry_run or self._store.delete_purge_marker(key):
                # one by one on a condition: only the run whose delete removed it counts the session
                self._summary.count(counts_as)
        markers.flush()

    def _purge(self, pk: str, incarnation: str) -> bool:
        """Remove an incarnation's history; False when S3 kept some of its objects (its marker then stays).

        Forks that read it get their copy first (_release_forks); should time run out before they
        all have, nothing of it is deleted: its marker hands the rest to the next run.
        """
        if not self._summary.dry_run and not self._release_forks(pk, incarnation):
            self._summary.complete = False
            return False
        for key in self._store.history_keys(pk, incarnation):
            self._history.add({"DeleteRequest": {"Key": key}}, "history_events_deleted")
        if self._summary.dry_run:
            return True
        # large event parts, and objects of appends that failed after their upload: all under one prefix
        if self._blobs.delete_prefix(history_blob_prefix(pk, incarnation)).complete:
            return True
        self._summary.complete = False
        return False

    def _release_forks(self, pk: str, incarnation: str) -> bool:
        """Close the incarnation to new forks, copy its events into the forks that read them, drop its fork items.

        One GetItem for a session never forked (no counter: no fork reads it, and none can start now
        that its item is gone). False when time ran out first.
        """
        counter = self._store.fork_counter(pk, incarnation)
        if counter is None:
            return True
        if not counter.get("closed"):
            self._store.close_forks(pk, incarnation)  # a fork that registers after this fails, as for a gone parent
        complete = self._store.detach_readers(
            pk, incarnation, [(0, LAST_SEQ)], blobs=self._blobs, out_of_time=self.out_of_time
        )
        if not complete:
            return False
        for key in self._store.fork_keys(pk, incarnation):
            self._history.add({"DeleteRequest": {"Key": key}}, None)
        return True


def _hours(first: str, last: str) -> list[str]:
    """Every hour bucket from first to last inclusive, as 'YYYY-MM-DDTHH'."""
    start, end = parse_timestamp(f"{first}:00:00Z"), parse_timestamp(f"{last}:00:00Z")
    return [format_ms(moment)[:13] for moment in range(start, end + 1, HOUR_MS)]


def check_settings() -> None:
    """At INIT (the cleanup's handler): a stack without the event-parts bucket fails its cold start, not a run."""
    get_settings().require("event_blobs_bucket")


def run_cleanup(
    *,
    dry_run: bool,
    remaining_ms: Callable[[], int],
    store: RemovalStorePort | None = None,
    blobs: EventBlobs | None = None,
) -> dict[str, Any]:
    store = store or default_store()
    blobs = blobs or default_blobs()
    run_id = str(uuid.uuid4())
    if dry_run:
        return _run(store, blobs, run_id, dry_run=True, remaining_ms=remaining_ms)
    if not store.acquire_cleanup_lease(run_id, now_ms(), remaining_ms() + LEASE_MARGIN_MS):
        # another run is at work, or died less than a timeout ago: nothing to do, nothing to announce
        return asdict(Summary(dry_run=False, complete=False, skipped=True))
    try:
        return _run(store, blobs, run_id, dry_run=False, remaining_ms=remaining_ms)
    finally:
        store.release_cleanup_lease(run_id)


def _run(
    store: RemovalStorePort, blobs: EventBlobs, run_id: str, *, dry_run: bool, remaining_ms: Callable[[], int]
) -> dict[str, Any]:
    started = now_ms()
    now = format_ms(started)
    summary = Summary(dry_run=dry_run)
    sweep = _Sweep(store, blobs, summary, now, lambda: remaining_ms() < SAFETY_MARGIN_MS)
    current_hour = now[:13]
    first_hour = store.get_cleanup_checkpoint() or format_ms(started - FIRST_RUN_LOOKBACK_HOURS * HOUR_MS)[:13]
    # the previous hour is walked again next time: a delete at an hour's very end may land in it late
    settled_before = format_ms(started - HOUR_MS)[:13]
    checkpoint = first_hour
    for hour in _hours(first_hour, current_hour):
        for shard in range(EXPIRY_SHARDS):
            if not _sweep_bucket(store, sweep, f"{hour}#{shard}", now):
                summary.complete = False
                break
        if not summary.complete:
            break
        if hour < settled_before:
            checkpoint = _hours(hour, current_hour)[1]
    sweep.finish()
    if not dry_run and summary.complete and checkpoint != first_hour:
        store.put_cleanup_checkpoint(checkpoint)
    if not dry_run and summary.complete:
        retention = enforce_retention(sweep.out_of_time)
        summary.retention_events_deleted = retention.events_removed
        summary.complete = retention.complete
    # a dry run is announced too (its summary says dry_run): the run's record is all it writes
    store.put_cleanup_run(run_id, asdict(summary), now_ms())
    return asdict(summary)


def _sweep_bucket(store: RemovalStorePort, sweep: _Sweep, bucket: str, now: str) -> bool:
    """Take everything due in one bucket; False when time ran out first."""
    start = None
    while True:
        if sweep.out_of_time():
            return False
        entries, start = store.due_for_removal(bucket, now, start)
        for entry in entries:
            sweep.take(entry)
        if not start:
            return True


def _why_ended(marker: ExpiryEntry) -> str | None:
    """What a purge marker counts as when worked off: None when a run counted its session already."""
    if "deleted_at" in marker:
        return "sessions_purged"
    return "sessions_expired" if "expires_at" in marker else None


def _why_due(entry: ExpiryEntry, now: str) -> str | None:
    if "deleted_at" in entry:
        return "sessions_purged"
    if entry["expires_at"] <= now:
        return "sessions_expired"
    idle_seconds = get_settings().inactivity_timeout_seconds
    if idle_seconds and format_ms(parse_timestamp(entry["last_active_at"]) + idle_seconds * 1000) <= now:
        return "sessions_expired"
    return None

"""History retention: the cleanup removes the events a tenant's `history_retention_days` has passed.

It reads only what it removes. The tenants with a retention are one Query of the cleanup's list
(written with their settings); each tenant's events sit in its age partitions of the ByExpiry index
sorted by when they were appended (store/keys.py), so "appended before the cutoff" is a key
condition that returns exactly the events to remove, never one that stays. A retention changed
later applies to every event already stored, as it is evaluated at each run, not at append.

Each session's events go as a removal of selected seqs does (DELETE …/events?seq=…), reusing its
plan: one transaction per REWIND_MAX_EVENTS events with the session's update (version + 1,
usage, the history's base counts, a fork's lineage) and its owner's counters; the forks that read
them get their copies first; their large parts in S3 go after the commit; the stream announces
`session.events_removed` (from_seq null, the seqs). Seqs are never given again, so a history
simply starts later. A session that is no longer live (expired, deleted, or re-created under its
id) is passed over: its purge removes its whole history.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import SessionNotFound
from sessions.domain.limits import REWIND_MAX_EVENTS
from sessions.domain.records import EventRecord, SessionChanges, SessionRecord
from sessions.store.keys import age_buckets, event_key_parts, session_pk
from sessions.store.sessions import own_events
from sessions.usecases.access import is_live, store, write_until_it_wins
from sessions.usecases.event_edits import plan_seq_removal
from sessions.usecases.forks import detach_readers
from sessions.usecases.large_events import delete_event_blobs

DAY_MS = 86_400_000


@dataclass
class RetentionSummary:
    events_removed: int = 0
    complete: bool = True  # False: time ran out; the next run finds the rest in the index


def enforce_retention(out_of_time: Callable[[], bool]) -> RetentionSummary:
    """Remove every event past its tenant's retention, as far as time allows."""
    summary = RetentionSummary()
    now = now_ms()
    for tenant_id, days in store().retention_tenants():
        cutoff = format_ms(now - days * DAY_MS)
        for bucket in age_buckets(tenant_id):
            if not _sweep(tenant_id, bucket, cutoff, summary, out_of_time):
                summary.complete = False
                return summary
    return summary


def _sweep(
    tenant_id: str, bucket: str, cutoff: str, summary: RetentionSummary, out_of_time: Callable[[], bool]
) -> bool:
    """Remove what one age partition holds before `cutoff`; False when time ran out first."""
    start = None
    while True:
        if out_of_time():
            return False
        keys, start = store().events_appended_before(bucket, cutoff, start)
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)  # (session id, incarnation) -> seqs
        prefix = session_pk(tenant_id, "")
        for pk, sk in keys:
            incarnation, seq = event_key_parts(sk)
            seqs[(pk.removeprefix(prefix), incarnation)].append(seq)
        for (session_id, incarnation), due in seqs.items():
            summary.events_removed += remove_from_session(tenant_id, session_id, incarnation, due)
        if not start:
            return True


def remove_from_session(tenant_id: str, session_id: str, incarnation: str, seqs: list[int]) -> int:
    """Remove the session's events among `seqs` as a removal of selected seqs does; how many went."""
    session = store().get_session(tenant_id, session_id)
    if session is None or session["incarnation"] != incarnation or not is_live(session, now_ms()):
        return 0  # its purge removes the whole history
    removed_count = 0
    ordered = sorted(seqs)
    for first in range(0, len(ordered), REWIND_MAX_EVENTS):
        chunk = ordered[first : first + REWIND_MAX_EVENTS]
        try:
            removed, owned, session = write_until_it_wins(session, functools.partial(_remove, seqs=chunk))
        except SessionNotFound:
            return removed_count  # expired or deleted meanwhile: its purge takes the rest
        delete_event_blobs(owned)  # after the commit; a fork's source keeps its own
        removed_count += removed
    return removed_count


def _remove(current: SessionRecord, seqs: list[int]) -> tuple[int, list[EventRecord], SessionRecord]:
    """One transaction: the stored events among `seqs` go with the session's update.

    Returns how many went, those of them stored in the session's own partition (whose large parts
    are its to delete), and the session as written.
    """
    removed, removal = plan_seq_removal(current, seqs)
    if not removed:
        return 0, [], current  # gone meanwhile (a rewind, a removal by request)
    detach_readers(current, [(int(event["seq"]), int(event["seq"])) for event in removed])  # forks keep them
    # no caller: the write names nobody (updated_by removed), so the event's actor is null, as for the cleanup's
    changes: SessionChanges = {**removal, "updated_at": format_ms(now_ms())}
    written = store().remove_events(current, removed, changes)
    return len(removed), own_events(current, removed), written

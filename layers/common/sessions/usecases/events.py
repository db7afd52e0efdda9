"""Appending events to a session's history, and reading it back page by page."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sessions.core.clock import now_ms
from sessions.core.errors import VersionMismatch
from sessions.core.settings import get_settings
from sessions.domain.filters import timestamp_param
from sessions.domain.identity import Identity
from sessions.domain.lineage import LAST_SEQ, extents, is_fork_reader
from sessions.domain.records import EventRecord, SessionChanges, SessionRecord, applied
from sessions.store import EventQuery, event_position
from sessions.store.sessions import own_events
from sessions.usecases.access import get_session, owned_live_session, store, write_until_it_wins, written_by
from sessions.usecases.cursors import decode_cursor, encode_cursor
from sessions.usecases.large_events import inline_parts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sessions.domain.models import AppendEventRequest
    from sessions.store.queries import Page


def append_events(
    identity: Identity,
    session_id: str,
    requests: Sequence[AppendEventRequest],
    *,
    if_match: int | None = None,
    replace_from_seq: int | None = None,
) -> tuple[list[EventRecord], SessionRecord]:
    """Store events in order, all or nothing; seq, usage, counts, context_patch and version change in one atomic step.

    Returns the stored events and the session as written. With `if_match`, the write is a
    compare-and-set on the session version: a mismatch, or a race lost to another write, is 412.
    With `replace_from_seq`, the events from that seq on are removed in the same step (a tail replaced).
    """
    # imported here, not by the history's function: what only appends need (plans, state documents, uploads)
    from sessions.domain.appending import check_open, plan_appends
    from sessions.usecases import state
    from sessions.usecases.large_events import LargeParts

    max_events = get_settings().max_history_events
    # parts over 32 KiB: to S3 once per event, after the first plan passes, before any write
    large_parts = [LargeParts() for _ in requests]

    def write(current: SessionRecord) -> tuple[list[EventRecord], SessionRecord]:
        if if_match is not None and current["version"] != if_match:
            raise VersionMismatch(current["version"])
        removed: list[EventRecord] = []
        start, removal = current, SessionChanges()
        if replace_from_seq is not None:
            from sessions.usecases.event_edits import plan_removal

            check_open(current)  # a closed session refuses before its tail is read

            removed, removal = plan_removal(current, replace_from_seq, room=len(requests))
            start = applied(current, removal)
            if removed:
                from sessions.domain.lineage import LAST_SEQ
                from sessions.usecases.forks import detach_readers

                detach_readers(current, [(replace_from_seq, LAST_SEQ)])  # the forks that read the tail keep it
        # on a lost race, another append or patch won: planned again, the events get the next seqs
        events, changes = plan_appends(start, requests, now_ms(), max_events=max_events)
        changes = removal | changes
        # state_patch, state_set: the app's and user's state documents, in this transaction, in event order (state.py)
        also = state.state_writes(identity, current, requests)
        # last: a refused append uploads nothing
        offloaded = [parts.offload(current, event) for parts, event in zip(large_parts, events, strict=True)]
        items = [item for _, item in offloaded]
        session = store().append_events(current, items, written_by(identity, changes), also=also, removing=removed)
        replaced[:] = own_events(current, removed)  # a fork's inherited events keep their source's objects
        return [event for event, _ in offloaded], session

    replaced: list[EventRecord] = []
    written = write_until_it_wins(owned_live_session(identity, session_id), write)
    if replaced:
        from sessions.usecases.large_events import delete_event_blobs

        delete_event_blobs(replaced)  # after the commit: the removed events' large parts
    return written


def append_event(identity: Identity, session_id: str, request: AppendEventRequest) -> dict[str, Any]:
    """Store one event (see append_events); as its 201 answers it."""
    from sessions.usecases.large_events import fit_echo

    events, _ = append_events(identity, session_id, [request])
    return fit_echo(events)[0]


def get_history(
    identity: Identity,
    session_id: str,
    *,
    limit: int,
    cursor: str | None,
    ascending: bool,
    event_type: str | None,
    after: str | None,
    before: str | None,
    include_payload: bool,
    include_compacted: bool = False,
    metadata: tuple[tuple[str, str], ...] = (),
    seq_range: tuple[int | None, int | None] = (None, None),
) -> dict[str, Any]:
    """A page of the history from its latest base (a compaction), or from its first event with `include_compacted`.

    `total` counts the events the page reads from: those from the base on, or every stored event.
    `metadata`: (key, value) pairs an event's metadata must all hold (sessions.domain.filters.metadata_filters).
    `seq_range`: (from_seq, to_seq), inclusive, either None: bounds of the Query's key condition, never a
    filter, so a page reads only the events in the range; the lower bound combines with the base (the later).
    """
    session = get_session(identity, session_id)
    after_ts, before_ts = timestamp_param("after", after), timestamp_param("before", before)
    binding: dict[str, Any] = {
        "kind": "history",
        "caller": [identity.tenant_id, identity.user_id],
        "session": [session_id, session["incarnation"]],
        "query": [ascending, event_type, after_ts, before_ts],
    }
    if include_compacted:
        binding["compacted"] = True  # a cursor continues the reading it was issued for
    if metadata:
        binding["metadata"] = [list(pair) for pair in metadata]  # added later: cursors without it stay valid
    from_seq, to_seq = seq_range
    if seq_range != (None, None):
        binding["seq_range"] = [from_seq, to_seq]  # as metadata: added later
    base = 0 if include_compacted else int(session.get("history_base_seq") or 0)
    query = EventQuery(
        tenant_id=identity.tenant_id,
        session_id=session_id,
        incarnation=session["incarnation"],
        limit=limit,
        ascending=ascending,
        event_type=event_type,
        after=after_ts,
        before=before_ts,
        start=decode_cursor(cursor, binding) if cursor else None,
        first_seq=max(base, from_seq or 0),
        last_seq=LAST_SEQ if to_seq is None else to_seq,
        metadata=metadata,
        lineage=tuple(extents(session)),
    )

    def read_page(reading: SessionRecord) -> tuple[Page[EventRecord], list[dict[str, Any]]]:
        page = store().query_events(replace(query, lineage=tuple(extents(reading))))
        # large parts read back inline; a page that would pass 5 MiB ends early, after its last event
        return page, inline_parts(page.records, include_payload=include_payload)

    if is_fork_reader(session):
        from sessions.usecases.forks import read_stable

        # a fork's page crosses into its sources, their S3 objects included: read it steadily, parts and all
        page, events = read_stable(session, read_page)
    else:
        page, events = read_page(session)
    next_position = page.next_position
    if len(events) < len(page.records):
        next_position = event_position(query, page.records[len(events) - 1]["seq"])
    return {
        "session_id": session_id,
        "events": events,
        "next_cursor": encode_cursor(next_position, binding) if next_position else None,
        "total": session["usage"]["event_count"] - (0 if include_compacted else int(session.get("compacted_count", 0))),
    }

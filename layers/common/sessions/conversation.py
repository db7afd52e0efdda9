"""Appending events to a session's history, and reading it back page by page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessions import state
from sessions.appending import plan_append
from sessions.clock import now_ms
from sessions.cursors import decode_cursor, encode_cursor
from sessions.large_events import LargeParts, fit_echo, inline_parts
from sessions.models import EVENT_FIELDS
from sessions.queries import timestamp_param
from sessions.service import Identity, get_session, owned_live_session, store, write_until_it_wins, written_by
from sessions.settings import get_settings
from sessions.store import EventQuery, event_position

if TYPE_CHECKING:
    from sessions.models import AppendEventRequest


def event_view(event: dict[str, Any], *, include_payload: bool = True) -> dict[str, Any]:
    return {
        name: event[name]
        for name in EVENT_FIELDS
        if event.get(name) is not None and (include_payload or name != "payload")
    }


def append_event(identity: Identity, session_id: str, request: AppendEventRequest) -> dict[str, Any]:
    """Store one event; seq, usage, counts, context_patch and version change in one atomic step."""
    max_events = get_settings().max_history_events
    large_parts = LargeParts()  # parts over 32 KiB: to S3 once, after the first plan passes, before any write

    def write(current: dict[str, Any]) -> dict[str, Any]:
        # on a lost race, another append or patch won: planned again, the event gets the next seq
        event, changes = plan_append(current, request, now_ms(), max_events=max_events)
        # state_patch: the app's and user's state documents, in this transaction (sessions/state.py)
        also = state.state_writes(identity, current, [request.state_patch])
        event, item = large_parts.offload(current, event)  # last: a refused append uploads nothing
        store().append_event(current, item, written_by(identity, changes), also=also)
        return event

    return fit_echo([write_until_it_wins(owned_live_session(identity, session_id), write)])[0]


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
) -> dict[str, Any]:
    session = get_session(identity, session_id)
    after_ts, before_ts = timestamp_param("after", after), timestamp_param("before", before)
    binding = {
        "kind": "history",
        "caller": [identity.tenant_id, identity.user_id],
        "session": [session_id, session["incarnation"]],
        "query": [ascending, event_type, after_ts, before_ts],
    }
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
    )
    page = store().query_events(query)
    # large parts read back inline; a page that would pass 5 MiB ends early, after its last event
    events = inline_parts(page.records, include_payload=include_payload)
    next_position = page.next_position
    if len(events) < len(page.records):
        next_position = event_position(query, page.records[len(events) - 1]["seq"])
    return {
        "session_id": session_id,
        "events": events,
        "next_cursor": encode_cursor(next_position, binding) if next_position else None,
        "total": session["usage"]["event_count"],
    }

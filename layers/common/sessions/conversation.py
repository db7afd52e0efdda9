"""Appending events to a session's history, and reading it back page by page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessions.appending import plan_appends
from sessions.clock import now_ms
from sessions.cursors import decode_cursor, encode_cursor
from sessions.errors import VersionMismatch
from sessions.models import EVENT_FIELDS
from sessions.queries import timestamp_param
from sessions.service import Identity, get_session, owned_live_session, store, write_until_it_wins
from sessions.settings import get_settings
from sessions.store import EventQuery

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sessions.models import AppendEventRequest


def event_view(event: dict[str, Any], *, include_payload: bool = True) -> dict[str, Any]:
    # events stored before `timestamp` existed happened when they were created
    event = {"timestamp": event.get("created_at"), **event}
    return {
        name: event[name]
        for name in EVENT_FIELDS
        if event.get(name) is not None and (include_payload or name != "payload")
    }


def append_events(
    identity: Identity,
    session_id: str,
    requests: Sequence[AppendEventRequest],
    *,
    if_match: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Store events in order, all or nothing; seq, usage, counts, context_patch and version change in one atomic step.

    Returns the stored events and the session as written. With `if_match`, the write is a
    compare-and-set on the session version: a mismatch, or a race lost to another write, is 412.
    """
    max_events = get_settings().max_history_events

    def write(current: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if if_match is not None and current["version"] != if_match:
            raise VersionMismatch(current["version"])
        # on a lost race, another append or patch won: planned again, the events get the next seqs
        events, changes = plan_appends(current, requests, now_ms(), max_events=max_events)
        return events, store().append_events(current, events, changes)

    return write_until_it_wins(owned_live_session(identity, session_id), write)


def append_event(identity: Identity, session_id: str, request: AppendEventRequest) -> dict[str, Any]:
    """Store one event (see append_events)."""
    events, _ = append_events(identity, session_id, [request])
    return events[0]


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
    page = store().query_events(
        EventQuery(
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
    )
    return {
        "session_id": session_id,
        "events": [event_view(event, include_payload=include_payload) for event in page.records],
        "next_cursor": encode_cursor(page.next_position, binding) if page.next_position else None,
        "total": session["usage"]["event_count"],
    }

"""What appending an event does to a session: the rules of POST …/events, without I/O."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, cast

from sessions.core.clock import format_ms
from sessions.core.errors import HistoryFull, SessionClosed, TokenBudgetExceeded
from sessions.domain.lineage import with_base
from sessions.domain.merge_patch import apply_merge_patch, set_keys
from sessions.domain.patching import checked_object
from sessions.domain.records import EventRecord, SessionChanges, SessionRecord, applied
from sessions.domain.status import Status

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sessions.domain.models import AppendEventRequest


# what an event changes elsewhere (the session's context, state documents): applied, never part of the stored event
APPLIED_NOT_STORED = {"context_patch", "state_patch", "context_set", "state_set", "base"}


def last_seq(session: SessionRecord) -> int:
    """The highest seq the session ever gave; items from before `last_seq` existed had no holes."""
    return int(session.get("last_seq", session["usage"]["event_count"]))


def compacted_count(session: SessionRecord) -> int:
    """How many stored events lie before the history's base (0 without a base): compacted, not counted as history."""
    return int(session.get("compacted_count", 0))


def plan_appends(
    session: SessionRecord, requests: Sequence[AppendEventRequest], now: int, *, max_events: int
) -> tuple[list[EventRecord], SessionChanges]:
    """Events appended in order as one change: the events to store and the session changes of them all."""
    record, changes, events = session.copy(), SessionChanges(), list[EventRecord]()
    for request in requests:
        event, step = plan_append(record, request, now, max_events=max_events)
        record = applied(record, step)
        changes |= step
        events.append(event)
    return events, changes


def check_open(session: SessionRecord) -> None:
    """A completed session takes no more events (409 session_closed)."""
    if session["status"] == Status.COMPLETED:
        raise SessionClosed("session is completed; no more events can be appended")


def plan_append(
    session: SessionRecord, request: AppendEventRequest, now: int, *, max_events: int
) -> tuple[EventRecord, SessionChanges]:
    """The event to store and the session changes that go with it, or the error that refuses it."""
    check_open(session)
    usage = session["usage"].copy()
    if usage["event_count"] - compacted_count(session) >= max_events:
        raise HistoryFull(f"the history holds its maximum of {max_events} events")
    tokens = request.usage.tokens if request.usage else 0
    budget = session.get("token_budget")
    if budget is not None and usage["tokens_used"] + tokens > budget:
        raise TokenBudgetExceeded(
            f"{tokens} more tokens would pass the token budget of {budget} ({usage['tokens_used']} used)"
        )
    timestamp = format_ms(now)
    seq = last_seq(session) + 1  # never a seq given before, even one a rewind removed
    usage["tokens_used"] += tokens
    usage["cost_usd"] = _exact_sum(usage["cost_usd"], request.usage.cost_usd if request.usage else 0)
    usage["event_count"] += 1
    usage["task_count"] += int(request.type == "task")
    given = request.model_dump(mode="json", exclude_none=True, exclude=APPLIED_NOT_STORED)
    # the request's fields as validated (models.AppendEventRequest): the record's own where it names them
    event = cast(
        "EventRecord",
        {
            "event_id": str(uuid.uuid4()),
            "seq": seq,
            "created_at": timestamp,
            **given,
            "timestamp": request.timestamp or timestamp,  # already in the stored form (models.EventTimestamp)
        },
    )
    changes: SessionChanges = {
        "usage": usage,
        "last_seq": seq,
        "last_active_at": timestamp,
        "updated_at": timestamp,
        # the timestamp of the last event appended (an ADK session's last_update_time), not the clock's
        "last_event_at": event["timestamp"],
    }
    if request.base:
        # the new start of the history: every event stored before it is compacted (history_base_seq)
        event["base"] = True
        changes["history_base_seq"] = seq
        changes["compacted_count"] = usage["event_count"] - 1
        # the bases a fork of this history finds its own in (lineage.base_at)
        changes["base_history"] = with_base(session, seq, changes["compacted_count"])
    if request.context_patch is not None or request.context_set is not None:
        context = session.get("context") or {}
        if request.context_patch is not None:
            context = apply_merge_patch(context, request.context_patch)
        if request.context_set is not None:
            context = set_keys(context, request.context_set)  # after the patch: null is stored, objects replaced
        changes["context"] = checked_object("context", context)
    return event, changes


def _exact_sum(total: float, amount: float) -> float:
    """Add money in decimal, so that 0.1 + 0.2 totals 0.3, not 0.30000000000000004."""
    from decimal import Decimal

    return float(Decimal(repr(total)) + Decimal(repr(amount)))

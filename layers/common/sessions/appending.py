"""What appending an event does to a session: the rules of POST …/events, without I/O."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sessions.clock import format_ms, parse_timestamp
from sessions.errors import HistoryFull, InvalidField, SessionClosed, TokenBudgetExceeded
from sessions.lifecycle import Status
from sessions.merge_patch import apply_merge_patch
from sessions.patching import checked_object

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sessions.models import AppendEventRequest

# An event's timestamp may name an instant this far back, or this far ahead (clock skew)
TIMESTAMP_PAST_MS = 365 * 24 * 3600 * 1000
TIMESTAMP_FUTURE_MS = 5 * 60 * 1000


def last_seq(session: dict[str, Any]) -> int:
    """The highest seq the session ever gave; items from before `last_seq` existed had no holes."""
    return int(session.get("last_seq", session["usage"]["event_count"]))


def event_timestamp(value: str | None, now: int, loc: tuple[str | int, ...]) -> str:
    """The stored form of an event's timestamp (UTC, ms, Z): now when absent; 422 outside the window."""
    if value is None:
        return format_ms(now)
    try:
        at = parse_timestamp(value)
    except (ValueError, OverflowError):
        raise InvalidField(loc, "expected an RFC 3339 timestamp such as 2026-11-23T19:00:00.000Z") from None
    if not now - TIMESTAMP_PAST_MS <= at <= now + TIMESTAMP_FUTURE_MS:
        raise InvalidField(loc, "timestamp must be within the last 365 days and at most 5 minutes ahead")
    return format_ms(at)


def plan_appends(
    session: dict[str, Any], requests: Sequence[AppendEventRequest], now: int, *, max_events: int, batch: bool = True
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Events appended in order as one change: the events to store and the session changes of them all."""
    record, changes, events = dict(session), dict[str, Any](), list[dict[str, Any]]()
    for index, request in enumerate(requests):
        loc: tuple[str | int, ...] = ("body", "events", index, "timestamp") if batch else ("body", "timestamp")
        event, step = plan_append(record, request, now, max_events=max_events, timestamp_loc=loc)
        record |= step
        changes |= step
        events.append(event)
    return events, changes


def plan_append(
    session: dict[str, Any],
    request: AppendEventRequest,
    now: int,
    *,
    max_events: int,
    timestamp_loc: tuple[str | int, ...] = ("body", "timestamp"),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event to store and the session changes that go with it, or the error that refuses it."""
    if session["status"] == Status.COMPLETED:
        raise SessionClosed("session is completed; no more events can be appended")
    usage = dict(session["usage"])
    if usage["event_count"] >= max_events:
        raise HistoryFull(f"the history holds its maximum of {max_events} events")
    tokens = request.usage.tokens if request.usage else 0
    budget = session.get("token_budget")
    if budget is not None and usage["tokens_used"] + tokens > budget:
        raise TokenBudgetExceeded(
            f"{tokens} more tokens would pass the token budget of {budget} ({usage['tokens_used']} used)"
        )
    timestamp = format_ms(now)
    happened = event_timestamp(request.timestamp, now, timestamp_loc)
    seq = last_seq(session) + 1  # never a seq given before, even one a rewind removed
    usage["tokens_used"] += tokens
    usage["cost_usd"] = _exact_sum(usage["cost_usd"], request.usage.cost_usd if request.usage else 0)
    usage["event_count"] += 1
    usage["task_count"] += int(request.type == "task")
    event = {
        "event_id": str(uuid.uuid4()),
        "seq": seq,
        "created_at": timestamp,
        **request.model_dump(mode="json", exclude_none=True, exclude={"context_patch"}),
        "timestamp": happened,
    }
    changes: dict[str, Any] = {
        "usage": usage,
        "last_seq": seq,
        "last_active_at": timestamp,
        "updated_at": timestamp,
    }
    if request.context_patch is not None:
        merged = apply_merge_patch(session.get("context") or {}, request.context_patch)
        changes["context"] = checked_object("context", merged)
    return event, changes


def _exact_sum(total: float, amount: float) -> float:
    """Add money in decimal, so that 0.1 + 0.2 totals 0.3, not 0.30000000000000004."""
    from decimal import Decimal

    return float(Decimal(repr(total)) + Decimal(repr(amount)))

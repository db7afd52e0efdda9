"""A session's usage as events leave its history (a rewind, a replaced tail, a fork cut short)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sessions.domain.records import EventRecord, UsageRecord


def usage_without(usage: UsageRecord, removed: Sequence[EventRecord]) -> UsageRecord:
    """The session usage once `removed` events leave the history (their tokens, cost, count and tasks)."""
    remaining = len(removed)
    tokens = sum(int((event.get("usage") or {}).get("tokens", 0)) for event in removed)
    cost = sum((Decimal(repr((event.get("usage") or {}).get("cost_usd", 0))) for event in removed), Decimal(0))
    tasks = sum(event.get("type") == "task" for event in removed)
    left = usage["event_count"] - remaining
    return {
        **usage,
        "tokens_used": max(usage["tokens_used"] - tokens, 0),
        # an emptied history used nothing; otherwise what is left, in decimal (no 0.30000000000000004)
        "cost_usd": 0 if left <= 0 else max(float(Decimal(repr(usage["cost_usd"])) - cost), 0),
        "event_count": max(left, 0),
        "task_count": max(usage["task_count"] - tasks, 0),
    }

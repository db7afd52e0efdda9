"""How a change to a session moves its owner's counters and its tenant's stats.

The counters are what GET /v1/sessions/stats reads in one round trip, whatever the number of
sessions: open-session slots (the cap), sessions by status, and running totals. Every write
that changes a session moves them in the same transaction, derived here from the session
before and after, so they cannot drift from the sessions they count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Context, Decimal

from sessions.domain.records import SessionRecord
from sessions.domain.status import Status

STATUS_FIELDS = tuple(status.value for status in Status)
TOTAL_FIELDS = (
    "created_total",
    "deleted_total",
    "expired_total",
    "events_total",
    "tokens_used_total",
    "cost_usd_total",
)


@dataclass(frozen=True)
class CounterDeltas:
    """What to ADD to the counters: stats fields, and the owner's open-session slots."""

    fields: dict[str, int | Decimal] = field(default_factory=dict)
    slots: int = 0

    def __bool__(self) -> bool:
        return bool(self.fields) or self.slots != 0

    def __add__(self, other: CounterDeltas) -> CounterDeltas:
        fields: Counter[str] = Counter()
        for deltas in (self.fields, other.fields):
            for name, value in deltas.items():
                fields[name] += value  # type: ignore[assignment]
        return CounterDeltas({name: value for name, value in fields.items() if value}, self.slots + other.slots)


def _counted(record: SessionRecord | None) -> bool:
    """A stored session counts under its status until it is deleted (expired ones leave the table)."""
    return record is not None and "deleted_at" not in record


def change(before: SessionRecord | None, after: SessionRecord) -> CounterDeltas:
    """The deltas of one write: `before` is None for a new session."""
    fields: dict[str, int | Decimal] = defaultdict(int)
    if _counted(before):
        fields[before["status"]] -= 1  # type: ignore[index]
    if _counted(after):
        fields[after["status"]] += 1
    if before is None:
        fields["created_total"] += 1
    elif "deleted_at" in after and "deleted_at" not in before:
        fields["deleted_total"] += 1
    old_usage = before["usage"] if before else {"event_count": 0, "tokens_used": 0, "cost_usd": 0}
    fields["events_total"] += after["usage"]["event_count"] - old_usage["event_count"]
    fields["tokens_used_total"] += after["usage"]["tokens_used"] - old_usage["tokens_used"]
    cost = _exact_difference(after["usage"]["cost_usd"], old_usage["cost_usd"])
    slots = int(bool(after.get("holds_slot"))) - int(bool(before and before.get("holds_slot")))
    if cost:
        fields["cost_usd_total"] = cost
    return CounterDeltas({name: value for name, value in fields.items() if value}, slots)


def expiry(record: SessionRecord) -> CounterDeltas:
    """The deltas of a session leaving the table by expiry (time, inactivity or DynamoDB's TTL)."""
    if not _counted(record):
        return CounterDeltas()  # a deleted session was counted out when it was deleted
    return CounterDeltas({record["status"]: -1, "expired_total": 1}, -int(bool(record.get("holds_slot"))))


# Stats keep money to 10 decimal places (as they report it): a total DynamoDB adds to must stay within
# its 38 digits, which 1e12 plus 1e-130 would not.
COST_QUANTUM = "1E-10"


def _exact_difference(after: float, before: float) -> Decimal:
    """What a session's cost, to 10 places, moved by: the stats sum the sessions' costs each to 10 places.

    Rounding each session's total (not each change) keeps the stats equal to the sessions they
    count, however many small amounts a session adds up: 100 events of 1e-11 are 1e-9 in both.
    """
    return _to_quantum(after) - _to_quantum(before)


def _to_quantum(cost: float) -> Decimal:
    return Decimal(repr(cost)).quantize(Decimal(COST_QUANTUM), context=Context(prec=38))

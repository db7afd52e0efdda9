"""Putting lifecycle events on the bus, and the bookkeeping that removals need.

Entries that PutEvents reports as failed are retried; a record whose events still could not
all be delivered raises, so the batch reports it as a failure and Lambda delivers it again
(events already delivered are repeated with the same ids: consumers deduplicate on event_id).
"""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING, Any

from sessions.core.settings import get_settings
from sessions.domain.lifecycle_events import PendingEvent, is_erased, is_session_item, removed_by_ttl
from sessions.store import aws_client, default_store

if TYPE_CHECKING:
    from collections.abc import Sequence

PUT_EVENTS_MAX_ENTRIES = 10
PUT_ATTEMPTS = 4


class EventsNotDelivered(Exception):
    """Some events of a record were refused by EventBridge after every retry."""


def check_settings() -> None:
    """At INIT (the publisher's handler): a stack without the bus fails its cold start, not its first record."""
    get_settings().require("event_bus_name")


def put_events(events: Sequence[PendingEvent]) -> None:
    """Put events in calls of at most 10 entries, retrying the entries EventBridge refused."""
    settings = get_settings()
    bus = settings.resource("event_bus_name")
    entries = [
        {
            "EventBusName": bus,
            "Source": settings.event_source,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail),
            "Time": event.time,
        }
        for event in events
    ]
    for attempt in range(PUT_ATTEMPTS):
        refused = []
        for start in range(0, len(entries), PUT_EVENTS_MAX_ENTRIES):
            chunk = entries[start : start + PUT_EVENTS_MAX_ENTRIES]
            response = aws_client("events").put_events(Entries=chunk)
            if response.get("FailedEntryCount"):
                refused += [
                    entry for entry, result in zip(chunk, response["Entries"], strict=True) if result.get("ErrorCode")
                ]
        if not refused:
            return
        entries = refused
        time.sleep(random.uniform(0, 0.1 * 2**attempt))  # noqa: S311 - jitter, not a secret
    raise EventsNotDelivered(f"{len(entries)} events were refused by EventBridge")


def settle_removal(record: Any) -> None:
    """A session left the table: count it out as expired (once), and keep its history findable.

    Runs for every REMOVE of a session item (by DynamoDB's TTL or by the cleanup): exactly once
    per incarnation under redelivery, and with a purge marker so no history is left behind.
    """
    old = record.dynamodb.OldImage
    if record.eventName != "REMOVE" or not is_session_item(old) or is_erased(old):
        return  # an erased session was counted out when it was marked, and left nothing behind
    default_store().settle_removed_session(old, by_ttl=removed_by_ttl(record))

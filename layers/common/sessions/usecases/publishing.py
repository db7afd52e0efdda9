"""Putting lifecycle events on the bus, a stream batch at a time, and the bookkeeping that removals need.

The publisher's record handler turns each stream record into its events (settling a removal on the
way); once every record of the batch was handled, their events are put together, 10 entries to a
PutEvents call, entries of several records in one call, up to PUT_CONCURRENCY calls at once.
Entries EventBridge refuses are retried; a record some of whose events were still refused after that
fails, so the batch reports it and Lambda delivers it again (events already delivered are repeated
with the same ids: consumers deduplicate on event_id).
"""

from __future__ import annotations

import functools
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import BotoCoreError, ClientError

from sessions.core.settings import get_settings
from sessions.domain.lifecycle_events import PendingEvent, is_erased, is_session_item, removed_by_ttl
from sessions.store import aws_client, default_store

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

# PutEvents takes at most 10 entries (and 256 KB: an event's detail is ids and counts, under 4 KB)
PUT_EVENTS_MAX_ENTRIES = 10
PUT_ATTEMPTS = 4
PUT_CONCURRENCY = 4  # PutEvents calls of one batch in flight at once (botocore's pool keeps 10 connections)


class EventsNotDelivered(Exception):
    """Some events of a record were refused by EventBridge after every retry."""


def check_settings() -> None:
    """At INIT (the publisher's handler): a stack without the bus fails its cold start, not its first record."""
    get_settings().require("event_bus_name")


def put_events[Owner: Hashable](events_by_owner: Sequence[tuple[Owner, Sequence[PendingEvent]]]) -> dict[Owner, str]:
    """Put every owner's events in as few calls as possible; the owners some of whose events were refused, and why.

    Refused entries (and those of a call that failed outright) are retried, with jitter, up to
    PUT_ATTEMPTS times in all; what is returned is the error codes, never an entry's content.
    """
    settings = get_settings()
    bus = settings.resource("event_bus_name")
    pending = [
        (
            owner,
            {
                "EventBusName": bus,
                "Source": settings.event_source,
                "DetailType": event.detail_type,
                "Detail": json.dumps(event.detail),
                "Time": event.time,
            },
        )
        for owner, events in events_by_owner
        for event in events
    ]
    refused: list[tuple[Owner, dict[str, Any], str]] = []
    for attempt in range(PUT_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, 0.1 * 2**attempt))  # noqa: S311 - jitter, not a secret
        chunks = [
            pending[start : start + PUT_EVENTS_MAX_ENTRIES] for start in range(0, len(pending), PUT_EVENTS_MAX_ENTRIES)
        ]
        refused = [entry for chunk_refused in _put_chunks(chunks) for entry in chunk_refused]
        if not refused:
            return {}
        pending = [(owner, entry) for owner, entry, _ in refused]
    reasons: dict[Owner, set[str]] = {}
    for owner, _, code in refused:
        reasons.setdefault(owner, set()).add(code)
    return {owner: ", ".join(sorted(codes)) for owner, codes in reasons.items()}


def _put_chunks[Owner](
    chunks: list[list[tuple[Owner, dict[str, Any]]]],
) -> list[list[tuple[Owner, dict[str, Any], str]]]:
    """Each chunk's refused entries, in the chunks' order; up to PUT_CONCURRENCY calls in flight at once.

    A batch's calls in a row made its events wait for each other: 100 records' events were 10 round
    trips end to end (a sixth of a second on AWS, seconds on a loaded dev server), and the batch behind
    them waited too. Their order on the bus was never kept (consumers order by `version`).
    """
    if len(chunks) <= 1:
        return [_put_chunk(chunk) for chunk in chunks]
    return list(_putters().map(_put_chunk, chunks))


@functools.cache
def _putters() -> ThreadPoolExecutor:
    # one pool per execution environment, idle between invocations; botocore's clients are thread-safe
    return ThreadPoolExecutor(max_workers=PUT_CONCURRENCY, thread_name_prefix="put-events")


def _put_chunk[Owner](chunk: list[tuple[Owner, dict[str, Any]]]) -> list[tuple[Owner, dict[str, Any], str]]:
    """One PutEvents call: the entries it refused, with their error codes (all of them if the call failed)."""
    try:
        response = aws_client("events").put_events(Entries=[entry for _, entry in chunk])
    except ClientError as exc:  # throttled past the SDK's own retries, say: every entry of the call is retried
        code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
        return [(owner, entry, code) for owner, entry in chunk]
    except BotoCoreError as exc:  # the connection, not the request
        return [(owner, entry, type(exc).__name__) for owner, entry in chunk]
    if not response.get("FailedEntryCount"):
        return []
    return [
        (owner, entry, str(result["ErrorCode"]))
        for (owner, entry), result in zip(chunk, response["Entries"], strict=True)
        if result.get("ErrorCode")
    ]


class PublishingProcessor(BatchProcessor):
    """Powertools' BatchProcessor for DynamoDB streams whose record handler returns the record's events.

    Each record is still handled alone (a record that fails to parse or settle is that record's
    failure, and the records behind it are handled). Once all were, their events are put together
    (put_events), and a record some of whose events were refused becomes a failure too, before the
    processor reports the batch: a batch all of whose records failed, for either reason, still fails
    the invocation (unless raise_on_entire_batch_failure=False, as for a replay).
    """

    def __init__(self, *, raise_on_entire_batch_failure: bool = True) -> None:
        super().__init__(EventType.DynamoDBStreams, raise_on_entire_batch_failure=raise_on_entire_batch_failure)

    def process(self) -> list[tuple[Any, ...]]:
        results = super().process()
        # a success is ("success", what the record handler returned, the record as Lambda sent it)
        refused = put_events([(index, result[1]) for index, result in enumerate(results) if result[0] == "success"])
        for index, reason in refused.items():
            record = results[index][2]
            self.success_messages.remove(record)
            error = EventsNotDelivered(f"events of this record were refused by EventBridge: {reason}")
            results[index] = self.failure_handler(DynamoDBRecord(record), (type(error), error, None))
        return results


def settle_removal(record: Any) -> None:
    """A session left the table: count it out as expired (once), and keep its history findable.

    Runs for every REMOVE of a session item (by DynamoDB's TTL or by the cleanup): exactly once
    per incarnation under redelivery, and with a purge marker so no history is left behind.
    """
    old = record.dynamodb.OldImage
    if record.eventName != "REMOVE" or not is_session_item(old) or is_erased(old):
        return  # an erased session was counted out when it was marked, and left nothing behind
    default_store().settle_removed_session(old, by_ttl=removed_by_ttl(record))

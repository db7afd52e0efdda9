"""The publisher's FilterCriteria: every stream record it acts on passes, and nothing else does.

Records of real writes (creates, appends, patches, deletes, a re-used id, the cleanup, a TTL
removal) are matched against the template's own filters, as Lambda and the dev server match them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from local.event_sources.event_filters import accepted, filters_of
from local.stack.template import load_template
from sessions.domain.lifecycle_events import SessionStreamRecord, events_of, is_session_item
from tests.integration.conftest import publish, set_env
from tests.integration.test_cleanup import backdate, run

FILTERS = filters_of(
    load_template()["Resources"]["PublishEventsFunction"]["Properties"]["Events"]["Stream"]["Properties"][
        "FilterCriteria"
    ]
)


def acted_on(raw: dict[str, Any]) -> bool:
    """Whether the publisher does anything with the record: events to put, or a removal to settle."""
    record = SessionStreamRecord.model_validate(raw)
    removal = record.eventName == "REMOVE" and is_session_item(record.dynamodb.OldImage)
    return bool(events_of(record)) or removal


def kind(raw: dict[str, Any]) -> str:
    """The record's event and item kind: "INSERT #SESSION", "MODIFY #COUNTERS", "INSERT E#" …"""
    sk = raw["dynamodb"]["Keys"]["SK"]["S"]
    for prefix in ("E#", "#RUN#", "#SETTLED#", "#PURGE#"):
        if sk.startswith(prefix):
            sk = prefix
    return f"{raw['eventName']} {sk}"


@pytest.fixture(autouse=True)
def no_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")


def test_the_filters_pass_exactly_the_records_the_publisher_acts_on(gateway, table, stream):
    events = [{"type": "message", "content": "hi", "usage": {"tokens": 3}}]
    gateway.create({"session_id": "live", "events": events})
    gateway.request("POST", "/v1/sessions/live/events", {"type": "message", "content": "more"})
    gateway.request("PATCH", "/v1/sessions/live", {"status": "paused"})
    gateway.request("PATCH", "/v1/sessions/live", {"title": "renamed"})
    gateway.create({"session_id": "reused"})
    gateway.request("DELETE", "/v1/sessions/reused")
    gateway.create({"session_id": "reused"})  # a new incarnation over the deleted one's item
    gateway.create({"session_id": "old", "events": events})
    backdate(table, "old")
    run(gateway)  # removes "old" and its history, writes its run record (and takes and gives back its lease)
    gateway.create({"session_id": "ttl"})
    table.delete_item(Key={"PK": "T#acme#S#ttl", "SK": "#SESSION"})  # as DynamoDB's TTL would
    records = stream.read()
    first_batch = [record for record in records if accepted(FILTERS, record)]
    assert publish(gateway, first_batch) == {"batchItemFailures": []}  # settling writes markers and counters
    records += stream.read()

    passed, dropped = Counter(), Counter()
    for record in records:
        assert accepted(FILTERS, record) == acted_on(record), kind(record)
        (passed if accepted(FILTERS, record) else dropped)[kind(record)] += 1
    assert set(passed) == {"INSERT #SESSION", "MODIFY #SESSION", "REMOVE #SESSION", "INSERT #RUN#"}
    # history events, counters, stats shards, the cleanup's checkpoint and lease, settled and purge markers
    assert {"INSERT E#", "MODIFY #COUNTERS", "MODIFY #STATS", "INSERT #LEASE", "REMOVE #LEASE"} <= set(dropped)
    assert {"INSERT #SETTLED#", "INSERT #PURGE#"} <= set(dropped)
    assert sum(dropped.values()) > sum(passed.values())

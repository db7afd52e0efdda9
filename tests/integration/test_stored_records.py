"""What the store hands the use cases is what sessions.domain.records says: checked on items every write made.

Sessions, events and state documents are written through the template's handlers (every kind of
write that adds an attribute: create with events and state, append with a base and a part in S3,
redaction, fork, rewind, delete), then every item of the table is read back as the store reads it.
A record may lack an optional attribute, never a required one, and holds no attribute its type
does not name: a write that stores a new attribute fails here until its record names it.
"""

from __future__ import annotations

from typing import Any

import pytest

from sessions.core.attribute_values import from_item
from sessions.core.clock import format_ms, now_ms
from sessions.domain.records import EventRecord, SessionRecord, SessionSummaryRecord, StateDocument
from sessions.store import SessionQuery
from sessions.store.keys import event_record, record_of, session_record
from sessions.usecases import access


def attributes(record: type) -> tuple[set[str], set[str]]:
    """(required, every) attribute a record type names."""
    required = set(record.__required_keys__)  # type: ignore[attr-defined]
    return required, required | set(record.__optional_keys__)  # type: ignore[attr-defined]


def conforms(record: dict[str, Any], record_type: type) -> None:
    required, named = attributes(record_type)
    assert required <= set(record), (record_type.__name__, required - set(record))
    assert set(record) <= named, (record_type.__name__, set(record) - named)


def items(aws: dict[str, str]) -> list[dict[str, Any]]:
    client = access.store()._client  # type: ignore[attr-defined]
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": aws["SessionsTable"], "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def written(gateway) -> None:
    """Every kind of session write, each adding what it stores."""
    created = gateway.create(
        {
            "session_id": "parent",
            "app_name": "coder",
            "agent_id": "reviewer",
            "title": "All the attributes",
            "context": {"step": 1},
            "checkpoint": {"cursor": 2},
            "metadata": {"team": "a"},
            "runtime_backend": "lambda",
            "runtime_metadata": {"memory_mb": 512},
            "token_budget": 1000,
            "events": [
                {
                    "type": "message",
                    "role": "user",
                    "content": "hello",
                    "task_id": "t-1",
                    "metadata": {"k": "v"},
                    "usage": {"tokens": 3, "cost_usd": 0.5, "duration_ms": 12},
                    "timestamp": "2026-01-01T00:00:00Z",
                }
            ],
            "state_patch": {"user": {"seen": True}},
        }
    )
    assert created.status == 201, created.body
    appended = gateway.request(
        "POST",
        "/v1/sessions/parent/events",
        {
            "events": [
                {"type": "task", "content": "x" * 40_000, "payload": {"big": "y" * 40_000}, "base": True},
                {"type": "message", "content": "after the base"},
                {"type": "message", "content": "to be rewound"},
            ]
        },
    )
    assert appended.status == 201, appended.body
    redacted = gateway.request("PATCH", "/v1/sessions/parent/events/1", {"content": None})
    assert redacted.status == 200, redacted.body
    forked = gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "fork", "at_seq": 3})
    assert forked.status == 201, forked.body
    rewound = gateway.request("DELETE", "/v1/sessions/parent/events", query="from_seq=4")
    assert rewound.status == 200, rewound.body
    fork_rewound = gateway.request("DELETE", "/v1/sessions/fork/events", query="from_seq=3")  # an inherited event
    assert fork_rewound.status == 200, fork_rewound.body
    assert gateway.request("POST", "/v1/sessions/fork/events", {"type": "message"}).status == 201
    assert gateway.create({"session_id": "gone"}).status == 201
    assert gateway.request("DELETE", "/v1/sessions/gone").status == 204


def test_every_stored_session_event_and_state_document_is_its_record(written, aws):
    kinds: dict[str, int] = {"session": 0, "event": 0, "state": 0}
    for item in items(aws):
        sort_key = item["SK"]["S"]
        if sort_key == "#SESSION":
            conforms(dict(session_record(item)), SessionRecord)
            kinds["session"] += 1
        elif sort_key.startswith("E#"):
            conforms(dict(event_record(item)), EventRecord)
            kinds["event"] += 1
        elif sort_key == "#STATE":
            conforms(record_of(item), StateDocument)
            kinds["state"] += 1
    # the parent's 3 left (the fork reads 1 and 2 where they are) and the fork's own one
    assert kinds == {"session": 3, "event": 4, "state": 1}


def test_the_writes_stored_the_optional_attributes_the_records_name(written, aws):
    """So the test above held them against their types, not only the required ones."""
    in_sessions = (item for item in map(from_item, items(aws)) if "#S#" in item["PK"])  # their partitions
    stored = {(item["PK"].rsplit("#S#", 1)[1], item["SK"]): item for item in in_sessions}
    parent, fork = stored["parent", "#SESSION"], stored["fork", "#SESSION"]
    assert {"history_base_seq", "compacted_count", "base_history", "history_change", "fork_count"} <= set(parent)
    assert {"lineage", "lineage_rev", "forked_from", "last_event_at", "last_seq"} <= set(fork)
    events = [item for (_, sort_key), item in stored.items() if sort_key.startswith("E#")]
    assert any("blobs" in event for event in events) and any(event.get("base") for event in events)


def test_a_page_of_sessions_holds_summary_records(written):
    store = access.store()
    now = format_ms(now_ms())
    lean = store.list_sessions(SessionQuery(tenant_id="acme", user_id="u-1", now=now, limit=10))
    whole = store.list_sessions(SessionQuery(tenant_id="acme", user_id="u-1", now=now, limit=10, include_context=True))
    assert sorted(record["session_id"] for record in lean.records) == ["fork", "parent"]
    required, _ = attributes(SessionSummaryRecord)
    for record in lean.records:
        assert required <= set(record)
    for record in whole.records:
        conforms(dict(record), SessionRecord)

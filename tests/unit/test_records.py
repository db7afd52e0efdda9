"""The record types (sessions.domain.records) say what is stored: held against the template and the API's models.

A TypedDict costs nothing at runtime, so nothing checks it but mypy and these tests: each fails when
a field is added to the contract, a write or an index without its record saying so.
"""

from __future__ import annotations

import pytest

from local.stack.template import load_template, local_resolver
from sessions.domain.models import EVENT_FIELDS, PUBLIC_FIELDS, SUMMARY_FIELDS, CreateSessionRequest
from sessions.domain.records import (
    EventRecord,
    ExpiryEntry,
    SessionChanges,
    SessionRecord,
    SessionSummaryRecord,
    StateDocument,
    StateView,
)

TEMPLATE = load_template()
TABLE_KEYS = {"PK", "SK"}


def attributes(record: type) -> set[str]:
    return set(record.__required_keys__) | set(record.__optional_keys__)  # type: ignore[attr-defined]


def projected(index_name: str) -> set[str]:
    table = TEMPLATE["Resources"]["SessionsTable"]["Properties"]
    (index,) = [index for index in table["GlobalSecondaryIndexes"] if index["IndexName"] == index_name]
    projection = local_resolver({}, TEMPLATE).resolve(index["Projection"])
    return set(projection["NonKeyAttributes"]) | {key["AttributeName"] for key in index["KeySchema"]}


@pytest.mark.parametrize("index_name", ["ByUser", "ByAgent", "ByUserActivity", "ByApp", "ByAppActivity"])
def test_a_summary_record_is_what_the_lean_list_indexes_project(index_name):
    index_keys = {"by_user_pk", "by_agent_pk", "by_app_pk", "created_key", "active_key"}
    assert attributes(SessionSummaryRecord) == projected(index_name) - index_keys


def test_an_expiry_entry_is_what_the_expiry_index_projects():
    assert attributes(ExpiryEntry) == projected("ByExpiry") - {"expiry_bucket"} | TABLE_KEYS


def test_every_field_the_api_answers_for_a_session_is_an_attribute_of_its_record():
    assert set(PUBLIC_FIELDS) <= attributes(SessionRecord)
    assert set(SUMMARY_FIELDS) <= attributes(SessionSummaryRecord)
    # a create stores every field of its body but those that are not the session's own
    not_stored = {"ttl_seconds", "events", "user_id", "state_patch", "state_set"}
    assert set(CreateSessionRequest.model_fields) - not_stored <= attributes(SessionRecord)


def test_a_summary_is_part_of_a_session_and_a_change_changes_its_attributes():
    assert attributes(SessionSummaryRecord) < attributes(SessionRecord)
    assert attributes(SessionChanges) < attributes(SessionRecord)
    assert not SessionChanges.__required_keys__  # type: ignore[attr-defined]


def test_every_field_the_api_answers_for_an_event_is_stored_but_its_urls():
    assert set(EVENT_FIELDS) - {"content_url", "payload_url"} <= attributes(EventRecord)
    assert attributes(EventRecord) - set(EVENT_FIELDS) == {"blobs"}  # where parts over 32 KiB lie, never answered


def test_a_state_view_is_its_document_without_the_writer_plus_whose_it_is():
    assert attributes(StateView) == attributes(StateDocument) - {"updated_by"} | {"app_name", "user_id"}

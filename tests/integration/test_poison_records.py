"""A stream record nobody can handle fails alone: the records behind it are read and published."""

from __future__ import annotations

import boto3

from tests.integration.conftest import publish


def _sequence_of(records, session_id: str) -> str:
    (poison,) = [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"] == f"T#acme#S#{session_id}"]
    return poison["dynamodb"]["SequenceNumber"]


def _poison_session_item(aws, session_id: str, **attributes) -> None:
    """A session item as no release of ours writes it, put straight into the table."""
    item = {
        "PK": {"S": f"T#acme#S#{session_id}"},
        "SK": {"S": "#SESSION"},
        "session_id": {"S": session_id},
        **attributes,
    }
    boto3.client("dynamodb").put_item(TableName=aws["SessionsTable"], Item=item)


def test_a_record_the_sdk_cannot_parse_neither_stops_the_reader_nor_the_records_behind_it(
    gateway, aws, stream, bus_queue
):
    before = gateway.create({}).body["session_id"]
    # the item: an empty object key, which the emulator stores mangled and returns as a
    # map the SDK cannot parse (the API refuses it now; a direct write still can)
    _poison_session_item(aws, "poison", context={"M": {"": {"N": "1"}}})
    after = gateway.create({}).body["session_id"]

    records = stream.read()  # raised on every read before: the shard was stuck
    response = publish(gateway, records)
    assert response == {"batchItemFailures": [{"itemIdentifier": _sequence_of(records, "poison")}]}
    created = {m["detail"]["session_id"] for m in bus_queue() if m["detail-type"] == "session.created"}
    assert created == {before, after}


def test_a_record_the_publisher_cannot_handle_is_the_only_failure_of_its_batch(gateway, aws, stream, bus_queue):
    before = gateway.create({}).body["session_id"]
    _poison_session_item(aws, "no-status", user_id={"S": "u-1"})  # no status, usage, version …
    after = gateway.create({}).body["session_id"]

    records = stream.read()
    response = publish(gateway, records)
    assert response == {"batchItemFailures": [{"itemIdentifier": _sequence_of(records, "no-status")}]}
    created = {m["detail"]["session_id"] for m in bus_queue() if m["detail-type"] == "session.created"}
    assert created == {before, after}

"""Replaying a failed stream batch from the on-failure record, as docs/operations.md tells operators."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.api.gateway import LambdaContext
from sessions.usecases.stream_replay import NotAFailedBatch
from tests.integration.conftest import publish


def on_failure_record(stream, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What Lambda sends the PublishDeadLetterQueue when a batch failed past its retries (the SQS message body)."""
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream.stream_arn)["StreamDescription"]
    return {
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-4f34-8a36-8d1e1b4c8f0e",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:sessions-PublishEventsFunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-23T19:00:03.120Z",
        "DDBStreamBatchInfo": {
            "shardId": shard["Shards"][0]["ShardId"],
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": "2026-11-23T19:00:01Z",
            "approximateArrivalOfLastRecord": "2026-11-23T19:00:02Z",
            "batchSize": len(records),
            "streamArn": stream.stream_arn,
        },
    }


def invoke(gateway, event: dict[str, Any]) -> dict[str, Any]:
    return gateway.handler("PublishEventsFunction")(event, LambdaContext("PublishEventsFunction", timeout_seconds=60))


def event_ids(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((m["detail-type"], m["detail"]["event_id"]) for m in messages)


@pytest.fixture
def lost_batch(gateway, table, stream) -> list[dict[str, Any]]:
    """A create, a pause, a second session removed while open: a batch the publisher never got through."""
    stream.read()
    assert gateway.create({"session_id": "kept"}).status == 201
    assert gateway.request("PATCH", "/v1/sessions/kept", {"status": "paused"}).status == 200
    assert gateway.create({"session_id": "gone"}).status == 201
    table.delete_item(Key={"PK": "T#acme#S#gone", "SK": "#SESSION"})  # DynamoDB's TTL, say
    return stream.read()


def test_replaying_the_on_failure_record_publishes_the_events_and_settles_the_removal(
    gateway, table, stream, bus_queue, lost_batch
):
    result = invoke(gateway, on_failure_record(stream, lost_batch))
    assert result["complete"] is True
    (batch,) = result["batches"]
    assert (batch["status"], batch["records"], batch["failed"]) == ("replayed", len(lost_batch), [])

    published = bus_queue()
    assert sorted(m["detail-type"] for m in published) == [
        "session.created",
        "session.created",
        "session.expired",
        "session.paused",
    ]
    counters = table.get_item(Key={"PK": "T#acme#U#u-1", "SK": "#COUNTERS"})["Item"]
    assert counters["open_sessions"] == 1  # "gone" gave its slot back
    assert gateway.request("GET", "/v1/sessions/stats").body["expired_total"] == 1

    # the very events Lambda would have delivered: same ids, so consumers deduplicate a replay
    publish(gateway, lost_batch)
    assert event_ids(bus_queue()) == event_ids(published)


def test_replaying_twice_repeats_the_events_and_counts_nothing_twice(gateway, table, stream, bus_queue, lost_batch):
    record = on_failure_record(stream, lost_batch)
    assert invoke(gateway, record)["complete"] is True
    first = bus_queue()
    # the second time as `aws sqs receive-message` prints the queue's messages
    received = {"Messages": [{"MessageId": "1", "ReceiptHandle": "r", "Body": json.dumps(record)}]}
    assert invoke(gateway, received)["complete"] is True
    assert event_ids(bus_queue()) == event_ids(first)
    counters = table.get_item(Key={"PK": "T#acme#U#u-1", "SK": "#COUNTERS"})["Item"]
    assert counters["open_sessions"] == 1
    assert gateway.request("GET", "/v1/sessions/stats").body["expired_total"] == 1


def test_a_replay_after_the_cap_repair_counts_out_only_the_stats(gateway, table, stream, monkeypatch, lost_batch):
    from tests.integration.conftest import set_env

    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="2")
    assert gateway.create({}).status == 201  # at the cap only because "gone" was never settled: repaired
    assert gateway.create({}).status == 429
    assert invoke(gateway, on_failure_record(stream, lost_batch))["complete"] is True
    counters = table.get_item(Key={"PK": "T#acme#U#u-1", "SK": "#COUNTERS"})["Item"]
    assert counters["open_sessions"] == 2  # not 1: the slot was given back once
    assert gateway.create({}).status == 429
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert (stats["expired_total"], stats["sessions"]["active"], stats["sessions"]["paused"]) == (1, 1, 1)


def test_only_the_stretch_the_record_names_is_replayed(gateway, stream, bus_queue, lost_batch):
    paused = next(
        i for i, r in enumerate(lost_batch) if r["dynamodb"].get("NewImage", {}).get("status", {}).get("S") == "paused"
    )
    result = invoke(gateway, on_failure_record(stream, lost_batch[paused : paused + 1]))
    assert result["batches"][0]["records"] == 1
    assert [m["detail-type"] for m in bus_queue()] == ["session.paused"]


def test_records_that_still_fail_are_reported_to_the_operator(gateway, stream, monkeypatch, lost_batch):
    from sessions.usecases import publishing

    def refused(Entries):
        return {"FailedEntryCount": len(Entries), "Entries": [{"ErrorCode": "InternalFailure"}] * len(Entries)}

    monkeypatch.setattr(publishing.aws_client("events"), "put_events", refused)  # EventBridge is down
    monkeypatch.setattr(publishing.time, "sleep", lambda _: None)
    result = invoke(gateway, on_failure_record(stream, lost_batch))  # every record failed: reported, not raised
    assert result["complete"] is False
    batch = result["batches"][0]
    assert batch["status"] == "partly_failed"
    with_events = {
        r["dynamodb"]["SequenceNumber"] for r in lost_batch if r["dynamodb"]["Keys"]["SK"]["S"] == "#SESSION"
    }
    assert set(batch["failed"]) == with_events


def test_a_batch_the_stream_no_longer_holds_is_reported_not_guessed_at(gateway, stream, bus_queue, lost_batch):
    record = on_failure_record(stream, lost_batch)
    # a record older than the oldest the stream holds: trimmed (DynamoDB keeps records 24 hours)
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream.stream_arn)["StreamDescription"]
    oldest = int(shard["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"])
    record["DDBStreamBatchInfo"]["startSequenceNumber"] = str(oldest - 1)
    result = invoke(gateway, record)
    assert result["complete"] is False
    assert result["batches"][0]["status"] == "no_longer_in_stream"
    assert bus_queue() == []


def test_a_batch_older_than_a_day_is_refused_though_the_stream_still_holds_it(
    gateway, table, stream, bus_queue, lost_batch, monkeypatch
):
    from sessions.core.clock import now_ms
    from sessions.store import stream_batches
    from sessions.store.keys import MARKER_LIFETIME_SECONDS

    # DynamoDB may still hold a record past 24 h (it trims "at any moment" after that); replaying it
    # then could count a removal twice once its settled marker has expired
    a_day_later = now_ms() + (24 * 3600 + 60) * 1000
    monkeypatch.setattr(stream_batches, "now_ms", lambda: a_day_later)
    result = invoke(gateway, on_failure_record(stream, lost_batch))
    assert result["batches"][0]["status"] == "no_longer_in_stream" and result["complete"] is False
    assert bus_queue() == []
    assert gateway.request("GET", "/v1/sessions/stats").body["expired_total"] == 0  # nothing settled
    assert MARKER_LIFETIME_SECONDS > 24 * 3600  # a marker outlives every record that can still be replayed


def test_lambda_gives_up_on_a_record_before_the_markers_that_settle_it_expire():
    from local.stack.template import load_template
    from sessions.store.keys import MARKER_LIFETIME_SECONDS, STREAM_RECORD_MAX_AGE_SECONDS

    stream = load_template()["Resources"]["PublishEventsFunction"]["Properties"]["Events"]["Stream"]["Properties"]
    assert int(stream["MaximumRecordAgeInSeconds"]) <= STREAM_RECORD_MAX_AGE_SECONDS < MARKER_LIFETIME_SECONDS


@pytest.mark.parametrize(
    "change",
    [
        lambda info: info.update(streamArn=info["streamArn"].replace("SessionsTable", "OtherTable")),
        lambda info: info.pop("shardId"),
        lambda info: info.update(startSequenceNumber="x"),
        lambda info: info.update(startSequenceNumber="9" + info["endSequenceNumber"]),
    ],
)
def test_a_record_that_is_not_a_failed_batch_of_this_table_is_refused(gateway, stream, lost_batch, change):
    record = on_failure_record(stream, lost_batch)
    change(record["DDBStreamBatchInfo"])
    with pytest.raises(NotAFailedBatch):
        invoke(gateway, record)


def test_a_message_without_a_readable_body_is_refused(gateway):
    with pytest.raises(NotAFailedBatch):
        invoke(gateway, {"Messages": [{"MessageId": "1", "Body": "not json"}]})


def test_a_replayed_ttl_deletion_is_still_an_expiry_by_ttl(gateway, table, stream, bus_queue):
    """GetRecords names the TTL principal PrincipalId; Lambda's event, which the publisher reads, principalId."""
    import time

    from local.aws import moto_ttl

    assert gateway.create({"session_id": "ttl-gone"}).status == 201
    stream.read()
    table.update_item(
        Key={"PK": "T#acme#S#ttl-gone", "SK": "#SESSION"},
        UpdateExpression="SET #ttl = :past",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":past": int(time.time()) - 10},
    )
    assert moto_ttl.sweep("us-east-1") == 1
    lost = stream.read()
    result = invoke(gateway, on_failure_record(stream, lost))
    assert result["complete"] is True, json.dumps(result)
    expired = [m for m in bus_queue() if m["detail-type"] == "session.expired"]
    assert [m["detail"]["reason"] for m in expired] == ["ttl"]

"""The publisher puts a stream batch's events together, 10 entries to a PutEvents call, and fails only what failed."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from local.event_sources.event_filters import accepted
from sessions.domain.lifecycle_events import SessionStreamRecord, events_of
from tests.integration.conftest import publish, set_env, stream_filters


class EventBridgeRecorder:
    """Stands in front of the emulator's PutEvents: counts calls, and refuses the entries it is told to."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from sessions.usecases import publishing

        self.calls: list[list[str]] = []  # each call's entries, by event_id
        self.refuse: set[str] = set()  # event_ids refused on every attempt
        self.refuse_all = False
        self.throttle_calls = 0  # this many calls fail outright first, as a throttled SDK call does
        self._lock = threading.Lock()
        self._real = publishing.aws_client("events").put_events
        monkeypatch.setattr(publishing.aws_client("events"), "put_events", self.put_events)
        monkeypatch.setattr(publishing.time, "sleep", lambda _: None)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [json.loads(entry["Detail"])["event_id"] for entry in Entries]
        with self._lock:  # a batch's calls run in threads of their own
            self.calls.append(ids)
            if self.refuse_all:
                self.refuse.update(ids)
            throttled = self.throttle_calls > 0
            self.throttle_calls -= throttled
        if throttled:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutEvents")
        accepted = [entry for entry in Entries if json.loads(entry["Detail"])["event_id"] not in self.refuse]
        delivered = iter(self._real(Entries=accepted)["Entries"] if accepted else [])
        results = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "refused"}
            if json.loads(entry["Detail"])["event_id"] in self.refuse
            else next(delivered)
            for entry in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


@pytest.fixture
def eventbridge(gateway, monkeypatch) -> EventBridgeRecorder:
    return EventBridgeRecorder(monkeypatch)


def for_publisher(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the event-source mapping hands the publisher: the records its FilterCriteria pass."""
    filters = stream_filters("PublishEventsFunction", "Stream")
    return [record for record in records if accepted(filters, record)]


def sequence(record: dict[str, Any]) -> str:
    return record["dynamodb"]["SequenceNumber"]


@pytest.fixture
def appends(gateway, stream) -> list[dict[str, Any]]:
    """100 stream records of single appends, one session.event_appended each."""
    sid = gateway.create({}).body["session_id"]
    stream.read()
    for n in range(100):
        assert (
            gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "message", "content": f"m{n}"}).status == 201
        )
    records = for_publisher(stream.read())
    assert len(records) == 100
    return records


def test_a_batchs_put_events_calls_are_in_flight_together(gateway, appends, eventbridge, bus_queue, monkeypatch):
    """Not one after another: a batch's events do not wait for each other's round trips."""
    from sessions.usecases import publishing

    lock, in_flight, most = threading.Lock(), [0], [0]
    recorded = eventbridge.put_events

    def slow(Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        threading.Event().wait(0.05)  # a round trip (time.sleep is stubbed out by the recorder)
        try:
            return recorded(Entries=Entries)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(publishing.aws_client("events"), "put_events", slow)
    assert publish(gateway, appends) == {"batchItemFailures": []}
    assert most[0] == publishing.PUT_CONCURRENCY
    assert len({m["detail"]["event_id"] for m in bus_queue()}) == 100


def test_a_batch_of_100_appends_takes_10_put_events_calls(gateway, appends, eventbridge, bus_queue):
    assert publish(gateway, appends) == {"batchItemFailures": []}
    assert [len(call) for call in eventbridge.calls] == [10] * 10
    received = bus_queue()
    assert [m["detail-type"] for m in received] == ["session.event_appended"] * 100
    assert len({m["detail"]["event_id"] for m in received}) == 100


def test_an_entry_refused_in_the_middle_fails_only_its_record(gateway, appends, eventbridge, bus_queue):
    from sessions.usecases.publishing import PUT_ATTEMPTS

    (refused,) = events_of(SessionStreamRecord.model_validate(appends[56]))  # its id is the record's, every time
    eventbridge.refuse.add(refused.detail["event_id"])

    response = publish(gateway, appends)
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(appends[56])}]}
    # 10 calls, then the refused entry alone, retried up to PUT_ATTEMPTS in all
    assert [len(call) for call in eventbridge.calls] == [10] * 10 + [1] * (PUT_ATTEMPTS - 1)
    received = bus_queue()
    assert len(received) == 99 and refused.detail["event_id"] not in {m["detail"]["event_id"] for m in received}


def test_a_call_that_fails_outright_is_retried(gateway, appends, eventbridge, bus_queue):
    eventbridge.throttle_calls = 2  # the first two calls: entries of 20 records
    assert publish(gateway, appends[:30]) == {"batchItemFailures": []}
    assert [len(call) for call in eventbridge.calls] == [10, 10, 10, 10, 10]  # 3 calls, then the 20 entries again
    assert len(bus_queue()) == 30


def _poison_session_item(aws, session_id: str) -> None:
    """A session item as no release writes it (no status, usage, version …), put straight into the table."""
    item = {"PK": {"S": f"T#acme#S#{session_id}"}, "SK": {"S": "#SESSION"}, "session_id": {"S": session_id}}
    boto3.client("dynamodb").put_item(TableName=aws["SessionsTable"], Item=item)


def test_a_record_failing_to_parse_among_good_ones_fails_alone(
    gateway, aws, stream, eventbridge, bus_queue, monkeypatch
):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="30")
    before = [gateway.create({}).body["session_id"] for _ in range(12)]
    _poison_session_item(aws, "poison")
    after = [gateway.create({}).body["session_id"] for _ in range(12)]
    records = for_publisher(stream.read())
    (poison,) = [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"] == "T#acme#S#poison"]

    assert publish(gateway, records) == {"batchItemFailures": [{"itemIdentifier": sequence(poison)}]}
    # the good records' events, together (the calls run concurrently: in any order)
    assert sorted(len(call) for call in eventbridge.calls) == [4, 10, 10]
    created = {m["detail"]["session_id"] for m in bus_queue() if m["detail-type"] == "session.created"}
    assert created == set(before + after)


def test_a_batch_whose_every_record_failed_fails_the_invocation(gateway, aws, stream, eventbridge, bus_queue):
    """Lambda then bisects the batch; here a record failed to parse and EventBridge refused the others' events."""
    for _ in range(3):
        gateway.create({})
    _poison_session_item(aws, "poison")
    records = for_publisher(stream.read())
    assert len(records) == 4
    eventbridge.refuse_all = True

    with pytest.raises(BatchProcessingError):
        publish(gateway, records)
    assert bus_queue() == []


def test_a_batch_whose_every_event_was_refused_fails_the_invocation(gateway, appends, eventbridge, bus_queue):
    eventbridge.refuse_all = True
    with pytest.raises(BatchProcessingError):
        publish(gateway, appends[:15])
    assert bus_queue() == []

"""Lifecycle events over the dev server: an EventBridge consumer on the emulator receives them unaided."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.stack.template import load_template, local_resolver
from tests.e2e.client import Client
from tests.e2e.conftest import DevServer, launch

DELIVERY_TIMEOUT_SECONDS = 10
FIRST_EVENT_WITHIN_SECONDS = 3  # the promise is one second; the slack is for a busy CI machine
LIFECYCLE = [
    "session.created",
    "session.updated",
    "session.paused",
    "session.resumed",
    "session.event_appended",
    "session.completed",
    "session.deleted",
]


@dataclass
class Consumer:
    """An SQS queue behind a rule on the stack's bus, as a consumer of the events would set it up."""

    sqs: Any
    queue_url: str

    def receive(self) -> list[dict[str, Any]]:
        """What arrived since the last call: each message's event, with its SentTimestamp (epoch ms)."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["SentTimestamp"]
            ).get("Messages", [])
            if not batch:
                return received
            received += [{**json.loads(m["Body"]), "sent_ms": int(m["Attributes"]["SentTimestamp"])} for m in batch]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )


def bus_name() -> str:
    template = load_template()
    return str(local_resolver({}, template).resolve(template["Resources"]["SessionsBus"]["Properties"]["Name"]))


@contextmanager
def consumer_on(emulator_url: str) -> Iterator[Consumer]:
    """A queue and a rule on the emulator's bus for as long as the block runs."""
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=emulator_url)
    events = session.client("events", endpoint_url=emulator_url)
    name = f"consumer-{uuid.uuid4().hex[:12]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = bus_name()
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["sessions"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    try:
        yield Consumer(sqs, url)
    finally:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=["queue"])
        events.delete_rule(Name=name, EventBusName=bus)
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def consumer(dev_server: DevServer) -> Iterator[Consumer]:
    with consumer_on(dev_server.moto_url) as consumer:
        yield consumer


def events_of(consumer: Consumer, session_id: str, count: int) -> list[dict[str, Any]]:
    """The session's events, deduplicated on event_id as the contract asks, by version; waits for `count`."""
    mine: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while len(mine) < count and time.monotonic() < deadline:
        for event in consumer.receive():
            if event["detail"].get("session_id") == session_id:
                mine.setdefault(event["detail"]["event_id"], event)
        time.sleep(0.1)
    return sorted(mine.values(), key=lambda event: event["detail"]["version"])


def test_a_consumer_on_the_local_bus_receives_a_sessions_lifecycle_in_order(
    api: Client, consumer: Consumer, user: str, tenant: str
) -> None:
    client = api.as_(user=user, tenant=tenant)
    started = time.time()
    created = client.post("/v1/sessions", {"title": "Events", "context": {"secret": "ctx-only"}})
    assert created.status == 201, created.body
    path = f"/v1/sessions/{created.json()['session_id']}"
    for change in ({"title": "Renamed"}, {"status": "paused"}, {"status": "active"}):
        assert client.patch(path, change).status == 200
    assert client.post(f"{path}/events", {"type": "message", "content": "hi"}).status == 201
    assert client.patch(path, {"status": "completed"}).status == 200
    assert client.delete(path).status == 204

    received = events_of(consumer, created.json()["session_id"], len(LIFECYCLE))

    assert [event["detail-type"] for event in received] == LIFECYCLE
    assert [event["detail"]["version"] for event in received] == list(range(1, len(LIFECYCLE) + 1))
    for event in received:
        detail = event["detail"]
        assert {"event_id", "occurred_at", "version", "usage"} <= detail.keys()
        assert not {"context", "checkpoint", "content", "payload"} & detail.keys()
        assert event["source"] == "sessions"
    assert "ctx-only" not in json.dumps(received)
    first_delay = received[0]["sent_ms"] / 1000 - started
    assert first_delay < FIRST_EVENT_WITHIN_SECONDS, f"session.created reached the queue after {first_delay:.2f} s"


def test_the_cleanup_runs_on_its_schedule_and_announces_each_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_SCHEDULE_SECONDS", "1")  # instead of the template's rate(1 hour)
    server = launch(tmp_path)
    try:
        with consumer_on(server.moto_url) as consumer:
            runs: list[dict[str, Any]] = []
            deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
            while not runs and time.monotonic() < deadline:
                runs = [e for e in consumer.receive() if e["detail-type"] == "sessions.cleanup_completed"]
                time.sleep(0.2)
    finally:
        exit_code = server.stop()
    assert runs, f"no sessions.cleanup_completed within {DELIVERY_TIMEOUT_SECONDS} s:\n{server.stderr()}"
    assert runs[0]["detail"]["dry_run"] is False  # a schedule's envelope is not a dry run
    assert "schedule CleanupFunction every 1 s" in server.stderr()  # the banner names it
    assert exit_code == 0


def test_a_session_past_its_60_second_ttl_is_gone_and_the_cleanup_expires_it(
    api: Client, consumer: Consumer, dev_server: DevServer, user: str, tenant: str
) -> None:
    client = api.as_(user=user, tenant=tenant)
    created = client.post("/v1/sessions", {"ttl_seconds": 60})
    assert created.status == 201, created.body
    session_id = created.json()["session_id"]
    assert client.post(f"/v1/sessions/{session_id}/events", {"type": "message", "content": "hi"}).status == 201
    time.sleep(61)  # the shortest lifetime the contract allows
    assert client.get(f"/v1/sessions/{session_id}").status == 404  # gone at expires_at, before any cleanup
    lambda_client = boto3.client(
        "lambda",
        endpoint_url=dev_server.lambda_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    dry = json.loads(
        lambda_client.invoke(FunctionName="CleanupFunction", Payload=b'{"dry_run": true}')["Payload"].read()
    )
    assert dry["dry_run"] is True and dry["sessions_expired"] >= 1 and dry["history_events_deleted"] >= 1
    summary = json.loads(lambda_client.invoke(FunctionName="CleanupFunction", Payload=b"{}")["Payload"].read())
    assert summary["dry_run"] is False and summary["sessions_expired"] >= 1 and summary["complete"] is True
    expired = [e for e in events_of(consumer, session_id, 3) if e["detail-type"] == "session.expired"]
    assert [e["detail"]["reason"] for e in expired] == ["cleanup"]
    stats = client.get("/v1/sessions/stats").json()
    assert stats["expired_total"] == 1 and stats["sessions"]["active"] == 0

"""A received message's retention is checked as moto checks it (local/aws/moto_sqs.py), without listing the queue."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Queue, SQSBackend, sqs_backends

from local.aws import moto_sqs

REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.fixture
def backend() -> Iterator[SQSBackend]:
    with mock_aws():
        moto_sqs.install()
        yield sqs_backends[ACCOUNT][REGION]


def _queue_with_messages(backend: SQSBackend, retention: str, count: int) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=f"q{retention}", Attributes={"MessageRetentionPeriod": retention})["QueueUrl"]
    for i in range(count):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    return url.rsplit("/", 1)[1]


@pytest.mark.parametrize("age_seconds, retention", [(0, "60"), (59.5, "60"), (60.5, "60"), (3600, "1209600")])
def test_a_message_is_kept_exactly_while_moto_would_keep_it(
    backend: SQSBackend, age_seconds: float, retention: str
) -> None:
    name = _queue_with_messages(backend, retention, 1)
    message = backend.get_queue(name)._messages[0]
    message.sent_timestamp = int(message.sent_timestamp) - int(age_seconds * 1000)
    assert moto_sqs.is_message_valid_based_on_retention_period(backend, name, message) == moto_sqs._moto_check(
        backend, name, message
    )


def test_checking_a_message_does_not_count_the_queue(backend: SQSBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _queue_with_messages(backend, "60", 50)
    monkeypatch.setattr(Queue, "attributes", property(lambda _q: pytest.fail("built every attribute of the queue")))
    message = backend.get_queue(name)._messages[0]
    assert moto_sqs.is_message_valid_based_on_retention_period(backend, name, message)


def test_messages_past_their_retention_are_not_received(backend: SQSBackend) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    name = _queue_with_messages(backend, "60", 3)
    backend.get_queue(name)._messages[2].sent_timestamp -= 61_000  # moto stops receiving at an expired message
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies) == ["0", "1"]

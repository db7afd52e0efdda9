"""A stream record that always fails holds up the records behind it no longer than the retry policy says.

The policy is the publisher's event in template.yaml (ReportBatchItemFailures, BisectBatchOnFunctionError,
MaximumRetryAttempts, the OnFailure queue), which the dev server's stream feeder emulates: driven here
with a fake runtime and no sleeping (the feeder returns each wait it asks for), then once over the
dev server with a real poison item in its table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.event_sources.stream_feeder import (
    FIRST_BACKOFF_SECONDS,
    MAX_BACKOFF_SECONDS,
    StreamFeeder,
    StreamSource,
    stream_sources,
)
from local.server import LocalStack, background_workers
from local.stack.template import create_aws_resources, load_template, local_resolver
from tests.e2e.client import Client
from tests.e2e.conftest import launch
from tests.e2e.test_background_workers import FakeRuntime, FakeStream, crash, ok, record
from tests.e2e.test_events_e2e import consumer_on

POISON = 1


def template_policy() -> StreamSource:
    (source,) = [
        s for s in stream_sources(load_template(), local_resolver({})) if s.function == "PublishEventsFunction"
    ]
    assert (source.max_retries, source.bisect, source.report_item_failures) == (10, True, True)
    return source


def backoffs(count: int) -> float:
    """The feeder's first `count` waits after failures: doubling from 0.2 s, at most 5 s each."""
    return sum(min(FIRST_BACKOFF_SECONDS * 2**k, MAX_BACKOFF_SECONDS) for k in range(count))


class Clock:
    """Runs a feeder round by round, adding up the waits it asks for: simulated seconds."""

    def __init__(self, worker: StreamFeeder) -> None:
        self.worker, self.now = worker, 0.0

    def run_until(self, done: Any, rounds: int = 500) -> float:
        """Rounds until `done()`; the simulated time of the round that did it."""
        for _ in range(rounds):
            wait = self.worker.poll_once()
            if done():
                return self.now
            self.now += wait
        raise AssertionError("not done")


def delivered(runtime: FakeRuntime, sequence: int) -> bool:
    return any(sequence in batch for batch in runtime.batches)


def test_a_record_reported_as_failed_delays_the_records_behind_it_by_one_backoff_at_most() -> None:
    source = template_policy()
    # what the publisher does: every record of the batch is handled, the poison one reported
    runtime = FakeRuntime(lambda batch: ok(POISON) if POISON in batch else ok())
    stream = FakeStream(POISON, 2, 3)
    sent: list[dict[str, Any]] = []
    worker = StreamFeeder(source, lambda: stream, runtime.invoke, on_failure=sent.append)
    clock = Clock(worker)
    assert clock.run_until(lambda: delivered(runtime, 3)) == 0  # behind it, in the same batch: at once

    # each record written while the poison one is retried goes out with the next retry
    for sequence in range(4, 4 + source.max_retries):
        written_at = clock.now
        stream.new = [record(sequence)]
        assert clock.run_until(lambda s=sequence: delivered(runtime, s)) - written_at <= MAX_BACKOFF_SECONDS

    # after MaximumRetryAttempts retries the batch is given up: its metadata goes to the OnFailure queue
    clock.run_until(lambda: bool(sent))
    assert sum(POISON in batch for batch in runtime.batches) == 1 + source.max_retries
    assert clock.now <= backoffs(source.max_retries) + MAX_BACKOFF_SECONDS
    info = sent[0]["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], sent[0]["requestContext"]["condition"]) == (
        str(POISON),
        "RetryAttemptsExhausted",
    )
    stream.new = [record(99)]
    clock.run_until(lambda: delivered(runtime, 99))
    assert runtime.batches[-1] == [99]  # the poison record is never delivered again


def test_a_record_that_crashes_the_function_is_bisected_out_then_sent_to_the_failure_queue() -> None:
    source = template_policy()
    runtime = FakeRuntime(lambda batch: crash() if POISON + 4 in batch else ok())
    stream = FakeStream(*range(1, 21))  # the poison record is the fifth of twenty
    sent: list[dict[str, Any]] = []
    worker = StreamFeeder(source, lambda: stream, runtime.invoke, on_failure=sent.append)
    clock = Clock(worker)
    # a batch without the poison record succeeds
    took = clock.run_until(lambda: any(20 in batch and POISON + 4 not in batch for batch in runtime.batches))

    alone = [batch for batch in runtime.batches if batch == [POISON + 4]]
    assert len(alone) == 1 + source.max_retries  # isolated by halving, then retried as the template says
    assert {sequence for batch in runtime.batches for sequence in batch} == set(range(1, 21))
    # the records behind it waited for the halvings (each a failed call) and the retries, never more
    halvings = 2 * math.ceil(math.log2(source.batch_size))
    assert took <= backoffs(halvings + 1 + source.max_retries)
    assert [(m["DDBStreamBatchInfo"]["startSequenceNumber"], m["DDBStreamBatchInfo"]["batchSize"]) for m in sent] == [
        ("5", 1)
    ]


@pytest.fixture
def aws_emulator() -> Iterator[dict[str, str]]:
    with mock_aws():
        yield create_aws_resources(boto3.Session())


def test_the_dev_server_sends_given_up_batches_to_the_templates_dead_letter_queue(aws_emulator: Any) -> None:
    runtime = FakeRuntime()
    stack = LocalStack(load_template(), aws_emulator, {}, runtime, "")  # type: ignore[arg-type]
    (feeder,) = [
        worker
        for worker in background_workers(stack)
        if isinstance(worker, StreamFeeder) and worker.source.function == "PublishEventsFunction"
    ]
    assert feeder._on_failure is not None
    feeder._on_failure({"DDBStreamBatchInfo": {"startSequenceNumber": "7"}})
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=aws_emulator["PublishDeadLetterQueue"])["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert '"startSequenceNumber": "7"' in message["Body"]


def test_over_the_dev_server_a_poison_record_does_not_hold_up_the_next_sessions_events(tmp_path) -> None:
    server = launch(tmp_path)  # its own: the poison record would slow every other test's events
    try:
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        dynamodb = session.client("dynamodb", endpoint_url=server.moto_url)
        table = next(name for name in dynamodb.list_tables()["TableNames"] if name.endswith("SessionsTable"))
        api = Client(server.api_url).as_(user="u-1", tenant="poison")
        with consumer_on(server.moto_url) as consumer:
            # a session item no release writes (no status, no usage): the publisher fails on it every time
            dynamodb.put_item(
                TableName=table,
                Item={"PK": {"S": "T#poison#S#bad"}, "SK": {"S": "#SESSION"}, "session_id": {"S": "bad"}},
            )
            for _ in range(3):
                started = time.time()
                session_id = api.post("/v1/sessions", {}).json()["session_id"]
                deadline = started + MAX_BACKOFF_SECONDS + 3  # one backoff at most, and slack for a busy machine
                arrived = None
                while arrived is None and time.time() < deadline:
                    arrived = next((m for m in consumer.receive() if m["detail"]["session_id"] == session_id), None)
                    time.sleep(0.1)
                assert arrived is not None, f"session.created of {session_id} held up past {deadline - started:.0f} s"
                time.sleep(1)  # the next one while the poison record is still being retried
    finally:
        server.stop()
    assert "failed from sequence number" in server.stderr()  # the poison record was retried meanwhile

"""The dev server's background event sources, driven with a fake runtime: no server, no emulator.

The stream feeder must retry like Lambda's event-source mapping (or events are lost or repeated
forever locally while deployed they would not be), and the scheduler must run on the template's rate.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.aws.moto_streams import RecordAnnouncements
from local.aws.moto_ttl import TtlSweeper, sweep_interval
from local.event_sources import stream_feeder
from local.event_sources.event_filters import EventFilter, UnsupportedPattern
from local.event_sources.scheduler import (
    ScheduledFunction,
    Scheduler,
    rate_seconds,
    schedule_override,
    scheduled_functions,
)
from local.event_sources.stream_feeder import StreamFeeder, StreamSource, stream_sources
from local.functions.runtime import Invocation, error_payload
from local.server import LocalStack, background_workers
from local.stack.template import load_template, local_resolver

Reply = Invocation | Exception


def record(sequence: int) -> dict[str, Any]:
    return {
        "eventID": f"e{sequence}",
        "eventName": "INSERT",
        "dynamodb": {
            "SequenceNumber": str(sequence),
            # a session item's: it passes the publisher's FilterCriteria
            "Keys": {"PK": {"S": f"T#t#S#s{sequence}"}, "SK": {"S": "#SESSION"}},
            "NewImage": {"content": {"S": "private words"}},
        },
    }


def ok(*failed: int) -> Invocation:
    failures = [{"itemIdentifier": str(sequence)} for sequence in failed]
    return Invocation("request", json.dumps({"batchItemFailures": failures}))


def crash() -> Invocation:
    return Invocation("request", error_payload("BatchProcessingError", "private words"), function_error=True)


class FakeRuntime:
    """Answers every invocation with `respond(sequence numbers of the batch)`; records what it got."""

    def __init__(self, respond: Callable[[list[int]], Reply] = lambda _: ok()) -> None:
        self.respond = respond
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def invoke(self, function: str, event: Any) -> Invocation:
        with self._lock:
            self.calls.append((function, event))
        reply = self.respond([int(r["dynamodb"]["SequenceNumber"]) for r in event.get("Records", [])])
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def batches(self) -> list[list[int]]:
        return [[int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]] for _, event in self.calls]


class FakeStream:
    """A stream that hands out what was written since the last read; `fail_reads` reads raise first."""

    def __init__(self, *sequences: int, fail_reads: int = 0) -> None:
        self.new = [record(sequence) for sequence in sequences]
        self.fail_reads = fail_reads

    def read(self) -> list[dict[str, Any]]:
        if self.fail_reads:
            self.fail_reads -= 1
            raise ConnectionError("the emulator is restarting")
        new, self.new = self.new, []
        return new


def feeder(runtime: FakeRuntime, stream: FakeStream, **source: Any) -> StreamFeeder:
    settings = {"batch_size": 10, "max_retries": 10, "report_item_failures": True, **source}
    return StreamFeeder(
        StreamSource("PublishEventsFunction", "SessionsTable", **settings),
        lambda: stream,
        runtime.invoke,
        poll_seconds=0.01,
        first_backoff_seconds=0.01,
    )


def drain(worker: StreamFeeder, rounds: int = 50) -> list[float]:
    """Run rounds without sleeping; the waits the feeder asked for."""
    return [worker.poll_once() for _ in range(rounds)]


def wait_for(predicate: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The dev server's log, captured even when its logger does not propagate."""
    logger = logging.getLogger("local")
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.INFO)
    previous = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # caplog's handler also sits on the root logger: each line once
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.level, logger.propagate = previous


# --- the stream feeder -------------------------------------------------------------------------


def test_records_go_in_order_in_batches_of_at_most_batch_size() -> None:
    runtime = FakeRuntime()
    drain(feeder(runtime, FakeStream(*range(1, 8)), batch_size=3))
    assert runtime.batches == [[1, 2, 3], [4, 5, 6], [7]]
    assert {function for function, _ in runtime.calls} == {"PublishEventsFunction"}


def test_a_reported_item_failure_redelivers_from_that_record_on() -> None:
    replies = iter([ok(3, 5), ok()])
    runtime = FakeRuntime(lambda _: next(replies))
    drain(feeder(runtime, FakeStream(1, 2, 3, 4, 5)))
    assert runtime.batches == [[1, 2, 3, 4, 5], [3, 4, 5]]  # 1 and 2 are done; 4 comes again after 3


def test_the_first_failure_in_the_batch_counts_not_the_first_listed() -> None:
    replies = iter([ok(4, 2), ok()])
    runtime = FakeRuntime(lambda _: next(replies))
    drain(feeder(runtime, FakeStream(1, 2, 3, 4)))
    assert runtime.batches == [[1, 2, 3, 4], [2, 3, 4]]


def test_an_unknown_item_identifier_fails_the_whole_batch() -> None:
    replies = iter([ok(99), ok()])
    runtime = FakeRuntime(lambda _: next(replies))
    drain(feeder(runtime, FakeStream(1, 2)))
    assert runtime.batches == [[1, 2], [1, 2]]


def test_item_failures_are_ignored_without_report_batch_item_failures() -> None:
    runtime = FakeRuntime(lambda _: ok(1))
    drain(feeder(runtime, FakeStream(1, 2), report_item_failures=False))
    assert runtime.batches == [[1, 2]]


def test_a_function_error_redelivers_the_whole_batch() -> None:
    replies = iter([crash(), crash(), ok()])
    runtime = FakeRuntime(lambda _: next(replies))
    drain(feeder(runtime, FakeStream(1, 2, 3)))
    assert runtime.batches == [[1, 2, 3]] * 3


def test_gives_up_after_maximum_retry_attempts_and_moves_on(log: pytest.LogCaptureFixture) -> None:
    runtime = FakeRuntime(lambda batch: crash() if 1 in batch else ok())
    stream = FakeStream(1, 2)
    worker = feeder(runtime, stream, batch_size=2, max_retries=2)
    drain(worker, rounds=5)
    stream.new = [record(3)]  # written meanwhile
    drain(worker, rounds=5)
    assert runtime.batches == [[1, 2]] * 3 + [[3]]  # the first try and two retries, then past it
    skipped = [r for r in log.records if r.levelno == logging.ERROR]
    assert len(skipped) == 1
    assert "skipped 2 records" in skipped[0].getMessage() and "1 … 2" in skipped[0].getMessage()
    assert "private words" not in log.text  # neither the records nor the function's error message


def test_retries_of_a_batch_back_off_doubling_up_to_five_seconds() -> None:
    runtime = FakeRuntime(lambda _: crash())
    worker = StreamFeeder(StreamSource("F", "T"), lambda: FakeStream(1), runtime.invoke)
    waits = drain(worker, rounds=8)
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_bisecting_isolates_the_record_that_crashes_the_function() -> None:
    runtime = FakeRuntime(lambda batch: crash() if 3 in batch else ok())
    drain(feeder(runtime, FakeStream(1, 2, 3, 4), bisect=True, max_retries=1))
    assert runtime.batches == [[1, 2, 3, 4], [1, 2], [3, 4], [3], [3], [4]]


def test_the_thread_survives_failing_reads_and_invocations_and_stops_promptly() -> None:
    replies: Iterator[Reply] = iter([RuntimeError("pipe closed")])
    runtime = FakeRuntime(lambda _: next(replies, ok()))
    stream = FakeStream(1, 2, fail_reads=2)
    worker = feeder(runtime, stream)
    worker.start()
    try:
        wait_for(lambda: len(runtime.calls) >= 2)
        stream.new = [record(3)]
        wait_for(lambda: runtime.batches[-1:] == [[3]])
    finally:
        started = time.monotonic()
        worker.stop()
    assert time.monotonic() - started < 1
    assert runtime.batches == [[1, 2], [1, 2], [3]]
    assert not worker._thread.is_alive()


def test_an_idle_feeder_told_of_writes_reads_only_when_one_is_announced_and_stops_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the dev server the emulator announces each stream record: an idle feeder waits for one, not a timer."""
    monkeypatch.setattr(stream_feeder, "IDLE_READ_SECONDS", 30.0)  # a read without an announcement would be late
    announcements = RecordAnnouncements()
    runtime = FakeRuntime()
    stream = FakeStream()
    reads: list[float] = []

    class CountingStream:
        def read(self) -> list[dict[str, Any]]:
            reads.append(time.monotonic())
            return stream.read()

    worker = StreamFeeder(StreamSource("F", "T"), CountingStream, runtime.invoke, new_records=announcements)
    worker.start()
    try:
        wait_for(lambda: len(reads) == 1)
        time.sleep(0.5)
        assert len(reads) == 1  # idle: no polling
        stream.new = [record(1)]
        announcements.announce()
        wait_for(lambda: runtime.batches == [[1]])  # within seconds, not the 30 s fallback
    finally:
        started = time.monotonic()
        worker.stop()
    assert time.monotonic() - started < 1
    assert not worker._thread.is_alive()


def test_the_template_feeds_the_sessions_stream_to_the_publisher_and_the_job_workers() -> None:
    template = load_template()

    def filters(function: str) -> tuple[EventFilter, ...]:
        (source,) = template["Resources"][function]["Properties"]["Events"].values()
        criteria = source["Properties"]["FilterCriteria"]
        return tuple(EventFilter(entry["Pattern"]) for entry in criteria["Filters"])

    assert stream_sources(template, local_resolver({}, template)) == [
        StreamSource(
            "PublishEventsFunction",
            "SessionsTable",
            batch_size=100,
            max_retries=10,
            bisect=True,
            report_item_failures=True,
            filters=filters("PublishEventsFunction"),
            on_failure="PublishDeadLetterQueue",
        ),
        # woken by a running erasure job's records only; a run that fails is resumed by the cleanup
        StreamSource(
            "ErasureWorkerFunction",
            "SessionsTable",
            batch_size=10,
            max_retries=3,
            bisect=False,
            report_item_failures=False,
            filters=filters("ErasureWorkerFunction"),
            on_failure=None,
        ),
        # the same for export jobs
        StreamSource(
            "ExportWorkerFunction",
            "SessionsTable",
            batch_size=10,
            max_retries=3,
            bisect=False,
            report_item_failures=False,
            filters=filters("ExportWorkerFunction"),
            on_failure=None,
        ),
    ]


def keyed(sequence: int, pk: str, sk: str, event_name: str = "INSERT") -> dict[str, Any]:
    return {**record(sequence), "eventName": event_name, "dynamodb": {"SequenceNumber": str(sequence),
            "Keys": {"PK": {"S": pk}, "SK": {"S": sk}}}}  # fmt: skip


def test_records_no_filter_matches_never_reach_the_function_and_count_as_processed() -> None:
    runtime = FakeRuntime()
    stream = FakeStream()
    stream.new = [
        keyed(1, "T#a#S#s1", "#SESSION"),
        keyed(2, "T#a#S#s1", "E#i#0000000001"),  # an event of the history: no filter matches
        keyed(3, "T#a#U#u", "#COUNTERS", "MODIFY"),
        keyed(4, "#CLEANUP", "#RUN#r1"),
        keyed(5, "#CLEANUP", "#RUN#r1", "REMOVE"),  # a run record's TTL: only its INSERT passes
        keyed(6, "#CLEANUP", "#LEASE"),
        keyed(7, "T#a#S#s1", "#SESSION", "REMOVE"),
    ]
    session = EventFilter('{"dynamodb": {"Keys": {"SK": {"S": ["#SESSION"]}}}}')
    run = EventFilter('{"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": ["#CLEANUP"]}, '
                      '"SK": {"S": [{"prefix": "#RUN#"}]}}}}')  # fmt: skip
    drain(feeder(runtime, stream, filters=(session, run)), rounds=5)
    assert runtime.batches == [[1, 4, 7]]
    unfiltered = FakeRuntime()
    drain(feeder(unfiltered, FakeStream(1, 2, 3)), rounds=5)  # no FilterCriteria: every record
    assert unfiltered.batches == [[1, 2, 3]]


def test_a_filter_the_dev_server_cannot_honour_stops_it_at_startup() -> None:
    template = fake_template(
        PublishEventsFunction={
            "Events": {
                "Stream": {
                    "Type": "DynamoDB",
                    "Properties": {
                        "Stream": {"Fn::GetAtt": ["SessionsTable", "StreamArn"]},
                        "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": [{"anything-but": ["REMOVE"]}]}'}]},
                    },
                }
            }
        }
    )
    with pytest.raises(UnsupportedPattern, match="anything-but"):
        stream_sources(template, local_resolver({}, template))


def test_a_stream_that_is_not_a_table_of_the_template_is_not_fed(log: pytest.LogCaptureFixture) -> None:
    template = fake_template(
        Consumer={"Events": {"In": {"Type": "DynamoDB", "Properties": {"Stream": "arn:aws:dynamodb:…/stream/x"}}}}
    )
    assert stream_sources(template, local_resolver({}, template)) == []
    assert "not fed locally" in log.text


# --- the scheduler -----------------------------------------------------------------------------


def fake_template(**functions: dict[str, Any]) -> dict[str, Any]:
    """A template (as load_template returns it) with these function properties and a rate parameter."""
    resources: dict[str, Any] = {"SessionsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}}}
    for name, properties in functions.items():
        resources[name] = {"Type": "AWS::Serverless::Function", "Properties": properties}
    return {"Parameters": {"CleanupSchedule": {"Type": "String", "Default": "rate(1 hour)"}}, "Resources": resources}


def schedule_event(schedule: Any, input_json: str | None = None, **extra: Any) -> dict[str, Any]:
    properties = {"Schedule": schedule, **extra}
    if input_json is not None:
        properties["Input"] = input_json
    return {"Events": {"Schedule": {"Type": "Schedule", "Properties": properties}}}


CLEANUP = schedule_event({"Ref": "CleanupSchedule"}, '{"dry_run": false}')


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
        (" rate( 10 minutes ) ", 600),
        ("cron(0 * * * ? *)", None),
    ],
)
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(1 week)", "rate(1.5 hours)", "hourly", ""])
def test_other_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="not a schedule expression"):
        rate_seconds(expression)


@pytest.mark.parametrize(
    ("value", "seconds"), [("0.5", 0.5), ("2", 2.0), ("", None), ("0", None), ("-1", None), ("x", None), ("nan", None)]
)
def test_local_schedule_seconds(value: str, seconds: float | None) -> None:
    assert schedule_override({"LOCAL_SCHEDULE_SECONDS": value}) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"), [("0.5", 0.5), ("3600", 3600.0), ("", 60.0), ("0", 60.0), ("-1", 60.0), ("x", 60.0)]
)
def test_local_ttl_sweep_seconds(value: str, seconds: float) -> None:
    assert sweep_interval({"LOCAL_TTL_SWEEP_SECONDS": value}) == seconds


def test_schedules_come_from_the_template_with_parameters_and_input(log: pytest.LogCaptureFixture) -> None:
    template = fake_template(
        CleanupFunction=CLEANUP,
        ReportFunction=schedule_event("rate(5 minutes)"),
        NightlyFunction=schedule_event("cron(0 3 * * ? *)"),
        PausedFunction=schedule_event("rate(1 minute)", Enabled=False),
        OtherFunction={"Events": {"Api": {"Type": "HttpApi", "Properties": {}}}},
    )
    schedules = {s.function: s for s in scheduled_functions(template, local_resolver({}, template), None)}
    assert set(schedules) == {"CleanupFunction", "ReportFunction"}
    assert schedules["CleanupFunction"].interval == 3600
    assert schedules["CleanupFunction"].event(datetime.now(UTC)) == {"dry_run": False}
    assert schedules["ReportFunction"].interval == 300
    assert "NightlyFunction.Schedule: cron(0 3 * * ? *) is not run locally" in log.text
    assert Scheduler(list(schedules.values()), FakeRuntime().invoke).name == (
        "schedule CleanupFunction rate(1 hour), ReportFunction rate(5 minutes)"
    )


def test_without_input_the_function_gets_an_eventbridge_scheduled_event() -> None:
    template = fake_template(ReportFunction=schedule_event("rate(5 minutes)"))
    (schedule,) = scheduled_functions(template, local_resolver({}, template), None)
    event = schedule.event(datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    assert re.fullmatch(r"[0-9a-f-]{36}", event.pop("id"))
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-01-02T03:04:05Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sessions-local-ReportFunctionSchedule"],
        "detail": {},
    }


def test_the_override_applies_to_every_schedule_cron_included() -> None:
    template = fake_template(CleanupFunction=CLEANUP, NightlyFunction=schedule_event("cron(0 3 * * ? *)"))
    schedules = scheduled_functions(template, local_resolver({}, template), 0.25)
    assert sorted((s.function, s.interval) for s in schedules) == [("CleanupFunction", 0.25), ("NightlyFunction", 0.25)]
    assert Scheduler(schedules, FakeRuntime().invoke).name.count("every 0.25 s") == 2


def test_the_scheduler_runs_each_function_every_interval_first_after_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_SCHEDULE_SECONDS", "0.3")
    runtime = FakeRuntime()
    stack = LocalStack(fake_template(CleanupFunction=CLEANUP), {}, {}, runtime, "")  # type: ignore[arg-type]
    (scheduler,) = [worker for worker in background_workers(stack) if isinstance(worker, Scheduler)]
    started = time.monotonic()
    scheduler.start()
    try:
        time.sleep(0.15)
        assert runtime.calls == []  # not at start
        wait_for(lambda: len(runtime.calls) >= 2)
    finally:
        scheduler.stop()
    assert time.monotonic() - started >= 0.6
    assert runtime.calls[:2] == [("CleanupFunction", {"dry_run": False})] * 2


def test_a_failing_run_is_logged_and_the_schedule_goes_on(log: pytest.LogCaptureFixture) -> None:
    replies: Iterator[Reply] = iter([RuntimeError("pipe closed"), crash()])
    runtime = FakeRuntime(lambda _: next(replies, ok()))
    schedule = ScheduledFunction("CleanupFunction", "arn", "rate(1 hour)", 0.05, '{"dry_run": true}')
    scheduler = Scheduler([schedule], runtime.invoke)
    scheduler.start()
    try:
        wait_for(lambda: len(runtime.calls) >= 3)
    finally:
        scheduler.stop()
    assert "invoking failed" in log.text
    assert "function error BatchProcessingError" in log.text
    assert "private words" not in log.text


# --- wiring ------------------------------------------------------------------------------------


def test_the_dev_server_runs_a_feeder_for_the_template_and_no_scheduler_without_schedules() -> None:
    template = load_template()
    stack = LocalStack(template, {"SessionsTable": "sessions-local-SessionsTable"}, {}, FakeRuntime(), "")  # type: ignore[arg-type]
    workers = background_workers(stack)
    feeders = [worker for worker in workers if isinstance(worker, StreamFeeder)]
    assert [feeder.source.function for feeder in feeders] == [
        "PublishEventsFunction",
        "ErasureWorkerFunction",
        "ExportWorkerFunction",
    ]
    has_schedules = any(
        event.get("Type") == "Schedule"
        for resource in template["Resources"].values()
        for event in resource.get("Properties", {}).get("Events", {}).values()
    )
    assert any(isinstance(worker, Scheduler) for worker in workers) == has_schedules
    # DynamoDB's TTL, which moto lacks, is the emulator's own: adapt_moto runs one sweeper per process
    assert not any(isinstance(worker, TtlSweeper) for worker in workers)


def test_the_next_records_are_read_while_the_function_runs() -> None:
    """As Lambda's mapping polls the shard during a batch: between two batches the function waits for no read."""
    in_function = threading.Event()
    reads_during_a_batch: list[bool] = []

    class TenAtATime(FakeStream):
        def read(self) -> list[dict[str, Any]]:
            time.sleep(0.05)  # a round trip to the emulator
            reads_during_a_batch.append(in_function.is_set())
            new, self.new = self.new[:10], self.new[10:]
            return new

    def respond(_batch: list[int]) -> Reply:
        in_function.set()
        time.sleep(0.2)
        in_function.clear()
        return ok()

    runtime = FakeRuntime(respond)
    worker = feeder(runtime, TenAtATime(*range(1, 31)))
    drain(worker, rounds=5)
    assert runtime.batches == [list(range(1, 11)), list(range(11, 21)), list(range(21, 31))]  # in order, each once
    assert reads_during_a_batch[1:4] == [True, True, True]  # each next read ran beside the function


def test_a_read_ahead_that_fails_loses_nothing_and_is_retried() -> None:
    class Scripted(FakeStream):
        def __init__(self) -> None:
            super().__init__()
            self.script: list[Any] = [
                [record(1), record(2)],
                ConnectionError("the emulator is restarting"),
                [record(3)],
            ]

        def read(self) -> list[dict[str, Any]]:
            answer = self.script.pop(0) if self.script else []
            if isinstance(answer, Exception):
                raise answer
            return answer

    runtime = FakeRuntime()
    worker = feeder(runtime, Scripted())
    worker.poll_once()  # delivers [1, 2] while the next read runs into the failure
    with pytest.raises(ConnectionError):  # the feeder's loop logs it and backs off
        worker.poll_once()
    drain(worker, rounds=3)
    assert runtime.batches == [[1, 2], [3]]

"""Lambda's event-source mapping for a DynamoDB stream, locally: new records feed the function.

Deployed, AWS polls the table's stream and invokes the function with batches of records; this
worker does the same in a thread, so lifecycle events reach the local bus within a second. Retries
follow the template's event properties: a reported item failure re-delivers from that record on,
a function error re-delivers the whole batch (halved first, with BisectBatchOnFunctionError), and a
batch that keeps failing is skipped after MaximumRetryAttempts retries: its metadata goes to the
OnFailure destination (a queue of the template, on the emulator), as Lambda sends it, and an error
line says which sequence numbers were skipped. So a record that always fails holds up the records
behind it for the retries the template allows, never longer. Records that match none of the
event's FilterCriteria never reach the function, as deployed (`event_filters.py`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3

from local.background import BackgroundLoop
from local.event_sources.event_filters import EventFilter, accepted, filters_of
from local.event_sources.stream_reader import RecordSource, SharedStream, StreamReader
from local.functions.invoke_api import Invoke
from local.functions.runtime import Invocation
from local.stack.template import Resolver

LOG = logging.getLogger("local")
Record = dict[str, Any]
POLL_SECONDS = 0.2  # how often an idle stream is read: well within the one-second promise
# told of new records (`new_records`), a feeder reads an idle stream when one is written, and at
# least this often: in case a write was not announced
IDLE_READ_SECONDS = 2.0
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 5.0
DEFAULT_BATCH_SIZE = 100  # Lambda's defaults for a DynamoDB stream
UNLIMITED_RETRIES = -1


class NewRecords(Protocol):
    """Announces writes to the stream (the emulator's, local/aws/moto_streams.py): an idle feeder waits for one."""

    def count(self) -> int: ...

    def wait(self, since: int, timeout: float) -> None: ...

    def interrupt(self) -> None: ...


@dataclass(frozen=True)
class StreamSource:
    """One function event of Type DynamoDB whose stream is a table of the template."""

    function: str
    table: str  # logical id of the table whose StreamArn the event names
    batch_size: int = DEFAULT_BATCH_SIZE
    max_retries: int = UNLIMITED_RETRIES
    bisect: bool = False
    report_item_failures: bool = False
    filters: tuple[EventFilter, ...] = ()  # FilterCriteria: none means every record
    on_failure: str | None = None  # logical id of the OnFailure destination (an SQS queue)

    def accepts(self, record: Record) -> bool:
        return accepted(self.filters, record)


def stream_sources(template: dict[str, Any], resolver: Resolver) -> list[StreamSource]:
    """Every `Type: DynamoDB` event on `!GetAtt <Table>.StreamArn` of a table the template defines."""
    tables = {name for name, res in template["Resources"].items() if res["Type"] == "AWS::DynamoDB::Table"}
    sources = []
    for function, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "DynamoDB":
                continue
            raw = event.get("Properties", {})
            stream = raw.get("Stream")
            table = str(stream.get("Fn::GetAtt", [""])[0]) if isinstance(stream, dict) else ""
            if table not in tables:
                LOG.warning(
                    "%s.%s: stream %r is not a table of the template; not fed locally", function, event_name, stream
                )
                continue
            props = resolver.resolve({key: value for key, value in raw.items() if key != "Stream"})
            if str(props.get("Enabled", True)).lower() == "false":
                LOG.info("%s.%s: disabled in the template; not fed locally", function, event_name)
                continue
            sources.append(
                StreamSource(
                    function=function,
                    table=table,
                    batch_size=int(props.get("BatchSize", DEFAULT_BATCH_SIZE)),
                    max_retries=int(props.get("MaximumRetryAttempts", UNLIMITED_RETRIES)),
                    bisect=str(props.get("BisectBatchOnFunctionError", False)).lower() == "true",
                    report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    filters=filters_of(props.get("FilterCriteria")),
                    on_failure=_destination(raw.get("DestinationConfig")),
                )
            )
    return sources


def _destination(config: Any) -> str | None:
    """The logical id an OnFailure destination names with !GetAtt <Queue>.Arn (None otherwise)."""
    target = (config or {}).get("OnFailure", {}).get("Destination")
    return str(target["Fn::GetAtt"][0]) if isinstance(target, dict) and "Fn::GetAtt" in target else None


FailureSink = Callable[[dict[str, Any]], None]


def queue_sink(queue_name: str) -> FailureSink:
    """Sends a discarded batch's metadata to a queue, through the endpoint the emulator set."""

    def send(metadata: dict[str, Any]) -> None:
        sqs = boto3.client("sqs")
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"], MessageBody=json.dumps(metadata))

    return send


def table_stream(table_name: str) -> Callable[[], RecordSource]:
    """Opens the table's stream in the feeder's own thread, through the endpoint the emulator set."""
    return lambda: StreamReader(boto3.Session(), table_name)


def shared_table_streams(sources: list[StreamSource], names: dict[str, str]) -> dict[str, SharedStream]:
    """One reader per table that feeders read (by logical id), whatever the number of its feeders."""
    return {table: SharedStream(table_stream(names[table])) for table in sorted({source.table for source in sources})}


def sequence_number(record: Record) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber", ""))


class _ReadAhead:
    """One read of a stream in a thread of its own; `records` waits for it (and raises what it raised)."""

    def __init__(self, stream: RecordSource) -> None:
        self._stream = stream
        self._records: list[Record] = []
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._read, name="stream-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._records = self._stream.read()
        except Exception as error:  # handed to the feeder's loop, which logs it and backs off
            self._error = error

    def records(self) -> list[Record]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._records


class StreamFeeder(BackgroundLoop):
    """Reads a table's stream and invokes a function with its records, in order, until stopped."""

    def __init__(
        self,
        source: StreamSource,
        open_stream: Callable[[], RecordSource],
        invoke: Invoke,
        *,
        poll_seconds: float = POLL_SECONDS,
        first_backoff_seconds: float = FIRST_BACKOFF_SECONDS,
        on_failure: FailureSink | None = None,
        new_records: NewRecords | None = None,
    ) -> None:
        super().__init__(f"stream {source.table} → {source.function}")
        self._label = f"stream {source.function}"  # in log lines, beside the API's "api    POST …"
        self.source = source
        self._open_stream = open_stream
        self._invoke = invoke
        self._poll_seconds = poll_seconds
        self._first_backoff = first_backoff_seconds
        self._on_failure = on_failure
        self._new_records = new_records
        self._stream: RecordSource | None = None
        self._pending: list[Record] = []  # read, not yet processed; pending[0] is the checkpoint
        self._window = source.batch_size  # shrinks while bisecting a batch that crashes the function
        self._failures = 0  # failed deliveries of the batch starting at pending[0]
        self._backoff = first_backoff_seconds
        self._read_ahead: _ReadAhead | None = None  # the next records, read while the function runs

    def request_stop(self) -> None:
        super().request_stop()
        if self._new_records is not None:
            self._new_records.interrupt()  # an idle wait ends now

    def _run(self) -> None:
        while not self._stopping.is_set():
            announced = self._new_records.count() if self._new_records is not None else 0
            idle = False
            try:
                wait = self.poll_once()
                idle = not self._pending and wait == self._poll_seconds
            except Exception:  # the stream or the emulator hiccuped: keep the position, try again
                LOG.exception("%s: reading the stream failed; retrying", self._label)
                wait = self._next_backoff()
            if idle and self._new_records is not None:
                # nothing to deliver: read again once a record is written (retries keep their backoff)
                if not self._stopping.is_set():
                    self._new_records.wait(announced, IDLE_READ_SECONDS)
            elif wait:
                self._stopping.wait(wait)

    def poll_once(self) -> float:
        """Read what is new, deliver at most one batch; the seconds to wait before the next round."""
        if self._stream is None:
            self._stream = self._open_stream()
        if self._read_ahead is not None:
            read_ahead, self._read_ahead = self._read_ahead, None
            self._pending += self._accepted(read_ahead.records())  # a failed read raises here: nothing was taken
        if len(self._pending) < self.source.batch_size:
            self._pending += self._accepted(self._stream.read())
        if not self._pending or self._stopping.is_set():  # stopping: no invocation starts
            return self._poll_seconds
        batch = self._pending[: self._window]
        if len(self._pending) - len(batch) < self.source.batch_size:
            # as Lambda's mapping polls the shard while a batch runs: under load a read was a round trip to
            # the busy emulator between any two batches, and the publisher sat idle for half of a run
            self._read_ahead = _ReadAhead(self._stream)
        processed, crashed = self._deliver(batch)
        if processed == len(batch):
            del self._pending[:processed]
            self._reset()
            return 0 if self._pending or self._read_ahead else self._poll_seconds
        if processed:  # the checkpoint moves to the first failed record: a new batch starts there
            del self._pending[:processed]
            self._reset()
        if crashed and self.source.bisect and len(batch) > 1:
            self._window = len(batch) // 2  # halving is not a retry: it isolates a poison record first
            return self._next_backoff()
        self._failures += 1
        if 0 <= self.source.max_retries < self._failures:
            self._give_up(batch[processed:])
            return 0
        return self._next_backoff()

    def _accepted(self, records: list[Record]) -> list[Record]:
        # Lambda filters before it batches: a record no filter matches is dropped as processed
        return [record for record in records if self.source.accepts(record)]

    def _deliver(self, batch: list[Record]) -> tuple[int, bool]:
        """(how many leading records were processed, whether the function failed as a whole)."""
        started = time.perf_counter()
        try:
            invocation = self._invoke(self.source.function, {"Records": batch})
        except Exception:
            LOG.exception("%s: invoking failed", self._label)
            return 0, True
        elapsed_ms = (time.perf_counter() - started) * 1000
        if invocation.function_error:
            LOG.warning(
                "%s %s function error %s %.1f ms", self._label, _count(batch), error_type(invocation), elapsed_ms
            )
            return 0, True
        processed = self._processed(batch, invocation) if self.source.report_item_failures else len(batch)
        if processed < len(batch):
            LOG.warning(
                "%s %s failed from sequence number %s %.1f ms",
                self._label,
                _count(batch),
                sequence_number(batch[processed]),
                elapsed_ms,
            )
        else:
            LOG.info("%s %s %.1f ms", self._label, _count(batch), elapsed_ms)
        return processed, False

    @staticmethod
    def _processed(batch: list[Record], invocation: Invocation) -> int:
        """Records before the first reported failure; an unknown or empty itemIdentifier fails the batch."""
        try:
            response = invocation.result()
        except ValueError:
            return len(batch)  # not JSON: Lambda only reads batchItemFailures from an object
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:
            return len(batch)
        positions = {sequence_number(record): index for index, record in enumerate(batch)}
        indexes = [
            positions.get(failure.get("itemIdentifier") or "", -1) if isinstance(failure, dict) else -1
            for failure in failures
        ]
        return 0 if -1 in indexes else min(indexes)

    def _give_up(self, skipped: list[Record]) -> None:
        LOG.error(
            "%s skipped %s (sequence numbers %s … %s) after %d retries",
            self._label,
            _count(skipped),
            sequence_number(skipped[0]),
            sequence_number(skipped[-1]),
            self.source.max_retries,
        )
        del self._pending[: len(skipped)]
        self._reset()
        if self._on_failure is not None:
            try:
                self._on_failure(self._failure_metadata(skipped))
            except Exception:  # the records are skipped either way; the line above says which
                LOG.exception("%s: sending to the OnFailure destination failed", self._label)

    def _failure_metadata(self, skipped: list[Record]) -> dict[str, Any]:
        """What Lambda sends an OnFailure destination for a discarded stream batch (no records, only where)."""
        arrivals = [record.get("dynamodb", {}).get("ApproximateCreationDateTime") for record in skipped]
        return {
            "requestContext": {
                "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{self.source.function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.source.max_retries + 1,
            },
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "startSequenceNumber": sequence_number(skipped[0]),
                "endSequenceNumber": sequence_number(skipped[-1]),
                "approximateArrivalOfFirstRecord": _iso(arrivals[0]),
                "approximateArrivalOfLastRecord": _iso(arrivals[-1]),
                "batchSize": len(skipped),
                "streamArn": skipped[0].get("eventSourceARN"),
            },
        }

    def _reset(self) -> None:
        self._failures = 0
        self._window = self.source.batch_size
        self._backoff = self._first_backoff

    def _next_backoff(self) -> float:
        wait = self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
        return wait


def _iso(epoch_seconds: Any) -> str | None:
    if not isinstance(epoch_seconds, int | float):
        return None
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _count(records: list[Record]) -> str:
    return "1 record" if len(records) == 1 else f"{len(records)} records"


def error_type(invocation: Invocation) -> str:
    """Only the type: a message may quote the records it failed on."""
    try:
        return str(invocation.result().get("errorType", "unknown"))
    except (ValueError, AttributeError):
        return "unknown"

"""Reading a table's DynamoDB stream the way Lambda's event-source mapping does.

Shared by the dev server (which feeds the publisher continuously) and the tests (which read
what real writes produced). Records come out shaped as Lambda delivers them: as the stream API's
wire carries them (epoch seconds for ApproximateCreationDateTime), with the stream ARN on every
record.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError


class RecordSource(Protocol):
    def read(self) -> list[dict[str, Any]]: ...


GET_RECORDS_LIMIT = 1000  # records per GetRecords page (DynamoDB Streams' most)
ITERATOR_REUSE_SECONDS = 600.0  # a kept shard iterator is used for 10 minutes; they expire after 15
SHARD_LIST_SECONDS = 10.0  # how often the shards are listed again (a stream adds shards as it rolls over)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    shaped = {**record, "dynamodb": change, "eventSourceARN": stream_arn}
    shaped.setdefault("eventVersion", "1.1")
    if "userIdentity" in record:  # GetRecords says PrincipalId and Type; Lambda's event principalId and type
        shaped["userIdentity"] = {key[0].lower() + key[1:]: value for key, value in record["userIdentity"].items()}
    return shaped


def keep_wire_records(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """GetRecords' records as the wire carries them, not parsed by botocore's model.

    Lambda hands the function the records as the stream API returns them, and so does the reader:
    one record botocore's parser cannot read (an emulator once returned a map it had mangled) would
    otherwise fail every read of the shard, and stop every record behind it. A record the function
    cannot handle is the function's failure, retried and then skipped by the feeder's retry policy.
    """
    if response_dict.get("status_code") != 200:
        return  # errors are botocore's to parse
    wire = json.loads(response_dict["body"] or b"{}")
    customized_response_dict["Records"] = wire.get("Records", [])
    customized_response_dict["NextShardIterator"] = wire.get("NextShardIterator")
    response_dict["body"] = b"{}"


@dataclass
class StreamReader:
    """Reads every shard of a table's stream from its start, remembering where each shard's last read ended.

    As Lambda's event-source mapping does, a read goes on with the iterator the last GetRecords
    returned, and lists the shards only every SHARD_LIST_SECONDS: a read of new records is one call,
    not three (DescribeStream and GetShardIterator each time were two of an append's six calls to the
    emulator). A shard iterator expires 15 minutes after it is issued (on AWS, and in the emulator,
    see local/aws/moto_streams.py) and a reader may sit idle longer than that, so an iterator older
    than ITERATOR_REUSE_SECONDS, or one refused as expired, is replaced by a fresh one after the last
    record read.
    """

    session: Any
    table_name: str
    _positions: dict[str, str] = field(default_factory=dict)  # shard id → last sequence number read
    _iterators: dict[str, tuple[str, float]] = field(default_factory=dict)  # shard id → (next iterator, issued)
    _shards: list[str] = field(default_factory=list)
    _listed_at: float | None = None

    def __post_init__(self) -> None:
        self._streams = self.session.client("dynamodbstreams")
        self._streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", keep_wire_records)
        table = self.session.client("dynamodb").describe_table(TableName=self.table_name)["Table"]
        self.stream_arn: str = table["LatestStreamArn"]

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, in shard order, shaped as Lambda delivers them."""
        records: list[dict[str, Any]] = []
        for shard_id in self._shard_ids():
            iterator: str | None = self._iterator(shard_id)
            while iterator:
                try:
                    response = self._streams.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                        raise
                    self._iterators.pop(shard_id, None)  # a fresh one after the last record read
                    iterator = self._iterator(shard_id)
                    continue
                batch = response.get("Records", [])
                records += [lambda_record(record, self.stream_arn) for record in batch]
                if batch:
                    self._positions[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
                iterator = response.get("NextShardIterator")
                if iterator:
                    self._iterators[shard_id] = (iterator, time.monotonic())
                else:  # the shard is closed and read to its end
                    self._iterators.pop(shard_id, None)
                # a page short of the limit: the shard is read up to now. Reading on until a page came
                # back empty never returned while writes kept coming (each page held the newest few),
                # so under load the feeders delivered nothing until the writes stopped.
                if len(batch) < GET_RECORDS_LIMIT:
                    break
        return records

    def _shard_ids(self) -> list[str]:
        now = time.monotonic()
        if self._listed_at is None or now - self._listed_at >= SHARD_LIST_SECONDS:
            description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
            self._shards = [shard["ShardId"] for shard in description["Shards"]]
            self._listed_at = now
        return self._shards

    def _iterator(self, shard_id: str) -> str:
        kept = self._iterators.get(shard_id)
        if kept is not None and time.monotonic() - kept[1] < ITERATOR_REUSE_SECONDS:
            return kept[0]
        last = self._positions.get(shard_id)
        position = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
            if last
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        response = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **position)
        return str(response["ShardIterator"])


class SharedStream:
    """One reader of a table's stream for all the feeders of that table, each reading at its own pace.

    Lambda's event-source mappings each read the stream; locally, every feeder reading it through the
    emulator paid the whole read (a GetRecords page of up to 1,000 records, parsed by moto's serializer
    and botocore) again, in the emulator's process, beside the requests: with the publisher and the
    erasure worker on one table, twice, and after a burst of writes (100,000 seeded items) for as long
    as both took to catch up. Here the first feeder to run out of records reads the next ones from the
    emulator, and the others take them from memory. Every subscriber gets every record, in order, from
    the stream's start; records are kept until the slowest subscriber has taken them.
    """

    def __init__(self, open_stream: Callable[[], RecordSource]) -> None:
        self._open_stream = open_stream
        self._reader: RecordSource | None = None
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._first = 0  # the position in the stream of _records[0]
        self._positions: list[int] = []  # each subscriber's next position

    def subscriber(self) -> Callable[[], RecordSource]:
        """Opens a subscriber's stream (as `table_stream` does); subscribe every feeder before any reads."""
        with self._lock:
            index = len(self._positions)
            self._positions.append(self._first)
        return lambda: _Subscription(self, index)

    def read_for(self, index: int) -> list[dict[str, Any]]:
        with self._lock:
            end = self._first + len(self._records)
            if self._positions[index] == end:  # nothing buffered for this one: read the emulator
                if self._reader is None:
                    self._reader = self._open_stream()
                self._records += self._reader.read()
                end = self._first + len(self._records)
            records = self._records[self._positions[index] - self._first :]
            self._positions[index] = end
            taken_by_all = min(self._positions) - self._first
            del self._records[:taken_by_all]
            self._first += taken_by_all
            return records


@dataclass
class _Subscription:
    stream: SharedStream
    index: int

    def read(self) -> list[dict[str, Any]]:
        return self.stream.read_for(self.index)

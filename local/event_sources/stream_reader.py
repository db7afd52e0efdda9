"""Reading a table's DynamoDB stream the way Lambda's event-source mapping does.

Shared by the dev server (which feeds the publisher continuously) and the tests (which read
what real writes produced). Records come out shaped as Lambda delivers them: as the stream API's
wire carries them (epoch seconds for ApproximateCreationDateTime), with the stream ARN on every
record.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class RecordSource(Protocol):
    def read(self) -> list[dict[str, Any]]: ...


GET_RECORDS_LIMIT = 1000  # records per GetRecords page (DynamoDB Streams' most)


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
    """Reads every shard of a table's stream from its start, remembering the last record read in each shard.

    Each read starts from a fresh iterator after that record rather than from one kept since the
    last read: a shard iterator expires 15 minutes after it is issued (on AWS, and in the emulator,
    see local/aws/moto_streams.py), and a reader may sit idle longer than that.
    """

    session: Any
    table_name: str
    _positions: dict[str, str] = field(default_factory=dict)  # shard id → last sequence number read

    def __post_init__(self) -> None:
        self._streams = self.session.client("dynamodbstreams")
        self._streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", keep_wire_records)
        table = self.session.client("dynamodb").describe_table(TableName=self.table_name)["Table"]
        self.stream_arn: str = table["LatestStreamArn"]

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, in shard order, shaped as Lambda delivers them."""
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        records: list[dict[str, Any]] = []
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            last = self._positions.get(shard_id)
            position = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
                if last
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **position)[
                "ShardIterator"
            ]
            while iterator:
                response = self._streams.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
                batch = response.get("Records", [])
                records += [lambda_record(record, self.stream_arn) for record in batch]
                if batch:
                    self._positions[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
                # a page short of the limit: the shard is read up to now. Reading on until a page came
                # back empty never returned while writes kept coming (each page held the newest few),
                # so under load the feeders delivered nothing until the writes stopped.
                if len(batch) < GET_RECORDS_LIMIT:
                    break
                iterator = response.get("NextShardIterator")
        return records


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

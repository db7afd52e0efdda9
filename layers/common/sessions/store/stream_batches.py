"""Reading a stretch of the table's stream again: the records of a batch the publisher failed on.

The records come out shaped as Lambda delivers them to the publisher (ApproximateCreationDateTime
in epoch seconds, the stream ARN on every record), so the publisher's own batch handling runs
them as if Lambda had delivered them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessions.core.clock import now_ms
from sessions.store.client import aws_client
from sessions.store.keys import STREAM_RECORD_MAX_AGE_SECONDS

GET_RECORDS_LIMIT = 1000
# an open shard answers "nothing yet" at its tip; a stretch that was written is there at once
MAX_EMPTY_READS = 3


class NoLongerInStream(Exception):
    """The stream no longer holds the stretch (DynamoDB keeps records 24 hours), never had it, or it is too old."""


@dataclass(frozen=True)
class StreamStretch:
    stream_arn: str
    shard_id: str
    first: str  # sequence numbers, as DynamoDB Streams gives them (decimal strings)
    last: str


def read_stretch(stretch: StreamStretch) -> list[dict[str, Any]]:
    """The records from `first` to `last`, both included, in stream order."""
    streams = aws_client("dynamodbstreams")
    missing = (streams.exceptions.TrimmedDataAccessException, streams.exceptions.ResourceNotFoundException)
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=stretch.stream_arn,
            ShardId=stretch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=stretch.first,
        )["ShardIterator"]
    except missing as exc:
        raise NoLongerInStream(f"{stretch.shard_id} from {stretch.first}: {exc}") from None
    records: list[dict[str, Any]] = []
    empty_reads = 0
    last = int(stretch.last)
    while iterator and empty_reads < MAX_EMPTY_READS:
        try:
            response = streams.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        except missing as exc:
            raise NoLongerInStream(f"{stretch.shard_id} from {stretch.first}: {exc}") from None
        batch = response.get("Records", [])
        empty_reads = 0 if batch else empty_reads + 1
        for record in batch:
            if int(record["dynamodb"]["SequenceNumber"]) > last:
                return _checked(stretch, records)
            records.append(_as_delivered(record, stretch.stream_arn))
        if records and int(records[-1]["dynamodb"]["SequenceNumber"]) == last:
            break
        iterator = response.get("NextShardIterator")
    return _checked(stretch, records)


def _checked(stretch: StreamStretch, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # the stream reads on from the oldest record it still holds when asked for one it trimmed
    if not records or int(records[0]["dynamodb"]["SequenceNumber"]) != int(stretch.first):
        raise NoLongerInStream(f"{stretch.shard_id} no longer holds sequence number {stretch.first}")
    # past 24 h DynamoDB may trim a record at any moment, yet it can still be read: refused as Lambda
    # refuses it (MaximumRecordAgeInSeconds), since the settled markers that make a removal count once
    # live only a little longer (store/keys.py)
    oldest = records[0]["dynamodb"].get("ApproximateCreationDateTime")
    if oldest is not None and now_ms() / 1000 - float(oldest) > STREAM_RECORD_MAX_AGE_SECONDS:
        raise NoLongerInStream(f"{stretch.shard_id} from {stretch.first}: older than {STREAM_RECORD_MAX_AGE_SECONDS} s")
    return records


def _as_delivered(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    delivered = {"eventVersion": "1.1", **record, "dynamodb": change, "eventSourceARN": stream_arn}
    if "userIdentity" in record:  # GetRecords says PrincipalId and Type (a TTL deletion); Lambda principalId, type
        delivered["userIdentity"] = {key[0].lower() + key[1:]: value for key, value in record["userIdentity"].items()}
    return delivered

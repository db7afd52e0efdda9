"""Reading a table's DynamoDB stream the way Lambda's event-source mapping does.

Shared by the dev server (which feeds the publisher continuously) and the tests (which read
what real writes produced). Records come out shaped as Lambda delivers them: epoch seconds for
ApproximateCreationDateTime and the stream ARN on every record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
                response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                batch = response.get("Records", [])
                if not batch:
                    break
                records += [lambda_record(record, self.stream_arn) for record in batch]
                self._positions[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
                iterator = response.get("NextShardIterator")
        return records

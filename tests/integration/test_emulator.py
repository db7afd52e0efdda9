"""The local emulator behaves like DynamoDB where the service relies on it (local/aws/moto_fixes.py).

Transactions: all or nothing, DynamoDB's cancellation reasons, and a cost that does not grow with
the table (no whole-table copy). Streams: records trimmed after the retention, iterators expired
after their lifetime, so a long `make dev` does not grow without bound.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import dynamodbstreams_backends

from local.aws import moto_streams
from local.event_sources.stream_reader import StreamReader


@pytest.fixture
def client(aws: dict[str, str]) -> Any:
    return boto3.client("dynamodb")


@pytest.fixture
def table_name(aws: dict[str, str]) -> str:
    return aws["SessionsTable"]


def _key(pk: str, sk: str = "#SESSION") -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _item(client: Any, table_name: str, pk: str, sk: str = "#SESSION") -> dict[str, Any] | None:
    return client.get_item(TableName=table_name, Key=_key(pk, sk), ConsistentRead=True).get("Item")


def test_a_cancelled_transaction_leaves_every_touched_item_and_the_stream_as_they_were(client, table_name):
    updated = {**_key("T#a#S#updated"), "version": {"N": "3"}, "usage": {"M": {"tokens": {"N": "7"}}}}
    deleted = {**_key("T#a#S#deleted"), "title": {"S": "keep me"}}
    guard = {**_key("T#a#S#guard"), "version": {"N": "1"}}
    for item in (updated, deleted, guard):
        client.put_item(TableName=table_name, Item=item)
    stream = StreamReader(boto3.Session(), table_name)
    stream.read()  # what the setup wrote

    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table_name, "Item": {**_key("T#a#S#new"), "x": {"S": "y"}}}},
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": _key("T#a#S#updated"),
                        # nested changes, made in place by moto: the rollback must restore a copy
                        "UpdateExpression": "SET #u.tokens = #u.tokens + :one, version = :v REMOVE #u.gone",
                        "ExpressionAttributeNames": {"#u": "usage"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":v": {"N": "4"}},
                    }
                },
                {"Delete": {"TableName": table_name, "Key": _key("T#a#S#deleted")}},
                {"Put": {"TableName": table_name, "Item": {**_key("T#a#S#event", "E#1"), "seq": {"N": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table_name,
                        "Key": _key("T#a#S#guard"),
                        "ConditionExpression": "version = :expected",
                        "ExpressionAttributeValues": {":expected": {"N": "2"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )

    reasons = cancelled.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert reasons[4]["Item"] == guard
    assert _item(client, table_name, "T#a#S#updated") == updated
    assert _item(client, table_name, "T#a#S#deleted") == deleted
    assert _item(client, table_name, "T#a#S#new") is None
    assert _item(client, table_name, "T#a#S#event", "E#1") is None
    assert stream.read() == []  # no record of the cancelled transaction is ever visible

    client.put_item(TableName=table_name, Item={**_key("T#a#S#after"), "x": {"S": "z"}})
    after = stream.read()
    assert [record["dynamodb"]["Keys"]["PK"]["S"] for record in after] == ["T#a#S#after"]


def test_a_committed_transaction_writes_every_item_and_one_stream_record_each(client, table_name):
    stream = StreamReader(boto3.Session(), table_name)
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table_name, "Item": {**_key(f"T#a#S#s{i}"), "n": {"N": str(i)}}}} for i in range(20)
        ]
    )
    assert all(_item(client, table_name, f"T#a#S#s{i}") for i in range(20))
    assert len(stream.read()) == 20


def test_two_operations_on_one_item_are_refused_and_nothing_is_written(client, table_name):
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table_name, "Item": {**_key("T#a#S#twice"), "n": {"N": "1"}}}},
                {"Put": {"TableName": table_name, "Item": {**_key("T#a#S#twice"), "n": {"N": "2"}}}},
            ]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _item(client, table_name, "T#a#S#twice") is None


def test_a_transaction_never_copies_the_table(client, table_name, monkeypatch):
    """moto 5.2.5 deep-copied the whole table per transaction item: O(table size) per write."""

    def refuse(self: Table, memo: Any) -> Any:
        raise AssertionError("a transaction copied the whole table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    client.put_item(TableName=table_name, Item={**_key("T#a#S#exists"), "version": {"N": "1"}})
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table_name, "Item": {**_key("T#a#S#one"), "n": {"N": "1"}}}}]
    )
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table_name, "Item": {**_key("T#a#S#two"), "n": {"N": "2"}}}},
                {
                    "Put": {
                        "TableName": table_name,
                        "Item": _key("T#a#S#exists"),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    assert _item(client, table_name, "T#a#S#two") is None


def test_stream_records_older_than_the_retention_are_trimmed_and_sequence_numbers_go_on(
    client, table_name, monkeypatch
):
    monkeypatch.setattr(moto_streams, "RETENTION", timedelta(seconds=1))
    stream = StreamReader(boto3.Session(), table_name)
    for i in range(3):
        client.put_item(TableName=table_name, Item={**_key(f"T#a#S#old{i}")})
    old = stream.read()
    time.sleep(1.2)
    client.put_item(TableName=table_name, Item={**_key("T#a#S#new")})

    assert [record["dynamodb"]["Keys"]["PK"]["S"] for record in stream.read()] == ["T#a#S#new"]
    fresh = StreamReader(boto3.Session(), table_name)  # from TRIM_HORIZON: only what is still held
    records = fresh.read()
    assert [record["dynamodb"]["Keys"]["PK"]["S"] for record in records] == ["T#a#S#new"]
    assert int(records[0]["dynamodb"]["SequenceNumber"]) == int(old[-1]["dynamodb"]["SequenceNumber"]) + 1


def test_shard_iterators_expire_and_are_forgotten(client, table_name, monkeypatch):
    streams = boto3.client("dynamodbstreams")
    arn = client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    stale = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    monkeypatch.setattr(moto_streams, "ITERATOR_LIFETIME_SECONDS", 0.5)
    time.sleep(0.6)
    for _ in range(50):  # a poller's day in miniature
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
        streams.get_records(ShardIterator=iterator["ShardIterator"])
    time.sleep(0.6)
    streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    backend = dynamodbstreams_backends["123456789012"]["us-east-1"]
    assert len(backend.shard_iterators) == 1  # the 100 issued by the loop are forgotten

    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=stale)


def _by_user(client: Any, table_name: str, user_key: str) -> list[str]:
    response = client.query(
        TableName=table_name,
        IndexName="ByUser",
        KeyConditionExpression="by_user_pk = :u",
        ExpressionAttributeValues={":u": {"S": user_key}},
    )
    return [item["PK"]["S"] for item in response["Items"]]


def _session(pk: str, user_key: str, created: str) -> dict[str, Any]:
    return {**_key(pk), "by_user_pk": {"S": user_key}, "created_key": {"S": created}}


def test_index_queries_see_every_write_update_delete_and_rollback(client, table_name):
    for i in range(3):
        client.put_item(TableName=table_name, Item=_session(f"T#a#S#{i}", "T#a#U#ann", f"2026-01-0{i + 1}"))
    client.put_item(TableName=table_name, Item=_session("T#a#S#bob", "T#a#U#bob", "2026-01-01"))
    assert _by_user(client, table_name, "T#a#U#ann") == ["T#a#S#0", "T#a#S#1", "T#a#S#2"]  # index order

    client.update_item(  # moves to another index partition
        TableName=table_name,
        Key=_key("T#a#S#1"),
        UpdateExpression="SET by_user_pk = :u",
        ExpressionAttributeValues={":u": {"S": "T#a#U#bob"}},
    )
    client.delete_item(TableName=table_name, Key=_key("T#a#S#2"))
    assert _by_user(client, table_name, "T#a#U#ann") == ["T#a#S#0"]
    assert sorted(_by_user(client, table_name, "T#a#U#bob")) == ["T#a#S#1", "T#a#S#bob"]

    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": table_name, "Key": _key("T#a#S#0")}},
                {
                    "ConditionCheck": {
                        "TableName": table_name,
                        "Key": _key("T#a#S#missing"),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
    assert _by_user(client, table_name, "T#a#U#ann") == ["T#a#S#0"]  # the rolled-back delete left it indexed


def test_a_base_table_query_reads_only_its_partition(client, table_name, monkeypatch):
    for i in range(5):
        client.put_item(TableName=table_name, Item={**_key("T#a#S#mine", f"E#{i}")})
        client.put_item(TableName=table_name, Item={**_key(f"T#a#S#other{i}", "E#0")})

    def refuse(self: Table) -> Any:
        raise AssertionError("a Query read every item of the table")

    monkeypatch.setattr(Table, "all_items", refuse)
    response = client.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
        ExpressionAttributeValues={":pk": {"S": "T#a#S#mine"}, ":e": {"S": "E#"}},
        ScanIndexForward=False,
        Limit=3,
    )
    assert [item["SK"]["S"] for item in response["Items"]] == ["E#4", "E#3", "E#2"]
    assert response["LastEvaluatedKey"] == _key("T#a#S#mine", "E#2")
    assert _by_user(client, table_name, "T#a#U#nobody") == []


def test_the_ttl_sweeper_deletes_expired_items_as_dynamodb_and_says_so_in_the_stream(client, table_name):
    from local.aws import moto_ttl

    now = int(time.time())
    client.put_item(TableName=table_name, Item={**_key("T#a#S#old"), "ttl": {"N": str(now - 10)}})
    client.put_item(TableName=table_name, Item={**_key("T#a#S#young"), "ttl": {"N": str(now + 3600)}})
    client.put_item(TableName=table_name, Item={**_key("T#a#S#never")})
    client.put_item(TableName=table_name, Item={**_key("T#a#S#odd"), "ttl": {"S": "yesterday"}})
    stream = StreamReader(boto3.Session(), table_name)
    stream.read()

    assert moto_ttl.sweep("us-east-1") == 1
    assert _item(client, table_name, "T#a#S#old") is None
    assert all(_item(client, table_name, f"T#a#S#{name}") for name in ("young", "never", "odd"))
    (removal,) = stream.read()
    assert removal["eventName"] == "REMOVE" and removal["dynamodb"]["Keys"]["PK"]["S"] == "T#a#S#old"
    assert removal["userIdentity"] == {"principalId": "dynamodb.amazonaws.com", "type": "Service"}  # as Lambda has it
    assert moto_ttl.sweep("us-east-1") == 0


@pytest.mark.parametrize(
    ("start", "added", "total"),
    [
        ("0", "1e-05", "0.00001"),  # moto 5.2.5: int("1e-05") failed the write
        ("1E-7", "1E-7", "0.0000002"),
        ("0.1", "0.2", "0.3"),
        ("99999999999999999999999999999999999998", "1", "99999999999999999999999999999999999999"),
        ("100", "1E+2", "200"),
        ("0.0000000001", "-0.0000000001", "0"),
    ],
)
def test_update_expressions_add_exact_decimals_in_any_notation(client, table_name, start, added, total):
    client.put_item(TableName=table_name, Item={**_key("T#a#N"), "n": {"N": start}, "m": {"N": start}})
    client.update_item(
        TableName=table_name,
        Key=_key("T#a#N"),
        UpdateExpression="ADD n :v SET m = m + :v",
        ExpressionAttributeValues={":v": {"N": added}},
    )
    item = _item(client, table_name, "T#a#N")
    assert item is not None and item["n"] == item["m"] == {"N": total}  # exact, in positional notation


def test_a_sum_beyond_38_digits_is_refused_as_dynamodb_refuses_it(client, table_name):
    client.put_item(TableName=table_name, Item={**_key("T#a#N"), "n": {"N": "1000000000000"}})
    with pytest.raises(client.exceptions.ClientError, match="38 significant digits"):
        client.update_item(
            TableName=table_name,
            Key=_key("T#a#N"),
            UpdateExpression="ADD n :v",
            ExpressionAttributeValues={":v": {"N": "1e-130"}},
        )
    assert _item(client, table_name, "T#a#N") == {**_key("T#a#N"), "n": {"N": "1000000000000"}}


def test_a_number_is_sized_by_its_digits_as_dynamodb_sizes_it(client, table_name):
    # 1E-130 written positionally is 132 characters but one significant digit: 3,200 of them are
    # 422 KB of text (over the 400 KB item limit if sized by text) and ~6 KB to DynamoDB
    tiny = "0." + "0" * 129 + "1"
    item = {**_key("T#a#N"), "tiny": {"L": [{"N": tiny}] * 3200}}
    client.put_item(TableName=table_name, Item=item)
    stored = _item(client, table_name, "T#a#N")
    assert stored is not None and len(stored["tiny"]["L"]) == 3200


class _Calls:
    """The stream API calls a reader makes, by operation."""

    def __init__(self, reader: StreamReader) -> None:
        self.made: list[str] = []
        reader._streams.meta.events.register("before-call.dynamodb-streams", self._note)

    def _note(self, model: Any, **_: Any) -> None:
        self.made.append(model.name)


def _pks(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["Keys"]["PK"]["S"] for record in records]


def test_a_read_of_new_records_is_one_getrecords_call_on_the_iterator_the_last_read_returned(client, table_name):
    stream = StreamReader(boto3.Session(), table_name)
    calls = _Calls(stream)
    stream.read()
    assert calls.made == ["DescribeStream", "GetShardIterator", "GetRecords"]
    for round_ in range(3):
        calls.made.clear()
        client.put_item(TableName=table_name, Item=_key(f"T#a#S#r{round_}"))
        assert _pks(stream.read()) == [f"T#a#S#r{round_}"]  # exactly what is new: nothing missed, nothing again
        assert calls.made == ["GetRecords"]


def test_an_expired_iterator_is_replaced_after_the_last_record_read(client, table_name, monkeypatch):
    stream = StreamReader(boto3.Session(), table_name)
    client.put_item(TableName=table_name, Item=_key("T#a#S#before"))
    assert _pks(stream.read())[-1] == "T#a#S#before"
    monkeypatch.setattr(moto_streams, "ITERATOR_LIFETIME_SECONDS", 0.2)
    time.sleep(0.3)
    client.put_item(TableName=table_name, Item=_key("T#a#S#after"))  # forgets the expired iterators
    calls = _Calls(stream)
    assert _pks(stream.read()) == ["T#a#S#after"]
    assert calls.made == ["GetRecords", "GetShardIterator", "GetRecords"]  # refused as expired, then a fresh one


def test_an_iterator_kept_past_its_reuse_age_and_the_shard_list_past_its_own_are_renewed(
    client, table_name, monkeypatch
):
    from local.event_sources import stream_reader

    stream = StreamReader(boto3.Session(), table_name)
    stream.read()
    monkeypatch.setattr(stream_reader, "ITERATOR_REUSE_SECONDS", 0.0)
    monkeypatch.setattr(stream_reader, "SHARD_LIST_SECONDS", 0.0)
    calls = _Calls(stream)
    client.put_item(TableName=table_name, Item=_key("T#a#S#renewed"))
    assert _pks(stream.read()) == ["T#a#S#renewed"]
    assert calls.made == ["DescribeStream", "GetShardIterator", "GetRecords"]

"""local/aws/moto_queries.py: a base-table page read from the partition's sorted keys answers as moto's own query.

Every combination of sort key condition, direction, Limit and ExclusiveStartKey over one partition, compared
with moto 5.2.5's query over the whole partition (`Table.query.__wrapped__`).
"""

from __future__ import annotations

import itertools

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS

adapt_moto(TESTS_TTL_SWEEP_SECONDS)


@pytest.fixture
def client():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for index in range(0, 60, 2):  # even keys only: bounds fall between keys too
            dynamodb.put_item(
                TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": f"E#{index:04d}"}, "n": {"N": str(index)}}
            )
        dynamodb.put_item(TableName="t", Item={"PK": {"S": "other"}, "SK": {"S": "E#0001"}})
        yield dynamodb


CONDITIONS = [
    ("PK = :p", {}),
    ("PK = :p AND SK BETWEEN :a AND :b", {":a": {"S": "E#0011"}, ":b": {"S": "E#0040"}}),
    ("PK = :p AND SK BETWEEN :a AND :b", {":a": {"S": "E#0010"}, ":b": {"S": "E#0040"}}),
    ("PK = :p AND SK >= :a", {":a": {"S": "E#0031"}}),
    ("PK = :p AND SK > :a", {":a": {"S": "E#0030"}}),
    ("PK = :p AND SK <= :a", {":a": {"S": "E#0030"}}),
    ("PK = :p AND SK < :a", {":a": {"S": "E#0030"}}),
    ("PK = :p AND SK = :a", {":a": {"S": "E#0030"}}),
    ("PK = :p AND begins_with(SK, :a)", {":a": {"S": "E#001"}}),
]


def _pages(client, condition, values, forward, limit, filtered):
    request = {
        "TableName": "t",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": {":p": {"S": "p"}, **values},
        "ScanIndexForward": forward,
    }
    if limit:
        request["Limit"] = limit
    if filtered:
        request["FilterExpression"] = "n <> :skip"
        request["ExpressionAttributeValues"][":skip"] = {"N": "20"}
    pages = []
    while True:
        response = client.query(**request)
        pages.append(([item["SK"]["S"] for item in response["Items"]], response.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in response or len(pages) > 100:
            return pages
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


@pytest.mark.parametrize(("condition", "values"), CONDITIONS)
def test_pages_match_moto_over_the_whole_partition(client, condition, values, monkeypatch):
    for forward, limit, filtered in itertools.product((True, False), (None, 1, 3, 7, 100), (False, True)):
        narrowed = _pages(client, condition, values, forward, limit, filtered)
        with monkeypatch.context() as patch:
            patch.setattr(Table, "query", Table.query.__wrapped__)
            whole = _pages(client, condition, values, forward, limit, filtered)
        assert narrowed == whole, (condition, forward, limit, filtered)


def test_writes_are_seen_at_once(client):
    client.put_item(TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": "E#0005"}})
    client.delete_item(TableName="t", Key={"PK": {"S": "p"}, "SK": {"S": "E#0004"}})
    client.update_item(
        TableName="t",
        Key={"PK": {"S": "p"}, "SK": {"S": "E#0003"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )
    response = client.query(
        TableName="t",
        KeyConditionExpression="PK = :p AND SK BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"S": "E#0000"}, ":b": {"S": "E#0006"}},
    )
    assert [item["SK"]["S"] for item in response["Items"]] == ["E#0000", "E#0002", "E#0003", "E#0005", "E#0006"]

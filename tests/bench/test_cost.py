"""bench cost: request units sized as DynamoDB sizes items, and a total for the mix broken down by service."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from bench import cost
from bench.calls import in_process_stack
from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS
from sessions.store import session_pk

adapt_moto(TESTS_TTL_SWEEP_SECONDS)  # moto as the tests and the benchmark run it: behaving like DynamoDB


def test_item_sizes_follow_dynamodb_rules():
    assert cost.item_size({"PK": {"S": "abc"}}) == 2 + 3
    assert cost.item_size({"n": {"N": "-123.4500"}}) == 1 + 3 + 1  # 12345: 5 significant digits → 3 bytes, +1
    assert cost.item_size({"n": {"N": "0"}}) == 1 + 1
    assert cost.item_size({"m": {"M": {"a": {"N": "1"}, "b": {"BOOL": True}}}}) == 1 + 3 + (1 + 1 + 2) + (1 + 1 + 1)
    assert cost.item_size({"l": {"L": [{"S": "é"}, {"NULL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert cost.write_units(1024) == 1 and cost.write_units(1025) == 2 and cost.write_units(0) == 1
    assert cost.read_units(4097, consistent=True) == 2 and cost.read_units(10, consistent=False) == 0.5


def test_the_meter_counts_what_the_item_sizes_say(restored_env):
    """Hand-checked writes on the template's table: a put, a transaction, an update that grows the item."""
    with in_process_stack() as stack:
        name = stack.names["SessionsTable"]
        client = boto3.client("dynamodb")
        meter = cost.CostMeter(boto3.client("dynamodb"), cost.table_shapes(stack.names))
        meter.attach(client)
        key = {"PK": {"S": session_pk("acme", "s1")}, "SK": {"S": "#SESSION"}}
        # 1500 bytes of context (not projected into ByUser's lean entry), and ByUser's keys
        index_keys = {"by_user_pk": {"S": "u"}, "created_key": {"S": "c"}}
        item = {**key, **index_keys, "title": {"S": "t"}, "context": {"S": "x" * 1500}}
        client.put_item(TableName=name, Item=item)
        usage = meter.take()
        assert cost.item_size(item) > 1024
        assert (usage.table_wru, usage.index_wru) == (2, 1)  # 2 KB item; its small ByUser entry: 1

        # in a transaction every item costs twice; a change to context only writes no index entry
        event_key = {"PK": key["PK"], "SK": {"S": "E#1"}}
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {**event_key, "content": {"S": "y" * 100}}}},
                {
                    "Update": {
                        "TableName": name,
                        "Key": key,
                        "UpdateExpression": "SET context = :c",
                        "ExpressionAttributeValues": {":c": {"S": "z" * 2500}},
                    }
                },
            ]
        )
        usage = meter.take()
        assert (usage.table_wru, usage.index_wru) == (2 * 1 + 2 * 3, 0)  # event 1 KB; session grows to 3 KB

        # an update of a projected attribute rewrites the entry; reads round up per 4 KB, per call for a Query
        client.update_item(
            TableName=name, Key=key, UpdateExpression="SET title = :t", ExpressionAttributeValues={":t": {"S": "u"}}
        )
        client.get_item(TableName=name, Key=key, ConsistentRead=True)
        client.query(
            TableName=name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": key["PK"]},
        )
        usage = meter.take()
        assert (usage.table_wru, usage.index_wru) == (3, 1)
        assert usage.rru == 1 + 0.5  # the session (≈ 2.6 KB) consistent; both items (< 4 KB) eventually
        assert usage.calls == {"UpdateItem": 1, "GetItem": 1, "Query": 1}


def test_a_filtered_query_is_charged_for_every_item_it_read(restored_env):
    """DynamoDB charges a Query for the items its key condition reads, before a FilterExpression discards any."""
    with in_process_stack() as stack:
        name = stack.names["SessionsTable"]
        client = boto3.client("dynamodb")
        meter = cost.CostMeter(boto3.client("dynamodb"), cost.table_shapes(stack.names))
        pk = {"S": session_pk("acme", "s1")}
        for seq in range(1, 6):  # five events of 3 KB: 15 KB, four read units consistently read
            client.put_item(TableName=name, Item={"PK": pk, "SK": {"S": f"E#{seq}"}, "content": {"S": "x" * 3000}})
        meter.attach(client)
        query = {
            "TableName": name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :events)",
            "ExpressionAttributeValues": {":pk": pk, ":events": {"S": "E#"}, ":none": {"S": "nothing"}},
            "ConsistentRead": True,
        }
        answer = client.query(**query, FilterExpression="content = :none")
        assert (answer["Count"], answer["ScannedCount"]) == (0, 5)
        assert meter.take().rru == 4  # what it read (15 KB), not what it answered (nothing)
        answer = client.query(**query, FilterExpression="content = :none", Limit=2)  # Limit caps what is read
        assert (answer["Count"], answer["ScannedCount"]) == (0, 2)
        assert meter.take().rru == 2  # 6 KB


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    saved = dict(os.environ)
    try:
        return cost.figures_of(cost.measure())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_every_operation_of_the_mix_is_measured_and_writes_announce_one_event(figures):
    operations = figures["operations"]
    assert set(cost.MIX) == set(operations)
    for label in ("create", "create + Idempotency-Key", "create with 20 events", "patch", "append", "delete"):
        assert operations[label]["events"] == 1, label
        assert operations[label]["wru"] > 0, label
    for label in ("get", "history page", "list page", "stats"):
        assert operations[label]["wru"] == 0 and operations[label]["events"] == 0, label
        assert operations[label]["rru"] > 0, label
    append = operations["append"]
    assert append["dynamodb_calls"] == {"GetItem": 1, "TransactWriteItems": 1}
    assert (append["wru"] - append["wru_indexes"]) % 2 == 0  # a transaction: every item twice
    assert operations["create with 20 events"]["wru"] >= operations["create"]["wru"] + 2 * 20  # each event ×2
    assert operations["create + Idempotency-Key"]["wru"] > operations["create"]["wru"]
    assert operations["delete"]["publisher_wru"] > 0  # the removal is settled by the publisher
    assert operations["patch"]["publisher_wru"] == 0


def test_the_total_is_positive_and_broken_down_by_service(figures):
    total = figures["per_million_requests"]
    services = ("dynamodb", "lambda", "api_gateway", "eventbridge", "cloudwatch_logs")
    assert all(total[service] > 0 for service in services)
    assert total["total"] == pytest.approx(sum(total[service] for service in services))
    assert total["api_gateway"] == pytest.approx(1.00)  # one HTTP API request each
    writes = ("create", "create + Idempotency-Key", "create with 20 events", "append", "patch", "delete")
    assert total["eventbridge"] == pytest.approx(sum(cost.MIX[label] for label in writes))  # $1 per million events

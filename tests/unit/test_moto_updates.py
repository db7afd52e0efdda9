"""local/aws/moto_updates.py: updates change items, fail, and leave stream records exactly as moto 5.2.5's own pipeline.

The same writes, good and bad, run in order against two fresh moto accounts, one with the planned update and one
with every update given to moto's `DynamoDBBackend.update_item` (what the module replaces), as UpdateItems and then as
transactions; every outcome (the item written, or the error's code and message, a transaction's cancellation
reasons), every item left in the table and every stream record are compared. The service's own update
expressions are checked to take the plan, not moto's pipeline.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws import moto_updates
from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS

adapt_moto(TESTS_TTL_SWEEP_SECONDS)

TABLE = "t"
BIG = "x" * 300_000  # two of them make an item larger than moto's limit (405,000 bytes)
VALUES: dict[str, Any] = {
    ":s": {"S": "text"},
    ":s2": {"S": "other"},
    ":empty": {"S": ""},
    ":one": {"N": "1"},
    ":two": {"N": "2.5"},
    ":tiny": {"N": "1e-7"},
    ":huge": {"N": "9" * 38},
    ":map": {"M": {"a": {"S": "x"}, "n": {"L": [{"N": "1"}, {"NULL": True}]}}},
    ":list": {"L": [{"S": "a"}, {"BOOL": True}]},
    ":bool": {"BOOL": False},
    ":null": {"NULL": True},
    ":bin": {"B": b"\x00\x01"},
    ":ss": {"SS": ["a", "b"]},
    ":ss2": {"SS": ["b", "c"]},
    ":ns": {"NS": ["1", "2"]},
    ":big": {"S": BIG},
}
NAMES = {f"#{name}": name for name in ("a", "b", "c", "n", "s", "g", "missing", "version", "forks", "big", "big2")}
NAMES.update({"#pk": "PK", "#sk": "SK", "#alias_a": "a"})


def write(
    sk: str, expression: str, condition: str | None = None, *, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """An Update of item (p, sk), given only the names and values its expressions use (moto refuses unused ones)."""
    text = f"{expression} {condition or ''}"
    used_names = {key: value for key, value in (NAMES if names is None else names).items() if _uses(text, key)}
    used_values = {key: value for key, value in VALUES.items() if _uses(text, key)}
    update: dict[str, Any] = {"TableName": TABLE, "Key": {"PK": {"S": "p"}, "SK": {"S": sk}}}
    update["UpdateExpression"] = expression
    if condition:
        update["ConditionExpression"] = condition
    if used_names:
        update["ExpressionAttributeNames"] = used_names
    if used_values:
        update["ExpressionAttributeValues"] = used_values
    return update


def _uses(text: str, placeholder: str) -> bool:
    rest = text
    while placeholder in rest:
        rest = rest[rest.index(placeholder) + len(placeholder) :]
        if not rest[:1].isalnum() and rest[:1] != "_":
            return True
    return False


WRITES: list[dict[str, Any]] = [
    # the item does not exist: the update creates it
    write("1", "SET #a = :s, #b = :map, c = :list, #n = :one, d = :bool, e = :null, f = :bin"),
    write("1", "SET #a = :s2 REMOVE #b, c"),  # existing item
    write("1", "REMOVE #c, #b, #a SET #s = :ss ADD #n :two"),  # a run of REMOVEs, reordered by moto
    write("1", "ADD #n :tiny, #s :ss2"),  # a sum, a union
    write("1", "ADD #n :huge"),  # more than 38 significant digits: DynamoDB's error (moto_numbers)
    write("1", "DELETE #s :ss"),  # elements out
    write("1", "DELETE #s :ss2"),  # the last elements out: the attribute goes
    write("1", "DELETE #s :ss"),  # from a set that is not there: nothing
    write("1", "REMOVE #missing"),
    write("1", "SET #version = :one", "attribute_not_exists(#version) AND attribute_not_exists(#forks)"),
    write("1", "SET #version = :two, #a = :s", "#version = :one AND attribute_not_exists(#forks)"),
    write("1", "SET #version = :two", "#version = :one"),  # the condition fails: ALL_OLD returns the item
    write("2", "ADD #n :one, #s :ss", "attribute_not_exists(#a)"),  # a counter created by ADD
    write("2", "ADD #n :one, #s :ss"),
    write("3", "SET x = :s, y = :one REMOVE z"),  # plain names: no ExpressionAttributeNames at all
    write("3", "SET #a = :s, #alias_a = :s2"),  # one name twice through placeholders
    write("3", "SET a = :s, #alias_a = :s2"),  # a plain name and a placeholder for it
    write("3", "SET a = :s, a = :s2"),  # a plain name twice (refused for its text: moto's pipeline)
    write("3", "SET #pk = :s"),  # key attributes cannot be updated
    write("3", "REMOVE SK"),
    write("3", "SET #a = :s, #pk = :s2, #alias_a = :one"),  # the duplicate is found before the key
    # two paths given twice: moto reports the one its lowest node holds, plain paths listed first
    write("3", "SET #a = :s, #b = :s, #bb = :s2, #alias_a = :s2", names={**NAMES, "#bb": "b"}),
    write("3", "SET #b = :s, a = :s2 REMOVE #bb, #alias_a", names={**NAMES, "#bb": "b"}),
    write("3", "REMOVE #b, a, #bb, #alias_a", names={**NAMES, "#bb": "b"}),
    write("3", "SET G1 = :one"),  # an index key of the wrong type
    write("3", "SET #g = :one", names={"#g": "G1"}),  # moto checks the token, not the name: accepted
    write("3", "SET G1 = :empty"),  # an empty string as an index key
    write("3", "SET G2 = :empty"),  # an empty string elsewhere is fine
    write("3", "ADD #a :s"),  # ADD of a string
    write("3", "ADD x :one"),  # ADD of a number to a string
    write("3", "ADD #n :one, #s :ns", names={"#n": "n", "#s": "y"}),  # ADD of a number set to a number
    write("3", "DELETE #a :s"),  # DELETE of a string
    write("3", "DELETE y :ss"),  # DELETE from a number
    write("3", "SET #b = :s, #c = :two ADD #a :s"),  # the SETs are applied, then the ADD fails (moto keeps them)
    write("4", "ADD #a :s"),  # a new item whose ADD fails (moto keeps its key)
    write("5", "SET #big = :big"),
    write("5", "SET #big = :big"),  # moto counts the value replaced and the new one: too large
    write("5", "SET #big2 = :big"),  # too large
    write("5", "REMOVE #big SET #big2 = :big"),  # the REMOVE first: it fits
    write("5", "SET #a = :missing_value"),  # a value not given (moto's pipeline)
    write("5", "SET #unknown = :s", names={}),  # a name not given (moto's pipeline)
    write("5", "SET #a = :s SET #b = :s"),  # two SET clauses (moto's pipeline)
    write("5", "DELETE #s :ss DELETE #b :ss"),  # two DELETE clauses: moto does not count them
    write("5", "SET #a = #a + :one, #b = if_not_exists(#b, :s)"),  # not plain (moto's pipeline)
    write("5", "SET #b.#c = :s, #n = list_append(:list, :list) REMOVE #a[0]"),  # not plain
    write("5", "SET name = :s"),  # a reserved word as a plain name (moto's pipeline)
    write("6", "SET #a = :empty, #b = :ss"),
]
# the expressions the plan applies itself (the others go to moto's pipeline)
PLANNED = {
    update["UpdateExpression"]
    for update in WRITES
    if not any(
        marker in update["UpdateExpression"]
        for marker in ("SET a = :s, a", "+", "if_not", ".", "[", "SET name", "SET #b = :s SET", "SET #a = :s SET")
    )
}


def _table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind} for name, kind in (("PK", "S"), ("SK", "S"), ("G1", "S"))
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG1",
                "KeySchema": [{"AttributeName": "G1", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def _error(error: ClientError) -> tuple[Any, ...]:
    response = error.response
    reasons = [
        (reason.get("Code"), reason.get("Message"), reason.get("Item"))
        for reason in response.get("CancellationReasons", [])
    ]
    return (response["Error"]["Code"], response["Error"]["Message"], reasons, response.get("Item"))


def _stream_records(streams: Any, arn: str) -> list[Any]:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return [
        (record["eventName"], record["dynamodb"].get("OldImage"), record["dynamodb"].get("NewImage"))
        for record in records
    ]


def outcomes() -> list[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _table(dynamodb)
        seen: list[Any] = []
        for update in WRITES:
            try:
                written = dynamodb.update_item(
                    **update, ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD"
                )
                seen.append(written.get("Attributes"))
            except ClientError as error:
                seen.append(_error(error))
            except Exception as error:  # moto's own crash (a name not given): the same crash
                seen.append((type(error).__name__, str(error)))
        for update in WRITES:  # the same writes again, each the Update of a transaction, beside a Put
            put = {"TableName": TABLE, "Item": {"PK": {"S": "q"}, "SK": {"S": str(len(seen))}}}
            as_update = {
                **update,
                "Key": {"PK": {"S": "r"}, "SK": update["Key"]["SK"]},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            try:
                dynamodb.transact_write_items(TransactItems=[{"Put": put}, {"Update": as_update}])
                seen.append("committed")
            except ClientError as error:
                seen.append(_error(error))
        seen.append(dynamodb.scan(TableName=TABLE)["Items"])
        arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        seen.append(_stream_records(boto3.client("dynamodbstreams", region_name="us-east-1"), arn))
        return seen


def test_every_update_has_the_outcome_of_motos_own_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = outcomes()
    monkeypatch.setattr(moto_updates, "plan_for", lambda text: None)  # every update to moto's pipeline
    with_moto = outcomes()
    assert len(planned) == len(with_moto) == 2 * len(WRITES) + 2
    for position, (ours, motos) in enumerate(zip(planned, with_moto, strict=True)):
        assert ours == motos, (WRITES + WRITES + ["scan", "stream"])[position]
    refused = [outcome for outcome in planned[: len(WRITES)] if isinstance(outcome, tuple)]
    assert len(refused) >= 25  # the bad writes did fail (and the stream saw the good ones: compared above)


@pytest.mark.parametrize("expression", sorted(PLANNED))
def test_plain_expressions_are_planned(expression: str) -> None:
    assert moto_updates.plan_for(expression) is not None


@pytest.mark.parametrize("expression", sorted({update["UpdateExpression"] for update in WRITES} - PLANNED))
def test_other_expressions_go_to_motos_pipeline(expression: str) -> None:
    assert moto_updates.plan_for(expression) is None

"""local/aws/moto_conditions.py: conditions and filters pass, fail and are refused as moto 5.2.5's own parse has them.

The same requests run in order against two fresh moto accounts, one with the kept parses and one with moto's
`ConditionExpressionParser.parse`; each text comes back with other values (and some with other names), so most
requests take a kept parse. Every outcome (the item, the error's code and message, a transaction's reasons, a
query's items) is compared.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.comparisons import ConditionExpressionParser

from local.aws import moto_conditions
from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS

adapt_moto(TESTS_TTL_SWEEP_SECONDS)

TABLE = "t"


def n(value: str) -> dict[str, str]:
    return {"N": value}


def s(value: str) -> dict[str, str]:
    return {"S": value}


def key(sk: str) -> dict[str, Any]:
    return {"PK": s("p"), "SK": s(sk)}


def update(sk: str, condition: str, names: dict[str, str], values: dict[str, Any], set_to: str = "1") -> dict[str, Any]:
    """SET #v = :new on item sk under `condition` (`#v` names "v"), as an update_item request."""
    return {
        "Key": key(sk),
        "UpdateExpression": "SET #v = :new",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#v": "v", **names},
        "ExpressionAttributeValues": {":new": n(set_to), **values},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


VERSIONED = "#v = :current AND attribute_not_exists(#forks)"
# (operation, request): run in order; each text seen more than once, with other values or names
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("put_item", {"Item": {**key("1"), "a": s("x"), "l": {"L": [n("1"), n("2")]}, "ss": {"SS": ["a", "b"]}}}),
    ("put_item", {"Item": key("1"), "ConditionExpression": "attribute_not_exists(PK)"}),  # fails
    ("put_item", {"Item": {**key("2"), "a": s("y")}, "ConditionExpression": "attribute_not_exists(PK)"}),
    ("update_item", update("1", "attribute_not_exists(#v)", {}, {})),
    ("update_item", update("1", VERSIONED, {"#forks": "forks"}, {":current": n("1")}, set_to="2")),
    ("update_item", update("1", VERSIONED, {"#forks": "forks"}, {":current": n("2")}, set_to="3")),
    ("update_item", update("1", VERSIONED, {"#forks": "forks"}, {":current": n("2")}, set_to="4")),  # stale: fails
    ("update_item", update("1", VERSIONED, {"#forks": "a"}, {":current": n("3")}, set_to="5")),  # another name: fails
    ("update_item", update("1", VERSIONED, {"#forks": "forks"}, {":current": n("3")}, set_to="6")),
    ("update_item", update("1", "#x = :x", {"#x": "a"}, {":x": s("x")})),
    ("update_item", update("1", "#x = :x", {"#x": "l"}, {":x": s("x")})),  # the same text, another attribute
    ("update_item", update("1", "#n BETWEEN :lo AND :hi", {"#n": "v"}, {":lo": n("0"), ":hi": n("9")})),
    ("update_item", update("1", "#n BETWEEN :lo AND :hi", {"#n": "v"}, {":lo": {"NULL": True}, ":hi": n("9")})),
    ("update_item", update("1", "#n BETWEEN :lo AND :hi", {"#n": "v"}, {":lo": n("5"), ":hi": n("9")})),
    ("update_item", update("1", "size(#l) > :size", {"#l": "l"}, {":size": n("1")})),
    ("update_item", update("1", "size(#l) > :size", {"#l": "l"}, {":size": n("2")})),
    (
        "update_item",
        update(
            "1", "begins_with(#a, :p) AND contains(#ss, :e)", {"#a": "a", "#ss": "ss"}, {":p": s("x"), ":e": s("a")}
        ),
    ),
    (
        "update_item",
        update(
            "1", "begins_with(#a, :p) AND contains(#ss, :e)", {"#a": "a", "#ss": "ss"}, {":p": s("x"), ":e": s("z")}
        ),
    ),
    ("update_item", update("1", "#v IN (:a, :b) OR NOT (#v = :a)", {}, {":a": n("1"), ":b": n("2")})),
    ("update_item", update("1", "#v IN (:a, :b) OR NOT (#v = :a)", {}, {":a": n("1"), ":b": n("1")})),
    ("update_item", update("1", "(#v = :a) OR (#v = :b)", {}, {":a": n("1"), ":b": n("2")})),
    ("update_item", update("1", "((#v = :a))", {}, {":a": n("1")})),  # redundant parentheses
    ("update_item", update("1", "#v = :missing", {}, {})),  # a value not given
    ("update_item", update("1", "#unknown = :a", {}, {":a": n("1")})),  # a name not given
    ("update_item", update("1", "name = :a", {}, {":a": n("1")})),  # a reserved word
    ("update_item", update("1", "#v = = :a", {}, {":a": n("1")})),  # not a condition
    ("update_item", update("1", "#v = :a.b", {}, {":a": n("1")})),  # a value in a path
    ("delete_item", {"Key": key("2"), "ConditionExpression": "a = :a", "ExpressionAttributeValues": {":a": s("n")}}),
    ("delete_item", {"Key": key("2"), "ConditionExpression": "a = :a", "ExpressionAttributeValues": {":a": s("y")}}),
    (
        "query",
        {
            "KeyConditionExpression": "PK = :pk",
            "FilterExpression": "#v > :v",
            "ExpressionAttributeNames": {"#v": "v"},
            "ExpressionAttributeValues": {":pk": s("p"), ":v": n("0")},
        },
    ),
    (
        "query",
        {
            "KeyConditionExpression": "PK = :pk",
            "FilterExpression": "#v > :v",
            "ExpressionAttributeNames": {"#v": "v"},
            "ExpressionAttributeValues": {":pk": s("p"), ":v": n("9")},
        },
    ),
]
TRANSACTIONS: list[list[dict[str, Any]]] = [
    [
        {"Put": {"TableName": TABLE, "Item": key("3"), "ConditionExpression": "attribute_not_exists(PK)"}},
        {
            "Update": {
                "TableName": TABLE,
                **update("1", VERSIONED, {"#forks": "forks"}, {":current": n("1")}, set_to="7"),
            }
        },
    ],
    [
        {"Put": {"TableName": TABLE, "Item": key("4"), "ConditionExpression": "attribute_not_exists(PK)"}},
        {
            "Update": {
                "TableName": TABLE,
                **update("1", VERSIONED, {"#forks": "forks"}, {":current": n("1")}, set_to="8"),
            }
        },
    ],  # stale: cancelled
    [
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": key("1"),
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "v"},
                "ExpressionAttributeValues": {":v": n("7")},
            }
        }
    ],
    [
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": key("1"),
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "v"},
            }
        }
    ],
]


def _error(error: ClientError) -> tuple[Any, ...]:
    response = error.response
    reasons = [(r.get("Code"), r.get("Message"), r.get("Item")) for r in response.get("CancellationReasons", [])]
    return (response["Error"]["Code"], response["Error"]["Message"], reasons, response.get("Item"))


def outcomes() -> list[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        seen: list[Any] = []
        calls = [(operation, {"TableName": TABLE, **request}) for operation, request in REQUESTS]
        calls += [("transact_write_items", {"TransactItems": items}) for items in TRANSACTIONS]
        for operation, request in calls:
            try:
                response = getattr(dynamodb, operation)(**request)
                seen.append(response.get("Items", response.get("Attributes")))
            except ClientError as error:
                seen.append(_error(error))
            except Exception as error:  # moto's own crash (a name not given): the same crash
                seen.append((type(error).__name__, str(error)))
        seen.append(dynamodb.scan(TableName=TABLE)["Items"])
        return seen


def test_every_condition_has_the_outcome_of_motos_own_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = outcomes()
    taken = dict(moto_conditions._kept)
    monkeypatch.setattr(ConditionExpressionParser, "parse", moto_conditions.parse.generic)  # type: ignore[attr-defined]
    with_moto = outcomes()
    labels = [*REQUESTS, *TRANSACTIONS, "scan"]
    for label, ours, motos in zip(labels, kept, with_moto, strict=True):
        assert ours == motos, label
    failed = [outcome for outcome in kept if isinstance(outcome, tuple)]
    assert len(failed) >= 15  # the failing conditions and the refused texts did fail
    assert VERSIONED in taken and "#v = = :a" not in taken  # kept, and a text that does not parse is not

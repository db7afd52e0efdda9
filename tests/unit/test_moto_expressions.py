"""local/aws/moto_expressions.py: update expressions change items, and are refused, as moto 5.2.5's own code does.

The same writes, every one twice (the second time from the kept parse), run against two fresh moto accounts, one
with the module's parse and walk and one with moto's (`UpdateExpressionParser.make` and
`DepthFirstTraverser.traverse` as moto has them), and every outcome, item or error, is compared.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
from moto.dynamodb.parsing.expressions import UpdateExpressionParser

from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS

adapt_moto(TESTS_TTL_SWEEP_SECONDS)

KEY = {"PK": {"S": "p"}}
# (UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues, ConditionExpression)
WRITES: list[tuple[str, dict[str, str], dict[str, Any], str | None]] = [
    (
        "SET #n = :one, #m = :map, #l = :list",
        {"#n": "n", "#m": "m", "#l": "l"},
        {":one": {"N": "1"}, ":map": {"M": {"a": {"S": "x"}}}, ":list": {"L": [{"N": "1"}]}},
        None,
    ),
    (
        "SET #n = #n + :two, #m.#a = :y, #l = list_append(#l, :more)",
        {"#n": "n", "#m": "m", "#a": "a", "#l": "l"},
        {":two": {"N": "2"}, ":y": {"S": "y"}, ":more": {"L": [{"S": "z"}]}},
        None,
    ),
    ("SET #c = if_not_exists(#c, :zero) - :one", {"#c": "c"}, {":zero": {"N": "0"}, ":one": {"N": "1"}}, None),
    ("ADD #s :set, #n :three", {"#s": "s", "#n": "n"}, {":set": {"SS": ["a", "b"]}, ":three": {"N": "3"}}, None),
    ("DELETE #s :a REMOVE #l[0], #m.#a", {"#s": "s", "#l": "l", "#m": "m", "#a": "a"}, {":a": {"SS": ["a"]}}, None),
    ("SET #v = :v", {"#v": "v"}, {":v": {"N": "7"}, ":old": {"N": "-1"}}, "#v = :old"),  # the condition fails
    ("SET #x = #missing + :one", {"#x": "x", "#missing": "missing"}, {":one": {"N": "1"}}, None),  # no such path
    ("SET #n = :s + :one", {"#n": "n"}, {":s": {"S": "text"}, ":one": {"N": "1"}}, None),  # wrong operand type
    ("SET #PK = :other", {"#PK": "PK"}, {":other": {"S": "q"}}, None),  # a key attribute cannot be updated
    ("SET #n = :one, #n = :two", {"#n": "n"}, {":one": {"N": "1"}, ":two": {"N": "2"}}, None),  # overlapping paths
]


def outcomes() -> list[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        seen: list[Any] = []
        for expression, names, values, condition in WRITES + WRITES:
            kwargs: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
            try:
                written = dynamodb.update_item(
                    TableName="t",
                    Key=KEY,
                    UpdateExpression=expression,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    **kwargs,
                )
                seen.append(written["Attributes"])
            except ClientError as error:
                seen.append((error.response["Error"]["Code"], error.response["Error"]["Message"]))
        seen.append(dynamodb.get_item(TableName="t", Key=KEY)["Item"])
        return seen


def test_every_update_expression_has_the_outcome_of_motos_own_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    direct = DepthFirstTraverser.traverse
    assert getattr(direct, "_table_once", False)
    with_direct = outcomes()
    monkeypatch.setattr(DepthFirstTraverser, "traverse", direct.generic)
    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(UpdateExpressionParser.make.__func__.generic))
    with_moto = outcomes()
    assert with_direct == with_moto
    refused = [outcome for outcome in with_direct if isinstance(outcome, tuple)]
    assert len(refused) == 10  # the failing condition and the four refused expressions did fail, both times

"""The store's DynamoDB client takes item answers as the wire sends them (sessions/store/client.py).

Whatever an item holds, every item operation answers exactly what botocore's own parse answers, and
errors still come as botocore's exceptions with their items.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from local.testing import reset_sessions_caches
from sessions.store import client as store_client

VALUES: dict[str, Any] = {
    "text": {"S": 'héllo 👋 \u0000 "quoted" \\ back'},
    "empty": {"S": ""},
    "int": {"N": "12345678901234567890123456789012345678"},
    "decimal": {"N": "0.000000000000000000001"},
    "negative": {"N": "-1.5"},
    "yes": {"BOOL": True},
    "nothing": {"NULL": True},
    "map": {"M": {"nested": {"L": [{"N": "1"}, {"S": "two"}, {"M": {}}, {"L": []}]}, "": {"S": "empty key"}}},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "looks_binary": {"S": '{"B": "not binary"}'},
}


@pytest.fixture
def clients(aws: dict[str, str]) -> Iterator[tuple[Any, Any, str]]:
    reset_sessions_caches()
    plain = botocore.session.get_session().create_client("dynamodb")
    yield store_client.dynamodb_client(), plain, aws["SessionsTable"]
    reset_sessions_caches()


def _without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "ResponseMetadata"}


def _same(ours: Any, theirs: Any, operation: str, **request: Any) -> dict[str, Any]:
    answer = getattr(ours, operation)(**request)
    assert _without_metadata(answer) == _without_metadata(getattr(theirs, operation)(**request))
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    return answer


def _key(n: int) -> dict[str, Any]:
    return {"PK": {"S": f"T#t#S#{n}"}, "SK": {"S": f"E#{n:04d}"}}


def test_every_item_operation_answers_as_botocore_parses_it(clients: tuple[Any, Any, str]) -> None:
    ours, plain, table = clients
    for n in range(3):
        plain.put_item(TableName=table, Item={**_key(n), **VALUES})
    got = _same(ours, plain, "get_item", TableName=table, Key=_key(0), ConsistentRead=True)
    assert got["Item"]["int"] == {"N": "12345678901234567890123456789012345678"} and got["Item"]["yes"] == {
        "BOOL": True
    }
    _same(
        ours,
        plain,
        "query",
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "T#t#S#1"}},
    )
    _same(ours, plain, "scan", TableName=table, Limit=2)
    _same(ours, plain, "batch_get_item", RequestItems={table: {"Keys": [_key(0), _key(1)]}})
    _same(ours, plain, "transact_get_items", TransactItems=[{"Get": {"TableName": table, "Key": _key(2)}}])
    for n, (ours_or_plain, other) in enumerate([(ours, plain), (plain, ours)]):
        # writes change the table: each client makes the same write on its own item, and the answers are compared
        answers = [
            client.update_item(
                TableName=table,
                Key=_key(n),
                UpdateExpression="SET #t = :t",
                ExpressionAttributeNames={"#t": "text"},
                ExpressionAttributeValues={":t": {"S": "ü"}},
                ReturnValues="ALL_NEW",
            )
            for client in (ours_or_plain, other)
        ]
        assert _without_metadata(answers[0]) == _without_metadata(answers[1])
    put = ours.put_item(TableName=table, Item={**_key(9), **VALUES}, ReturnValues="ALL_OLD")
    assert _without_metadata(put) == {}
    again = ours.put_item(TableName=table, Item={**_key(9), **VALUES}, ReturnValues="ALL_OLD")
    assert again["Attributes"] == {**_key(9), **VALUES}
    deleted = ours.delete_item(TableName=table, Key=_key(9), ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == {**_key(9), **VALUES}
    written = ours.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {**_key(7), **VALUES}}}]})
    assert written["UnprocessedItems"] == {}
    transacted = ours.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {**_key(8), **VALUES}}}])
    assert _without_metadata(transacted) == _without_metadata(
        plain.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {**_key(8), **VALUES}}}])
    )


def test_an_item_with_a_binary_value_is_left_to_botocore_which_makes_it_bytes(clients: tuple[Any, Any, str]) -> None:
    ours, plain, table = clients
    plain.put_item(TableName=table, Item={**_key(0), "blob": {"B": b"\x00\xffbytes"}, "blobs": {"BS": [b"a"]}})
    got = _same(ours, plain, "get_item", TableName=table, Key=_key(0))
    assert got["Item"]["blob"] == {"B": b"\x00\xffbytes"} and got["Item"]["blobs"] == {"BS": [b"a"]}


def test_errors_are_botocores_exceptions_with_the_item_they_carry(clients: tuple[Any, Any, str]) -> None:
    ours, plain, table = clients
    plain.put_item(TableName=table, Item={**_key(0), "version": {"N": "2"}})
    with pytest.raises(ours.exceptions.ConditionalCheckFailedException) as refused:
        ours.put_item(
            TableName=table,
            Item=_key(0),
            ConditionExpression="attribute_not_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert refused.value.response["Item"] == {**_key(0), "version": {"N": "2"}}
    with pytest.raises(ours.exceptions.TransactionCanceledException) as cancelled:
        ours.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _key(0), "ConditionExpression": "attribute_not_exists(PK)"}}
            ]
        )
    assert [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]] == ["ConditionalCheckFailed"]
    with pytest.raises(ours.exceptions.ResourceNotFoundException):
        ours.get_item(TableName="no-such-table", Key=_key(0))


def test_the_store_client_takes_the_wire_json_and_skips_botocores_walk(
    clients: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import types

    ours, plain, table = clients
    plain.put_item(TableName=table, Item={**_key(0), **VALUES})
    taken: list[bytes] = []
    monkeypatch.setattr(
        store_client, "json", types.SimpleNamespace(loads=lambda body: taken.append(body) or json.loads(body))
    )
    monkeypatch.setattr(
        "botocore.parsers.BaseJSONParser._handle_map", lambda *_: pytest.fail("botocore walked the item")
    )
    assert ours.get_item(TableName=table, Key=_key(0))["Item"] == {**_key(0), **VALUES}
    assert len(taken) == 1

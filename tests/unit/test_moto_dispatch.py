"""The action lookup of moto's server, cached (local/aws/moto_dispatch.py), answers as moto's own."""

from __future__ import annotations

import inspect

import pytest
from moto.core import responses, utils
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.events.responses import EventsHandler
from moto.s3.responses import S3Response
from moto.sqs.responses import SQSResponse

from local.aws import moto_dispatch

RESPONSE_CLASSES = [DynamoHandler, DynamoDBStreamsHandler, EventsHandler, SQSResponse, S3Response]
ACTIONS = [
    "TransactWriteItems",
    "GetItem",
    "BatchWriteItem",
    "GetRecords",
    "PutEvents",
    "ReceiveMessage",
    "DeleteMessageBatch",
    "ListObjectsV2",
    "",
    "A",
    "ABCDef",
    "getItem",
    "Get Item",
    "NoSuchAction",
]


@pytest.fixture(autouse=True, scope="module")
def installed() -> None:
    moto_dispatch.install()


@pytest.mark.parametrize("clazz", RESPONSE_CLASSES, ids=lambda c: c.__name__)
def test_every_action_is_found_exactly_when_moto_would_find_it(clazz: type) -> None:
    for action in ACTIONS:
        name = responses.camelcase_to_underscores(action)
        assert name == moto_dispatch._snake_case(action)
        assert (name in responses.method_names_from_class(clazz)) == (name in moto_dispatch._method_names(clazz))


def test_the_lookup_lists_a_class_once(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fresh(DynamoHandler):  # a class nobody asked about yet
        pass

    assert "transact_write_items" in responses.method_names_from_class(Fresh)
    monkeypatch.setattr(inspect, "getmembers", lambda *_a, **_k: pytest.fail("listed the class again"))
    assert "get_item" in responses.method_names_from_class(Fresh)


def test_install_takes_over_call_actions_lookup_and_is_idempotent() -> None:
    moto_dispatch.install()
    assert responses.method_names_from_class is moto_dispatch.method_names_from_class
    assert responses.camelcase_to_underscores is moto_dispatch.camelcase_to_underscores
    assert utils.camelcase_to_underscores is moto_dispatch._snake_case  # moto's other callers keep moto's own

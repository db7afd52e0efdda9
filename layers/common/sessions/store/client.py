"""AWS clients: one per service and container, created on first use."""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# DynamoDB's item operations answer in JSON already shaped as botocore's parse of it: a walk of the
# output model over every attribute value (a third of a history page's CPU in its function) that
# builds the same dicts. The wire's own JSON is taken instead; botocore still parses errors, and any
# answer holding a binary value (base64 on the wire, bytes once parsed; the service writes none).
_ITEM_OPERATIONS = (
    "GetItem",
    "BatchGetItem",
    "TransactGetItems",
    "Query",
    "Scan",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
)
_BINARY_VALUE = re.compile(rb'"BS?"\s*:')


def items_as_sent(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's before-parse hook: a successful item operation's answer is its wire JSON, unparsed."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not body or _BINARY_VALUE.search(body):
        return
    customized_response_dict.update(json.loads(body))
    response_dict["body"] = b"{}"  # botocore adds only ResponseMetadata


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    client = aws_client("dynamodb")
    for operation in _ITEM_OPERATIONS:
        client.meta.events.register(f"before-parse.dynamodb.{operation}", items_as_sent)
    return client  # type: ignore[no-any-return,unused-ignore]


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service and container, created on first use (cold starts pay only for what they use).

    botocore's own session: the same client as boto3.client, without importing boto3.
    """
    import botocore.session
    from botocore.config import Config

    # S3: presigned URLs signed with SigV4, which every Region accepts (botocore may pick SigV2 otherwise)
    config = Config(signature_version="s3v4") if service == "s3" else None
    return botocore.session.get_session().create_client(service, config=config)

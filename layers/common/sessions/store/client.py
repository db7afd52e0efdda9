"""AWS clients: one per service and container, created on first use."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return aws_client("dynamodb")  # type: ignore[no-any-return,unused-ignore]


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

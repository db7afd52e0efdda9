"""AWS throttling that outlasts botocore's retries is a 503 a client retries, never a 500 it gives up on."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sessions import store


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_dynamodb_throttling_answers_503_with_retry_after(gateway, monkeypatch, code):
    session_id = gateway.create({}).body["session_id"]
    client = store.dynamodb_client()

    def throttled(**_: object) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "slow down"}}, "GetItem")

    monkeypatch.setattr(client, "get_item", throttled)
    reply = gateway.request("GET", f"/v1/sessions/{session_id}")
    assert reply.status == 503, reply.body
    assert reply.body["code"] == "service_unavailable" and reply.headers["retry-after"] == "1"
    assert "slow down" not in str(reply.body)  # no DynamoDB text in an error


def test_any_other_failure_is_a_500_that_says_nothing_more(gateway, monkeypatch):
    session_id = gateway.create({}).body["session_id"]
    client = store.dynamodb_client()

    def broken(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetItem")

    monkeypatch.setattr(client, "get_item", broken)
    reply = gateway.request("GET", f"/v1/sessions/{session_id}")
    assert reply.status == 500 and reply.body["code"] == "internal_error", reply.body
    assert reply.body["detail"] == "the request failed" and "retry-after" not in reply.headers

"""Lambda's Invoke API on the Lambda port, as `sam local start-lambda` answers it."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.stack.template import ROOT
from tests.e2e.client import Client
from tests.e2e.conftest import DevServer

INVOKE = "/2015-03-31/functions/{}/invocations"


def get_event(session_id: str, user: str, tenant: str) -> dict[str, Any]:
    """The sample event of GetSessionFunction, asking for `session_id` as `user` of `tenant`."""
    event = json.loads((ROOT / "events" / "GetSessionFunction.json").read_text())
    event = copy.deepcopy(event)
    path = f"/v1/sessions/{session_id}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"session_id": session_id}
    event["requestContext"]["authorizer"]["jwt"]["claims"] = {"sub": user, "tenant_id": tenant}
    return event


@pytest.fixture
def session_id(api: Client, user: str, tenant: str) -> str:
    created = api.as_(user=user, tenant=tenant).post("/v1/sessions", {"title": "Invoked"})
    assert created.status == 201, created.body
    return created.json()["session_id"]


def test_invoke_runs_get_session_with_an_api_gateway_event(
    lambda_endpoint: Client, session_id: str, user: str, tenant: str
) -> None:
    reply = lambda_endpoint.post(INVOKE.format("GetSessionFunction"), get_event(session_id, user, tenant))
    assert reply.status == 200, reply.body
    assert "x-amz-function-error" not in reply.headers
    assert reply.headers["x-amz-executed-version"] == "$LATEST"
    result = reply.json()
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["session_id"] == session_id

    missing = lambda_endpoint.post(INVOKE.format("GetSessionFunction"), get_event("nope", user, tenant))
    assert missing.json()["statusCode"] == 404


def test_an_unknown_function_is_resource_not_found(lambda_endpoint: Client) -> None:
    reply = lambda_endpoint.post(INVOKE.format("NoSuchFunction"), {})
    assert reply.status == 404
    assert reply.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert reply.json() == {"Type": "User", "message": "Function not found: NoSuchFunction"}


def test_a_payload_that_is_not_json_is_invalid_request_content(lambda_endpoint: Client) -> None:
    reply = lambda_endpoint.post(INVOKE.format("GetSessionFunction"), raw=b"{not json")
    assert reply.status == 400
    assert reply.headers["x-amzn-errortype"] == "InvalidRequestContentException"


def test_a_handler_that_raises_is_an_unhandled_function_error(lambda_endpoint: Client) -> None:
    # an event that is no API Gateway event at all: the resolver fails before any route runs
    reply = lambda_endpoint.post(INVOKE.format("GetSessionFunction"), {"not": "an api gateway event"})
    assert reply.status == 200
    assert reply.headers["x-amz-function-error"] == "Unhandled"
    body = reply.json()
    assert set(body) == {"errorMessage", "errorType", "stackTrace"}
    assert body["stackTrace"] == []
    assert body["errorType"]


@pytest.fixture
def lambda_client(dev_server: DevServer) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=dev_server.lambda_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_invokes_through_the_lambda_port(lambda_client: Any, session_id: str, user: str, tenant: str) -> None:
    response = lambda_client.invoke(
        FunctionName="GetSessionFunction", Payload=json.dumps(get_event(session_id, user, tenant)).encode()
    )
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = json.loads(response["Payload"].read())
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["session_id"] == session_id

    by_arn = lambda_client.invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:GetSessionFunction",
        Payload=json.dumps(get_event(session_id, user, tenant)).encode(),
    )
    assert json.loads(by_arn["Payload"].read())["statusCode"] == 200

    assert lambda_client.invoke(FunctionName="GetSessionFunction", InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")

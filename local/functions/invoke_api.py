"""Lambda's Invoke API, as `sam local start-lambda` answers it, so `aws lambda invoke` and boto3 work.

POST /2015-03-31/functions/{FunctionName}/invocations   body: the event (JSON)
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from local.functions.runtime import FunctionNotFound, Invocation

LOG = logging.getLogger("local")
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit for a synchronous invocation
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
Invoke = Callable[[str, Any], Invocation]


def function_name(identifier: str, qualifier: str | None) -> str | None:
    """The logical id in a name, `name:qualifier` or function ARN; None for a version or alias we lack."""
    name = identifier.split(":function:", 1)[1] if ":function:" in identifier else identifier
    name, _, inline_qualifier = name.partition(":")
    return name if (qualifier or inline_qualifier or "$LATEST") == "$LATEST" else None


def lambda_error(status: int, error_type: str, message: str) -> Response:
    """An error of the Lambda service itself; botocore reads the type from x-amzn-ErrorType."""
    body = json.dumps({"Type": "User", "message": message})
    return Response(body, status=status, content_type="application/json", headers={"x-amzn-ErrorType": error_type})


class LambdaApi:
    def __init__(self, invoke: Invoke, functions: list[str]) -> None:
        self._invoke = invoke
        self._functions = set(functions)

    def __call__(self, request: Request) -> Response:
        parsed = self._parse(request)
        if isinstance(parsed, Response):
            return parsed
        name, event = parsed
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return Response(status=204)
        if invocation_type == "Event":
            threading.Thread(target=self._invoke_async, args=(name, event), daemon=True).start()
            return Response(status=202)
        if invocation_type != "RequestResponse":
            return lambda_error(400, "InvalidParameterValueException", f"Invalid InvocationType {invocation_type!r}")
        return self._respond(self._invoke(name, event))

    def _parse(self, request: Request) -> tuple[str, Any] | Response:
        """The function and the event of an invoke request, or the error Lambda answers instead."""
        found = INVOKE_PATH.match(request.path)
        if found is None or request.method != "POST":
            return lambda_error(404, "UnknownOperationException", f"Unknown operation {request.method} {request.path}")
        name = function_name(found["name"], request.args.get("Qualifier"))
        if name is None or name not in self._functions:
            return lambda_error(404, "ResourceNotFoundException", f"Function not found: {found['name']}")
        if (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            return lambda_error(413, "RequestTooLargeException", f"payload over {MAX_PAYLOAD_BYTES} bytes")
        try:
            text = request.get_data().decode("utf-8")
            return name, (json.loads(text) if text.strip() else {})
        except ValueError as exc:
            return lambda_error(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")

    @staticmethod
    def _respond(invocation: Invocation) -> Response:
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": invocation.request_id}
        if invocation.function_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return Response(invocation.payload, status=200, content_type="application/json", headers=headers)

    def _invoke_async(self, name: str, event: Any) -> None:
        try:
            invocation = self._invoke(name, event)
        except (FunctionNotFound, OSError) as exc:
            LOG.warning("asynchronous invocation of %s failed: %s", name, exc)
            return
        if invocation.function_error:
            LOG.warning("asynchronous invocation of %s failed: %s", name, invocation.payload)

"""httpx transports that answer in-process: the dev server's HTTP API stand-in, the template's handlers, moto.

The client's tests (client/tests/inprocess.py) and the benchmarks that drive the client (bench/langgraph.py) use it.

No sockets: a request goes through `local.api.http_api.HttpApi` (route matching from template.yaml,
the identity headers as JWT claims, API Gateway's payload v2 event and proxy response) into each
function's real `lambda_handler`, called in this process against whatever AWS is mocked (moto).
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.api.gateway import LambdaContext, load_handler
from local.api.http_api import HttpApi
from local.functions.runtime import Invocation, error_payload
from local.stack.template import FunctionSpec


class InProcessApi:
    """The template's HTTP API, answered in this process; one request at a time (as Lambda runs a handler)."""

    def __init__(self, specs: Mapping[str, FunctionSpec]) -> None:
        self._specs = specs
        self._handlers: dict[str, Any] = {}
        self._lock = threading.Lock()  # Powertools' resolver keeps the current event in class attributes
        self._api = HttpApi(specs, self._invoke, lambda request: None)

    def _invoke(self, function: str, event: Any) -> Invocation:
        request_id = str(uuid.uuid4())
        if function not in self._handlers:
            self._handlers[function] = load_handler(self._specs[function])
        try:
            result = self._handlers[function](event, LambdaContext(function, aws_request_id=request_id))
        except Exception as exc:
            traceback.print_exc()
            return Invocation(request_id, error_payload(type(exc).__name__, str(exc)), function_error=True)
        return Invocation(request_id, json.dumps(result))

    def handle(self, request: httpx.Request, body: bytes) -> httpx.Response:
        builder = EnvironBuilder(
            method=request.method,
            path=request.url.path,
            query_string=request.url.query.decode("ascii"),
            headers=[(name, value) for name, value in request.headers.items() if name.lower() != "content-length"],
            data=body,
        )
        try:
            with self._lock:
                response = self._api(Request(builder.get_environ()))
        finally:
            builder.close()
        return httpx.Response(
            response.status_code, headers=list(response.headers.items()), content=response.get_data(), request=request
        )


def is_aws_url(request: httpx.Request) -> bool:
    """A presigned S3 URL (a large event's part), not a request for the API."""
    return request.url.host.endswith("amazonaws.com") or "X-Amz-Signature" in request.url.params


def fetch_from_aws(request: httpx.Request, body: bytes) -> httpx.Response:
    """Through `requests`, which moto intercepts while AWS is mocked: a presigned GET reaches the mocked S3."""
    import requests

    answer = requests.request(
        request.method, str(request.url), headers=dict(request.headers), data=body or None, timeout=30
    )
    headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in {"content-encoding", "content-length"}]
    return httpx.Response(answer.status_code, headers=headers, content=answer.content, request=request)


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, api: InProcessApi) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if is_aws_url(request):
            return fetch_from_aws(request, request.read())
        return self.api.handle(request, request.read())


class AsyncInProcessTransport(httpx.AsyncBaseTransport):
    def __init__(self, api: InProcessApi) -> None:
        self.api = api

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if is_aws_url(request):
            return fetch_from_aws(request, await request.aread())
        return self.api.handle(request, await request.aread())


class CountingTransport(httpx.BaseTransport):
    """Wraps a transport and keeps every request it carried (to count HTTP calls per operation)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

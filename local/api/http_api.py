"""The local stand-in for API Gateway's HTTP API: template routes → v2 events → functions → HTTP."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from local.api.gateway import claims_from_headers, http_api_event, match_route, routes_of
from local.api.wsgi import json_response, problem
from local.functions.runtime import Invocation
from local.stack.template import FunctionSpec

LOG = logging.getLogger("local")
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; the functions enforce their own, smaller one
Invoke = Callable[[str, Any], Invocation]
Fallback = Callable[[Request], Response | None]


class HttpApi:
    """Routes a request to the template's function; `fallback` serves what the template does not route."""

    def __init__(self, specs: Mapping[str, FunctionSpec], invoke: Invoke, fallback: Fallback) -> None:
        self._specs = specs
        self._routes = routes_of(specs)
        self._invoke = invoke
        self._fallback = fallback

    def __call__(self, request: Request) -> Response:
        found = match_route(self._routes, request.method, request.path)
        if found is None:
            return self._fallback(request) or problem(404, "route_not_found", "Not found", "no such route")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return json_response({"message": "Request Entity Too Large"}, 413)
        route, path_parameters = found
        headers = dict(request.headers.items())
        environment = self._specs[route.function].environment
        claims = claims_from_headers(
            headers, environment.get("TENANT_CLAIM", "tenant_id"), environment.get("ROLES_CLAIM", "cognito:groups")
        )
        event = http_api_event(
            method=request.method,
            path=request.path,
            route=route,
            path_parameters=path_parameters,
            query=request.environ.get("QUERY_STRING", ""),
            headers=headers,
            body=request.get_data(),
            claims=claims,
        )
        invocation = self._invoke(route.function, event)
        if invocation.function_error:
            LOG.warning("%s failed: %s", route.function, invocation.payload)
            return internal_server_error()
        try:
            return proxy_response(invocation.result())
        except (KeyError, TypeError, ValueError):
            LOG.warning("%s returned a response API Gateway cannot use: %.500s", route.function, invocation.payload)
            return internal_server_error()


def internal_server_error() -> Response:
    """What API Gateway answers when the function fails or returns something malformed."""
    return json_response({"message": "Internal Server Error"}, 500)


def proxy_response(result: Any) -> Response:
    """A payload v2 response as API Gateway turns it into HTTP (including its inferred format)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(body, status=200, content_type="application/json")
    raw_body = result.get("body") or ""
    data = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    del response.headers["Content-Type"]  # only what the function set
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response

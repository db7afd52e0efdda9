"""What API Gateway (HTTP API, payload v2) and Lambda do for a request, done locally.

Shared by the dev server and the tests: route matching from template.yaml, API Gateway v2
events, the JWT authorizer's claims, and loading each function's handler from its CodeUri.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from local.stack.template import ROOT, FunctionSpec

LAYER_PATH = ROOT / "layers" / "common"
Handler = Callable[[dict[str, Any], Any], Any]
_IMPORT_LOCK = threading.Lock()


def add_layer_to_path() -> None:
    """Lambda puts the layer at /opt/python; locally the package is imported from the repo."""
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))


def load_handler(spec: FunctionSpec) -> Handler:
    """Import a function's handler under a module name of its own (every file is app.py)."""
    add_layer_to_path()
    module_file, _, attribute = spec.handler.rpartition(".")
    module_name = f"functions_{spec.logical_id}_{module_file}"
    with _IMPORT_LOCK:  # concurrent first requests must not see a half-executed module
        if module_name not in sys.modules:
            loader = importlib.util.spec_from_file_location(module_name, spec.code_uri / f"{module_file}.py")
            if loader is None or loader.loader is None:
                raise ImportError(f"cannot load {spec.handler} from {spec.code_uri}")
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
            sys.modules[module_name] = module
    return getattr(sys.modules[module_name], attribute)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 10
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # template form: /v1/sessions/{session_id}
    function: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, method: str, path: str, function: str) -> Route:
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        return cls(method, path, function, re.compile(f"^{regex}$"))

    @property
    def specificity(self) -> tuple[int, int]:
        # literal segments win over parameters, as in API Gateway: /v1/sessions/stats beats {session_id}
        return (-self.path.count("{"), len(self.path))


def routes_of(specs: Mapping[str, FunctionSpec]) -> list[Route]:
    routes = [Route.of(method, path, spec.logical_id) for spec in specs.values() for method, path in spec.routes]
    return sorted(routes, key=lambda route: route.specificity, reverse=True)


def match_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        found = route.pattern.match(path)
        if found and route.method == method.upper():
            return route, found.groupdict()
    return None


def claims_from_headers(headers: Mapping[str, str], tenant_claim: str, roles_claim: str) -> dict[str, str] | None:
    """The local stand-in for the JWT authorizer: X-User-Id, X-Tenant-Id, X-Roles become claims."""
    lowered = {key.lower(): value for key, value in headers.items()}
    claims: dict[str, str] = {}
    if lowered.get("x-user-id"):
        claims["sub"] = lowered["x-user-id"]
    if lowered.get("x-tenant-id"):
        claims[tenant_claim] = lowered["x-tenant-id"]
    if lowered.get("x-roles"):
        # API Gateway flattens an array claim to "[a b]"
        claims[roles_claim] = "[" + " ".join(r.strip() for r in lowered["x-roles"].split(",") if r.strip()) + "]"
    return claims or None


def http_api_event(
    *,
    method: str,
    path: str,
    route: Route | None,
    path_parameters: Mapping[str, str] | None = None,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    claims: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event, as API Gateway would send it."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    query_parameters: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        # v2 joins repeated query parameters with commas
        query_parameters[key] = f"{query_parameters[key]},{value}" if key in query_parameters else value
    content_type = lowered.get("content-type", "")
    textual = content_type.startswith(("application/json", "application/merge-patch+json", "text/")) or not content_type
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method.upper()} {route.path}" if route else "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method.upper()} {route.path}" if route else "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if query_parameters:
        event["queryStringParameters"] = query_parameters
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if claims:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    if body:
        try:
            if not textual:
                raise UnicodeDecodeError("utf-8", body, 0, 1, "binary content type")
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event

"""DynamoDB round trips per request, counted on the store's boto3 client against moto.

Every API call fires botocore's ``before-call.dynamodb.<Operation>`` once; every HTTP attempt
(retries included) fires ``request-created.dynamodb.<Operation>``. Both are counted per request.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.common import http_functions, reset_sessions_caches, table, use_fake_aws_env, verdict
from local.api.gateway import (
    LambdaContext,
    Route,
    add_layer_to_path,
    http_api_event,
    load_handler,
    match_route,
    routes_of,
)
from local.stack.template import create_aws_resources

USER, TENANT = "u-calls", "acme"


@dataclass(frozen=True)
class Case:
    """One request and the most DynamoDB calls it may make."""

    label: str
    method: str
    body: dict[str, Any] | None
    expected_status: int
    target: int
    headers: dict[str, str] | None = None
    path: str = "/v1/sessions/{sid}"  # {sid}: the session the first create made
    query: str = ""


CASES = (
    Case("create", "POST", {"title": "Counting calls", "context": {"a": 1}}, 201, 1, path="/v1/sessions"),
    Case("get", "GET", None, 200, 1),
    Case("patch", "PATCH", {"title": "Counted", "context": {"b": 2}}, 200, 2),
    Case("append", "POST", {"type": "message", "usage": {"tokens": 3}}, 201, 2, path="/v1/sessions/{sid}/events"),
    Case("history", "GET", None, 200, 2, path="/v1/sessions/{sid}/history"),
    # a batch is one transaction whatever its size (20 events, the session and its counters)
    Case(
        "append batch of 20", "POST", {"events": [{"type": "message"}] * 20}, 201, 2, path="/v1/sessions/{sid}/events"
    ),
    Case("get event", "GET", None, 200, 2, path="/v1/sessions/{sid}/events/1"),
    Case("patch event (redact)", "PATCH", {"content": "[redacted]"}, 200, 3, path="/v1/sessions/{sid}/events/1"),
    # the session, the tail of the history (one Query page), then one transaction
    Case("rewind 19 events", "DELETE", None, 200, 3, path="/v1/sessions/{sid}/events", query="from_seq=3"),
    Case("rewind past the end", "DELETE", None, 200, 2, path="/v1/sessions/{sid}/events", query="from_seq=99"),
    Case("list", "GET", None, 200, 1, path="/v1/sessions"),
    Case("stats", "GET", None, 200, 1, path="/v1/sessions/stats"),
    # Powertools' idempotency record: a conditional put, then the stored response
    Case("create + Idempotency-Key", "POST", {}, 201, 3, {"idempotency-key": "k-1"}, path="/v1/sessions"),
    Case("patch status→completed", "PATCH", {"status": "completed"}, 200, 2),
    Case("delete", "DELETE", None, 204, 2),
    Case("delete again (gone)", "DELETE", None, 204, 1),
    Case("get (gone)", "GET", None, 404, 1),
)


class CallCounter:
    """Counts DynamoDB API calls and HTTP attempts by operation, through the client's event system."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb", self._on_call)
        client.meta.events.register("request-created.dynamodb", self._on_attempt)

    def _on_call(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _on_attempt(self, operation_name: str, **_: Any) -> None:
        self.attempts[operation_name] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.attempts.clear()


@dataclass(frozen=True)
class Stack:
    """The template's tables and HTTP functions, in this process on moto."""

    names: dict[str, str]  # logical id → physical name
    specs: dict[str, Any]  # logical id → FunctionSpec
    routes: list[Route]


@contextmanager
def in_process_stack(environment: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """moto with the template's resources; the functions' environment (plus `environment`) in os.environ."""
    use_fake_aws_env({"POWERTOOLS_LOG_LEVEL": "WARNING"})
    add_layer_to_path()
    import boto3
    from moto import mock_aws

    with mock_aws():
        names = create_aws_resources(boto3.Session())
        specs = {spec.logical_id: spec for spec in http_functions(names)}
        merged = {key: value for spec in specs.values() for key, value in spec.environment.items()}
        use_fake_aws_env({**merged, "POWERTOOLS_LOG_LEVEL": "WARNING", **(environment or {})})
        reset_sessions_caches()
        try:
            yield Stack(names, specs, routes_of(specs))
        finally:
            reset_sessions_caches()


def run() -> dict[str, Any]:
    """Create, read, change and delete a session on moto; print calls per request; return the figures."""
    from sessions import store

    rows: list[list[object]] = []
    figures: dict[str, Any] = {}
    with in_process_stack() as stack:
        specs, routes = stack.specs, stack.routes
        counter = CallCounter()
        counter.attach(store.dynamodb_client())
        session_id = ""
        for case in CASES:
            path = case.path.format(sid=session_id)
            found = match_route(routes, case.method, path)
            if found is None:
                rows.append([case.label, "-", "-", "-", case.target, "no route"])
                continue
            route, params = found
            counter.reset()
            try:
                status, body = invoke(specs, route, params, case, path)
            except Exception as exc:  # a broken function is reported, and the next cases still run
                figures[case.label] = {"function": route.function, "error": repr(exc)}
                rows.append([case.label, "-", "-", f"error: {exc!r}"[:60], case.target, "ERROR"])
                continue
            if status != case.expected_status:
                figures[case.label] = {"function": route.function, "status": status, "body": body}
                detail = f"status {status}, expected {case.expected_status}"
                rows.append([case.label, "-", "-", detail, case.target, "ERROR"])
                continue
            if case.label == "create":
                session_id = body["session_id"]
            total = sum(counter.calls.values())
            operations = ", ".join(f"{name}×{count}" for name, count in sorted(counter.calls.items()))
            figures[case.label] = {
                "function": route.function,
                "calls": total,
                "attempts": sum(counter.attempts.values()),
                "operations": dict(counter.calls),
                "target": case.target,
                "meets_target": total <= case.target,
            }
            rows.append(
                [
                    case.label,
                    total,
                    sum(counter.attempts.values()),
                    operations,
                    case.target,
                    verdict(total <= case.target),
                ]
            )
    headers = ["request", "API calls", "HTTP attempts", "operations", "target ≤", "status"]
    print(table(headers, rows, title="DynamoDB round trips per request (moto, counted on the store's client)"))
    return figures


def invoke(
    specs: dict[str, Any], route: Route, params: dict[str, str], case: Case, path: str
) -> tuple[int, dict[str, Any]]:
    """One request to its function's handler, as API Gateway would send it; its status and JSON body."""
    headers = {"content-type": "application/json", **(case.headers or {})}
    event = http_api_event(
        method=case.method,
        path=path,
        route=route,
        path_parameters=params,
        query=case.query,
        headers=headers,
        body=json.dumps(case.body).encode() if case.body is not None else None,
        claims={"sub": USER, "tenant_id": TENANT},
    )
    response = load_handler(specs[route.function])(event, LambdaContext(route.function))
    text = response.get("body") or ""
    return response["statusCode"], json.loads(text) if text else {}

"""DynamoDB and S3 round trips per request, counted on the store's boto3 clients against moto.

Every API call fires botocore's ``before-call.dynamodb.<Operation>`` once; every HTTP attempt
(retries included) fires ``request-created.dynamodb.<Operation>``. Both are counted per request.
S3 calls (large event parts: one PutObject per part over 32 KiB on append, one GetObject per such
part a history page returns) are counted apart, against their own target.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.common import http_functions, table, verdict
from local.api.gateway import (
    LambdaContext,
    Route,
    add_layer_to_path,
    http_api_event,
    load_handler,
    match_route,
    routes_of,
)
from local.stack.template import create_aws_resources, functions_environment
from local.testing import reset_sessions_caches, use_fake_aws_env

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
    roles: tuple[str, ...] = ()  # the caller's roles claim (app state is written by role service or admin)
    query: str = ""
    s3_target: int = 0  # most S3 calls


# an event whose content and payload both go to S3 (each over 32 KiB)
LARGE_EVENT = {"type": "message", "content": "x" * (1024 * 1024), "payload": {"blob": "y" * (100 * 1024)}}


CASES = (
    # the tenant's settings (its TTL bounds: an eventually consistent GetItem), then one transaction
    Case(
        "create",
        "POST",
        {"title": "Counting calls", "app_name": "bench", "context": {"a": 1}},
        201,
        2,
        path="/v1/sessions",
    ),
    Case("get", "GET", None, 200, 1),
    Case("patch", "PATCH", {"title": "Counted", "context": {"b": 2}}, 200, 2),
    Case("patch ttl_seconds", "PATCH", {"ttl_seconds": 3600}, 200, 3),  # the tenant's settings bound it: +1 GetItem
    Case("append", "POST", {"type": "message", "usage": {"tokens": 3}}, 201, 2, path="/v1/sessions/{sid}/events"),
    Case("history", "GET", None, 200, 2, path="/v1/sessions/{sid}/history"),
    Case(
        "append (large: 1 MiB content, 100 KiB payload)",
        "POST",
        LARGE_EVENT,
        201,
        2,
        path="/v1/sessions/{sid}/events",
        s3_target=2,
    ),
    Case(
        "history (include_payload, one large event)",
        "GET",
        None,
        200,
        2,
        path="/v1/sessions/{sid}/history",
        query="include_payload=true",
        s3_target=2,
    ),
    # a batch is one transaction whatever its size (20 events, the session and its counters)
    Case(
        "append batch of 20", "POST", {"events": [{"type": "message"}] * 20}, 201, 2, path="/v1/sessions/{sid}/events"
    ),
    Case("get event", "GET", None, 200, 2, path="/v1/sessions/{sid}/events/1"),
    Case("get event (large)", "GET", None, 200, 2, path="/v1/sessions/{sid}/events/2", s3_target=2),
    Case("patch event (redact)", "PATCH", {"content": "[redacted]"}, 200, 3, path="/v1/sessions/{sid}/events/1"),
    # the session, the tail of the history (one Query page), then one transaction
    Case("rewind 20 events", "DELETE", None, 200, 3, path="/v1/sessions/{sid}/events", query="from_seq=3"),
    # its large parts read back for return_events, then deleted in one DeleteObjects after the commit
    Case(
        "rewind 1 large event (return_events)",
        "DELETE",
        None,
        200,
        3,
        path="/v1/sessions/{sid}/events",
        query="from_seq=2&return_events=true",
        s3_target=3,
    ),
    Case("rewind past the end", "DELETE", None, 200, 2, path="/v1/sessions/{sid}/events", query="from_seq=99"),
    Case(
        "append batch of 20 (tagged)",
        "POST",
        {"events": [{"type": "message", "metadata": {"run": "r1" if i % 2 else "r2"}} for i in range(20)]},
        201,
        2,
        path="/v1/sessions/{sid}/events",
    ),
    # a metadata filter is a FilterExpression of the same Query: still one Query page here
    Case("history (metadata filter)", "GET", None, 200, 2, path="/v1/sessions/{sid}/history", query="metadata=run:r1"),
    # the session, the selected events (one BatchGetItem), then one transaction
    Case(
        "remove 3 selected events",
        "DELETE",
        None,
        200,
        3,
        path="/v1/sessions/{sid}/events",
        query="seq=23&seq=30&seq=41",
    ),
    # only holes: as a rewind that finds nothing, the session is read again to answer on the version it matched
    Case("remove seqs that are holes", "DELETE", None, 200, 3, path="/v1/sessions/{sid}/events", query="seq=2&seq=30"),
    Case("list", "GET", None, 200, 1, path="/v1/sessions"),
    Case("stats", "GET", None, 200, 1, path="/v1/sessions/stats"),
    # state documents: a read is one GetItem; a merge patch reads the document and puts it back conditioned
    Case("app state patch", "PATCH", {"plan": "pro"}, 200, 2, path="/v1/apps/bench/state", roles=("service",)),
    Case("app state get", "GET", None, 200, 1, path="/v1/apps/bench/state"),
    Case("user state patch", "PATCH", {"lang": "en"}, 200, 2, path=f"/v1/apps/bench/users/{USER}/state"),
    Case("user state get", "GET", None, 200, 1, path=f"/v1/apps/bench/users/{USER}/state"),
    # the session, the user's state document, one transaction (event, session, counters, document)
    Case(
        "append + state_patch",
        "POST",
        {"type": "message", "state_patch": {"user": {"turns": 1}}},
        201,
        3,
        path="/v1/sessions/{sid}/events",
    ),
    # sets too: the session, the user's state document, one transaction
    Case(
        "append + state_set",
        "POST",
        {"type": "message", "state_set": {"user": {"turns": None}}},
        201,
        3,
        path="/v1/sessions/{sid}/events",
    ),
    # the tenant's settings, the user's state document, then one transaction (session, counters, slot, document)
    Case(
        "create + state_set",
        "POST",
        {"app_name": "bench", "state_set": {"user": {"plan": None}}},
        201,
        3,
        path="/v1/sessions",
    ),
    # Powertools' idempotency record: a conditional put, then the stored response (and the tenant's settings)
    Case("create + Idempotency-Key", "POST", {}, 201, 4, {"idempotency-key": "k-1"}, path="/v1/sessions"),
    Case("tenant settings get", "GET", None, 200, 1, path="/v1/tenant/settings"),
    # the settings read, then one transaction: the settings item and the cleanup's retention entry
    Case(
        "tenant settings patch",
        "PATCH",
        {"history_retention_days": 30},
        200,
        2,
        path="/v1/tenant/settings",
        roles=("admin",),
    ),
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
        self.s3_calls: Counter[str] = Counter()

    def attach(self, client: Any, s3_client: Any = None) -> None:
        client.meta.events.register("before-call.dynamodb", self._on_call)
        client.meta.events.register("request-created.dynamodb", self._on_attempt)
        if s3_client is not None:
            s3_client.meta.events.register("before-call.s3", self._on_s3_call)

    def _on_call(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _on_s3_call(self, model: Any, **_: Any) -> None:
        self.s3_calls[model.name] += 1

    def _on_attempt(self, operation_name: str, **_: Any) -> None:
        self.attempts[operation_name] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.attempts.clear()
        self.s3_calls.clear()


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
        use_fake_aws_env(
            {**functions_environment(specs.values()), "POWERTOOLS_LOG_LEVEL": "WARNING", **(environment or {})}
        )
        reset_sessions_caches()
        try:
            yield Stack(names, specs, routes_of(specs))
        finally:
            reset_sessions_caches()


def report_job(verb: str, outcome: str, job: dict[str, Any], seconds: float, items: int, counter: CallCounter) -> float:
    """Print what a job run in-process did (its counts, every DynamoDB and S3 call) and return the DynamoDB
    calls per item it `verb` (removed, exported). A job reads by key: a Scan fails the benchmark."""
    print(f"  outcome: {outcome}, status {job['status']}, {seconds:.1f} s (moto, in-process)")
    print(table([verb, "count"], [[name, value] for name, value in job["counts"].items()]))
    rows = [[f"dynamodb {name}", count] for name, count in counter.calls.most_common()]
    rows += [[f"s3 {name}", count] for name, count in counter.s3_calls.most_common()]
    print(table(["call", "count"], rows))
    calls = sum(counter.calls.values())
    per_item = calls / items if items else float("nan")
    print(f"  {calls} DynamoDB calls for {items} items: {per_item:.3f} calls per {verb} item")
    assert "Scan" not in counter.calls
    return per_item


def run() -> dict[str, Any]:
    """Create, read, change and delete a session on moto; print calls per request; return the figures."""
    add_layer_to_path()
    from sessions import store

    rows: list[list[object]] = []
    figures: dict[str, Any] = {}
    with in_process_stack() as stack:
        specs, routes = stack.specs, stack.routes
        counter = CallCounter()
        counter.attach(store.dynamodb_client(), store.aws_client("s3"))
        session_id = ""
        for case in CASES:
            path = case.path.format(sid=session_id)
            found = match_route(routes, case.method, path)
            if found is None:
                rows.append([case.label, "-", "-", "-", case.target, "-", case.s3_target, "no route"])
                continue
            route, params = found
            counter.reset()
            try:
                status, body = invoke(specs, route, params, case, path)
            except Exception as exc:  # a broken function is reported, and the next cases still run
                figures[case.label] = {"function": route.function, "error": repr(exc)}
                rows.append([case.label, "-", "-", f"error: {exc!r}"[:60], case.target, "-", case.s3_target, "ERROR"])
                continue
            if status != case.expected_status:
                figures[case.label] = {"function": route.function, "status": status, "body": body}
                detail = f"status {status}, expected {case.expected_status}"
                rows.append([case.label, "-", "-", detail, case.target, "-", case.s3_target, "ERROR"])
                continue
            if case.label == "create":
                session_id = body["session_id"]
            total = sum(counter.calls.values())
            s3_total = sum(counter.s3_calls.values())
            operations = ", ".join(f"{name}×{count}" for name, count in sorted(counter.calls.items()))
            s3_operations = ", ".join(f"{name}×{count}" for name, count in sorted(counter.s3_calls.items()))
            meets = total <= case.target and s3_total <= case.s3_target
            figures[case.label] = {
                "function": route.function,
                "calls": total,
                "attempts": sum(counter.attempts.values()),
                "operations": dict(counter.calls),
                "target": case.target,
                "s3_calls": s3_total,
                "s3_operations": dict(counter.s3_calls),
                "s3_target": case.s3_target,
                "meets_target": meets,
            }
            rows.append(
                [
                    case.label,
                    total,
                    sum(counter.attempts.values()),
                    operations,
                    case.target,
                    f"{s3_total} ({s3_operations})" if s3_total else "0",
                    case.s3_target,
                    verdict(meets),
                ]
            )
    headers = ["request", "API calls", "HTTP attempts", "operations", "target ≤", "S3 calls", "S3 target ≤", "status"]
    title = "DynamoDB (and S3) round trips per request (moto, counted on the store's clients)"
    print(table(headers, rows, title=title))
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
        claims={
            "sub": USER,
            "tenant_id": TENANT,
            **({"cognito:groups": f"[{' '.join(case.roles)}]"} if case.roles else {}),
        },
    )
    response = load_handler(specs[route.function])(event, LambdaContext(route.function))
    text = response.get("body") or ""
    return response["statusCode"], json.loads(text) if text else {}

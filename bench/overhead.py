"""Warm overhead: microseconds per request in a warm container, with DynamoDB answering instantly.

Every HTTP function's real lambda_handler is called in-process with an API Gateway v2 event.
Two stubs stand in for AWS: a fake DynamoDB client under the real store (all of our code runs:
handler, validation, service, store (de)serialization; only botocore is left out), and a fake
store (the store's work left out too). Side by side, in the same rounds: a bare Powertools
APIGatewayHttpResolver without validation returning a constant, and a raw handler that only
json.dumps a dict. Rounds interleave all variants, in a shuffled order, to spread the noise.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from bench.common import http_functions, median, percentile, ratio, table, verdict
from local.api.gateway import LambdaContext, Route, add_layer_to_path, http_api_event, load_handler
from local.stack.template import ROOT, FunctionSpec, functions_environment
from local.testing import reset_sessions_caches, use_fake_aws_env

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from sessions.domain.records import EventRecord, SessionChanges, SessionRecord
    from sessions.store import SessionStore

TARGET_US = 1000.0
BATCH = 50  # calls of one variant in a row, before the next variant's turn
SESSION_ID = "3f0c8d7e-5a1b-4c2d-9e8f-7a6b5c4d3e2f"
USER, TENANT = "u-bench", "acme"
# what a route's path parameters name: the canned session, its first event, the caller's own state
ERASURE_ID = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
EXPORT_ID = "6e2f3a4b-5c6d-4e7f-8091-a2b3c4d5e6f7"
PATH_VALUES = {"session_id": SESSION_ID, "seq": "1", "user_id": USER, "erasure_id": ERASURE_ID, "export_id": EXPORT_ID}
# the query a route needs to be a valid request (a removal names what it removes)
QUERIES = {("DELETE", "/v1/sessions/{session_id}/events"): "seq=1"}
CREATE_BODY: dict[str, Any] = {
    "title": "Code review of the billing service",
    "agent_id": "reviewer-7",
    "app_name": "code-assistant",
    "context": {"repository": "billing", "branch": "main", "files": ["a.py", "b.py"], "temperature": 0.2},
    "metadata": {"team": "payments", "ticket": "PAY-1234"},
    "runtime_backend": "lambda",
    "token_budget": 200000,
}
PATCH_BODY: dict[str, Any] = {"context": {"step": 3, "files": ["a.py", "b.py", "c.py"]}, "title": "Review, round 2"}
APPEND_BODY: dict[str, Any] = {
    "type": "message",
    "role": "user",
    "content": "Please review the invoice module next.",
    "usage": {"tokens": 120, "cost_usd": 0.002, "duration_ms": 850},
}
# Bodies by route; a route not listed takes the body of events/<LogicalId>.json, else none.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/sessions"): CREATE_BODY,
    ("PATCH", "/v1/sessions/{session_id}"): PATCH_BODY,
    ("POST", "/v1/sessions/{session_id}/events"): APPEND_BODY,
}
CANNED_VERSION = 4

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def canned_record() -> SessionRecord:
    """A live, active session owned by the benchmark's caller, as the store returns it."""
    return {
        "session_id": SESSION_ID,
        "tenant_id": TENANT,
        "user_id": USER,
        "app_name": "code-assistant",
        "agent_id": "reviewer-7",
        "session_type": "conversation",
        "title": "Code review of the billing service",
        "status": "active",
        "context": {"repository": "billing", "branch": "main", "step": 2, "files": ["a.py", "b.py"]},
        "checkpoint": {"cursor": 17, "summary": "looked at the invoice module"},
        "metadata": {"team": "payments", "ticket": "PAY-1234"},
        "runtime_backend": "lambda",
        "runtime_metadata": {"memory_mb": 512},
        "token_budget": 200000,
        "usage": {"tokens_used": 1234, "cost_usd": 0.25, "event_count": 9, "task_count": 2},
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:10:00.000Z",
        "last_active_at": "2025-01-01T00:10:00.000Z",
        "expires_at": "2999-01-01T00:00:00.000Z",
        "version": CANNED_VERSION,
        "incarnation": "a1b2c3d4e5f6",
        "holds_slot": True,
    }


# --- the stubs ----------------------------------------------------------------------------------


class _ConditionalCheckFailed(Exception):
    response: dict[str, Any]


class _TransactionCanceled(Exception):
    response: dict[str, Any]


class _Exceptions:
    ConditionalCheckFailedException = _ConditionalCheckFailed
    TransactionCanceledException = _TransactionCanceled


class FakeDynamoDB:
    """Answers the store's DynamoDB calls instantly: reads find the canned session (its first event, a state
    document or the caller's erasure or export, where one is asked for), every other call succeeds."""

    exceptions = _Exceptions

    def __init__(self, item: dict[str, Any]) -> None:
        self._get = {"Item": item}
        self._get_event = {"Item": canned_event_item()}
        self._get_state = {"Item": canned_state_item()}
        self._get_erasure = {"Item": canned_erasure_item()}
        self._erasure_sk = canned_erasure_item()["SK"]["S"]
        self._get_export = {"Item": canned_export_item()}
        self._export_sk = canned_export_item()["SK"]["S"]
        self._get_settings = {"Item": canned_tenant_settings_item()}
        self._settings_sk = canned_tenant_settings_item()["SK"]["S"]
        self._query = {"Items": [item], "Count": 1, "ScannedCount": 1}
        self.calls = 0

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        sort_key = request.get("Key", {}).get("SK", {}).get("S", "")
        if sort_key.startswith("E#"):
            return self._get_event
        if sort_key == self._erasure_sk:
            return self._get_erasure
        if sort_key == self._export_sk:
            return self._get_export
        if sort_key == self._settings_sk:
            return self._get_settings
        return self._get_state if sort_key == "#STATE" else self._get

    def query(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return self._query

    def _accepted(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {}

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        # put_item, update_item, transact_write_items … : accepted, nothing returned
        if operation.startswith("_"):
            raise AttributeError(operation)
        return self._accepted


def canned_item() -> dict[str, Any]:
    """The canned session as DynamoDB stores it (keys and index attributes included, typed values)."""
    from sessions.core.attribute_values import to_item
    from sessions.store.keys import session_item

    return to_item(session_item(canned_record()))


def canned_event_item() -> dict[str, Any]:
    """The canned session's first event (the one the event routes name) as DynamoDB stores it."""
    from sessions.core.attribute_values import to_item
    from sessions.store.keys import event_item

    appended = "2026-01-05T10:00:00.000Z"
    event = {**APPEND_BODY, "seq": 1, "timestamp": appended, "created_at": appended, "created_by": USER}
    return to_item(event_item(canned_record(), cast("EventRecord", event)))


def canned_state_item() -> dict[str, Any]:
    """A state document (app or user) as DynamoDB stores it."""
    from sessions.core.attribute_values import to_item

    document = {"state": {"preferences": {"language": "en"}}, "version": CANNED_VERSION, "updated_by": USER}
    return to_item(
        {**document, "PK": f"T#{TENANT}#APP#bench-1", "SK": "#STATE", "updated_at": "2026-01-05T10:00:00.000Z"}
    )


def canned_erasure_item() -> dict[str, Any]:
    """A running erasure of the caller's data, as DynamoDB stores the job."""
    from sessions.core.attribute_values import to_item
    from sessions.store.erasure import ERASURE_SK, erasure_pk

    job = {"erasure_id": ERASURE_ID, "user_id": USER, "status": "running", "started_at": "2026-01-05T10:00:00.000Z"}
    return to_item({**job, "PK": erasure_pk(TENANT, ERASURE_ID), "SK": ERASURE_SK})


def canned_export_item() -> dict[str, Any]:
    """A running export of the caller's data, as DynamoDB stores the job."""
    from sessions.core.attribute_values import to_item
    from sessions.store.export import EXPORT_SK, export_pk

    job = {"export_id": EXPORT_ID, "user_id": USER, "status": "running", "started_at": "2026-01-05T10:00:00.000Z"}
    return to_item({**job, "PK": export_pk(TENANT, EXPORT_ID), "SK": EXPORT_SK})


def canned_tenant_settings_item() -> dict[str, Any]:
    """The tenant's settings as an admin last set them (every request that bounds a TTL reads them)."""
    from sessions.core.attribute_values import to_item
    from sessions.store.keys import tenant_settings_key

    key = tenant_settings_key(TENANT)
    settings = {"tenant_id": TENANT, "version": CANNED_VERSION, "history_retention_days": 365, "updated_by": USER}
    return to_item({**settings, "updated_at": "2026-01-05T10:00:00.000Z", "PK": key["PK"]["S"], "SK": key["SK"]["S"]})


def fake_client_store(table_name: str) -> SessionStore:
    """The real SessionStore over FakeDynamoDB."""
    from sessions.store import SessionStore

    return SessionStore(cast("DynamoDBClient", FakeDynamoDB(canned_item())), table_name)


def fake_store() -> SessionStore:
    """A SessionStore that skips DynamoDB and the store's own work: canned records, writes accepted."""
    from sessions.store import SessionStore

    class FakeStore(SessionStore):
        # what it does not override runs as the real store over FakeDynamoDB
        def __init__(self) -> None:
            super().__init__(cast("DynamoDBClient", FakeDynamoDB(canned_item())), "sessions")
            self._record = canned_record()

        def get_session(self, tenant_id: str, session_id: str) -> SessionRecord | None:
            return self._record.copy()

        def create_session(
            self, record: SessionRecord, *, cap: int, replacing: SessionRecord | None = None, **_: Any
        ) -> None:
            return None

        def update_session(
            self, current: SessionRecord, changes: SessionChanges, *, slot_delta: int = 0, cap: int = 0, **_: Any
        ) -> SessionRecord:
            from sessions.domain.records import applied

            updated = applied(current, changes)
            updated["version"] = current["version"] + 1
            return updated

    return FakeStore()


# --- the baselines ------------------------------------------------------------------------------


def minimal_resolver_handler() -> Handler:
    """A bare Powertools APIGatewayHttpResolver (no validation) whose one route returns a constant."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()

    @app.get("/v1/sessions/<session_id>")
    def get(session_id: str) -> dict[str, Any]:
        return {"session_id": "constant", "status": "active"}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler


def raw_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The floor: no framework, one json.dumps of a session-sized dict."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(_RAW_BODY),
        "isBase64Encoded": False,
    }


_RAW_BODY = {key: value for key, value in canned_record().items() if key not in {"incarnation", "holds_slot"}}


# --- requests -----------------------------------------------------------------------------------


@dataclass
class Variant:
    """One handler under measurement, with the request it gets and the store it runs against."""

    name: str
    handler: Handler
    make_event: Callable[[], dict[str, Any]]
    store: SessionStore | None = None  # installed with use_store before each batch
    group: str = ""
    samples_us: list[float] = field(default_factory=list)
    failure: str = ""  # why it was left out: the canned request did not succeed


def request_for(spec: FunctionSpec) -> Callable[[], dict[str, Any]]:
    """A realistic request for the function's first route (the canned session's id in the path)."""
    method, template_path = spec.routes[0]
    route = Route.of(method, template_path, spec.logical_id)
    path = re.sub(r"\{([A-Za-z0-9_]+)\}", lambda m: PATH_VALUES.get(m[1], "bench-1"), template_path)
    found = route.pattern.match(path)
    params = found.groupdict() if found else {}
    headers = {"content-type": "application/json", "user-agent": "bench/1.0", "accept": "application/json"}
    body = _body_for(spec, method, template_path)
    query = QUERIES.get((method, template_path), "")
    if method == "PATCH":
        headers |= {"content-type": "application/merge-patch+json", "if-match": f'"{CANNED_VERSION}"'}
    claims = {"sub": USER, "tenant_id": TENANT}
    if "{user_id}" not in template_path and "/state" in template_path and method != "GET":
        claims["cognito:groups"] = "service"  # an app's state is written by roles service or admin
    if template_path == "/v1/tenant/settings" and method != "GET":
        claims["cognito:groups"] = "admin"  # the tenant's settings are changed by role admin only

    def make_event() -> dict[str, Any]:
        return http_api_event(
            method=method,
            path=path,
            route=route,
            path_parameters=params,
            query=query,
            headers=headers,
            body=body,
            claims=claims,
        )

    return make_event


def _body_for(spec: FunctionSpec, method: str, template_path: str) -> bytes | None:
    if (method, template_path) in BODIES:
        return json.dumps(BODIES[method, template_path]).encode()
    sample = ROOT / "events" / f"{spec.logical_id}.json"
    if sample.exists():
        body = json.loads(sample.read_text(encoding="utf-8")).get("body")
        return body.encode() if body else None
    return None


def succeeded(status: int) -> bool:
    return 200 <= status < 300


def _get_event() -> dict[str, Any]:
    route = Route.of("GET", "/v1/sessions/{session_id}", "baseline")
    path = f"/v1/sessions/{SESSION_ID}"
    return http_api_event(
        method="GET",
        path=path,
        route=route,
        path_parameters={"session_id": SESSION_ID},
        headers={"user-agent": "bench/1.0"},
        claims={"sub": USER, "tenant_id": TENANT},
    )


def variants() -> list[Variant]:
    specs = http_functions()
    table_name = specs[0].environment.get("TABLE_NAME", "sessions") if specs else "sessions"
    found = [
        Variant("raw handler (json.dumps)", raw_handler, _get_event, group="baseline"),
        Variant("bare APIGatewayHttpResolver", minimal_resolver_handler(), _get_event, group="baseline"),
    ]
    for spec in specs:
        make_event = request_for(spec)
        try:
            handler = load_handler(spec)
        except Exception as exc:  # a function that cannot even be imported is reported, not measured
            found.append(Variant(spec.logical_id, raw_handler, make_event, group="client", failure=f"import: {exc!r}"))
            continue
        found.append(Variant(spec.logical_id, handler, make_event, fake_client_store(table_name), "client"))
        found.append(Variant(f"{spec.logical_id} [fake store]", handler, make_event, fake_store(), "store"))
    return found


def _call(variant: Variant, context: LambdaContext, count: int, *, record: bool) -> None:
    from sessions.usecases.access import use_store

    use_store(variant.store)
    for _ in range(count):
        event = variant.make_event()
        started = time.perf_counter_ns()
        response = variant.handler(event, context)
        elapsed = time.perf_counter_ns() - started
        if not succeeded(response["statusCode"]):
            variant.failure = f"status {response['statusCode']}: {str(response.get('body'))[:100]}"
            return
        if record:
            variant.samples_us.append(elapsed / 1000)


def run(iterations: int, *, warmup: int = 100, seed: int = 2) -> dict[str, Any]:
    """Call every variant `iterations` times in interleaved batches; print the table; return the figures."""
    specs = http_functions()
    # every handler is loaded in this process: each builds its settings from its variables at import
    use_fake_aws_env({**functions_environment(specs), "POWERTOOLS_LOG_LEVEL": "WARNING"})
    add_layer_to_path()
    reset_sessions_caches()
    everyone = variants()
    contexts = {variant.name: LambdaContext(variant.name.split()[0]) for variant in everyone}
    logging.disable(logging.CRITICAL)  # a canned request that fails would log its traceback
    try:
        for variant in everyone:
            if not variant.failure:
                _call(variant, contexts[variant.name], 1, record=False)
    finally:
        logging.disable(logging.NOTSET)
    for variant in everyone:
        if not variant.failure:
            _call(variant, contexts[variant.name], warmup, record=False)
    left_out = [variant for variant in everyone if variant.failure]
    everyone = [variant for variant in everyone if not variant.failure]
    shuffler = random.Random(seed)
    remaining = iterations
    while remaining > 0:
        batch = min(BATCH, remaining)
        order = list(everyone)
        shuffler.shuffle(order)
        for variant in order:
            _call(variant, contexts[variant.name], batch, record=True)
        remaining -= batch
    reset_sessions_caches()

    resolver = median(everyone[1].samples_us)
    raw = median(everyone[0].samples_us)
    figures: dict[str, Any] = {"iterations": iterations, "warmup": warmup, "target_us": TARGET_US, "handlers": {}}
    rows = []
    for variant in everyone:
        mid, p95 = median(variant.samples_us), percentile(variant.samples_us, 0.95)
        entry: dict[str, Any] = {
            "stub": variant.group,
            "median_us": mid,
            "p95_us": p95,
            "ratio_to_resolver": ratio(mid, resolver),
            "ratio_to_raw": ratio(mid, raw),
            "over_resolver_us": mid - resolver,
        }
        status = ""
        if variant.group == "client":
            entry["meets_target"] = mid <= TARGET_US
            status = verdict(entry["meets_target"])
        figures["handlers"][variant.name] = entry
        rows.append([variant.name, mid, p95, entry["ratio_to_resolver"], entry["ratio_to_raw"], status])
    title = (
        f"Warm overhead per request, DynamoDB stubbed (µs; {iterations} calls each after {warmup} warm-up, "
        f"batches of {BATCH} interleaved)"
    )
    headers = ["handler", "median µs", "p95 µs", "× resolver", "× raw", f"≤{TARGET_US:.0f} µs"]
    print(table(headers, rows, title=title))
    print(
        "  plain rows: the real store over a fake DynamoDB client (everything but botocore);"
        " [fake store]: get/create/update_session skip the store's work too (other store methods still run)."
    )
    for variant in left_out:
        figures["handlers"][variant.name] = {"stub": variant.group, "left_out": variant.failure}
        print(f"  left out, the canned request failed: {variant.name}: {variant.failure}")
    return figures

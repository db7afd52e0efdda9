"""Cost per million requests for a stated mix, from the DynamoDB calls and item sizes each request makes.

Every request runs in-process against moto (bench/calls.py's stack, resources from template.yaml).
Hooks on the store's DynamoDB client see each call's parameters (``before-parameter-build``) and
parsed response (``after-call``); the items a write touches are read before and after it with a
separate, uncounted client, and sized as DynamoDB sizes them (a filtered Query or Scan: every item
it read, those its filter discarded too). The table's stream is read after each request, passed
through the publisher's FilterCriteria and handed to the publisher's own handler, so its PutEvents
entries and its DynamoDB writes (removals only) are measured too.

What is assumed rather than measured is stated in the constants below.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.calls import TENANT, Case, Stack, in_process_stack, invoke
from bench.common import table
from local.api.gateway import LambdaContext, load_handler, match_route
from local.stack.template import function_property, function_specs, load_template, local_resolver, resources_of_type

# --- prices: us-east-1 list prices (AWS pricing pages), as quoted in issue 9; not re-checked online here ---
PRICES_AS_OF = (
    "2026-12-01, us-east-1 list prices (AWS pricing pages: DynamoDB, Lambda, API Gateway, EventBridge, CloudWatch)"
)
DYNAMODB_PER_WRU = 0.625 / 1e6  # on-demand write request unit
DYNAMODB_PER_RRU = 0.125 / 1e6  # on-demand read request unit
LAMBDA_PER_GB_SECOND = 0.0000133334  # arm64
LAMBDA_PER_REQUEST = 0.20 / 1e6
HTTP_API_PER_REQUEST = 1.00 / 1e6  # first 300 million a month
EVENTBRIDGE_PER_EVENT = 1.00 / 1e6  # custom events (one PutEvents entry up to 64 KB)
LOGS_PER_GB = 0.50  # CloudWatch Logs standard ingestion
GB = 2**30

# --- assumptions ---------------------------------------------------------------------------------
HANDLER_MS = 1.0  # the handler's own time per request: bench overhead measures 0.1-0.5 ms, rounded up
DYNAMODB_CALL_MS = 5.0  # assumed latency of one DynamoDB call from Lambda
PUT_EVENTS_CALL_MS = 20.0  # assumed latency of one EventBridge PutEvents call
PUBLISHER_BATCH = 10  # average stream records per publisher invocation
PUBLISHER_RECORD_MS = 1.0  # the publisher's own time per record
# the publisher puts an invocation's events together, 10 entries to a PutEvents call (usecases/publishing.py):
# with PUBLISHER_BATCH records of about an event each, a request's event takes a tenth of a call
EVENTS_PER_PUT_EVENTS_CALL = 10
ACCESS_LOG_BYTES = 400  # one API access log line (template.yaml, HttpApi AccessLogSettings)
PLATFORM_LOG_BYTES = 600  # Lambda's platform.start + platform.report JSON lines per invocation
AUDIT_LOG_ENVELOPE_BYTES = 350  # the audit rule's log line per event: the event's envelope beside its detail

# --- the mix -------------------------------------------------------------------------------------
# 10% creates (half with an Idempotency-Key, 1 in 10 with 20 initial events), 50% appends, 20% gets,
# 5% patches, 5% history pages, 5% list pages, 2% stats, 3% deletes.
MIX = {
    "create": 0.045,
    "create + Idempotency-Key": 0.045,
    "create with 20 events": 0.010,
    "append": 0.50,
    "get": 0.20,
    "patch": 0.05,
    "history page": 0.05,
    "list page": 0.05,
    "stats": 0.02,
    "delete": 0.03,
}
CONTENT = "Could you summarise the attached report and list the three main risks it names? " * 5  # 400 B
SESSION = {
    "title": "Quarterly report review",
    "app_name": "helpdesk",
    "agent_id": "agent-7",
    "context": {"locale": "en-US", "plan": "pro", "topic": "reports"},
    "metadata": {"channel": "web"},
}
TURN = {"type": "message", "role": "user", "content": CONTENT, "usage": {"tokens": 120}}
PRELOADED_SESSIONS = 17  # with the three creates, the user has 20 sessions: a full list page (20)


def cases() -> list[Case]:
    """The measured requests, in order: {sid} is the first create's session, {sid20} the one with 20 events."""
    twenty = [{**TURN, "role": "user" if index % 2 == 0 else "assistant"} for index in range(20)]
    return [
        Case("create", "POST", SESSION, 201, 0, path="/v1/sessions"),
        Case("create with 20 events", "POST", {**SESSION, "events": twenty}, 201, 0, path="/v1/sessions"),
        Case("create + Idempotency-Key", "POST", SESSION, 201, 0, {"idempotency-key": "k-1"}, path="/v1/sessions"),
        Case("get", "GET", None, 200, 0),
        Case("patch", "PATCH", {"title": "Quarterly report review (2)", "context": {"step": 3}}, 200, 0),
        Case("append", "POST", TURN, 201, 0, path="/v1/sessions/{sid}/events"),
        Case("history page", "GET", None, 200, 0, path="/v1/sessions/{sid20}/history"),
        Case("list page", "GET", None, 200, 0, path="/v1/sessions"),
        Case("stats", "GET", None, 200, 0, path="/v1/sessions/stats"),
        Case("delete", "DELETE", None, 204, 0),
    ]


# --- item sizes, as DynamoDB counts them ----------------------------------------------------------


def number_size(text: str) -> int:
    """About 1 byte per two significant digits, plus 1."""
    digits = str(Decimal(text).normalize()).lstrip("-").split("E")[0].replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode()) for item in data)
    if kind == "NS":
        return sum(number_size(item) for item in data)
    if kind == "BS":
        return sum(len(item) for item in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(item) for name, item in data.items())
    if kind == "L":
        return 3 + sum(1 + value_size(item) for item in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    """Attribute name lengths plus value sizes (0 for no item)."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


# --- tables, as the template defines them ---------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY, INCLUDE or ALL
    included: frozenset[str]

    def entry(self, item: dict[str, Any] | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item's entry in this index (None when the item lacks the index's keys)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = set(table_keys) | set(self.keys) | (self.included if self.projection == "INCLUDE" else set())
        return {name: value for name, value in item.items() if name in kept}


@dataclass(frozen=True)
class Shape:
    keys: tuple[str, ...]
    indexes: dict[str, Index]


def table_shapes(names: dict[str, str]) -> dict[str, Shape]:
    """Physical table name → its keys and indexes, from template.yaml (conditions resolved as deployed by default)."""
    template = load_template()
    resolver = local_resolver(names, template)
    shapes = {}
    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        properties = resolver.resolve(resource["Properties"])
        indexes = {}
        for index in properties.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            indexes[index["IndexName"]] = Index(
                index["IndexName"],
                tuple(key["AttributeName"] for key in index["KeySchema"]),
                projection["ProjectionType"],
                frozenset(projection.get("NonKeyAttributes", [])),
            )
        shapes[names[logical_id]] = Shape(tuple(key["AttributeName"] for key in properties["KeySchema"]), indexes)
    return shapes


# --- the meter ------------------------------------------------------------------------------------


@dataclass
class Usage:
    calls: Counter[str] = field(default_factory=Counter)
    table_wru: float = 0.0
    index_wru: float = 0.0
    rru: float = 0.0

    @property
    def wru(self) -> float:
        return self.table_wru + self.index_wru


@dataclass
class _Write:
    table: str
    key: dict[str, Any]
    action: str  # Put, Update, Delete, ConditionCheck
    item: dict[str, Any] | None  # a Put's item
    transactional: bool
    before: dict[str, Any] | None = None


class CostMeter:
    """Request units of every call on a DynamoDB client, sized from the items (read with `reader`, uncounted)."""

    def __init__(self, reader: Any, shapes: dict[str, Shape]) -> None:
        self._reader = reader
        self._shapes = shapes
        self._pending: list[tuple[dict[str, Any], list[_Write]]] = []
        self.usage = Usage()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def take(self) -> Usage:
        usage, self.usage = self.usage, Usage()
        return usage

    def _get(self, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._reader.get_item(TableName=table_name, Key=key, ConsistentRead=True).get(
            "Item"
        )
        return item

    def _key(self, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._shapes[table_name].keys}

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        writes: list[_Write] = []
        name = model.name
        if name == "PutItem":
            writes.append(
                _Write(
                    params["TableName"], self._key(params["TableName"], params["Item"]), "Put", params["Item"], False
                )
            )
        elif name in ("UpdateItem", "DeleteItem"):
            writes.append(_Write(params["TableName"], params["Key"], name.removesuffix("Item"), None, False))
        elif name == "TransactWriteItems":
            for operation in params["TransactItems"]:
                ((action, spec),) = operation.items()
                key = self._key(spec["TableName"], spec["Item"]) if action == "Put" else spec["Key"]
                writes.append(_Write(spec["TableName"], key, action, spec.get("Item"), True))
        elif name == "BatchWriteItem":
            for table_name, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        writes.append(_Write(table_name, self._key(table_name, item), "Put", item, False))
                    else:
                        writes.append(_Write(table_name, request["DeleteRequest"]["Key"], "Delete", None, False))
        for write in writes:
            write.before = self._get(write.table, write.key)
        self._pending.append((params, writes))

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        params, writes = self._pending.pop()
        self.usage.calls[model.name] += 1
        committed = http_response.status_code < 300
        for write in writes:
            after = self._get(write.table, write.key) if committed else write.before
            if write.action == "Put":
                size = max(item_size(write.before), item_size(write.item))
            elif write.action == "Update":
                size = max(item_size(write.before), item_size(after))
            else:  # Delete, ConditionCheck
                size = item_size(write.before)
            self.usage.table_wru += write_units(size) * (2 if write.transactional else 1)
            if committed and after != write.before:
                self.usage.index_wru += self._index_units(write.table, write.before, after)
        if committed:
            self._reads(model.name, params, parsed)

    def _index_units(self, table_name: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
        """Each index whose entry the write changes: a put of the new entry, a delete of the old one, or both."""
        shape = self._shapes[table_name]
        units = 0
        for index in shape.indexes.values():
            old, new = index.entry(before, shape.keys), index.entry(after, shape.keys)
            if old == new:
                continue
            same_keys = old is not None and new is not None and all(old[key] == new[key] for key in index.keys)
            if same_keys:
                units += write_units(max(item_size(old), item_size(new)))
            else:
                units += (write_units(item_size(old)) if old else 0) + (write_units(item_size(new)) if new else 0)
        return units

    def _reads(self, name: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if name == "GetItem":
            size = item_size(self._get(params["TableName"], params["Key"]))
            self.usage.rru += read_units(size, bool(params.get("ConsistentRead")))
        elif name == "BatchGetItem":
            for table_name, spec in params["RequestItems"].items():
                for key in spec["Keys"]:
                    size = item_size(self._get(table_name, key))
                    self.usage.rru += read_units(size, bool(spec.get("ConsistentRead")))
        elif name in ("Query", "Scan"):
            table_name = params["TableName"]
            shape = self._shapes[table_name]
            index = shape.indexes.get(params.get("IndexName", ""))
            total = 0
            items = self._evaluated(name, params, parsed) if "FilterExpression" in params else parsed.get("Items", [])
            for item in items:
                if all(key in item for key in shape.keys):  # size what was read, not what a projection returned
                    full = self._get(table_name, self._key(table_name, item))
                    total += item_size((index.entry(full, shape.keys) if index else full) or item)
                else:
                    total += item_size(item)
            self.usage.rru += read_units(total, bool(params.get("ConsistentRead")))

    def _evaluated(self, name: str, params: dict[str, Any], parsed: dict[str, Any]) -> list[dict[str, Any]]:
        """The items a filtered Query or Scan read (DynamoDB charges them all, those the filter discarded too).

        The same request without its filter, limited to the response's ScannedCount, read with `reader`.
        """
        scanned = parsed.get("ScannedCount", 0)
        if not scanned:
            return []
        kept = ("TableName", "IndexName", "KeyConditionExpression", "ScanIndexForward", "ExclusiveStartKey")
        request: dict[str, Any] = {key: params[key] for key in kept if key in params}
        request["Limit"] = scanned
        # only the placeholders the key condition names: DynamoDB refuses unused ones
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", params.get("KeyConditionExpression", "")))
        for key in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            placeholders = {item: value for item, value in params.get(key, {}).items() if item in used}
            if placeholders:
                request[key] = placeholders
        read = self._reader.query if name == "Query" else self._reader.scan
        items: list[dict[str, Any]] = read(**request)["Items"]
        return items


class _Bytes(io.TextIOBase):
    def __init__(self) -> None:
        self.count = 0

    def write(self, text: str) -> int:
        self.count += len(text.encode())
        return len(text)


@contextlib.contextmanager
def counted_logs() -> Any:
    """Bytes the functions log (Powertools' logger and its metrics lines) while inside."""
    sink = _Bytes()
    handlers = [h for h in logging.getLogger("sessions").handlers if isinstance(h, logging.StreamHandler)]
    streams = [handler.setStream(sink) for handler in handlers]
    try:
        with contextlib.redirect_stdout(sink):
            yield sink
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Measured:
    """What one request of an operation costs in units, measured."""

    usage: Usage
    status: int
    log_bytes: int
    publisher_records: int = 0
    publisher_usage: Usage = field(default_factory=Usage)
    put_events_calls: int = 0
    events: int = 0
    event_detail_bytes: int = 0


class EventsCounter:
    def __init__(self) -> None:
        self.calls = self.entries = self.detail_bytes = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.events.PutEvents", self._on_put)

    def _on_put(self, params: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self.entries += len(params["Entries"])
        self.detail_bytes += sum(len(entry["Detail"].encode()) for entry in params["Entries"])

    def take(self) -> tuple[int, int, int]:
        taken = self.calls, self.entries, self.detail_bytes
        self.calls = self.entries = self.detail_bytes = 0
        return taken


class _Session:
    """The stack on moto with every meter attached: requests, and the publisher on their stream records."""

    def __init__(self, stack: Stack) -> None:
        import boto3

        from local.event_sources.event_filters import filters_of
        from local.event_sources.stream_reader import StreamReader
        from sessions import store
        from sessions.store import aws_client

        template = load_template()
        publisher_spec = function_specs(template, local_resolver(stack.names, template))["PublishEventsFunction"]
        os.environ.update(publisher_spec.environment)
        self.publisher = load_handler(publisher_spec)
        stream = template["Resources"]["PublishEventsFunction"]["Properties"]["Events"]["Stream"]
        self.filters = filters_of(stream["Properties"]["FilterCriteria"])
        self.stack = stack
        session = boto3.Session()
        self.reader = session.client("dynamodb")  # uncounted: sizes items before and after each write
        self.stream = StreamReader(session, stack.names["SessionsTable"])
        self.meter = CostMeter(self.reader, table_shapes(stack.names))
        self.meter.attach(store.dynamodb_client())
        self.bus = EventsCounter()
        self.bus.attach(aws_client("events"))
        self.ids: dict[str, str] = {}

    def request(self, case: Case) -> tuple[int, dict[str, Any]]:
        path = case.path.format(**self.ids)
        found = match_route(self.stack.routes, case.method, path)
        if found is None:
            raise LookupError(f"no route for {case.method} {path}")
        route, params = found
        return invoke(self.stack.specs, route, params, case, path)

    def publish(self, into: Measured | None = None) -> None:
        """Hand the stream's new records that pass the FilterCriteria to the publisher, metered into `into`."""
        from local.event_sources.event_filters import accepted

        records = [record for record in self.stream.read() if accepted(self.filters, record)]
        self.meter.take()
        if records:
            with counted_logs():
                self.publisher({"Records": records}, LambdaContext("PublishEventsFunction"))
        usage = self.meter.take()
        if into is not None:
            into.publisher_records += len(records)
            into.publisher_usage.calls.update(usage.calls)
            into.publisher_usage.table_wru += usage.table_wru
            into.publisher_usage.index_wru += usage.index_wru
            into.publisher_usage.rru += usage.rru

    def remove(self, session_id: str) -> None:
        """What the cleanup (or TTL) does to a deleted session later: the item leaves the table."""
        key = {"PK": {"S": f"T#{TENANT}#S#{session_id}"}, "SK": {"S": "#SESSION"}}
        self.reader.delete_item(TableName=self.stack.names["SessionsTable"], Key=key)


def measure() -> dict[str, Measured]:
    """Run every case on moto with the meters on; the publisher handles each request's stream records."""
    from local.aws.moto_fixes import adapt_moto

    adapt_moto()
    results: dict[str, Measured] = {}
    with in_process_stack({"POWERTOOLS_LOG_LEVEL": "INFO"}) as stack:  # the template's level
        run = _Session(stack)
        # a user with 17 earlier (completed) sessions: with the three creates, a full list page of 20
        for index in range(PRELOADED_SESSIONS):
            _, body = run.request(Case("preload", "POST", {"title": f"earlier {index}"}, 201, 0, path="/v1/sessions"))
            run.ids["sid"] = body["session_id"]
            run.request(Case("complete", "PATCH", {"status": "completed"}, 200, 0))
        run.publish()
        run.bus.take()
        for case in cases():
            run.meter.take()
            with counted_logs() as logs:
                status, body = run.request(case)
            if status != case.expected_status:
                raise RuntimeError(f"{case.label}: status {status}, expected {case.expected_status}: {body}")
            measured = Measured(run.meter.take(), status, logs.count)
            if case.label == "create":
                run.ids["sid"] = body["session_id"]
            elif case.label == "create with 20 events":
                run.ids["sid20"] = body["session_id"]
            run.publish(measured)
            if case.label == "delete":  # the publisher settles the removal that follows a delete
                run.remove(run.ids["sid"])
                run.publish(measured)
            measured.put_events_calls, measured.events, measured.event_detail_bytes = run.bus.take()
            results[case.label] = measured
    return results


# --- pricing --------------------------------------------------------------------------------------


def memory_gb(logical_id: str) -> float:
    return float(function_property(load_template(), logical_id, "MemorySize")) / 1024


def billed_ms(measured: Measured) -> int:
    """The API function's billed duration: its own time plus an assumed latency per DynamoDB call."""
    return math.ceil(HANDLER_MS + DYNAMODB_CALL_MS * sum(measured.usage.calls.values()))


def cost_per_request(measured: Measured) -> dict[str, float]:
    """Dollars for one request of this operation, by service."""
    api_memory, publisher_memory = memory_gb("CreateSessionFunction"), memory_gb("PublishEventsFunction")
    invocations = measured.publisher_records / PUBLISHER_BATCH
    publisher_ms = (
        measured.publisher_records * PUBLISHER_RECORD_MS
        + measured.events / EVENTS_PER_PUT_EVENTS_CALL * PUT_EVENTS_CALL_MS
        + sum(measured.publisher_usage.calls.values()) * DYNAMODB_CALL_MS
    )
    gb_seconds = api_memory * billed_ms(measured) / 1000 + publisher_memory * publisher_ms / 1000
    wru = measured.usage.wru + measured.publisher_usage.wru
    rru = measured.usage.rru + measured.publisher_usage.rru
    log_bytes = (
        ACCESS_LOG_BYTES
        + PLATFORM_LOG_BYTES * (1 + invocations)
        + measured.log_bytes
        + measured.events * AUDIT_LOG_ENVELOPE_BYTES
        + measured.event_detail_bytes
    )
    return {
        "dynamodb": wru * DYNAMODB_PER_WRU + rru * DYNAMODB_PER_RRU,
        "lambda": (1 + invocations) * LAMBDA_PER_REQUEST + gb_seconds * LAMBDA_PER_GB_SECOND,
        "api_gateway": HTTP_API_PER_REQUEST,
        "eventbridge": measured.events * EVENTBRIDGE_PER_EVENT,
        "cloudwatch_logs": log_bytes / GB * LOGS_PER_GB,
    }


def figures_of(results: dict[str, Measured], mix: dict[str, float] = MIX) -> dict[str, Any]:
    if abs(sum(mix.values()) - 1) > 1e-9:
        raise ValueError("the mix's shares must add up to 1")
    operations: dict[str, Any] = {}
    for label, measured in results.items():
        costs = cost_per_request(measured)
        operations[label] = {
            "dynamodb_calls": dict(measured.usage.calls),
            "wru": measured.usage.wru,
            "wru_indexes": measured.usage.index_wru,
            "rru": measured.usage.rru,
            "events": measured.events,
            "publisher_records": measured.publisher_records,
            "put_events_calls": measured.put_events_calls,
            "publisher_wru": measured.publisher_usage.wru,
            "billed_ms": billed_ms(measured),
            "function_log_bytes": measured.log_bytes,
            "cost_per_million": {service: value * 1e6 for service, value in costs.items()},
        }
    services = ("dynamodb", "lambda", "api_gateway", "eventbridge", "cloudwatch_logs")
    by_service = {
        service: sum(share * operations[label]["cost_per_million"][service] for label, share in mix.items())
        for service in services
    }
    return {
        "prices": PRICES_AS_OF,
        "mix": dict(mix),
        "assumptions": {
            "handler_ms": HANDLER_MS,
            "dynamodb_call_ms": DYNAMODB_CALL_MS,
            "put_events_call_ms": PUT_EVENTS_CALL_MS,
            "publisher_batch": PUBLISHER_BATCH,
            "events_per_put_events_call": EVENTS_PER_PUT_EVENTS_CALL,
            "access_log_bytes": ACCESS_LOG_BYTES,
            "platform_log_bytes": PLATFORM_LOG_BYTES,
            "memory_mb": memory_gb("CreateSessionFunction") * 1024,
        },
        "operations": operations,
        "per_million_requests": {**by_service, "total": sum(by_service.values())},
    }


def run() -> dict[str, Any]:
    """Measure every operation on moto, print the tables, return the figures."""
    figures = figures_of(measure())
    rows = [
        [
            label,
            sum(op["dynamodb_calls"].values()),
            f"{op['wru']:g} ({op['wru_indexes']:g})",
            f"{op['rru']:g}",
            op["events"],
            f"{op['publisher_wru']:g}",
            op["billed_ms"],
            f"{sum(op['cost_per_million'].values()):.2f}",
        ]
        for label, op in figures["operations"].items()
    ]
    headers = [
        "operation",
        "DynamoDB calls",
        "WRU (of which indexes)",
        "RRU",
        "events",
        "publisher WRU",
        "billed ms",
        "$ per million",
    ]
    print(table(headers, rows, title="Per request (moto; sizes as DynamoDB counts them)"))
    print()
    mix = ", ".join(f"{label} {share:.1%}" for label, share in figures["mix"].items())
    total = figures["per_million_requests"]
    print(
        table(
            ["service", "$ per million requests"],
            [[service, f"{value:.2f}"] for service, value in total.items()],
            title=f"Per million requests of the mix ({mix}); prices {PRICES_AS_OF}",
        )
    )
    return figures

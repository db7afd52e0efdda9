"""Handlers invoked in-process, as API Gateway would invoke them, against moto."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from moto import mock_aws

from local.api.gateway import LambdaContext, http_api_event, load_handler, match_route, routes_of
from local.aws.shared_models import ReusedClients
from local.event_sources.event_filters import accepted, filters_of
from local.event_sources.stream_reader import StreamReader
from local.stack.template import (
    create_aws_resources,
    function_property,
    function_specs,
    functions_environment,
    load_template,
    local_resolver,
)
from local.testing import reset_sessions_caches
from sessions import store
from sessions.core import settings


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def etag(self) -> str:
        return self.headers["etag"]


@dataclass
class Gateway:
    """Calls the template's functions the way API Gateway would: route, event, handler."""

    names: dict[str, str]
    environment: dict[str, str]
    handlers: dict[str, Any] = field(default_factory=dict)
    last_proxy_response: dict[str, Any] | None = None  # what the last request's handler returned, as Lambda would

    def __post_init__(self) -> None:
        template = load_template()
        self.specs = function_specs(template, local_resolver(self.names, template))
        self.routes = routes_of(self.specs)

    def handler(self, function: str) -> Any:
        if function not in self.handlers:
            self.handlers[function] = load_handler(self.specs[function])
        return self.handlers[function]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = "u-1",
        tenant: str | None = "acme",
        roles: list[str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        query: str = "",
    ) -> HttpResult:
        path = unquote(path)  # as API Gateway (and the dev server) hand the function its path parameters
        found = match_route(self.routes, method, path)
        assert found, f"no route for {method} {path}"
        route, params = found
        claims: dict[str, Any] = {}
        if user is not None:
            claims["sub"] = user
        if tenant is not None:
            claims["tenant_id"] = tenant
        if roles:
            claims["cognito:groups"] = "[" + " ".join(roles) + "]"
        all_headers = {"content-type": "application/json", **(headers or {})}
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        event = http_api_event(
            method=method,
            path=path,
            route=route,
            path_parameters=params,
            query=query,
            headers=all_headers,
            body=payload,
            claims=claims or None,
        )
        response = self.last_proxy_response = self.handler(route.function)(event, LambdaContext(route.function))
        response_headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
        text = response.get("body") or ""
        return HttpResult(response["statusCode"], response_headers, json.loads(text) if text else None)

    def create(self, body: dict[str, Any] | None = None, **kwargs: Any) -> HttpResult:
        return self.request("POST", "/v1/sessions", body if body is not None else {}, **kwargs)


RESOURCE_CLIENTS = ReusedClients()  # creating the resources of each test's moto account


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """A fresh moto account per test, with the template's tables, bucket, secret, queues and bus."""
    with mock_aws():
        names = create_aws_resources(RESOURCE_CLIENTS)
        yield names


@pytest.fixture
def gateway(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    gateway = Gateway(aws, {})
    # every function's variables, with this account's names, as the dev server sets them
    for key, value in functions_environment(gateway.specs.values()).items():
        monkeypatch.setenv(key, value)
    reset_sessions_caches()  # settings, clients and secrets are cached per container; each test is a fresh one
    yield gateway
    reset_sessions_caches()


@pytest.fixture
def table(aws: dict[str, str]) -> Any:
    return boto3.resource("dynamodb").Table(aws["SessionsTable"])


@pytest.fixture
def stream(gateway, aws) -> StreamReader:
    return StreamReader(boto3.Session(), aws["SessionsTable"])


@pytest.fixture
def bus_queue(aws) -> Any:
    """An SQS queue receiving everything on the bus, as a consumer would set it up."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=aws["SessionsBus"], EventPattern=json.dumps({"source": ["sessions"]}))
    events.put_targets(Rule="all", EventBusName=aws["SessionsBus"], Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            messages += [json.loads(message["Body"]) for message in batch]
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )

    return received


def publish(gateway, records: list[dict[str, Any]]) -> dict[str, Any]:
    handler = gateway.handler("PublishEventsFunction")
    return handler({"Records": records}, LambdaContext("PublishEventsFunction"))


def stream_filters(function: str, event: str) -> Any:
    """The FilterCriteria of one of the template's functions' stream event sources."""
    properties = load_template()["Resources"][function]["Properties"]["Events"][event]["Properties"]
    return filters_of(properties["FilterCriteria"])


JOB_WORKERS = ("ErasureWorkerFunction", "ExportWorkerFunction")


class JobStreams:
    """The table's stream, fed to the publisher and the job workers as their event-source mappings would."""

    def __init__(self, gateway: Gateway, stream: StreamReader, *, worker_timeout_seconds: int = 300) -> None:
        self.gateway, self.stream, self.timeout = gateway, stream, worker_timeout_seconds
        self.publisher_filters = stream_filters("PublishEventsFunction", "Stream")
        self.workers = {function: stream_filters(function, "Jobs") for function in JOB_WORKERS}

    def drain(self, *, rounds: int = 50) -> None:
        for _ in range(rounds):
            records = self.stream.read()
            if not records:
                return
            for_publisher = [r for r in records if accepted(self.publisher_filters, r)]
            if for_publisher:
                assert publish(self.gateway, for_publisher) == {"batchItemFailures": []}
            for function, filters in self.workers.items():
                batch = [r for r in records if accepted(filters, r)]
                if batch:
                    self.gateway.handler(function)(
                        {"Records": batch}, LambdaContext(function, timeout_seconds=self.timeout)
                    )
        raise AssertionError("the stream never went quiet")


@pytest.fixture
def streams(gateway: Gateway, stream: StreamReader) -> JobStreams:
    return JobStreams(gateway, stream)


def expire_in_place(table: Any, session_ids: list[str], tenant: str = "acme") -> None:
    """Move sessions' expiry two hours back, as if they had expired while open; the cleanup is due to remove them."""
    from sessions.core.clock import format_ms, now_ms

    past = format_ms(now_ms() - 2 * 3_600_000)
    for sid in session_ids:
        key = {"PK": f"T#{tenant}#S#{sid}", "SK": "#SESSION"}
        table.update_item(
            Key=key,
            UpdateExpression="SET expires_at = :past, purge_at = :past, expiry_bucket = :bucket",
            ExpressionAttributeValues={":past": past, ":bucket": store.expiry_bucket(key["PK"], past)},
        )


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings.get_settings.cache_clear()


__all__ = ["Gateway", "HttpResult", "os", "set_env"]


from local.aws.moto_fixes import adapt_moto  # noqa: E402
from local.testing import TESTS_TTL_SWEEP_SECONDS  # noqa: E402

adapt_moto(TESTS_TTL_SWEEP_SECONDS)


# the template's function timeout, from which a handler sets its writes' retry budget
FUNCTION_TIMEOUT_MS = int(function_property(load_template(), "AppendEventFunction", "Timeout")) * 1000


def concurrently(count: int, call: Any) -> list[tuple[int, Any]]:
    """Run call(i) for i in 0…count-1 in real threads released together; each gives (status, result).

    Races are driven through the service layer, not the handlers: Powertools' resolver keeps the
    current request in class attributes, safe in Lambda (one request per process) but shared by
    threads. The dev server's e2e tests race the handlers themselves, in separate processes.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sessions.core.errors import SessionError
    from sessions.core.retrying import time_budget
    from sessions.http.problems import PROBLEMS

    barrier = threading.Barrier(count)

    def run(index: int) -> tuple[int, Any]:
        barrier.wait()
        try:
            # the retry budget a handler sets from its Lambda context
            with time_budget(FUNCTION_TIMEOUT_MS):
                return 200, call(index)
        except SessionError as exc:
            return next(PROBLEMS[cls][0] for cls in type(exc).__mro__ if cls in PROBLEMS), exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def before_the_first_state_write(monkeypatch: pytest.MonkeyPatch, meanwhile: Any) -> list[int]:
    """Run `meanwhile()` once, between a write's read of a state document and its commit: a lost race.

    Returns the versions the raced writes had read (one entry once the race happened).
    """
    from sessions.usecases import access

    session_store = access.store()
    original = session_store.state_write
    raced: list[int] = []

    def someone_writes_first(key: Any, document: Any, *, read_version: int) -> Any:
        if not raced:
            raced.append(read_version)
            meanwhile()
        return original(key, document, read_version=read_version)

    monkeypatch.setattr(session_store, "state_write", someone_writes_first)
    return raced

"""An unknown query parameter is 422 validation_error naming it, on every route of the template.

`GET /v1/sessions?sort_by=updated_at` answered 200 in the default order would make a client believe
its sort (or filter) was applied. Each route is called with a request that is otherwise valid: it is
refused, writes nothing, and the same request without the unknown parameter succeeds.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from local.api.gateway import routes_of
from local.stack.template import function_specs, load_template, local_resolver

SERVICE = {"user": "svc", "roles": ["service"]}
ADMIN = {"user": "boss", "roles": ["admin"]}

# (method, template path) -> (concrete path, body, the route's own query, caller) of a valid request
REQUESTS: dict[tuple[str, str], tuple[str, Any, str, dict[str, Any]]] = {
    ("GET", "/v1/sessions/stats"): ("/v1/sessions/stats", None, "scope=user", {}),
    ("POST", "/v1/sessions"): ("/v1/sessions", {"title": "new"}, "", {}),
    ("GET", "/v1/sessions"): ("/v1/sessions", None, "limit=5", {}),
    ("GET", "/v1/apps/{app_name}/sessions"): ("/v1/apps/app-1/sessions", None, "order_by=last_active_at", SERVICE),
    ("GET", "/v1/sessions/{session_id}/history"): ("/v1/sessions/s-1/history", None, "order=desc", {}),
    ("POST", "/v1/sessions/{session_id}/events"): ("/v1/sessions/s-1/events", {"type": "message"}, "", {}),
    ("DELETE", "/v1/sessions/{session_id}/events"): ("/v1/sessions/s-1/events", None, "from_seq=2", {}),
    ("POST", "/v1/sessions/{session_id}/fork"): ("/v1/sessions/s-1/fork", {"at_seq": 1}, "user_id=u-1", {}),
    ("GET", "/v1/sessions/{session_id}"): ("/v1/sessions/s-1", None, "", {}),
    ("PATCH", "/v1/sessions/{session_id}"): ("/v1/sessions/s-1", {"title": "changed"}, "", {}),
    ("DELETE", "/v1/sessions/{session_id}"): ("/v1/sessions/s-1", None, "user_id=u-1", {}),
    ("GET", "/v1/apps/{app_name}/state"): ("/v1/apps/app-1/state", None, "", {}),
    ("PATCH", "/v1/apps/{app_name}/state"): ("/v1/apps/app-1/state", {"model": "large"}, "", SERVICE),
    ("GET", "/v1/apps/{app_name}/users/{user_id}/state"): ("/v1/apps/app-1/users/u-1/state", None, "", {}),
    ("PATCH", "/v1/apps/{app_name}/users/{user_id}/state"): ("/v1/apps/app-1/users/u-1/state", {"seen": 1}, "", {}),
    ("GET", "/v1/sessions/{session_id}/events/{seq}"): ("/v1/sessions/s-1/events/1", None, "", {}),
    ("PATCH", "/v1/sessions/{session_id}/events/{seq}"): ("/v1/sessions/s-1/events/1", {"content": "y"}, "", {}),
    ("POST", "/v1/users/{user_id}/erasure"): ("/v1/users/u-2/erasure", None, "", SERVICE),
    ("GET", "/v1/tenant/settings"): ("/v1/tenant/settings", None, "", {}),
    ("PATCH", "/v1/tenant/settings"): ("/v1/tenant/settings", {"history_retention_days": 30}, "", ADMIN),
    # {erasure_id}: the erasure the `seeded` fixture started
    ("GET", "/v1/erasures/{erasure_id}"): ("/v1/erasures/{erasure_id}", None, "", SERVICE),
    ("POST", "/v1/users/{user_id}/export"): ("/v1/users/u-1/export", None, "", {}),
    # {export_id}: the export the `seeded` fixture started
    ("GET", "/v1/exports/{export_id}"): ("/v1/exports/{export_id}", None, "", SERVICE),
}

_TEMPLATE = load_template()
_SPECS = function_specs(_TEMPLATE, local_resolver({}, _TEMPLATE))
ROUTES = sorted((route.method, route.path) for route in routes_of(_SPECS))


def test_every_route_of_the_template_is_covered():
    assert sorted(REQUESTS) == ROUTES


@pytest.fixture
def seeded(gateway):
    """A session s-1 with three events, app-1's app and user state documents, an erasure of u-9, an export of u-8."""
    assert gateway.create({"session_id": "s-1", "app_name": "app-1"}).status == 201
    for content in ("a", "b"):
        assert gateway.request("POST", "/v1/sessions/s-1/events", {"type": "message", "content": content}).status == 201
    assert gateway.request("PATCH", "/v1/apps/app-1/state", {"model": "small"}, **SERVICE).status == 200
    assert gateway.request("PATCH", "/v1/apps/app-1/users/u-1/state", {"seen": 0}).status == 200
    erasure = gateway.request("POST", "/v1/users/u-9/erasure", **SERVICE)
    assert erasure.status == 202
    export = gateway.request("POST", "/v1/users/u-8/export", **SERVICE)
    assert export.status == 202
    gateway.ids = {"erasure_id": erasure.body["erasure_id"], "export_id": export.body["export_id"]}
    return gateway


def everything_stored(aws: dict[str, str]) -> dict[str, list[Any]]:
    dynamodb = boto3.client("dynamodb")
    tables = [name for name in aws.values() if name in dynamodb.list_tables()["TableNames"]]
    return {name: sorted(map(repr, dynamodb.scan(TableName=name)["Items"])) for name in tables}


def joined(*parts: str) -> str:
    return "&".join(part for part in parts if part)


def refuse_and_accept(gateway: Any, aws: dict[str, str], method: str, path: str, unknown: str, names: list[str]):
    concrete, body, own_query, who = REQUESTS[(method, path)]
    concrete = concrete.format(**getattr(gateway, "ids", {}))
    before = everything_stored(aws)

    refused = gateway.request(method, concrete, body, query=joined(own_query, unknown), **who)

    assert refused.status == 422, refused.body
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.body["code"] == "validation_error"
    assert refused.body["type"] == "urn:sessions:problem:validation_error"
    assert refused.body["errors"] == [{"loc": ["query", name], "msg": "unknown query parameter"} for name in names]
    for name in names:
        assert repr(name) in refused.body["detail"]
    assert everything_stored(aws) == before  # nothing written (the idempotency records included)

    # the same request without the unknown parameter is accepted (and a write shows in the store)
    accepted = gateway.request(method, concrete, body, query=own_query, **who)
    assert accepted.status in (200, 201, 202, 204), accepted.body
    if method != "GET":
        assert everything_stored(aws) != before


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{method} {path}" for method, path in ROUTES])
def test_an_unknown_query_parameter_is_422_naming_it_and_writes_nothing(seeded, aws, method, path):
    refuse_and_accept(seeded, aws, method, path, "sort_by=updated_at", ["sort_by"])


@pytest.mark.parametrize(
    ("unknown", "names"),
    [
        ("metadata.customer=c-77", ["metadata.customer"]),
        ("q=", ["q"]),  # an empty value
        ("q", ["q"]),  # no value at all
        ("sort=a&sort=b&Limit=5", ["sort", "Limit"]),  # repeated; names are case-sensitive
    ],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/sessions"), ("PATCH", "/v1/sessions/{session_id}")])
def test_empty_valueless_and_repeated_parameters_count(seeded, aws, method, path, unknown, names):
    refuse_and_accept(seeded, aws, method, path, unknown, names)


def test_the_declared_parameters_are_named_in_the_detail(gateway):
    refused = gateway.request("GET", "/v1/sessions", query="sort=updated_at")
    assert refused.status == 422
    assert refused.body["detail"] == (
        "unknown query parameter 'sort' (this route takes limit, cursor, order, agent_id, status, "
        "session_type, app_name, created_after, created_before, order_by, metadata, include_context, user_id)"
    )
    assert gateway.request("GET", "/v1/apps/app-1/state", query="x=1").body["detail"] == (
        "unknown query parameter 'x' (this route takes none)"
    )


def test_a_request_refused_for_its_schema_names_its_unknown_parameters_too(gateway, aws):
    before = everything_stored(aws)
    refused = gateway.request("GET", "/v1/sessions", query="limit=0&sort_by=updated_at")
    assert refused.status == 422
    assert [issue["loc"] for issue in refused.body["errors"]] == [["query", "limit"], ["query", "sort_by"]]
    assert "'sort_by'" in refused.body["detail"]
    created = gateway.create({"title": "x", "tags": 1}, query="dry_run=true")
    assert created.status == 422
    assert ["query", "dry_run"] in [issue["loc"] for issue in created.body["errors"]]
    assert everything_stored(aws) == before


def test_an_unknown_parameter_is_refused_before_an_idempotent_create_is_recorded(gateway):
    key = {"Idempotency-Key": "k-1"}
    refused = gateway.create({"session_id": "s-9"}, headers=key, query="wait=1")
    assert refused.status == 422
    # the key was not spent on the refusal: the same key creates the session
    assert gateway.create({"session_id": "s-9"}, headers=key).status == 201
    assert gateway.request("GET", "/v1/sessions/s-9").status == 200


def test_the_create_takes_the_acting_for_user_id_query_parameter(gateway):
    created = gateway.create({}, query="user_id=bob", user="svc", roles=["service"])
    assert created.status == 201 and created.body["user_id"] == "bob"


@pytest.mark.parametrize("path", ["/v1/sessions/a%14b/history", "/v1/sessions/a%14b/events/1", "/v1/apps/a%14b/state"])
def test_a_path_no_route_takes_stays_404_route_not_found(gateway, path):
    missing = gateway.request("GET", path, query="user_id=u-1&order_by=x")
    assert missing.status == 404 and missing.body["code"] == "route_not_found"

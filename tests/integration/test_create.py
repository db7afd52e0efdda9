"""POST /v1/sessions as the contract describes it."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.json_values import same_json

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_defaults_headers_and_shape(gateway):
    created = gateway.create({})
    assert created.status == 201
    body = created.body
    assert UUID4.match(body["session_id"])
    assert created.headers["location"] == f"/v1/sessions/{body['session_id']}"
    assert created.etag == '"1"'
    assert created.headers["content-type"] == "application/json"
    assert body["tenant_id"] == "acme" and body["user_id"] == "u-1"
    assert body["session_type"] == "conversation"
    assert body["runtime_backend"] == "unknown"
    assert body["status"] == "active"
    assert body["context"] == {} and body["checkpoint"] is None and body["metadata"] == {}
    assert body["usage"] == {"tokens_used": 0, "cost_usd": 0, "event_count": 0, "task_count": 0}
    assert body["version"] == 1
    for field in ("created_at", "updated_at", "last_active_at", "expires_at"):
        assert TIMESTAMP.match(body[field]), field
    assert body["forked_from"] is None  # not a fork
    assert set(body) == {
        "session_id",
        "tenant_id",
        "user_id",
        "app_name",
        "agent_id",
        "session_type",
        "title",
        "status",
        "context",
        "checkpoint",
        "metadata",
        "runtime_backend",
        "runtime_metadata",
        "token_budget",
        "usage",
        "created_at",
        "updated_at",
        "forked_from",
        "last_active_at",
        "last_event_at",
        "expires_at",
        "version",
        "history_base_seq",
    }


def test_default_lifetime_is_thirty_days(gateway):
    from sessions.core.clock import parse_timestamp

    body = gateway.create({}).body
    lifetime = parse_timestamp(body["expires_at"]) - parse_timestamp(body["created_at"])
    assert lifetime == 30 * 24 * 3600 * 1000


def test_every_field_is_stored_and_returned(gateway):
    agent = str(uuid.uuid4())
    request = {
        "session_id": "dev:session-1",
        "app_name": "webapp",
        "agent_id": agent,
        "session_type": "development",
        "title": "Code review",
        "context": {"repo": "x", "files": [1, 2]},
        "checkpoint": {"step": 3},
        "metadata": {"source": "webapp"},
        "runtime_backend": "kubernetes",
        "runtime_metadata": {"pod": "p-1"},
        "token_budget": 1000,
        "ttl_seconds": 3600,
    }
    created = gateway.create(request)
    assert created.status == 201, created.body
    for key, value in request.items():
        if key != "ttl_seconds":
            assert created.body[key] == value, key
    assert gateway.request("GET", "/v1/sessions/dev:session-1").body == created.body


def test_supplied_id_held_by_the_same_user_replays_200_unchanged(gateway):
    first = gateway.create({"session_id": "mine", "title": "first"})
    again = gateway.create({"session_id": "mine", "title": "second"})
    assert (first.status, again.status) == (201, 200)
    assert again.body == first.body
    assert again.etag == '"1"'


def test_if_none_match_star_creates_only(gateway, table):
    """A conditional create (If-None-Match: *) never answers an existing session: 412, nothing written."""
    first = gateway.create({"session_id": "once", "title": "first"}, headers={"If-None-Match": "*"})
    assert first.status == 201
    items = table.scan()["Items"]
    again = gateway.create({"session_id": "once", "title": "second"}, headers={"If-None-Match": "*"})
    assert again.status == 412
    assert again.body["code"] == "version_mismatch"
    assert again.body["current_version"] == 1
    assert "once" in again.body["detail"]
    assert table.scan()["Items"] == items
    assert gateway.request("GET", "/v1/sessions/once").body["title"] == "first"
    # another user's id is 409 as without the header (it reveals no version)
    assert gateway.create({"session_id": "once"}, user="bob", headers={"If-None-Match": "*"}).status == 409


@pytest.mark.parametrize("value", ['"1"', "W/*", "", "**"])
def test_if_none_match_other_than_star_is_422(gateway, value):
    refused = gateway.create({"session_id": "x"}, headers={"If-None-Match": value})
    assert refused.status == 422
    assert refused.body["errors"][0]["loc"] == ["header", "if-none-match"]
    assert gateway.request("GET", "/v1/sessions/x").status == 404


def test_supplied_id_held_by_another_user_of_the_tenant_is_409(gateway):
    assert gateway.create({"session_id": "shared"}, user="alice").status == 201
    taken = gateway.create({"session_id": "shared"}, user="bob")
    assert taken.status == 409
    assert taken.body["code"] == "session_id_taken"
    assert "alice" not in str(taken.body)


def test_ids_are_scoped_per_tenant(gateway):
    assert gateway.create({"session_id": "same"}, tenant="t1").status == 201
    assert gateway.create({"session_id": "same"}, tenant="t2", user="someone-else").status == 201


def test_an_id_of_a_deleted_session_can_be_used_again(gateway):
    gateway.create({"session_id": "again", "title": "old"})
    assert gateway.request("DELETE", "/v1/sessions/again").status == 204
    reborn = gateway.create({"session_id": "again", "title": "new"})
    assert reborn.status == 201
    assert reborn.body["title"] == "new" and reborn.body["version"] == 1


@pytest.mark.parametrize(
    "session_id",
    ["stats", "", "-leading-dash", "has space", "a/b", "a#b", "x" * 129, "é"],
)
def test_bad_or_reserved_session_ids_are_422(gateway, session_id):
    refused = gateway.create({"session_id": session_id})
    assert refused.status == 422
    assert refused.body["code"] == "validation_error"
    assert refused.body["errors"][0]["loc"] == ["session_id"]


def test_longest_allowed_session_id(gateway):
    assert gateway.create({"session_id": "a" + "b" * 127}).status == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_type", "Has-Capitals"),
        ("session_type", "x" * 33),
        ("runtime_backend", "docker"),
        ("token_budget", -1),
        ("token_budget", "100"),
        ("token_budget", 1.5),
        ("ttl_seconds", 59),
        ("ttl_seconds", 31536001),
        ("metadata", {"k": 1}),
        ("metadata", {"k" * 65: "v"}),
        ("metadata", {"k": "v" * 513}),
        ("metadata", {f"k{i}": "v" for i in range(17)}),
        ("metadata", {"": "v"}),
        ("context", []),
        ("context", "text"),
        ("checkpoint", [1]),
        ("unknown_field", 1),
        ("events", [{}] * 21),
        ("title", ""),
        ("title", "\u200b\u202e\u0007"),
        ("title", "x" * 61),
        ("agent_id", "a#b"),
    ],
)
def test_fields_breaking_the_schema_are_422_and_nothing_is_written(gateway, table, field, value):
    refused = gateway.create({"session_id": "never", field: value})
    assert refused.status == 422, refused.body
    assert refused.body["code"] == "validation_error"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.body["errors"] and all({"loc", "msg"} <= set(error) for error in refused.body["errors"])
    assert "Item" not in table.get_item(Key={"PK": "T#acme#S#never", "SK": "#SESSION"})


def test_custom_session_types_and_sixteen_metadata_pairs_are_accepted(gateway):
    created = gateway.create({"session_type": "review_bot-2", "metadata": {f"k{i}": "v" * 512 for i in range(16)}})
    assert created.status == 201, created.body


@pytest.mark.parametrize("field", ["context", "checkpoint", "runtime_metadata"])
def test_objects_over_64_kib_are_413(gateway, field):
    refused = gateway.create({field: {"blob": "x" * (64 * 1024)}})
    assert refused.status == 413
    assert refused.body["code"] == "payload_too_large"


def test_object_of_exactly_64_kib_is_accepted(gateway):
    filler = 64 * 1024 - len('{"blob":""}')
    assert gateway.create({"context": {"blob": "x" * filler}}).status == 201


def test_body_over_256_kib_is_413(gateway):
    refused = gateway.request("POST", "/v1/sessions", raw=b'{"title": "' + b"x" * (256 * 1024) + b'"}')
    assert refused.status == 413
    assert refused.body["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b'{"title": "x",}',
        b'{"context": {"n": NaN}}',
        b'{"context": {"n": Infinity}}',
        b'{"title": "\\ud800"}',
        b"[" * 100_000,
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_are_400(gateway, raw):
    refused = gateway.request("POST", "/v1/sessions", raw=raw)
    assert refused.status == 400, refused.body
    assert refused.body["code"] == "malformed_request"
    assert refused.headers["content-type"] == "application/problem+json"


def test_empty_body_creates_with_defaults(gateway):
    assert gateway.request("POST", "/v1/sessions", raw=b"").status == 201


def test_missing_user_is_401(gateway):
    refused = gateway.create({}, user=None)
    assert refused.status == 401
    assert refused.body["code"] == "unauthenticated"


def test_missing_tenant_means_default_on_the_local_stack(gateway):
    # the dev server's stack is single-tenant (DefaultTenant=default); test_identity has the deployed default
    assert gateway.create({}, tenant=None).body["tenant_id"] == "default"


def test_title_is_sanitized(gateway):
    created = gateway.create({"title": "  \u202eCode\u200b  \t review\u0000 \ufeff"})
    assert created.body["title"] == "Code review"


@pytest.mark.parametrize(
    "value",
    [
        0.1,
        1e-130,
        -0.5,
        1e37,
        2.0,
        12345678901234567890123456789012345678,
        -(10**37),
        3,
        True,
        None,
        "0.1",
    ],
)
def test_numbers_round_trip_exactly(gateway, value):
    created = gateway.create({"context": {"n": value, "nested": [{"n": value}]}, "checkpoint": {"n": value}})
    assert created.status == 201, created.body
    got = gateway.request("GET", f"/v1/sessions/{created.body['session_id']}").body
    # JSON has one number type: an integral float may come back as an integer, equal in value
    assert same_json(got["context"], {"n": value, "nested": [{"n": value}]})
    if isinstance(value, float) and not value.is_integer():
        assert type(got["context"]["n"]) is float
    assert same_json(got["checkpoint"], {"n": value})


# an integral number (2.0 and 1e20 too) must fit 38 digits: 1e38 and 9.99e125 do not
@pytest.mark.parametrize("value", [1e-131, 1e126, 9.99e125, 1e39, 123456789012345678901234567890123456789, 10**50])
def test_numbers_dynamodb_cannot_hold_exactly_are_422(gateway, value):
    refused = gateway.create({"context": {"n": value}})
    assert refused.status == 422
    assert refused.body["code"] == "validation_error"


def test_nesting_deeper_than_dynamodb_allows_is_422(gateway):
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    assert gateway.create({"context": deep}).status == 422

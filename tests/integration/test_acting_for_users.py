"""Role `service` acts for the users of its own tenant; everyone else acts as themselves.

`user_id` (query parameter on every session and event endpoint, body field on create) names the
user a request acts for. A service caller may name any user of its tenant, an admin may name
another user to read, anyone else only themselves (403 otherwise, before anything is looked up).
The tenant never comes from the request: another tenant's session stays 404.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import publish

SERVICE = {"user": "svc-orchestrator", "roles": ["service"]}


def as_service(gateway, method: str, path: str, body: Any = None, *, for_user: str | None, **kwargs: Any):
    query = kwargs.pop("query", "")
    if for_user is not None:
        query = "&".join(part for part in (query, f"user_id={for_user}") if part)
    return gateway.request(method, path, body, query=query, **{**SERVICE, **kwargs})


def test_a_service_acts_for_a_user_on_every_endpoint(gateway, table):
    created = gateway.create({"session_id": "for-bob", "user_id": "bob", "title": "Made for bob"}, **SERVICE)
    assert created.status == 201, created.body
    assert (created.body["user_id"], created.body["tenant_id"]) == ("bob", "acme")
    path = "/v1/sessions/for-bob"

    read = as_service(gateway, "GET", path, for_user="bob")
    assert read.status == 200 and read.body == created.body
    patched = as_service(gateway, "PATCH", path, {"title": "Changed for bob"}, for_user="bob")
    assert patched.status == 200 and patched.body["title"] == "Changed for bob"
    appended = as_service(gateway, "POST", f"{path}/events", {"type": "message", "content": "hi"}, for_user="bob")
    assert appended.status == 201 and appended.body["seq"] == 1
    history = as_service(gateway, "GET", f"{path}/history", for_user="bob")
    assert history.status == 200 and [e["content"] for e in history.body["events"]] == ["hi"]
    listed = as_service(gateway, "GET", "/v1/sessions", for_user="bob")
    assert listed.status == 200 and [s["session_id"] for s in listed.body["sessions"]] == ["for-bob"]
    stats = as_service(gateway, "GET", "/v1/sessions/stats", for_user="bob")
    assert stats.status == 200 and stats.body["sessions"]["active"] == 1 and stats.body["events_total"] == 1

    # bob sees what the service did for him, as his own
    mine = gateway.request("GET", path, user="bob")
    assert mine.status == 200 and mine.body["title"] == "Changed for bob" and mine.body["usage"]["event_count"] == 1
    # the service's own sessions are not bob's
    assert as_service(gateway, "GET", "/v1/sessions", for_user=None).body["sessions"] == []

    assert as_service(gateway, "DELETE", path, for_user="bob").status == 204
    assert gateway.request("GET", path, user="bob").status == 404


def test_session_items_record_who_created_and_who_last_changed_them(gateway, table):
    gateway.create({"session_id": "s", "user_id": "bob"}, **SERVICE)
    item = table.get_item(Key={"PK": "T#acme#S#s", "SK": "#SESSION"})["Item"]
    assert (item["user_id"], item["created_by"], item["updated_by"]) == ("bob", "svc-orchestrator", "svc-orchestrator")
    gateway.request("PATCH", "/v1/sessions/s", {"title": "bob's own words"}, user="bob")
    item = table.get_item(Key={"PK": "T#acme#S#s", "SK": "#SESSION"})["Item"]
    assert (item["created_by"], item["updated_by"]) == ("svc-orchestrator", "bob")
    as_service(gateway, "POST", "/v1/sessions/s/events", {"type": "message"}, for_user="bob")
    item = table.get_item(Key={"PK": "T#acme#S#s", "SK": "#SESSION"})["Item"]
    assert item["updated_by"] == "svc-orchestrator"
    # the principals are the store's record, not part of the resource
    assert "created_by" not in gateway.request("GET", "/v1/sessions/s", user="bob").body


def test_a_service_without_user_id_acts_as_itself(gateway):
    created = gateway.create({"session_id": "own"}, **SERVICE)
    assert created.status == 201 and created.body["user_id"] == "svc-orchestrator"
    assert gateway.request("GET", "/v1/sessions/own", user="bob").status == 404


def test_naming_oneself_is_allowed_without_any_role(gateway):
    assert gateway.create({"session_id": "mine", "user_id": "u-1"}).status == 201
    assert gateway.request("GET", "/v1/sessions/mine", query="user_id=u-1").status == 200
    patched = gateway.request("PATCH", "/v1/sessions/mine", {"title": "t"}, query="user_id=u-1")
    assert patched.status == 200


NAMING_ANOTHER_USER = [
    ("GET", "/v1/sessions/bobs", None),
    ("PATCH", "/v1/sessions/bobs", {"title": "hijacked"}),
    ("DELETE", "/v1/sessions/bobs", None),
    ("POST", "/v1/sessions/bobs/events", {"type": "message"}),
    ("GET", "/v1/sessions/bobs/history", None),
    ("GET", "/v1/sessions", None),
    ("GET", "/v1/sessions/stats", None),
    ("GET", "/v1/sessions/no-such-session", None),  # 403 before anything is looked up: no existence is revealed
]


@pytest.mark.parametrize(("method", "path", "body"), NAMING_ANOTHER_USER)
def test_without_the_service_role_naming_another_user_is_403(gateway, table, method, path, body):
    assert gateway.create({"session_id": "bobs"}, user="bob").status == 201
    before = table.scan()["Items"]
    refused = gateway.request(method, path, body, query="user_id=bob", user="mallory", roles=["member"])
    assert refused.status == 403, refused.body
    assert refused.body["code"] == "forbidden" and refused.headers["content-type"] == "application/problem+json"
    assert table.scan()["Items"] == before


def test_creating_for_another_user_without_the_service_role_is_403(gateway, table):
    for roles in (None, ["admin"]):
        refused = gateway.create({"user_id": "bob"}, user="mallory", roles=roles)
        assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert table.scan()["Items"] == []


@pytest.mark.parametrize(
    "path", ["/v1/sessions/bobs", "/v1/sessions/bobs/history", "/v1/sessions", "/v1/sessions/stats"]
)
def test_an_admin_may_name_another_user_to_read(gateway, path):
    gateway.create({"session_id": "bobs"}, user="bob")
    read = gateway.request("GET", path, query="user_id=bob", user="boss", roles=["admin"])
    assert read.status == 200, read.body
    if path == "/v1/sessions":
        assert [s["session_id"] for s in read.body["sessions"]] == ["bobs"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/v1/sessions/bobs", {"title": "admin's words"}),
        ("DELETE", "/v1/sessions/bobs", None),
        ("POST", "/v1/sessions/bobs/events", {"type": "message"}),
    ],
)
def test_an_admin_may_not_name_another_user_to_write(gateway, table, method, path, body):
    gateway.create({"session_id": "bobs"}, user="bob")
    before = table.scan()["Items"]
    refused = gateway.request(method, path, body, query="user_id=bob", user="boss", roles=["admin"])
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert table.scan()["Items"] == before


def test_a_service_never_reaches_another_tenant(gateway, table):
    gateway.create({"session_id": "b-only"}, user="bob", tenant="beta")
    path = "/v1/sessions/b-only"
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"title": "x"}),
        ("POST", "/events", {"type": "message"}),
        ("GET", "/history", None),
    ):
        answer = as_service(gateway, method, path + suffix, body, for_user="bob", tenant="acme")
        assert answer.status == 404 and answer.body["code"] == "session_not_found", (method, suffix)
    assert as_service(gateway, "DELETE", path, for_user="bob", tenant="acme").status == 204  # nothing to delete
    assert as_service(gateway, "GET", "/v1/sessions", for_user="bob", tenant="acme").body["sessions"] == []
    assert gateway.request("GET", path, user="bob", tenant="beta").status == 200  # untouched
    # a session the service creates for bob is in the service's tenant, whatever bob's other tenants
    created = gateway.create({"user_id": "bob"}, tenant="acme", **SERVICE)
    assert created.body["tenant_id"] == "acme"


def test_a_service_acting_for_one_user_does_not_see_another_users_sessions(gateway):
    gateway.create({"session_id": "alices"}, user="alice")
    assert as_service(gateway, "GET", "/v1/sessions/alices", for_user="bob").status == 404
    assert as_service(gateway, "PATCH", "/v1/sessions/alices", {"title": "x"}, for_user="bob").status == 404
    assert as_service(gateway, "POST", "/v1/sessions/alices/events", {"type": "m"}, for_user="bob").status == 404


def test_a_create_naming_two_different_users_is_422(gateway, table):
    refused = gateway.create({"user_id": "bob"}, query="user_id=carol", **SERVICE)
    assert refused.status == 422 and refused.body["code"] == "validation_error"
    assert table.scan()["Items"] == []


def test_user_id_must_name_someone(gateway):
    refused = gateway.request("GET", "/v1/sessions", query="user_id=", **SERVICE)
    assert refused.status == 422
    assert gateway.create({"user_id": ""}, **SERVICE).status == 422


def test_the_open_session_cap_and_session_ids_are_the_named_users(gateway, monkeypatch):
    from tests.integration.conftest import set_env

    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="1")
    assert gateway.create({"user_id": "bob"}, **SERVICE).status == 201
    assert gateway.create({"user_id": "bob"}, **SERVICE).body["code"] == "session_limit_reached"
    assert gateway.create({"user_id": "carol", "session_id": "c"}, **SERVICE).status == 201
    # carol's id is taken for bob; carol's own retry returns hers
    assert gateway.create({"user_id": "bob", "session_id": "c"}, **SERVICE).status in (409, 429)
    assert gateway.create({"session_id": "c"}, user="carol").status == 200


def test_idempotency_keys_are_the_callers_own(gateway):
    key = {"idempotency-key": "k-1"}
    first = gateway.create({"session_id": "x"}, user="bob", headers=key)
    # the same key and body from the service acting for bob is another caller's request: it runs
    replay = gateway.create({"session_id": "x"}, headers=key, query="user_id=bob", **SERVICE)
    assert (first.status, replay.status) == (201, 200)  # bob's session, found by id, not replayed


def test_lifecycle_events_name_the_actor(gateway, stream, bus_queue, table):
    gateway.create({"session_id": "s", "user_id": "bob"}, **SERVICE)
    gateway.request("PATCH", "/v1/sessions/s", {"status": "paused"}, user="bob")
    as_service(gateway, "POST", "/v1/sessions/s/events", {"type": "message"}, for_user="bob")
    as_service(gateway, "DELETE", "/v1/sessions/s", for_user="bob")
    gateway.create({"session_id": "t"}, user="carol")
    table.delete_item(Key={"PK": "T#acme#S#t", "SK": "#SESSION"})  # what DynamoDB's TTL does
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    received = sorted(bus_queue(), key=lambda m: (m["detail"]["session_id"], m["detail"]["version"]))
    actors = [(m["detail"]["session_id"], m["detail-type"], m["detail"]["actor"]) for m in received]
    assert actors == [
        ("s", "session.created", "svc-orchestrator"),
        ("s", "session.paused", "bob"),
        ("s", "session.event_appended", "svc-orchestrator"),
        ("s", "session.deleted", "svc-orchestrator"),
        ("t", "session.created", "carol"),
        ("t", "session.expired", None),  # by TTL: no caller
    ]
    assert all(m["detail"]["user_id"] in ("bob", "carol") for m in received)
    # who wrote last is bookkeeping, not a changed field
    assert not any("updated_by" in m["detail"]["changed_fields"] for m in received)


def test_responses_log_who_called_and_for_whom(gateway):
    from sessions.http.app import logger

    gateway.create({"session_id": "s", "user_id": "bob"}, **SERVICE)
    keys = logger.get_current_keys()
    assert (keys["principal"], keys["user_id"]) == ("svc-orchestrator", "bob")
    gateway.request("GET", "/v1/sessions/s", user="bob")
    keys = logger.get_current_keys()
    assert (keys["principal"], keys["user_id"]) == ("bob", "bob")


def test_a_write_that_names_no_principal_leaves_no_stale_one(gateway, table):
    """A session write that does not stamp updated_by (a new use case that forgot written_by) removes it:
    its lifecycle event then says actor null, never the previous writer's name."""
    from sessions.usecases import access

    gateway.create({"session_id": "s", "user_id": "bob"}, **SERVICE)
    current = access.store().get_session("acme", "s")
    access.store().update_session(current, {"title": "unstamped"})
    item = table.get_item(Key={"PK": "T#acme#S#s", "SK": "#SESSION"})["Item"]
    assert "updated_by" not in item and item["created_by"] == "svc-orchestrator"

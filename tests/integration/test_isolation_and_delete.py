"""Who sees what: owner, other user, other tenant, tenant admin; and delete."""

from __future__ import annotations

import pytest


@pytest.fixture
def owned(gateway):
    created = gateway.create(
        {"session_id": "private", "title": "Owner's", "context": {"secret": "s3"}}, user="owner", tenant="acme"
    )
    assert created.status == 201
    return created.body


OTHERS = {
    "other user": {"user": "intruder", "tenant": "acme"},
    "other tenant": {"user": "owner", "tenant": "evil"},
    "other tenant's admin": {"user": "boss", "tenant": "evil", "roles": ["admin"]},
}


@pytest.mark.parametrize("who", OTHERS)
def test_others_get_404_on_read_and_change_and_nothing_changes(gateway, owned, who):
    caller = OTHERS[who]
    for method, body in (("GET", None), ("PATCH", {"title": "mine now"}), ("PATCH", {"status": "completed"})):
        response = gateway.request(method, "/v1/sessions/private", body, **caller)
        assert response.status == 404, (method, body)
        assert response.body["code"] == "session_not_found"
        assert "s3" not in str(response.body) and "owner" not in str(response.body)
    assert gateway.request("GET", "/v1/sessions/private", user="owner").body == owned


@pytest.mark.parametrize("who", OTHERS)
def test_others_deleting_get_204_and_the_session_survives(gateway, owned, who):
    assert gateway.request("DELETE", "/v1/sessions/private", **OTHERS[who]).status == 204
    assert gateway.request("GET", "/v1/sessions/private", user="owner").status == 200


def test_the_tenants_admin_may_read_but_not_change(gateway, owned):
    admin = {"user": "boss", "tenant": "acme", "roles": ["admin"]}
    read = gateway.request("GET", "/v1/sessions/private", **admin)
    assert read.status == 200 and read.body == owned
    assert gateway.request("PATCH", "/v1/sessions/private", {"title": "x"}, **admin).status == 404
    assert gateway.request("DELETE", "/v1/sessions/private", **admin).status == 204
    assert gateway.request("GET", "/v1/sessions/private", user="owner").body == owned


def test_roles_are_not_admin_by_substring(gateway, owned):
    assert gateway.request("GET", "/v1/sessions/private", user="x", roles=["administrator", "admins"]).status == 404


def test_tenant_ids_cannot_forge_another_tenants_keys(gateway, owned):
    # "acme#S#private" would build the key of acme's session without escaping
    forged = gateway.request("GET", "/v1/sessions/private", user="owner", tenant="acme#S#private")
    assert forged.status == 404


def test_delete_is_204_invisible_at_once_and_idempotent(gateway, owned, table):
    assert gateway.request("DELETE", "/v1/sessions/private", user="owner").status == 204
    assert gateway.request("GET", "/v1/sessions/private", user="owner").status == 404
    assert gateway.request("PATCH", "/v1/sessions/private", {"title": "x"}, user="owner").status == 404
    assert gateway.request("DELETE", "/v1/sessions/private", user="owner").status == 204
    item = table.get_item(Key={"PK": "T#acme#S#private", "SK": "#SESSION"})["Item"]
    assert item["deleted_at"] and item["expires_at"] == item["deleted_at"]  # queued for the cleanup's purge
    assert item["version"] == 2  # the second delete wrote nothing


def test_delete_of_an_unknown_id_is_204(gateway):
    assert gateway.request("DELETE", "/v1/sessions/never-existed").status == 204
    assert gateway.request("DELETE", "/v1/sessions/has%20space").status == 204


def test_an_expired_session_is_404_everywhere_while_its_item_is_still_in_the_table(gateway, table):
    created = gateway.create({"session_id": "short-lived"}).body
    key = {"PK": "T#acme#S#short-lived", "SK": "#SESSION"}
    table.update_item(
        Key=key,
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": "2020-01-01T00:00:00.000Z"},
    )
    assert gateway.request("GET", "/v1/sessions/short-lived").status == 404
    assert gateway.request("GET", "/v1/sessions/short-lived", user="boss", roles=["admin"]).status == 404
    assert gateway.request("PATCH", "/v1/sessions/short-lived", {"title": "x"}).status == 404
    assert gateway.request("DELETE", "/v1/sessions/short-lived").status == 204
    assert "Item" in table.get_item(Key=key)  # DynamoDB's TTL has not removed it, yet it is gone
    # and its id may be taken by a new session
    reborn = gateway.create({"session_id": "short-lived"})
    assert reborn.status == 201 and reborn.body["created_at"] >= created["created_at"]


def test_unknown_route_is_a_404_problem(gateway):
    from local.api.gateway import Route, http_api_event

    handler = gateway.handler("GetSessionFunction")
    event = http_api_event(
        method="GET", path="/v1/nothing", route=Route.of("GET", "/v1/nothing", "x"), claims={"sub": "u"}
    )
    from local.api.gateway import LambdaContext

    response = handler(event, LambdaContext("GetSessionFunction"))
    assert response["statusCode"] == 404
    assert '"route_not_found"' in response["body"]


def test_an_unexpected_failure_is_a_500_problem_without_internals(gateway, monkeypatch):
    from sessions.usecases.access import use_store

    class Broken:
        def get_session(self, *args, **kwargs):
            raise RuntimeError("DynamoDB said: secret table layout T#acme")

    use_store(Broken())  # type: ignore[arg-type]
    response = gateway.request("GET", "/v1/sessions/any")
    assert response.status == 500
    assert response.body["code"] == "internal_error"
    assert "secret" not in str(response.body) and "T#acme" not in str(response.body)

"""Who a request acts as (sessions.domain.identity.acting_for), and every session endpoint stating `user_id`."""

from __future__ import annotations

import json

import pytest

from local.generators.openapi import OPENAPI_PATH
from sessions.core.errors import Forbidden
from sessions.domain.identity import Identity, acting_for

USER = Identity("acme", "alice")
ADMIN = Identity("acme", "boss", frozenset({"admin"}))
SERVICE = Identity("acme", "svc", frozenset({"service"}))


def test_a_caller_is_its_own_principal():
    assert USER.principal == "alice" and Identity("acme", "bob", principal="svc").principal == "svc"


@pytest.mark.parametrize("reading", [True, False])
def test_naming_nobody_or_oneself_acts_as_oneself(reading):
    for identity in (USER, ADMIN, SERVICE):
        for named in (None, identity.principal):
            assert acting_for(identity, named, reading=reading) == identity


@pytest.mark.parametrize("reading", [True, False])
def test_a_service_acts_for_any_user_of_its_tenant(reading):
    acting = acting_for(SERVICE, "bob", reading=reading)
    assert (acting.tenant_id, acting.user_id, acting.principal, acting.roles) == ("acme", "bob", "svc", SERVICE.roles)


def test_an_admin_names_another_user_to_read_only():
    acting = acting_for(ADMIN, "bob", reading=True)
    assert (acting.user_id, acting.principal) == ("bob", "boss")
    with pytest.raises(Forbidden):
        acting_for(ADMIN, "bob", reading=False)


@pytest.mark.parametrize("reading", [True, False])
def test_anyone_else_naming_another_user_is_forbidden(reading):
    with pytest.raises(Forbidden):
        acting_for(USER, "bob", reading=reading)


def test_every_session_and_event_operation_states_user_id():
    """Handlers declare `user_id: ActingFor = None` (sessions.http.identity); create takes it in its body."""
    paths = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))["paths"]
    for path, item in paths.items():
        if not path.startswith("/v1/sessions"):
            continue
        for method, operation in item.items():
            if (method, path) == ("post", "/v1/sessions"):
                schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert schema.endswith("/CreateSessionRequest")
                continue
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert "user_id" in query, (method, path)
            assert "403" in operation["responses"], (method, path)

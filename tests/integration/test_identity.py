"""Who the caller is: a token must name its tenant, unless the stack is deployed single-tenant."""

from __future__ import annotations

import pytest

from local.stack.template import load_template
from tests.integration.conftest import set_env

TEMPLATE_PARAMETERS = load_template()["Parameters"]


def test_a_deployed_stack_refuses_tokens_without_the_tenant_claim_by_default():
    # the template's default, i.e. what `sam deploy` gives the functions unless told otherwise
    assert TEMPLATE_PARAMETERS["DefaultTenant"]["Default"] == ""


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/sessions"), ("GET", "/v1/sessions"), ("GET", "/v1/sessions/stats"), ("GET", "/v1/sessions/any")],
)
def test_a_token_without_the_tenant_claim_is_401_unauthenticated(gateway, monkeypatch, method, path):
    set_env(monkeypatch, DEFAULT_TENANT="")
    refused = gateway.request(method, path, {} if method == "POST" else None, tenant=None, roles=["admin"])
    assert refused.status == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.body["code"] == "unauthenticated"
    assert refused.body["type"] == "urn:sessions:problem:unauthenticated"
    assert "tenant_id" in refused.body["detail"]  # names the claim the stack expects


def test_an_admin_without_the_tenant_claim_reads_no_tenant_at_all(gateway, table, monkeypatch):
    """The issue: with a fallback tenant, every tenant's admin would share one tenant's sessions."""
    set_env(monkeypatch, DEFAULT_TENANT="")
    assert gateway.create({"title": "acme's"}, user="alice", tenant="acme").status == 201
    listed = gateway.request("GET", "/v1/sessions", user="mallory", tenant=None, roles=["admin"], query="user_id=alice")
    assert listed.status == 401
    assert not [item for item in table.scan()["Items"] if item["PK"].startswith("T#default#")]


def test_a_blank_tenant_claim_counts_as_missing(gateway, monkeypatch):
    set_env(monkeypatch, DEFAULT_TENANT="")
    assert gateway.create({}, tenant="   ").body["code"] == "unauthenticated"


def test_the_claim_is_the_one_the_stack_names(gateway, monkeypatch):
    # Cognito access tokens carry no custom claims: a pool that only puts custom:tenant_id in ID tokens
    set_env(monkeypatch, DEFAULT_TENANT="", TENANT_CLAIM="custom:tenant_id")
    refused = gateway.create({}, tenant="acme")  # the token names its tenant under another claim
    assert refused.status == 401
    assert "custom:tenant_id" in refused.body["detail"]


def test_with_default_tenant_set_a_token_without_the_claim_goes_to_that_tenant(gateway, monkeypatch):
    set_env(monkeypatch, DEFAULT_TENANT="solo")
    created = gateway.create({"session_id": "mine"}, tenant=None)
    assert created.status == 201, created.body
    assert created.body["tenant_id"] == "solo"
    # the same session, seen through a token that names the tenant
    assert gateway.request("GET", "/v1/sessions/mine", tenant="solo").body["tenant_id"] == "solo"
    assert gateway.request("GET", "/v1/sessions/mine", tenant="acme").status == 404


def test_a_tenant_claim_wins_over_the_default_tenant(gateway, monkeypatch):
    set_env(monkeypatch, DEFAULT_TENANT="solo")
    assert gateway.create({}, tenant="acme").body["tenant_id"] == "acme"


def test_without_a_user_the_caller_is_401_whatever_the_default_tenant(gateway, monkeypatch):
    set_env(monkeypatch, DEFAULT_TENANT="solo")
    assert gateway.create({}, user=None).body["code"] == "unauthenticated"


def test_no_caller_is_401_before_the_body_is_looked_at(gateway):
    """As API Gateway's authorizer answers deployed: an anonymous body is never parsed or judged."""
    for headers, raw in (({"content-type": "text/plain"}, b"hello"), ({}, b"{not json")):
        response = gateway.request("POST", "/v1/sessions", user=None, headers=headers, raw=raw)
        assert response.status == 401 and response.body["code"] == "unauthenticated"

"""DynamoDB round trips per request, counted through botocore's event hooks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from sessions import store
from sessions.domain.identity import Identity
from sessions.domain.models import UpdateSessionRequest
from sessions.usecases.session_writes import update_session
from tests.integration.conftest import concurrently


@pytest.fixture
def calls(gateway) -> Iterator[Counter]:
    counted: Counter = Counter()
    client = store.dynamodb_client()

    def count(model, **_):
        counted[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    yield counted
    client.meta.events.unregister("before-call.dynamodb", count)


def _measure(calls: Counter, action) -> dict[str, int]:
    calls.clear()
    action()
    return dict(calls)


def test_get_is_one_read(gateway, calls):
    sid = gateway.create({}).body["session_id"]
    assert _measure(calls, lambda: gateway.request("GET", f"/v1/sessions/{sid}")) == {"GetItem": 1}


def test_create_is_a_read_of_the_tenants_settings_and_one_transaction(gateway, calls):
    # the settings bound the session's TTL (docs/API.md, Tenant settings): read in the request, never cached
    once = {"GetItem": 1, "TransactWriteItems": 1}
    assert _measure(calls, lambda: gateway.create({"title": "t"})) == once
    assert _measure(calls, lambda: gateway.create({"session_id": "given"})) == once


def test_patch_is_a_read_and_one_write(gateway, calls):
    sid = gateway.create({}).body["session_id"]
    assert _measure(calls, lambda: gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "x"})) == {
        "GetItem": 1,
        "UpdateItem": 1,
    }
    # a status change that frees the open slot is still one write: a transaction
    assert _measure(calls, lambda: gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"})) == {
        "GetItem": 1,
        "TransactWriteItems": 1,
    }


def test_delete_is_at_most_two(gateway, calls):
    sid = gateway.create({}).body["session_id"]
    assert _measure(calls, lambda: gateway.request("DELETE", f"/v1/sessions/{sid}")) == {
        "GetItem": 1,
        "TransactWriteItems": 1,
    }
    assert _measure(calls, lambda: gateway.request("DELETE", f"/v1/sessions/{sid}")) == {"GetItem": 1}


def test_refused_requests_never_reach_dynamodb(gateway, calls):
    assert _measure(calls, lambda: gateway.create({"session_type": "BAD"})) == {}
    assert _measure(calls, lambda: gateway.request("GET", "/v1/sessions/-not-an-id")) == {}


def test_contended_patches_all_land_and_read_at_most_once_per_retry(gateway, calls):
    sid = gateway.create({}).body["session_id"]
    calls.clear()
    owner = Identity("acme", "u-1")
    results = concurrently(8, lambda i: update_session(owner, sid, UpdateSessionRequest(context={f"k{i}": i}), None))
    assert [status for status, _ in results] == [200] * 8
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["context"] == {f"k{i}": i for i in range(8)}
    retries = calls["UpdateItem"] - 8
    # each writer reads once, and again only before a retry that follows a back-off
    assert 8 <= calls["GetItem"] <= 8 + retries

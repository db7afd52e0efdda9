"""GET /v1/sessions over real HTTP on the dev server: every user's sessions of an app, order by last activity,
metadata filters, include_context, last_event_at (the indexes as template.yaml declares them, on the emulator)."""

from __future__ import annotations

import time
from urllib.parse import quote

from tests.e2e.client import Client
from tests.e2e.test_sessions_over_http import assert_problem


def _ids(reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [s["session_id"] for s in reply.json()["sessions"]]


def _create(client: Client, body: dict) -> dict:
    created = client.post("/v1/sessions", body)
    assert created.status == 201, created.body
    time.sleep(0.002)  # distinct milliseconds: the orders below are by time
    return created.json()


def test_a_service_lists_every_users_sessions_of_its_tenants_app(api: Client, tenant: str, user: str) -> None:
    app = "assistant"
    service = api.as_(user="svc", tenant=tenant, roles="service")
    admin = api.as_(user="boss", tenant=tenant, roles="admin")
    alice, bob = api.as_(user=user, tenant=tenant), api.as_(user=f"{user}-b", tenant=tenant)
    _create(alice, {"session_id": "a1", "app_name": app})
    _create(bob, {"session_id": "b1", "app_name": app})
    _create(alice, {"session_id": "a2", "app_name": "elsewhere"})
    _create(api.as_(user=user, tenant=f"{tenant}-other"), {"session_id": "x1", "app_name": app})

    path = f"/v1/apps/{app}/sessions"
    assert _ids(service.get(path)) == ["b1", "a1"]
    assert _ids(admin.get(path + "?order=asc")) == ["a1", "b1"]
    assert _ids(api.as_(user="svc", tenant=f"{tenant}-other", roles="service").get(path)) == ["x1"]
    assert_problem(alice.get(path), 403, "forbidden")
    assert_problem(service.get(path + f"?user_id={user}"), 422, "validation_error")


def test_order_by_activity_last_event_at_metadata_and_context(api: Client, tenant: str, user: str) -> None:
    alice = api.as_(user=user, tenant=tenant)
    for i in range(3):
        _create(alice, {"session_id": f"s{i}", "metadata": {"tier": "gold" if i else "free"}, "context": {"i": i}})
    assert alice.get("/v1/sessions/s0").json()["last_event_at"] is None
    appended = alice.post("/v1/sessions/s0/events", {"type": "message", "timestamp": "2024-01-02T03:04:05.678Z"})
    assert appended.status == 201, appended.body

    s0 = alice.get("/v1/sessions/s0").json()
    assert s0["last_event_at"] == "2024-01-02T03:04:05.678Z"
    assert _ids(alice.get("/v1/sessions?order_by=last_active_at")) == ["s0", "s2", "s1"]
    assert _ids(alice.get("/v1/sessions")) == ["s2", "s1", "s0"]
    assert _ids(alice.get("/v1/sessions?metadata=tier:gold")) == ["s2", "s1"]
    assert _ids(alice.get(f"/v1/sessions?metadata={quote('tier:gold')}&metadata=tier:free")) == []
    listed = alice.get("/v1/sessions?include_context=true&order_by=last_active_at").json()["sessions"]
    assert [(s["session_id"], s["context"], s["last_event_at"]) for s in listed] == [
        ("s0", {"i": 0}, "2024-01-02T03:04:05.678Z"),
        ("s2", {"i": 2}, None),
        ("s1", {"i": 1}, None),
    ]
    assert_problem(alice.get("/v1/sessions?metadata=nocolon"), 422, "validation_error")
    assert_problem(alice.get("/v1/sessions?order_by=title"), 422, "validation_error")

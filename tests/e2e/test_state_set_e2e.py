"""context_set and state_set over real HTTP on the dev server: JSON null stored and read back as null, atomically
with an append or a create, and refusals that change nothing."""

from __future__ import annotations

from typing import Any

from tests.e2e.client import Client
from tests.e2e.test_sessions_over_http import assert_problem

NESTED = {"none": None, "object": {"gone": None, "kept": 1}, "list": [None, {"inner": None}, [None]]}


def test_sets_store_null_with_an_append_and_a_batch(api: Client, tenant: str, user: str) -> None:
    service = api.as_(user="svc", tenant=tenant, roles="service")
    owner = api.as_(user=user, tenant=tenant)
    created = owner.post("/v1/sessions", {"app_name": "nulls", "context": {"profile": {"a": 1}, "top": None}})
    assert created.status == 201, created.body
    assert created.json()["context"] == {"profile": {"a": 1}, "top": None}
    sid = created.json()["session_id"]
    events = f"/v1/sessions/{sid}/events"
    user_state = f"/v1/apps/nulls/users/{user}/state"

    turn = {
        "type": "message",
        "content": "hello",
        "context_patch": {"profile": {"b": 2}},
        "context_set": {"profile": None, "nested": NESTED},
        "state_set": {"user": {"theme": None, "nested": NESTED}},
    }
    appended = owner.post(events, turn, headers={"If-Match": '"1"'})
    assert appended.status == 201, appended.body
    assert appended.headers["etag"] == '"2"'
    assert not {"context_set", "state_set", "context_patch"} & appended.json().keys()
    session = owner.get(f"/v1/sessions/{sid}")
    assert session.json()["context"] == {"profile": None, "top": None, "nested": NESTED}
    document = owner.get(user_state).json()
    assert document["state"] == {"theme": None, "nested": NESTED} and document["version"] == 1
    history = owner.get(f"/v1/sessions/{sid}/history?include_payload=true").json()
    assert history["events"][0]["content"] == "hello" and "state_set" not in history["events"][0]

    # a batch: patches and sets of each event in order; the app's part from a service acting for the user
    batch = {
        "events": [
            {"type": "m", "state_set": {"app": {"mode": None}, "user": {"theme": "dark"}}},
            {"type": "m", "state_patch": {"user": {"theme": None}}, "state_set": {"user": {"lang": None}}},
        ]
    }
    done = service.post(f"{events}?user_id={user}", batch)
    assert done.status == 201, done.body
    assert len(done.json()["events"]) == 2
    assert owner.get("/v1/apps/nulls/state").json()["state"] == {"mode": None}
    document = owner.get(user_state).json()
    assert document["state"] == {"nested": NESTED, "lang": None} and document["version"] == 2


def test_refused_sets_change_nothing(api: Client, tenant: str, user: str) -> None:
    owner = api.as_(user=user, tenant=tenant)
    sid = owner.post("/v1/sessions", {"app_name": "nulls", "context": {"k": 1}}).json()["session_id"]
    plain = owner.post("/v1/sessions", {}).json()["session_id"]
    events = f"/v1/sessions/{sid}/events"
    user_state = f"/v1/apps/nulls/users/{user}/state"
    owner.patch(user_state, {"big": "x" * 40_000})

    refusals: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
        (events, {"type": "m", "state_set": {"app": {"a": None}}}, {}, 403, "forbidden"),
        (
            f"/v1/sessions/{plain}/events",
            {"type": "m", "state_set": {"user": {"a": None}}},
            {},
            409,
            "session_has_no_app",
        ),
        (events, {"type": "m", "state_set": {"user": {"more": "y" * 40_000}}}, {}, 413, "payload_too_large"),
        (events, {"type": "m", "context_set": {"more": "y" * 70_000}}, {}, 413, "payload_too_large"),
        (events, {"type": "m", "context_set": {"bad": {"": None}}}, {}, 422, "validation_error"),
        (events, {"type": "m", "context_set": {"k": None}}, {"If-Match": '"9"'}, 412, "version_mismatch"),
    ]
    for path, body, headers, status, code in refusals:
        assert_problem(owner.post(path, body, headers=headers), status, code)
    session = owner.get(f"/v1/sessions/{sid}").json()
    assert session["context"] == {"k": 1} and session["version"] == 1 and session["usage"]["event_count"] == 0
    assert owner.get(user_state).json()["version"] == 1


def test_create_writes_state_in_its_transaction(api: Client, tenant: str, user: str) -> None:
    service = api.as_(user="svc", tenant=tenant, roles="service")
    owner = api.as_(user=user, tenant=tenant)
    body = {
        "session_id": "with-state",
        "app_name": "nulls",
        "user_id": user,
        "state_patch": {"user": {"p": 1, "q": {"r": 1}}},
        "state_set": {"app": {"a": None}, "user": {"q": None, "nested": NESTED}},
    }
    created = service.post("/v1/sessions", body)
    assert created.status == 201, created.body
    assert not {"state_set", "state_patch"} & created.json().keys()
    assert owner.get("/v1/apps/nulls/state").json()["state"] == {"a": None}
    document = owner.get(f"/v1/apps/nulls/users/{user}/state").json()
    assert document["state"] == {"p": 1, "q": None, "nested": NESTED} and document["version"] == 1
    # the same id again: 200, nothing written
    again = service.post("/v1/sessions", {**body, "state_set": {"app": {"a": 1}}})
    assert again.status == 200
    assert owner.get("/v1/apps/nulls/state").json() == service.get("/v1/apps/nulls/state").json()
    assert owner.get("/v1/apps/nulls/state").json()["state"] == {"a": None}
    # refused before anything is written
    assert_problem(owner.post("/v1/sessions", {"state_set": {"user": {"x": None}}}), 409, "session_has_no_app")
    assert_problem(
        owner.post("/v1/sessions", {"app_name": "nulls", "state_set": {"app": {"x": None}}}), 403, "forbidden"
    )
    initial = {"app_name": "nulls", "events": [{"type": "m", "state_set": {"user": {"x": None}}}]}
    assert_problem(owner.post("/v1/sessions", initial), 422, "validation_error")
    assert owner.get("/v1/sessions").json()["sessions"][0]["session_id"] == "with-state"
    assert len(owner.get("/v1/sessions").json()["sessions"]) == 1

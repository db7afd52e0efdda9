"""Set semantics beside merge patches: `context_set` and `state_set` store a key's value as given, JSON null
included, atomically with an append (one event or a batch) or a create; refused, they change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sessions.domain.identity import Identity
from sessions.usecases import state
from tests.integration.conftest import before_the_first_state_write, set_env

SERVICE = {"user": "svc", "roles": ["service"]}
ADMIN = {"user": "boss", "roles": ["admin"]}
APP_STATE = "/v1/apps/code-review/state"
# a value whose nulls sit at every depth: top level, in an object, in a list, in an object in a list
NESTED = {"none": None, "object": {"gone": None, "kept": 1}, "list": [None, {"inner": None}, [None]]}


def user_state(user: str = "u-1") -> str:
    return f"/v1/apps/code-review/users/{user}/state"


def session_in_app(gateway, **kwargs: Any) -> str:
    created = gateway.create({"app_name": "code-review", **kwargs.pop("body", {})}, **kwargs)
    assert created.status == 201, created.body
    return created.body["session_id"]


def append(gateway, sid: str, body: dict[str, Any], **kwargs: Any):
    return gateway.request("POST", f"/v1/sessions/{sid}/events", body, **kwargs)


def documents(gateway, user: str = "u-1") -> tuple[dict[str, Any], dict[str, Any]]:
    return gateway.request("GET", APP_STATE).body, gateway.request("GET", user_state(user), user=user).body


# --- context_set ----------------------------------------------------------------------------------


def test_context_set_stores_null_and_replaces_objects_wholesale(gateway, table):
    sid = session_in_app(gateway, body={"context": {"profile": {"a": 1, "b": 2}, "keep": "me", "count": 1}})
    appended = append(
        gateway,
        sid,
        {
            "type": "message",
            "context_patch": {"count": 2, "both": {"from": "patch"}},
            "context_set": {"profile": {"c": None}, "answer": None, "both": None, "nested": NESTED},
        },
    )
    assert appended.status == 201, appended.body
    assert "context_set" not in appended.body and "context_patch" not in appended.body
    expected = {
        "profile": {"c": None},  # replaced, not merged
        "keep": "me",
        "count": 2,
        "answer": None,
        "both": None,  # the patch first, then the set
        "nested": NESTED,
    }
    session = gateway.request("GET", f"/v1/sessions/{sid}")
    assert session.body["context"] == expected and session.etag == appended.etag == '"2"'
    # stored as DynamoDB NULLs, not left out
    item = table.get_item(Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"})["Item"]
    assert "answer" in item["context"] and item["context"]["answer"] is None
    history = gateway.request("GET", f"/v1/sessions/{sid}/history", query="include_payload=true").body
    assert "context_set" not in history["events"][0]
    # a later merge patch's null removes the key, as it always does
    assert append(gateway, sid, {"type": "message", "context_patch": {"answer": None}}).status == 201
    assert "answer" not in gateway.request("GET", f"/v1/sessions/{sid}").body["context"]


def test_a_creates_context_keeps_its_nulls(gateway):
    context = {"top": None, **NESTED}
    created = gateway.create({"context": context, "checkpoint": {"step": None}, "runtime_metadata": {"pod": None}})
    assert created.status == 201, created.body
    assert created.body["context"] == context and created.body["checkpoint"] == {"step": None}
    read = gateway.request("GET", f"/v1/sessions/{created.body['session_id']}").body
    assert read["context"] == context and read["runtime_metadata"] == {"pod": None}


def test_context_set_on_a_creates_initial_events(gateway):
    created = gateway.create(
        {"context": {"a": 1}, "events": [{"type": "m", "context_set": {"a": None}}, {"type": "m", "context_set": {}}]}
    )
    assert created.status == 201, created.body
    assert created.body["context"] == {"a": None}


# --- state_set ------------------------------------------------------------------------------------


def test_state_set_stores_null_in_both_documents_with_the_event(gateway):
    sid = session_in_app(gateway, body={"user_id": "bob"}, **SERVICE)
    gateway.request("PATCH", APP_STATE, {"mode": {"fast": True}, "kept": 1}, **SERVICE)
    appended = append(
        gateway,
        sid,
        {
            "type": "message",
            "state_patch": {"user": {"plan": {"tier": "pro"}}},
            "state_set": {"app": {"mode": None, "nested": NESTED}, "user": {"plan": None, "theme": None}},
        },
        query="user_id=bob",
        **SERVICE,
    )
    assert appended.status == 201, appended.body
    assert "state_set" not in appended.body
    app, bobs = documents(gateway, "bob")
    assert app["state"] == {"mode": None, "kept": 1, "nested": NESTED} and app["version"] == 2
    assert bobs["state"] == {"plan": None, "theme": None} and bobs["version"] == 1  # patch, then set: one write
    # a set that changes nothing writes nothing to that document
    again = append(gateway, sid, {"type": "m", "state_set": {"user": {"theme": None}}}, query="user_id=bob", **SERVICE)
    assert again.status == 201
    assert documents(gateway, "bob")[1]["version"] == 1
    # a merge patch's null still removes the key
    append(gateway, sid, {"type": "m", "state_patch": {"user": {"theme": None}}}, query="user_id=bob", **SERVICE)
    assert documents(gateway, "bob")[1]["state"] == {"plan": None}


def test_a_batch_applies_patches_and_sets_in_event_order(gateway):
    sid = session_in_app(gateway, body={"context": {"c": 0}})
    batch = {
        "events": [
            {"type": "m", "state_set": {"user": {"n": None, "x": 1}}, "context_set": {"c": None}},
            {"type": "m", "state_patch": {"user": {"n": 2}}, "context_patch": {"c": 1}},
            {"type": "m", "state_patch": {"user": {"x": None}}, "state_set": {"user": {"n": None, "m": [None]}}},
        ]
    }
    appended = append(gateway, sid, batch)
    assert appended.status == 201, appended.body
    assert all("state_set" not in event and "context_set" not in event for event in appended.body["events"])
    user = documents(gateway)[1]
    assert user["state"] == {"n": None, "m": [None]} and user["version"] == 1  # one write for the whole batch
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["context"] == {"c": 1}


def test_a_user_sets_their_own_state_but_not_the_apps(gateway, table):
    sid = session_in_app(gateway)
    assert append(gateway, sid, {"type": "m", "state_set": {"user": {"x": None}}}).status == 201
    assert documents(gateway)[1]["state"] == {"x": None}
    before = table.scan()["Items"]
    refused = append(gateway, sid, {"type": "m", "state_set": {"app": {"x": None}, "user": {"y": 1}}})
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert table.scan()["Items"] == before  # no event, no state
    admin_sid = session_in_app(gateway, **ADMIN)  # an admin's own session may set the app's state
    assert append(gateway, admin_sid, {"type": "m", "state_set": {"app": {"x": None}}}, **ADMIN).status == 201
    assert documents(gateway)[0]["state"] == {"x": None}


def test_state_set_needs_a_session_with_an_app_name(gateway, table):
    sid = gateway.create({}).body["session_id"]
    before = table.scan()["Items"]
    refused = append(gateway, sid, {"type": "m", "state_set": {"user": {"x": None}}})
    assert refused.status == 409 and refused.body["code"] == "session_has_no_app"
    assert "state_set" in refused.body["detail"]
    assert table.scan()["Items"] == before
    # a state_set with no part sets nothing: the append goes through
    assert append(gateway, sid, {"type": "m", "state_set": {"app": None}}).status == 201
    assert append(gateway, sid, {"type": "m", "state_set": {}}).status == 201


def test_a_refused_append_sets_nothing(gateway, table):
    sid = session_in_app(gateway, body={"token_budget": 10, "context": {"k": 1}})
    gateway.request("PATCH", user_state(), {"kept": True})
    changes = {"state_set": {"user": {"kept": None}}, "context_set": {"k": None}}
    over_budget = append(gateway, sid, {"type": "m", "usage": {"tokens": 11}, **changes})
    assert over_budget.status == 409 and over_budget.body["code"] == "token_budget_exceeded"
    # a batch is all or nothing: the second event's refusal undoes the first one's sets
    batch = {"events": [{"type": "m", **changes}, {"type": "m", "usage": {"tokens": 11}}]}
    assert append(gateway, sid, batch).body["code"] == "token_budget_exceeded"
    gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"})
    closed = append(gateway, sid, {"type": "m", **changes})
    assert closed.status == 409 and closed.body["code"] == "session_closed"
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert session["context"] == {"k": 1} and session["usage"]["event_count"] == 0
    document = documents(gateway)[1]
    assert document["state"] == {"kept": True} and document["version"] == 1


def test_the_64_kib_limit_holds_once_set(gateway):
    sid = session_in_app(gateway, body={"context": {"a": "x" * 40_000}})
    gateway.request("PATCH", user_state(), {"a": "x" * 40_000})
    for body in (
        {"type": "m", "context_set": {"b": "y" * 40_000}},
        {"type": "m", "state_set": {"user": {"b": "y" * 40_000}}},
        {"type": "m", "context_patch": {"a": None}, "state_set": {"user": {"b": "y" * 70_000}}},
    ):
        refused = append(gateway, sid, body)
        assert refused.status == 413 and refused.body["code"] == "payload_too_large", body
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert session["usage"]["event_count"] == 0 and set(session["context"]) == {"a"}
    assert set(documents(gateway)[1]["state"]) == {"a"}
    # replacing the large value keeps it within the limit: a set replaces, it does not add
    assert append(gateway, sid, {"type": "m", "context_set": {"a": None, "b": "y" * 40_000}}).status == 201
    assert append(gateway, sid, {"type": "m", "state_set": {"user": {"a": None, "b": "y" * 40_000}}}).status == 201


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"context_set": {"n": {"": None}}}, ["context_set"]),
        ({"context_set": {"n": 10**40}}, ["context_set"]),
        ({"state_set": {"user": {"n": [{"": 1}]}}}, ["state_set", "user"]),
        ({"state_set": {"app": {"f": 1e-200}}}, ["state_set", "app"]),
        ({"state_set": {"user": {"n": 1}, "other": {}}}, ["state_set", "other"]),
        ({"state_set": {"user": [None]}}, ["state_set", "user"]),
        ({"context_set": [None]}, ["context_set"]),
    ],
)
def test_what_a_set_may_hold_is_what_a_stored_object_may_hold(gateway, table, body, loc):
    sid = session_in_app(gateway, **SERVICE)
    before = table.scan()["Items"]
    refused = append(gateway, sid, {"type": "m", **body}, **SERVICE)
    assert refused.status == 422 and refused.body["code"] == "validation_error", refused.body
    assert refused.body["errors"][0]["loc"][: len(loc)] == loc
    assert table.scan()["Items"] == before


def test_an_unstorable_value_names_its_place_as_a_json_pointer(gateway):
    sid = session_in_app(gateway)
    refused = append(gateway, sid, {"type": "m", "state_set": {"user": {"a/b": {"list": [{"": None}]}}}})
    assert refused.status == 422
    assert "/a~1b/list/0" in refused.body["errors"][0]["msg"]


def test_if_match_holds_for_an_append_with_sets(gateway):
    sid = session_in_app(gateway)
    body = {"type": "m", "state_set": {"user": {"x": None}}, "context_set": {"y": None}}
    stale = append(gateway, sid, body, headers={"If-Match": '"7"'})
    assert stale.status == 412 and stale.body["current_version"] == 1
    assert documents(gateway)[1]["version"] == 0
    ok = append(gateway, sid, body, headers={"If-Match": '"1"'})
    assert ok.status == 201 and ok.etag == '"2"'
    assert documents(gateway)[1]["state"] == {"x": None}
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["context"] == {"y": None}


def test_a_document_changed_between_read_and_commit_replans_the_sets(gateway, monkeypatch):
    sid = session_in_app(gateway)
    raced = before_the_first_state_write(
        monkeypatch,
        lambda: state.update_user_state(Identity("acme", "u-1"), "code-review", "u-1", {"theirs": 1, "mine": 1}, None),
    )
    appended = append(gateway, sid, {"type": "m", "state_set": {"user": {"mine": None}}})
    assert appended.status == 201 and appended.body["seq"] == 1
    document = documents(gateway)[1]
    assert document["state"] == {"theirs": 1, "mine": None} and document["version"] == 2
    assert raced == [0]  # the race did happen, on the document as first read


# --- on create ------------------------------------------------------------------------------------


def test_create_writes_the_session_and_its_state_documents_in_one_transaction(gateway):
    body = {
        "session_id": "s-1",
        "app_name": "code-review",
        "user_id": "bob",
        "context": {"c": None},
        "state_patch": {"user": {"plan": {"tier": "pro"}, "p": 1}},
        "state_set": {"app": {"a": None, "nested": NESTED}, "user": {"plan": None}},
    }
    created = gateway.create(body, **SERVICE)
    assert created.status == 201, created.body
    assert "state_set" not in created.body and "state_patch" not in created.body
    assert created.body["context"] == {"c": None} and created.body["version"] == 1
    app, bobs = documents(gateway, "bob")
    assert app["state"] == {"a": None, "nested": NESTED} and app["version"] == 1
    assert bobs["state"] == {"plan": None, "p": 1} and bobs["version"] == 1
    # the same id again: 200 with the session as it is, and no state written
    again = gateway.create({**body, "state_set": {"app": {"a": "other"}, "user": {"plan": "x"}}}, **SERVICE)
    assert again.status == 200
    assert documents(gateway, "bob") == (app, bobs)
    read = gateway.request("GET", "/v1/sessions/s-1", user="bob").body
    assert "state_set" not in read and read["context"] == {"c": None}


def test_a_refused_create_writes_no_state(gateway, table, monkeypatch):
    # no app_name: the session cannot take state changes
    refused = gateway.create({"state_set": {"user": {"x": None}}})
    assert refused.status == 409 and refused.body["code"] == "session_has_no_app"
    refused = gateway.create({"state_patch": {"user": {"x": 1}}})
    assert refused.status == 409 and refused.body["code"] == "session_has_no_app"
    # the app's part needs role service or admin
    refused = gateway.create({"app_name": "code-review", "state_set": {"app": {"x": None}}})
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    # not on initial events
    initial = {"app_name": "code-review", "events": [{"type": "m", "state_set": {"user": {"x": None}}}]}
    refused = gateway.create(initial)
    assert refused.status == 422 and refused.body["errors"][0]["loc"][:3] == ["events", 0, "state_set"]
    # over 64 KiB once set
    refused = gateway.create({"app_name": "code-review", "state_set": {"user": {"x": "y" * 70_000}}})
    assert refused.status == 413
    assert table.scan()["Items"] == []
    # at the open-session cap the create is refused whole: its state documents are not written either
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="1")
    assert gateway.create({"app_name": "code-review"}).status == 201
    before = table.scan()["Items"]
    capped = gateway.create({"app_name": "code-review", "state_set": {"user": {"x": None}}})
    assert capped.status == 429 and capped.body["code"] == "session_limit_reached"
    assert table.scan()["Items"] == before
    assert documents(gateway)[1]["version"] == 0


def test_a_create_whose_document_changed_meanwhile_plans_it_again(gateway, monkeypatch):
    raced = before_the_first_state_write(
        monkeypatch, lambda: state.update_user_state(Identity("acme", "u-1"), "code-review", "u-1", {"theirs": 1}, None)
    )
    created = gateway.create({"app_name": "code-review", "state_set": {"user": {"mine": None}}})
    assert created.status == 201, created.body
    document = documents(gateway)[1]
    assert document["state"] == {"theirs": 1, "mine": None} and document["version"] == 2
    assert raced == [0]

"""App- and user-scoped state documents: who reads and writes them, merge patches, If-Match, races,
and state_patch applied with an append in one transaction."""

from __future__ import annotations

import pytest

from sessions.domain.identity import Identity
from sessions.usecases import state
from tests.integration.conftest import before_the_first_state_write, concurrently

SERVICE = {"user": "svc", "roles": ["service"]}
ADMIN = {"user": "boss", "roles": ["admin"]}
APP = "/v1/apps/code-review/state"


def user_state(user: str, app: str = "code-review") -> str:
    return f"/v1/apps/{app}/users/{user}/state"


# --- reading and writing ------------------------------------------------------------------------


def test_a_never_written_document_reads_as_empty_at_version_0(gateway):
    app = gateway.request("GET", APP)
    assert app.status == 200 and app.etag == '"0"'
    assert app.body == {"app_name": "code-review", "state": {}, "version": 0, "updated_at": None}
    mine = gateway.request("GET", user_state("u-1"))
    assert mine.status == 200
    assert mine.body == {"app_name": "code-review", "user_id": "u-1", "state": {}, "version": 0, "updated_at": None}


def test_app_state_is_merge_patched_by_a_service_and_read_by_anyone_of_the_tenant(gateway, table):
    first = gateway.request("PATCH", APP, {"model": "large", "limits": {"tokens": 100, "tools": 3}}, **SERVICE)
    assert first.status == 200, first.body
    assert first.etag == '"1"' and first.body["version"] == 1 and first.body["updated_at"]
    second = gateway.request("PATCH", APP, {"limits": {"tools": None, "depth": 2}, "model": None}, **ADMIN)
    assert second.body["state"] == {"limits": {"tokens": 100, "depth": 2}} and second.body["version"] == 2
    read = gateway.request("GET", APP, user="anyone")
    assert read.status == 200 and read.body == second.body and read.etag == '"2"'
    item = table.get_item(Key={"PK": "T#acme#APP#code-review", "SK": "#STATE"})["Item"]
    assert item["updated_by"] == "boss" and item["version"] == 2
    # another tenant's app of the same name is another document
    assert gateway.request("GET", APP, tenant="beta").body["version"] == 0


@pytest.mark.parametrize("roles", [None, ["member"]])
def test_app_state_is_not_written_by_users(gateway, table, roles):
    refused = gateway.request("PATCH", APP, {"model": "mine"}, roles=roles)
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert table.scan()["Items"] == []


def test_a_user_reads_and_writes_their_own_state(gateway, table):
    changed = gateway.request("PATCH", user_state("u-1"), {"language": "en", "seen": [1, 2]})
    assert changed.status == 200 and changed.body["user_id"] == "u-1" and changed.body["version"] == 1
    assert gateway.request("GET", user_state("u-1")).body["state"] == {"language": "en", "seen": [1, 2]}
    item = table.get_item(Key={"PK": "T#acme#APP#code-review#U#u-1", "SK": "#STATE"})["Item"]
    assert item["updated_by"] == "u-1"
    # per app and per user
    assert gateway.request("GET", user_state("u-1", app="other")).body["version"] == 0
    assert gateway.request("GET", user_state("u-2"), user="u-2").body["version"] == 0


def test_a_service_reads_and_writes_any_users_state_of_its_tenant(gateway, table):
    changed = gateway.request("PATCH", user_state("bob"), {"plan": "pro"}, **SERVICE)
    assert changed.status == 200 and changed.body["state"] == {"plan": "pro"}
    assert gateway.request("GET", user_state("bob"), **SERVICE).body["state"] == {"plan": "pro"}
    assert gateway.request("GET", user_state("bob"), user="bob").body["state"] == {"plan": "pro"}
    item = table.get_item(Key={"PK": "T#acme#APP#code-review#U#bob", "SK": "#STATE"})["Item"]
    assert item["updated_by"] == "svc"
    # never another tenant's: the same user id in tenant beta has its own document
    assert gateway.request("GET", user_state("bob"), user="bob", tenant="beta").body["version"] == 0


def test_another_users_state_is_403_except_for_admins_reading(gateway, table):
    gateway.request("PATCH", user_state("bob"), {"secret": 1}, user="bob")
    before = table.scan()["Items"]
    for method, body in (("GET", None), ("PATCH", {"secret": 2})):
        refused = gateway.request(method, user_state("bob"), body, user="mallory")
        assert refused.status == 403 and refused.body["code"] == "forbidden", method
    assert gateway.request("GET", user_state("bob"), **ADMIN).body["state"] == {"secret": 1}
    refused = gateway.request("PATCH", user_state("bob"), {"secret": 3}, **ADMIN)
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert table.scan()["Items"] == before


def test_a_patch_that_changes_nothing_writes_nothing(gateway):
    gateway.request("PATCH", user_state("u-1"), {"a": 1})
    same = gateway.request("PATCH", user_state("u-1"), {"a": 1, "gone": None})
    assert same.status == 200 and same.body["version"] == 1
    # 1 and true are different JSON
    assert gateway.request("PATCH", user_state("u-1"), {"a": True}).body["version"] == 2


# --- If-Match -----------------------------------------------------------------------------------


def test_if_match_is_compare_and_set_on_the_version(gateway):
    created = gateway.request("PATCH", user_state("u-1"), {"n": 1}, headers={"If-Match": '"0"'})
    assert created.status == 200 and created.etag == '"1"'
    again = gateway.request("PATCH", user_state("u-1"), {"n": 2}, headers={"If-Match": '"0"'})
    assert again.status == 412 and again.body["code"] == "version_mismatch" and again.body["current_version"] == 1
    ok = gateway.request("PATCH", user_state("u-1"), {"n": 2}, headers={"If-Match": created.etag})
    assert ok.status == 200 and ok.body["state"] == {"n": 2} and ok.etag == '"2"'
    stale = gateway.request("PATCH", APP, {"n": 1}, headers={"If-Match": '"3"'}, **SERVICE)
    assert stale.status == 412 and stale.body["current_version"] == 0
    assert gateway.request("PATCH", user_state("u-1"), {"n": 3}, headers={"If-Match": "*"}).status == 200
    assert gateway.request("PATCH", user_state("u-1"), {"n": 4}, headers={"If-Match": '"x"'}).status == 412


def test_if_match_loses_a_race_with_412_and_the_current_version(gateway, monkeypatch):
    """Between the read and the conditioned write another writer wins: no retry for a conditioned write."""
    from sessions.usecases import access

    store = access.store()
    original = store.get_state

    def read_then_someone_writes(key):
        document = original(key)
        monkeypatch.setattr(store, "get_state", original)
        state.update_user_state(Identity("acme", "u-1"), "code-review", "u-1", {"other": True}, None)
        return document

    monkeypatch.setattr(store, "get_state", read_then_someone_writes)
    lost = gateway.request("PATCH", user_state("u-1"), {"mine": True}, headers={"If-Match": '"0"'})
    assert lost.status == 412 and lost.body["current_version"] == 1
    assert gateway.request("GET", user_state("u-1")).body["state"] == {"other": True}


# --- what a document may hold -------------------------------------------------------------------


def test_size_and_storable_rules_are_those_of_context(gateway, table):
    too_big = gateway.request("PATCH", user_state("u-1"), {"blob": "x" * (64 * 1024)})
    assert too_big.status == 413 and too_big.body["code"] == "payload_too_large"
    # two patches each within the limit, merged past it
    assert gateway.request("PATCH", user_state("u-1"), {"a": "x" * 40_000}).status == 200
    merged_too_big = gateway.request("PATCH", user_state("u-1"), {"b": "y" * 40_000})
    assert merged_too_big.status == 413 and merged_too_big.body["code"] == "payload_too_large"
    for patch in ({"": 1}, {"n": 10**40}, {"f": 1e-200}):
        refused = gateway.request("PATCH", user_state("u-1"), patch)
        assert refused.status == 422 and refused.body["code"] == "validation_error", patch
    for body in ([1, 2], "text", 3):
        assert gateway.request("PATCH", user_state("u-1"), body).status == 422, body
    assert gateway.request("GET", user_state("u-1")).body["version"] == 1


def test_names_are_checked(gateway):
    assert gateway.request("GET", "/v1/apps/bad%20name/state").status == 422
    assert gateway.request("PATCH", "/v1/apps/-x/state", {"a": 1}, **SERVICE).status == 422


def test_numbers_and_nesting_read_back_equal(gateway):
    document = {"int": 12345678901234567890, "float": 0.1, "list": [True, None, "s", {"deep": {"er": [1.5]}}]}
    gateway.request("PATCH", user_state("u-1"), document)
    assert gateway.request("GET", user_state("u-1")).body["state"] == document


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_patches_of_one_document_lose_nothing(gateway):
    writer = Identity("acme", "svc", frozenset({"service"}))
    results = concurrently(12, lambda i: state.update_app_state(writer, "code-review", {f"k{i}": i}, None))
    assert all(status == 200 for status, _ in results), results
    final = gateway.request("GET", APP).body
    assert final["state"] == {f"k{i}": i for i in range(12)}
    assert final["version"] == 12
    assert sorted(result["version"] for _, result in results) == list(range(1, 13))


def test_concurrent_patches_with_if_match_have_one_winner(gateway):
    owner = Identity("acme", "u-1")
    results = concurrently(8, lambda i: state.update_user_state(owner, "code-review", "u-1", {"winner": i}, 0))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * 7
    assert gateway.request("GET", user_state("u-1")).body["version"] == 1


# --- state_patch on append ----------------------------------------------------------------------


def session_in_app(gateway, **kwargs) -> str:
    created = gateway.create({"app_name": "code-review", **kwargs.pop("body", {})}, **kwargs)
    assert created.status == 201, created.body
    return created.body["session_id"]


def test_state_patch_changes_both_documents_with_the_event(gateway):
    sid = session_in_app(gateway, body={"user_id": "bob"}, **SERVICE)
    appended = gateway.request(
        "POST",
        f"/v1/sessions/{sid}/events",
        {"type": "message", "state_patch": {"app": {"turns": 1}, "user": {"last_session": sid}}},
        query="user_id=bob",
        **SERVICE,
    )
    assert appended.status == 201, appended.body
    assert "state_patch" not in appended.body
    assert gateway.request("GET", APP).body["state"] == {"turns": 1}
    bobs = gateway.request("GET", user_state("bob"), user="bob").body
    assert bobs["state"] == {"last_session": sid} and bobs["version"] == 1
    history = gateway.request("GET", f"/v1/sessions/{sid}/history", user="bob", query="include_payload=true")
    assert "state_patch" not in history.body["events"][0]


def test_a_user_patches_their_own_state_but_not_the_apps_with_an_append(gateway, table):
    sid = session_in_app(gateway)
    ok = gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "m", "state_patch": {"user": {"x": 1}}})
    assert ok.status == 201
    assert gateway.request("GET", user_state("u-1")).body["state"] == {"x": 1}
    before = table.scan()["Items"]
    refused = gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "m", "state_patch": {"app": {"x": 1}}})
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert table.scan()["Items"] == before  # no event, no state
    admin_sid = session_in_app(gateway, **ADMIN)  # an admin's own session may patch the app's state
    path = f"/v1/sessions/{admin_sid}/events"
    assert gateway.request("POST", path, {"type": "m", "state_patch": {"app": {"x": 2}}}, **ADMIN).status == 201


def test_state_patch_needs_a_session_with_an_app_name(gateway, table):
    sid = gateway.create({}).body["session_id"]
    before = table.scan()["Items"]
    refused = gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "m", "state_patch": {"user": {"x": 1}}})
    # a valid request the session refuses (its app_name is fixed at create): 409, like session_closed
    assert refused.status == 409 and refused.body["code"] == "session_has_no_app"
    assert table.scan()["Items"] == before
    # a state_patch with no part patches nothing: the append goes through
    empty = gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "m", "state_patch": {"app": None}})
    assert empty.status == 201


def test_a_refused_append_leaves_state_unchanged(gateway):
    sid = session_in_app(gateway, body={"token_budget": 10})
    gateway.request("PATCH", user_state("u-1"), {"kept": True})
    over_budget = {"type": "m", "usage": {"tokens": 11}, "state_patch": {"user": {"kept": False, "new": 1}}}
    refused = gateway.request("POST", f"/v1/sessions/{sid}/events", over_budget)
    assert refused.status == 409 and refused.body["code"] == "token_budget_exceeded"
    gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "completed"})
    closed = gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "m", "state_patch": {"user": {"n": 1}}})
    assert closed.status == 409 and closed.body["code"] == "session_closed"
    too_big = {"type": "m", "state_patch": {"user": {"blob": "x" * 66_000}}}
    sid2 = session_in_app(gateway)
    refused = gateway.request("POST", f"/v1/sessions/{sid2}/events", too_big)
    assert refused.status == 413 and refused.body["code"] == "payload_too_large"
    assert gateway.request("GET", f"/v1/sessions/{sid2}").body["usage"]["event_count"] == 0
    document = gateway.request("GET", user_state("u-1")).body
    assert document["state"] == {"kept": True} and document["version"] == 1


def test_state_patch_is_not_accepted_on_a_creates_initial_events(gateway, table):
    refused = gateway.create({"app_name": "code-review", "events": [{"type": "m", "state_patch": {"user": {"x": 1}}}]})
    assert refused.status == 422
    assert table.scan()["Items"] == []


def test_appends_racing_state_patches_and_patches_lose_nothing(gateway):
    """Appends with state_patch and plain PATCHes of the same documents, at once: every change lands."""
    from sessions.domain.models import AppendEventRequest
    from sessions.usecases.events import append_event

    owner = Identity("acme", "u-1")
    sid = session_in_app(gateway)

    def write(i: int):
        if i % 2:
            request = AppendEventRequest.model_validate({"type": "m", "state_patch": {"user": {f"a{i}": i}}})
            return append_event(owner, sid, request)
        return state.update_user_state(owner, "code-review", "u-1", {f"p{i}": i}, None)

    results = concurrently(10, write)
    assert all(status == 200 for status, _ in results), results
    document = gateway.request("GET", user_state("u-1")).body
    assert document["state"] == {(f"a{i}" if i % 2 else f"p{i}"): i for i in range(10)}
    assert document["version"] == 10
    events = gateway.request("GET", f"/v1/sessions/{sid}/history").body["events"]
    assert [event["seq"] for event in events] == [1, 2, 3, 4, 5]


def test_a_state_document_changed_between_read_and_commit_replans_the_append(gateway, monkeypatch):
    sid = session_in_app(gateway)
    raced = before_the_first_state_write(
        monkeypatch, lambda: state.update_user_state(Identity("acme", "u-1"), "code-review", "u-1", {"theirs": 1}, None)
    )
    appended = gateway.request(
        "POST", f"/v1/sessions/{sid}/events", {"type": "m", "state_patch": {"user": {"mine": 1}}}
    )
    assert appended.status == 201 and appended.body["seq"] == 1
    document = gateway.request("GET", user_state("u-1")).body
    assert document["state"] == {"theirs": 1, "mine": 1} and document["version"] == 2
    assert raced == [0]  # the race did happen, on the document as first read
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["usage"]["event_count"] == 1


def test_state_documents_reach_no_lifecycle_event(gateway, stream, bus_queue):
    from tests.integration.conftest import publish

    gateway.request("PATCH", APP, {"a": 1}, **SERVICE)
    gateway.request("PATCH", user_state("u-1"), {"b": 1})
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    assert bus_queue() == []


def test_an_unstorable_state_patch_on_an_append_names_where_it_is(gateway):
    assert gateway.create({"session_id": "loc", "app_name": "app"}).status == 201
    answer = gateway.request(
        "POST", "/v1/sessions/loc/events", {"type": "message", "state_patch": {"user": {"n": {"": 1}}}}
    )
    assert answer.status == 422, answer.body
    assert answer.body["errors"][0]["loc"][:2] == ["state_patch", "user"]

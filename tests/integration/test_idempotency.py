"""Idempotency-Key on create and append."""

from __future__ import annotations


def test_create_retry_with_the_same_key_and_body_replays_the_first_response(gateway):
    first = gateway.create({"title": "once"}, headers={"idempotency-key": "k-1"})
    again = gateway.create({"title": "once"}, headers={"idempotency-key": "k-1"})
    assert first.status == again.status == 201
    assert again.body == first.body and again.headers["location"] == first.headers["location"]
    listed = gateway.request("GET", "/v1/sessions").body["sessions"]
    assert [s["session_id"] for s in listed] == [first.body["session_id"]]


def test_same_key_with_another_body_is_409_and_creates_nothing(gateway):
    gateway.create({"title": "once"}, headers={"idempotency-key": "k-2"})
    reused = gateway.create({"title": "twice"}, headers={"idempotency-key": "k-2"})
    assert reused.status == 409 and reused.body["code"] == "idempotency_key_reused"
    assert len(gateway.request("GET", "/v1/sessions").body["sessions"]) == 1


def test_keys_are_scoped_to_the_caller(gateway):
    mine = gateway.create({"title": "same"}, headers={"idempotency-key": "shared"})
    theirs = gateway.create({"title": "same"}, headers={"idempotency-key": "shared"}, user="other")
    other_tenant = gateway.create({"title": "different"}, headers={"idempotency-key": "shared"}, tenant="evil")
    assert theirs.status == 201 and theirs.body["session_id"] != mine.body["session_id"]
    assert theirs.body["user_id"] == "other"
    assert other_tenant.status == 201


def test_append_retry_is_replayed_once_and_the_history_holds_one_event(gateway):
    sid = gateway.create({}).body["session_id"]
    path = f"/v1/sessions/{sid}/events"
    body = {"type": "message", "content": "hi", "usage": {"tokens": 5}}
    first = gateway.request("POST", path, body, headers={"idempotency-key": "turn-1"})
    again = gateway.request("POST", path, body, headers={"idempotency-key": "turn-1"})
    assert first.status == again.status == 201 and again.body == first.body
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert session["usage"]["event_count"] == 1 and session["usage"]["tokens_used"] == 5
    reused = gateway.request("POST", path, {**body, "content": "other"}, headers={"idempotency-key": "turn-1"})
    assert reused.status == 409 and reused.body["code"] == "idempotency_key_reused"


def test_the_same_append_key_on_another_session_is_another_request(gateway):
    one, two = (gateway.create({}).body["session_id"] for _ in range(2))
    body = {"type": "message"}
    a = gateway.request("POST", f"/v1/sessions/{one}/events", body, headers={"idempotency-key": "k"})
    b = gateway.request("POST", f"/v1/sessions/{two}/events", body, headers={"idempotency-key": "k"})
    assert a.status == b.status == 201 and a.body["event_id"] != b.body["event_id"]


def test_failures_are_not_recorded_so_a_retry_runs_again(gateway):
    sid = gateway.create({"token_budget": 1}).body["session_id"]
    path = f"/v1/sessions/{sid}/events"
    refused = gateway.request("POST", path, {"type": "m", "usage": {"tokens": 2}}, headers={"idempotency-key": "r"})
    assert refused.status == 409 and refused.body["code"] == "token_budget_exceeded"
    gateway.request("PATCH", f"/v1/sessions/{sid}", {"token_budget": 10})
    retried = gateway.request("POST", path, {"type": "m", "usage": {"tokens": 2}}, headers={"idempotency-key": "r"})
    assert retried.status == 201


def test_bad_keys_are_422(gateway):
    refused = gateway.create({}, headers={"idempotency-key": "x" * 256})
    assert refused.status == 422 and refused.body["code"] == "validation_error"

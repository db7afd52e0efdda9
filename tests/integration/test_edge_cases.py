"""Edge cases a careful client (or attacker) hits: each once produced a wrong answer or a 500."""

from __future__ import annotations

import json

import pytest

from sessions import store
from sessions.core.clock import format_ms, now_ms
from tests.integration.conftest import set_env
from tests.integration.test_cleanup import backdate


def test_reusing_another_users_dead_id_counts_it_out_of_its_owners_stats_and_keeps_the_cap(gateway, table, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="1")
    assert gateway.create({"session_id": "x"}, user="alice").status == 201
    backdate(table, "x")
    assert gateway.create({"session_id": "b1"}, user="bob").status == 201
    assert gateway.create({"session_id": "x"}, user="bob").status == 429  # bob is at his cap
    gateway.request("PATCH", "/v1/sessions/b1", {"status": "completed"}, user="bob")
    assert gateway.create({"session_id": "x"}, user="bob").status == 201
    alice = gateway.request("GET", "/v1/sessions/stats", user="alice").body
    assert alice["expired_total"] == 1 and alice["sessions"]["active"] == 0
    assert gateway.create({}, user="alice").status == 201  # her slot came back


def test_the_cleanup_never_deletes_a_session_re_created_under_a_due_id(gateway, table):
    gateway.create({"session_id": "again"})
    backdate(table, "again")
    due = store.default_store().due_for_removal(
        store.expiry_bucket("T#acme#S#again", format_ms(now_ms() - 2 * 3_600_000)), format_ms(now_ms())
    )[0]
    assert [entry["session_id"] for entry in due] == ["again"]
    assert gateway.create({"session_id": "again", "title": "new"}).status == 201  # between read and delete
    assert store.default_store().delete_due_session(due[0], format_ms(now_ms())) is False
    assert gateway.request("GET", "/v1/sessions/again").body["title"] == "new"


@pytest.mark.parametrize("tag", ['"²"', '"' + "9" * 5000 + '"', '"1e3"'])
def test_odd_if_match_values_are_412_not_500(gateway, tag):
    sid = gateway.create({}).body["session_id"]
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "x"}, headers={"if-match": tag}).status == 412


@pytest.mark.parametrize("field", ["context", "checkpoint", "runtime_metadata"])
def test_deeply_nested_patches_are_refused_without_a_500(gateway, field):
    sid = gateway.create({}).body["session_id"]
    raw = ('{"' + field + '": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}").encode()
    refused = gateway.request("PATCH", f"/v1/sessions/{sid}", raw=raw)
    assert refused.status in (400, 422), refused.body
    appended = gateway.request(
        "POST", f"/v1/sessions/{sid}/events", raw=b'{"type": "m", "context_patch": ' + raw[len(field) + 5 :]
    )
    assert appended.status in (400, 422), appended.body


def test_true_is_not_the_same_as_one(gateway):
    sid = gateway.create({"context": {"a": 1}}).body["session_id"]
    patched = gateway.request("PATCH", f"/v1/sessions/{sid}", {"context": {"a": True}}).body
    assert patched["context"] == {"a": True} and patched["version"] == 2


@pytest.mark.parametrize(
    "body",
    [{"type": "m", "usage": {"cost_usd": 1e200}}, {"type": "m", "usage": {"tokens": 10**40}}],
)
def test_usage_beyond_what_can_be_stored_is_422(gateway, body):
    sid = gateway.create({}).body["session_id"]
    assert gateway.request("POST", f"/v1/sessions/{sid}/events", body).status == 422
    assert gateway.create({"events": [body]}).status == 422
    assert gateway.create({"token_budget": 10**40}).status == 422


def test_crossed_creation_bounds_list_nothing(gateway):
    gateway.create({})
    now = format_ms(now_ms())
    listed = gateway.request("GET", "/v1/sessions", query=f"created_after={now}&created_before={now}")
    assert listed.status == 200 and listed.body == {"sessions": [], "next_cursor": None}


def test_a_page_with_a_cursor_is_full_even_after_many_deletes(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")
    for i in range(3):
        gateway.create({"session_id": f"keep{i}"})
    for i in range(60):
        gateway.create({"session_id": f"drop{i}"})
        gateway.request("DELETE", f"/v1/sessions/drop{i}")
    page = gateway.request("GET", "/v1/sessions", query="limit=2").body
    assert len(page["sessions"]) == 2 and page["next_cursor"]
    rest = gateway.request("GET", "/v1/sessions", query=f"limit=2&cursor={page['next_cursor']}").body
    assert [s["session_id"] for s in rest["sessions"]] == ["keep0"] and rest["next_cursor"] is None
    assert json.dumps(page).count("drop") == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/sessions"), ("POST", "/v1/sessions/{sid}/events"), ("PATCH", "/v1/sessions/{sid}")],
)
@pytest.mark.parametrize("body", ['[{"type": "message"}]', '"text"', "42", "null"])
def test_a_body_that_is_not_a_json_object_is_422_and_writes_nothing(gateway, method, path, body):
    sid = gateway.create({}).body["session_id"]
    before = gateway.request("GET", f"/v1/sessions/{sid}").body
    answer = gateway.request(method, path.format(sid=sid), raw=body.encode())
    assert answer.status == 422 and answer.body["code"] == "validation_error"
    assert gateway.request("GET", f"/v1/sessions/{sid}").body == before
    assert len(gateway.request("GET", "/v1/sessions").body["sessions"]) == 1

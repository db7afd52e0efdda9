"""The per-user cap on open sessions: exact under concurrency, freed and retaken by status."""

from __future__ import annotations

import pytest

from sessions.domain.identity import Identity
from sessions.domain.models import CreateSessionRequest
from sessions.usecases.session_writes import create_session
from tests.integration.conftest import concurrently, set_env


def test_twenty_five_concurrent_creates_against_a_cap_of_ten_yield_exactly_ten(gateway, table):
    racer = Identity("acme", "racer")
    results = concurrently(25, lambda _: create_session(racer, CreateSessionRequest()))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 10
    assert statuses.count(429) == 15
    listed = gateway.request("GET", "/v1/sessions", user="racer", query="limit=100").body["sessions"]
    assert len(listed) == 10
    counters = table.get_item(Key={"PK": "T#acme#U#racer", "SK": "#COUNTERS"})["Item"]
    assert counters["open_sessions"] == 10


def _fill(gateway, user: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        created = gateway.create({}, user=user)
        assert created.status == 201, created.body
        ids.append(created.body["session_id"])
    return ids


def test_at_the_cap_the_next_create_is_429_and_nothing_is_written(gateway, table):
    _fill(gateway, "full", 10)
    refused = gateway.create({"session_id": "one-too-many"}, user="full")
    assert refused.status == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert "Item" not in table.get_item(Key={"PK": "T#acme#S#one-too-many", "SK": "#SESSION"})


@pytest.mark.parametrize("closing", ["completed", "crashed"])
def test_completing_or_crashing_frees_a_slot(gateway, closing):
    ids = _fill(gateway, "closer", 10)
    assert gateway.create({}, user="closer").status == 429
    closed = gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": closing}, user="closer")
    assert closed.status == 200, closed.body
    assert gateway.create({}, user="closer").status == 201


def test_pausing_keeps_the_slot(gateway):
    ids = _fill(gateway, "pauser", 10)
    assert gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "paused"}, user="pauser").status == 200
    assert gateway.create({}, user="pauser").status == 429


def test_deleting_frees_a_slot(gateway):
    ids = _fill(gateway, "deleter", 10)
    assert gateway.request("DELETE", f"/v1/sessions/{ids[0]}", user="deleter").status == 204
    assert gateway.create({}, user="deleter").status == 201


def test_resuming_a_crashed_session_takes_a_slot_again_and_is_429_at_the_cap(gateway):
    ids = _fill(gateway, "phoenix", 10)
    assert gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "crashed"}, user="phoenix").status == 200
    assert gateway.create({}, user="phoenix").status == 201  # the freed slot is taken
    resumed = gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "active"}, user="phoenix")
    assert resumed.status == 429
    assert resumed.body["code"] == "session_limit_reached"
    still = gateway.request("GET", f"/v1/sessions/{ids[0]}", user="phoenix")
    assert still.body["status"] == "crashed"
    assert still.body["version"] == 2


def test_resume_within_the_cap_succeeds(gateway):
    ids = _fill(gateway, "recover", 2)
    gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "crashed"}, user="recover")
    resumed = gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "active"}, user="recover")
    assert resumed.status == 200
    assert resumed.body["status"] == "active"


def test_cap_zero_means_no_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")
    _fill(gateway, "unbounded", 12)


def test_caps_are_per_user_and_per_tenant(gateway):
    _fill(gateway, "alice", 10)
    assert gateway.create({}, user="bob").status == 201
    assert gateway.create({}, user="alice", tenant="other").status == 201

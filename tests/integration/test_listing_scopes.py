"""GET /v1/sessions: every user's sessions of an app, by last activity, metadata filters, context, last_event_at."""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace

import pytest

from sessions.core import clock, settings


def _list(gateway, query="", **caller):
    return gateway.request("GET", "/v1/sessions", query=query, **caller)


def _list_app(gateway, app, query="", **caller):
    """GET /v1/apps/{app}/sessions: every user's sessions of the app."""
    return gateway.request("GET", f"/v1/apps/{app}/sessions", query=query, **caller)


def _all_app_pages(gateway, app, query, **caller) -> list[str]:
    seen, cursor = [], None
    while True:
        page = _list_app(gateway, app, query + (f"&cursor={cursor}" if cursor else ""), **caller)
        seen += _ids(page)
        cursor = page.body["next_cursor"]
        if not cursor:
            return seen


def _ids(reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [s["session_id"] for s in reply.body["sessions"]]


def _all_pages(gateway, query, **caller) -> list[str]:
    seen, cursor = [], None
    while True:
        page = _list(gateway, query + (f"&cursor={cursor}" if cursor else ""), **caller)
        seen += _ids(page)
        cursor = page.body["next_cursor"]
        if not cursor:
            return seen


@pytest.fixture
def uncapped(monkeypatch):
    """No open-session cap, and a clock that moves 2 ms each time it is read: no two writes share a millisecond."""
    monkeypatch.setenv("MAX_OPEN_SESSIONS_PER_USER", "0")
    settings.get_settings.cache_clear()
    ticks = itertools.count(time.time_ns(), 2_000_000)
    monkeypatch.setattr(clock, "time", SimpleNamespace(time_ns=lambda: next(ticks)))


@pytest.fixture
def app_sessions(gateway, uncapped):
    """Sessions of app `web` by three users of tenant acme, one of another app, and `web` sessions of tenant beta."""
    for user, session_id in (("u-1", "a1"), ("u-2", "b1"), ("u-1", "a2"), ("u-3", "c1"), ("u-2", "b2")):
        assert gateway.create({"session_id": session_id, "app_name": "web"}, user=user).status == 201
    assert gateway.create({"session_id": "cli-1", "app_name": "cli"}, user="u-1").status == 201
    assert gateway.create({"session_id": "z1", "app_name": "web"}, user="u-9", tenant="beta").status == 201
    assert gateway.create({"session_id": "no-app"}, user="u-2").status == 201
    gateway.request("DELETE", "/v1/sessions/b2", user="u-2")


# --- every user's sessions of an app -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["service", "admin"])
def test_a_service_or_admin_lists_every_users_sessions_of_an_app(gateway, app_sessions, role):
    newest_first = _ids(_list_app(gateway, "web", "", user="ops", roles=[role]))
    assert newest_first == ["c1", "a2", "b1", "a1"]  # b2 deleted; cli-1, no-app and tenant beta's z1 never
    oldest_first = _ids(_list_app(gateway, "web", "order=asc", user="ops", roles=[role]))
    assert oldest_first == ["a1", "b1", "a2", "c1"]
    paged = _all_app_pages(gateway, "web", "limit=1", user="ops", roles=[role])
    assert paged == newest_first
    owners = {s["user_id"] for s in _list_app(gateway, "web", "", user="ops", roles=[role]).body["sessions"]}
    assert owners == {"u-1", "u-2", "u-3"}


def test_another_tenants_sessions_never_appear(gateway, app_sessions):
    assert _ids(_list_app(gateway, "web", "", user="ops", tenant="beta", roles=["service"])) == ["z1"]
    assert _ids(_list_app(gateway, "web", "", user="ops", tenant="gamma", roles=["admin"])) == []


@pytest.mark.parametrize("roles", [None, ["reader"]])
def test_without_role_service_or_admin_listing_every_user_is_forbidden(gateway, app_sessions, roles):
    reply = _list_app(gateway, "web", "", user="u-1", roles=roles)
    assert (reply.status, reply.body["code"]) == (403, "forbidden")


def test_the_app_list_takes_only_its_own_parameters(gateway, app_sessions):
    """One user's sessions of an app are GET /v1/sessions?app_name=…&user_id=…; the app's list takes no user_id."""
    with_user = _list_app(gateway, "web", "user_id=u-1", user="ops", roles=["service"])
    assert (with_user.status, with_user.body["errors"]) == (
        422,
        [{"loc": ["query", "user_id"], "msg": "unknown query parameter"}],
    )
    assert _ids(_list(gateway, "app_name=web&user_id=u-1", user="ops", roles=["service"])) == ["a2", "a1"]
    bad_app = _list_app(gateway, "no%20such", "", user="ops", roles=["service"])
    assert bad_app.status == 422


def test_filters_apply_to_every_users_listing(gateway, uncapped):
    gateway.create({"session_id": "x1", "app_name": "web", "agent_id": "bot", "metadata": {"k": "v"}}, user="u-1")
    gateway.create({"session_id": "x2", "app_name": "web", "agent_id": "bot"}, user="u-2")
    gateway.create({"session_id": "x3", "app_name": "web", "session_type": "task"}, user="u-2")
    caller = {"user": "ops", "roles": ["service"]}
    assert _ids(_list_app(gateway, "web", "agent_id=bot", **caller)) == ["x2", "x1"]
    assert _ids(_list_app(gateway, "web", "session_type=task", **caller)) == ["x3"]
    assert _ids(_list_app(gateway, "web", "metadata=k:v", **caller)) == ["x1"]


# --- last_event_at and the order by last activity ------------------------------------------------------


def test_last_event_at_is_the_timestamp_of_the_last_event_appended(gateway, uncapped):
    created = gateway.create({"session_id": "s1"}).body
    assert created["last_event_at"] is None
    gateway.request("POST", "/v1/sessions/s1/events", {"type": "message", "timestamp": "2020-05-01T10:00:00.5+02:00"})
    read = gateway.request("GET", "/v1/sessions/s1").body
    assert read["last_event_at"] == "2020-05-01T08:00:00.500Z"  # the event's, not the clock's
    assert read["last_active_at"] > read["last_event_at"]
    batch = {"events": [{"type": "message", "timestamp": "2021-01-01T00:00:00Z"}, {"type": "message"}]}
    appended = gateway.request("POST", "/v1/sessions/s1/events", batch).body["events"]
    read = gateway.request("GET", "/v1/sessions/s1").body
    assert read["last_event_at"] == appended[-1]["timestamp"] == appended[-1]["created_at"]  # the batch's last
    (listed,) = _list(gateway).body["sessions"]
    assert listed["last_event_at"] == read["last_event_at"]
    rewound = gateway.request("DELETE", "/v1/sessions/s1/events", query="from_seq=2")
    assert rewound.status == 200, rewound.body
    assert (
        gateway.request("GET", "/v1/sessions/s1").body["last_event_at"] == read["last_event_at"]
    )  # a rewind leaves it


def test_initial_events_set_last_event_at(gateway):
    body = {"session_id": "s1", "events": [{"type": "message", "timestamp": "2022-02-02T02:02:02.002Z"}]}
    assert gateway.create(body).body["last_event_at"] == "2022-02-02T02:02:02.002Z"


def test_order_by_last_activity(gateway, uncapped):
    for session_id in ("s1", "s2", "s3"):
        gateway.create({"session_id": session_id, "app_name": "web"})
    gateway.request("POST", "/v1/sessions/s1/events", {"type": "message"})  # the oldest, most recently active
    gateway.request("PATCH", "/v1/sessions/s2", {"title": "renamed"})  # a change is activity too
    assert _ids(_list(gateway, "order_by=last_active_at")) == ["s2", "s1", "s3"]
    assert _ids(_list(gateway, "order_by=last_active_at&order=asc")) == ["s3", "s1", "s2"]
    assert _ids(_list(gateway, "order_by=created_at")) == ["s3", "s2", "s1"]
    assert _all_pages(gateway, "order_by=last_active_at&limit=1") == ["s2", "s1", "s3"]
    everyone = _list_app(gateway, "web", "order_by=last_active_at", user="ops", roles=["admin"])
    assert _ids(everyone) == ["s2", "s1", "s3"]
    gateway.request("POST", "/v1/sessions/s3/events", {"type": "message"})
    assert _ids(_list(gateway, "order_by=last_active_at")) == ["s3", "s2", "s1"]
    gateway.request("DELETE", "/v1/sessions/s3")
    assert _ids(_list(gateway, "order_by=last_active_at")) == ["s2", "s1"]


def test_order_by_last_activity_with_filters(gateway, uncapped):
    gateway.create({"session_id": "s1", "agent_id": "bot"})
    gateway.create({"session_id": "s2", "agent_id": "other"})
    gateway.create({"session_id": "s3", "agent_id": "bot"})
    gateway.request("POST", "/v1/sessions/s1/events", {"type": "message"})
    assert _ids(_list(gateway, "order_by=last_active_at&agent_id=bot")) == ["s1", "s3"]
    created = gateway.request("GET", "/v1/sessions/s2").body["created_at"]
    assert _ids(_list(gateway, f"order_by=last_active_at&created_after={created}")) == ["s3"]
    assert _ids(_list(gateway, f"order_by=last_active_at&created_before={created}")) == ["s1"]


def test_an_unknown_order_is_refused(gateway):
    reply = _list(gateway, "order_by=title")
    assert (reply.status, reply.body["errors"][0]["loc"]) == (422, ["query", "order_by"])


# --- metadata filters --------------------------------------------------------------------------------


@pytest.fixture
def tagged(gateway, uncapped):
    gateway.create({"session_id": "s1", "metadata": {"source": "web", "tier": "gold"}})
    gateway.create({"session_id": "s2", "metadata": {"source": "web", "tier": "free"}})
    gateway.create({"session_id": "s3", "metadata": {"source": "cli", "note": "a,b:c"}})
    gateway.create({"session_id": "s4"})
    gateway.create({"session_id": "theirs", "metadata": {"source": "web"}}, user="u-2")


def test_metadata_filters_select_sessions_holding_every_pair(gateway, tagged):
    assert _ids(_list(gateway, "metadata=source:web")) == ["s2", "s1"]
    assert _ids(_list(gateway, "metadata=source:web&metadata=tier:gold")) == ["s1"]
    assert _ids(_list(gateway, "metadata=note:a%2Cb%3Ac")) == ["s3"]  # a value with a comma and a colon
    assert _ids(_list(gateway, "metadata=source:web&metadata=source:cli")) == []  # one key, two values
    assert _ids(_list(gateway, "metadata=source:")) == []
    assert _all_pages(gateway, "metadata=source:web&limit=1") == ["s2", "s1"]


def test_a_cursor_stays_bound_to_its_metadata_filters(gateway, tagged):
    cursor = _list(gateway, "metadata=source:web&limit=1").body["next_cursor"]
    assert cursor
    for other in ("metadata=source:cli&limit=1", "limit=1", "metadata=source:web&limit=1&order_by=last_active_at"):
        reply = _list(gateway, f"{other}&cursor={cursor}")
        assert (reply.status, reply.body["code"]) == (400, "invalid_cursor")
    assert _ids(_list(gateway, f"metadata=source:web&limit=1&cursor={cursor}")) == ["s1"]


@pytest.mark.parametrize("value", ["nocolon", ":empty-key", "k" * 65 + ":v", "k:" + "v" * 513])
def test_a_malformed_metadata_filter_is_refused(gateway, value):
    reply = _list(gateway, f"metadata={value}")
    assert (reply.status, reply.body["errors"][0]["loc"]) == (422, ["query", "metadata"])


def test_at_most_16_metadata_filters(gateway):
    query = "&".join(f"metadata=k{i}:v" for i in range(17))
    reply = _list(gateway, query)
    assert (reply.status, reply.body["errors"][0]["loc"]) == (422, ["query", "metadata"])


def test_metadata_under_another_name_is_still_unknown(gateway):
    reply = _list(gateway, "metadata.source=web")
    assert reply.status == 422
    assert reply.body["errors"] == [{"loc": ["query", "metadata.source"], "msg": "unknown query parameter"}]


# --- include_context ---------------------------------------------------------------------------------


def test_include_context_answers_each_sessions_context(gateway, uncapped):
    for i in range(3):
        gateway.create({"session_id": f"s{i}", "context": {"n": i, "deep": {"k": [i]}}, "checkpoint": {"c": i}})
    gateway.create({"session_id": "empty"})
    sessions = _list(gateway, "include_context=true").body["sessions"]
    assert [(s["session_id"], s["context"]) for s in sessions] == [
        ("empty", {}),
        ("s2", {"n": 2, "deep": {"k": [2]}}),
        ("s1", {"n": 1, "deep": {"k": [1]}}),
        ("s0", {"n": 0, "deep": {"k": [0]}}),
    ]
    assert all("checkpoint" not in s for s in sessions)
    assert all("context" not in s for s in _list(gateway).body["sessions"])
    # the context as it is now, after an append's context_patch
    gateway.request("POST", "/v1/sessions/s1/events", {"type": "message", "context_patch": {"n": 10}})
    sessions = {s["session_id"]: s for s in _list(gateway, "include_context=true").body["sessions"]}
    assert sessions["s1"]["context"] == {"n": 10, "deep": {"k": [1]}}


def test_include_context_pages_hold_at_most_20_sessions(gateway, uncapped):
    for i in range(23):
        gateway.create({"session_id": f"s{i:02d}", "context": {"i": i}})
    first = _list(gateway, "include_context=true&limit=100").body
    assert len(first["sessions"]) == 20 and first["next_cursor"]
    rest = _list(gateway, f"include_context=true&limit=100&cursor={first['next_cursor']}").body
    assert [s["context"]["i"] for s in first["sessions"] + rest["sessions"]] == list(range(22, -1, -1))
    assert rest["next_cursor"] is None


def test_include_context_with_every_user_and_isolation(gateway, app_sessions):
    gateway.request("PATCH", "/v1/sessions/a1", {"context": {"mine": True}}, user="u-1")
    sessions = _list_app(gateway, "web", "include_context=true", user="ops", roles=["service"])
    assert {s["session_id"]: s["context"] for s in sessions.body["sessions"]} == {
        "a1": {"mine": True},
        "a2": {},
        "b1": {},
        "c1": {},
    }

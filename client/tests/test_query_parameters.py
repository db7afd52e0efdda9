"""The client sends only query parameters the API declares (the API answers any other with 422).

Every method is called with every option it turns into a query parameter, against the template's
API in-process; each request's parameter names are checked against the operation's in openapi.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from inprocess import CountingTransport, InProcessApi, InProcessTransport

from sessions_client import DevIdentity, SessionsClient

OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text(encoding="utf-8"))


def declared_query(method: str, path: str) -> set[str]:
    for template, operations in OPENAPI["paths"].items():
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in operations:
            parameters = operations[method.lower()].get("parameters", [])
            return {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
    raise AssertionError(f"no operation {method} {path} in openapi.json")


def test_every_query_parameter_the_client_sends_is_declared(inprocess_api: InProcessApi) -> None:
    recorder = CountingTransport(InProcessTransport(inprocess_api))
    service = SessionsClient(
        "http://sessions.invalid", identity=DevIdentity("svc", "t-1", ("service",)), transport=recorder
    )
    admin = SessionsClient(
        "http://sessions.invalid", identity=DevIdentity("boss", "t-1", ("admin",)), transport=recorder
    )
    user = "u-1"
    session = service.create_session(title="t", app_name="app-1", user_id=user, idempotency_key="k-1")
    sid = session.session_id
    service.get_session(sid, user_id=user)
    service.update_session(sid, if_match=session, user_id=user, title="u")
    service.list_sessions(
        limit=5,
        cursor=None,
        order="asc",
        agent_id="a-1",
        status=["active", "paused"],
        session_type="chat",
        app_name="app-1",
        created_after="2020-01-01T00:00:00.000Z",
        created_before="2100-01-01T00:00:00.000Z",
        order_by="last_active_at",
        metadata={"source": "web", "note": "a,b:c"},
        include_context=True,
        user_id=user,
    )
    list(service.iter_sessions(page_size=1, order="desc", user_id=user))
    service.list_sessions(all_users=True, app_name="app-1", order_by="created_at", metadata={"k": "v"}, limit=5)
    admin.get_stats(scope="tenant", user_id="boss")
    service.append_event(sid, {"type": "message", "content": "a"}, idempotency_key="k-2", user_id=user)
    service.append_events(sid, [{"type": "task", "content": "b"}], user_id=user)
    service.get_history(
        sid,
        limit=5,
        order="desc",
        type="message",
        after="2020-01-01T00:00:00.000Z",
        before="2100-01-01T00:00:00.000Z",
        include_payload=True,
        metadata={"run": "r-1", "note": "a,b:c"},
        from_seq=1,
        to_seq=2,
        user_id=user,
    )
    list(service.iter_history(sid, page_size=1, include_payload=True, metadata={"run": "r-1"}, user_id=user))
    ranged = list(service.iter_history(sid, page_size=1, from_seq=2, to_seq=2, user_id=user))
    assert [event.seq for event in ranged] == [2]
    service.get_event(sid, 1, user_id=user)
    service.update_event(sid, 1, {"content": "x"}, user_id=user)
    service.delete_events(sid, seqs=[1, 3], return_events=True, user_id=user)
    service.delete_events(sid, 2, return_events=True, user_id=user)
    service.update_app_state("app-1", {"model": "m"})
    service.get_app_state("app-1")
    service.update_user_state("app-1", {"seen": 1}, user_id=user)
    service.get_user_state("app-1", user)
    service.delete_session(sid, user_id=user)

    sent: dict[tuple[str, str], set[str]] = {}
    for request in recorder.requests:
        sent.setdefault((request.method, request.url.path), set()).update(dict(request.url.params))
    undeclared = {call: names - declared_query(*call) for call, names in sent.items() if names - declared_query(*call)}
    assert undeclared == {}
    # the calls above did send the options (the check is not vacuous)
    assert sent[("GET", "/v1/sessions")] >= {"limit", "order", "status", "created_after", "user_id", "metadata"}
    assert sent[("GET", "/v1/sessions")] >= {"order_by", "include_context"}
    assert sent[("GET", "/v1/apps/app-1/sessions")] == {"limit", "order_by", "metadata"}
    assert sent[("DELETE", f"/v1/sessions/{sid}/events")] == {"from_seq", "seq", "return_events", "user_id"}
    assert sent[("GET", f"/v1/sessions/{sid}/history")] >= {"metadata", "type", "include_payload", "from_seq", "to_seq"}


def test_a_parameter_the_api_does_not_declare_is_refused(inprocess_api: InProcessApi) -> None:
    with httpx.Client(transport=InProcessTransport(inprocess_api), base_url="http://sessions.invalid") as http:
        reply = http.get("/v1/sessions", params={"sort": "updated_at"}, headers={"X-User-Id": "u", "X-Tenant-Id": "t"})
    assert reply.status_code == 422 and reply.json()["errors"] == [
        {"loc": ["query", "sort"], "msg": "unknown query parameter"}
    ]

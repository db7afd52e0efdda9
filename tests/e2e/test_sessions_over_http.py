"""The session endpoints over real HTTP, through the dev server's API Gateway stand-in."""

from __future__ import annotations

import json

from tests.e2e.client import Client, Reply

PROBLEM_JSON = "application/problem+json"


def assert_problem(reply: Reply, status: int, code: str) -> dict:
    assert reply.status == status, reply.body
    assert reply.content_type == PROBLEM_JSON
    body = reply.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:sessions:problem:{code}"
    return body


def test_create_get_patch_delete_round_trip(api: Client, user: str, tenant: str) -> None:
    alice = api.as_(user=user, tenant=tenant)
    created = alice.post("/v1/sessions", {"title": "Code review", "metadata": {"source": "e2e"}})
    assert created.status == 201, created.body
    session = created.json()
    session_id = session["session_id"]
    assert created.headers["location"] == f"/v1/sessions/{session_id}"
    assert created.headers["etag"] == '"1"'
    assert created.content_type == "application/json"
    assert (session["tenant_id"], session["user_id"]) == (tenant, user)
    assert (session["title"], session["status"], session["version"]) == ("Code review", "active", 1)
    assert session["metadata"] == {"source": "e2e"}

    read = alice.get(f"/v1/sessions/{session_id}")
    assert read.status == 200
    assert read.headers["etag"] == '"1"'
    assert read.json() == session

    patched = alice.patch(
        f"/v1/sessions/{session_id}", {"title": "Renamed", "status": "paused"}, headers={"If-Match": '"1"'}
    )
    assert patched.status == 200, patched.body
    assert patched.headers["etag"] == '"2"'
    assert (patched.json()["title"], patched.json()["status"], patched.json()["version"]) == ("Renamed", "paused", 2)

    stale = alice.patch(f"/v1/sessions/{session_id}", {"title": "Lost"}, headers={"If-Match": '"1"'})
    assert assert_problem(stale, 412, "version_mismatch")["current_version"] == 2

    deleted = alice.delete(f"/v1/sessions/{session_id}")
    assert (deleted.status, deleted.body) == (204, b"")
    assert_problem(alice.get(f"/v1/sessions/{session_id}"), 404, "session_not_found")
    assert alice.delete(f"/v1/sessions/{session_id}").status == 204  # idempotent


def test_without_a_user_id_the_caller_is_unauthenticated(api: Client, tenant: str) -> None:
    assert_problem(api.as_(tenant=tenant).post("/v1/sessions", {}), 401, "unauthenticated")
    assert_problem(api.as_(tenant=tenant).get("/v1/sessions/anything"), 401, "unauthenticated")


def test_without_a_tenant_id_the_tenant_is_default(api: Client, user: str) -> None:
    created = api.as_(user=user).post("/v1/sessions", {})
    assert created.status == 201, created.body
    assert created.json()["tenant_id"] == "default"
    api.as_(user=user).delete(f"/v1/sessions/{created.json()['session_id']}")


def test_another_tenant_or_user_gets_404_and_an_admin_of_the_tenant_may_read(
    api: Client, user: str, tenant: str
) -> None:
    created = api.as_(user=user, tenant=tenant).post("/v1/sessions", {"title": "Private"})
    assert created.status == 201, created.body
    path = f"/v1/sessions/{created.json()['session_id']}"

    assert_problem(api.as_(user=user, tenant=f"{tenant}-other").get(path), 404, "session_not_found")
    assert_problem(api.as_(user=f"{user}-other", tenant=tenant).get(path), 404, "session_not_found")
    assert_problem(
        api.as_(user=f"{user}-other", tenant=tenant).patch(path, {"title": "Mine"}), 404, "session_not_found"
    )
    assert_problem(api.as_(user="boss", tenant=f"{tenant}-other", roles="admin").get(path), 404, "session_not_found")

    as_admin = api.as_(user="boss", tenant=tenant, roles="member,admin").get(path)
    assert as_admin.status == 200, as_admin.body
    assert as_admin.json()["title"] == "Private"
    assert api.as_(user=user, tenant=tenant).get(path).json()["version"] == 1  # the failed patch changed nothing


def test_merge_patch_content_type_merges_nested_objects_and_null_removes(api: Client, user: str, tenant: str) -> None:
    alice = api.as_(user=user, tenant=tenant)
    created = alice.post("/v1/sessions", {"metadata": {"keep": "1", "drop": "2"}, "context": {"a": {"x": 1}}})
    assert created.status == 201, created.body
    patched = alice.request(
        "PATCH",
        f"/v1/sessions/{created.json()['session_id']}",
        raw=json.dumps({"metadata": {"drop": None, "new": "3"}, "context": {"a": {"y": 2}}}).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status == 200, patched.body
    assert patched.json()["metadata"] == {"keep": "1", "new": "3"}
    assert patched.json()["context"] == {"a": {"x": 1, "y": 2}}


def test_malformed_json_is_a_400_problem(api: Client, user: str, tenant: str) -> None:
    reply = api.as_(user=user, tenant=tenant).post("/v1/sessions", raw=b'{"title": ')
    assert_problem(reply, 400, "malformed_request")


def test_bodies_of_megabytes_reach_the_function_which_answers_413(api: Client, user: str, tenant: str) -> None:
    for size in (300 * 1024, 3 * 1024 * 1024):
        body = json.dumps({"context": {"blob": "x" * size}}).encode()
        reply = api.as_(user=user, tenant=tenant).post("/v1/sessions", raw=body)
        assert_problem(reply, 413, "payload_too_large")


def test_an_unknown_route_is_a_404_problem(api: Client, user: str) -> None:
    expected = {
        "type": "urn:sessions:problem:route_not_found",
        "title": "Not found",
        "status": 404,
        "detail": "no such route",
        "code": "route_not_found",
    }
    for method, path in [("GET", "/v2/nothing"), ("PUT", "/v1/sessions/abc"), ("GET", "/v1/sessions/a/b/c")]:
        reply = api.as_(user=user).request(method, path)
        assert reply.status == 404, (method, path)
        assert reply.content_type == PROBLEM_JSON
        assert reply.json() == expected


def test_an_unknown_query_parameter_is_a_422_problem_naming_it(api: Client, user: str, tenant: str) -> None:
    alice = api.as_(user=user, tenant=tenant)
    session_id = alice.post("/v1/sessions", {"title": "one"}).json()["session_id"]
    alice.post("/v1/sessions", {"title": "two"})

    listed = alice.get("/v1/sessions?sort_by=updated_at&metadata.customer=c-77")
    body = assert_problem(listed, 422, "validation_error")
    assert body["errors"] == [
        {"loc": ["query", "sort_by"], "msg": "unknown query parameter"},
        {"loc": ["query", "metadata.customer"], "msg": "unknown query parameter"},
    ]
    assert "'sort_by'" in body["detail"] and "'metadata.customer'" in body["detail"]

    # a refused write writes nothing: the session keeps its title and version
    patched = alice.patch(f"/v1/sessions/{session_id}?force=", {"title": "changed"})
    assert assert_problem(patched, 422, "validation_error")["errors"][0]["loc"] == ["query", "force"]
    read = alice.get(f"/v1/sessions/{session_id}").json()
    assert (read["title"], read["version"]) == ("one", 1)

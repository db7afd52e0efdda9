"""Role `service` acting for users, and app/user state documents, over real HTTP on the dev server."""

from __future__ import annotations

import threading

from tests.e2e.client import Client
from tests.e2e.test_sessions_over_http import assert_problem


def test_a_service_acts_for_its_users_and_keeps_their_state(api: Client, tenant: str, user: str) -> None:
    service = api.as_(user="svc-runtime", tenant=tenant, roles="service")
    bob = api.as_(user=user, tenant=tenant)
    mallory = api.as_(user="mallory", tenant=tenant)
    created = service.post("/v1/sessions", {"user_id": user, "app_name": "assistant", "title": "For you"})
    assert created.status == 201, created.body
    session = created.json()
    assert session["user_id"] == user
    path = f"/v1/sessions/{session['session_id']}"
    for_bob = f"?user_id={user}"

    turn = {"type": "message", "content": "hello", "state_patch": {"app": {"turns": 1}, "user": {"greeted": True}}}
    appended = service.post(f"{path}/events{for_bob}", turn)
    assert appended.status == 201, appended.body
    assert service.get(f"{path}/history{for_bob}").json()["events"][0]["content"] == "hello"
    assert bob.get(path).json()["usage"]["event_count"] == 1  # the user sees it as their own

    # the user's state, written with the append, read by the user; the app's, by anyone of the tenant
    mine = bob.get(f"/v1/apps/assistant/users/{user}/state")
    assert mine.status == 200 and mine.json()["state"] == {"greeted": True} and mine.headers["etag"] == '"1"'
    assert mallory.get("/v1/apps/assistant/state").json()["state"] == {"turns": 1}
    # …but not another user's, nor the app's for writing, nor anything in another user's name
    assert_problem(mallory.get(f"/v1/apps/assistant/users/{user}/state"), 403, "forbidden")
    assert_problem(bob.patch("/v1/apps/assistant/state", {"turns": 99}), 403, "forbidden")
    assert_problem(mallory.get(f"{path}{for_bob}"), 403, "forbidden")
    assert_problem(mallory.get(path), 404, "session_not_found")
    # a service of another tenant reaches nothing of this one
    other = api.as_(user="svc-runtime", tenant=f"{tenant}-other", roles="service")
    assert_problem(other.get(f"{path}{for_bob}"), 404, "session_not_found")
    assert other.get(f"/v1/apps/assistant/users/{user}/state").json()["version"] == 0

    # If-Match on a state document
    stale = bob.patch(f"/v1/apps/assistant/users/{user}/state", {"x": 1}, headers={"If-Match": '"0"'})
    assert assert_problem(stale, 412, "version_mismatch")["current_version"] == 1
    changed = bob.patch(
        f"/v1/apps/assistant/users/{user}/state",
        {"greeted": None, "lang": "en"},
        headers={"If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    assert changed.status == 200 and changed.json()["state"] == {"lang": "en"} and changed.headers["etag"] == '"2"'

    assert service.delete(f"{path}{for_bob}").status == 204
    assert_problem(bob.get(path), 404, "session_not_found")


def test_concurrent_state_patches_over_http_lose_nothing(api: Client, tenant: str) -> None:
    """The dev server runs each request in its own function environment: a real race on one document."""
    service = api.as_(user="svc", tenant=tenant, roles="service")
    count = 8
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def patch(index: int) -> None:
        barrier.wait()
        statuses.append(service.patch("/v1/apps/shared/state", {f"k{index}": index}).status)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * count
    document = service.get("/v1/apps/shared/state").json()
    assert document["state"] == {f"k{i}": i for i in range(count)} and document["version"] == count

"""Concurrent writers, with real threads against the emulator (through the service layer; see `concurrently`)."""

from __future__ import annotations

from sessions.domain.identity import Identity
from sessions.domain.models import CreateSessionRequest, UpdateSessionRequest
from sessions.usecases.session_writes import create_session, update_session
from tests.integration.conftest import concurrently

OWNER = Identity("acme", "u-1")


def test_n_patches_with_the_same_if_match_exactly_one_wins(gateway):
    sid = gateway.create({}).body["session_id"]
    results = concurrently(
        12, lambda i: update_session(OWNER, sid, UpdateSessionRequest(title=f"writer {i}"), if_match=1)
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * 11
    winner = next(result for status, result in results if status == 200)
    final = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert final["title"] == winner["title"] and final["version"] == 2
    assert all(result.extra["current_version"] == 2 for status, result in results if status == 412)


def test_n_patches_merging_different_keys_lose_nothing(gateway):
    sid = gateway.create({"context": {"seed": True}}).body["session_id"]
    results = concurrently(
        16,
        lambda i: update_session(
            OWNER, sid, UpdateSessionRequest(context={f"k{i}": i}, metadata={f"m{i}": str(i)}), if_match=None
        ),
    )
    assert all(status == 200 for status, _ in results), results
    final = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert final["context"] == {"seed": True, **{f"k{i}": i for i in range(16)}}
    assert final["metadata"] == {f"m{i}": str(i) for i in range(16)}
    assert final["version"] == 17


def test_concurrent_creates_of_one_supplied_id_make_one_session(gateway):
    results = concurrently(
        10, lambda i: create_session(OWNER, CreateSessionRequest(session_id="contested", title=f"t{i}"))
    )
    created = [record for status, (record, is_new) in results if is_new]
    assert len(created) == 1
    assert all(record["title"] == created[0]["title"] for _, (record, _) in results)

"""Concurrent writers, with real threads against the emulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_n_patches_with_the_same_if_match_exactly_one_wins(gateway):
    sid = gateway.create({}).body["session_id"]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(
            pool.map(
                lambda i: gateway.request(
                    "PATCH", f"/v1/sessions/{sid}", {"title": f"writer {i}"}, headers={"if-match": '"1"'}
                ),
                range(12),
            )
        )
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [412] * 11
    winner = next(r for r in results if r.status == 200)
    final = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert final["title"] == winner.body["title"] and final["version"] == 2


def test_n_patches_merging_different_keys_lose_nothing(gateway):
    sid = gateway.create({"context": {"seed": True}}).body["session_id"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(
                lambda i: gateway.request(
                    "PATCH", f"/v1/sessions/{sid}", {"context": {f"k{i}": i}, "metadata": {f"m{i}": str(i)}}
                ),
                range(16),
            )
        )
    assert all(r.status == 200 for r in results), [r.body for r in results if r.status != 200]
    final = gateway.request("GET", f"/v1/sessions/{sid}").body
    assert final["context"] == {"seed": True, **{f"k{i}": i for i in range(16)}}
    assert final["metadata"] == {f"m{i}": str(i) for i in range(16)}
    assert final["version"] == 17


def test_concurrent_creates_of_one_supplied_id_make_one_session(gateway):
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: gateway.create({"session_id": "contested", "title": f"t{i}"}), range(10)))
    assert sorted(r.status for r in results) == [200] * 9 + [201]
    winner = next(r for r in results if r.status == 201).body
    assert all(r.body == winner for r in results)

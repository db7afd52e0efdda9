"""PATCH /v1/sessions/{id}: merge patch, the status machine, versions and closed sessions."""

from __future__ import annotations

import itertools

import pytest

from sessions.domain.status import ALLOWED_TRANSITIONS, Status


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _move_to(gateway, sid: str, status: str) -> None:
    path = {"active": [], "paused": ["paused"], "crashed": ["crashed"], "completed": ["completed"]}[status]
    for step in path:
        assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": step}).status == 200


@pytest.mark.parametrize(
    ("current", "new"), [(a.value, b.value) for a, b in itertools.product(Status, Status) if a != b]
)
def test_every_transition_is_allowed_or_refused_as_the_contract_says(gateway, current, new):
    sid = _session(gateway)
    _move_to(gateway, sid, current)
    response = gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": new})
    allowed = Status(new) in ALLOWED_TRANSITIONS[Status(current)]
    if allowed:
        assert response.status == 200, response.body
        assert response.body["status"] == new
    else:
        assert response.status == 409
        expected = "session_closed" if current == "completed" else "invalid_transition"
        assert response.body["code"] == expected
        assert gateway.request("GET", f"/v1/sessions/{sid}").body["status"] == current


def test_the_allowed_set_is_the_contracts():
    assert {(a.value, b.value) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets} == {
        ("active", "paused"),
        ("active", "completed"),
        ("active", "crashed"),
        ("paused", "active"),
        ("paused", "completed"),
        ("paused", "crashed"),
        ("crashed", "active"),
        ("crashed", "completed"),
    }


def test_merge_patch_merges_nested_objects_and_null_removes(gateway):
    sid = _session(
        gateway, context={"a": 1, "nested": {"x": 1, "y": 2}, "gone": True}, metadata={"k": "v", "drop": "d"}
    )
    patched = gateway.request(
        "PATCH",
        f"/v1/sessions/{sid}",
        {"context": {"nested": {"y": None, "z": 3}, "gone": None, "b": [1, 2]}, "metadata": {"drop": None, "new": "n"}},
    )
    assert patched.status == 200, patched.body
    assert patched.body["context"] == {"a": 1, "nested": {"x": 1, "z": 3}, "b": [1, 2]}
    assert patched.body["metadata"] == {"k": "v", "new": "n"}
    assert patched.body["version"] == 2
    assert patched.etag == '"2"'


def test_null_on_object_fields_empties_them_and_null_title_removes_it(gateway):
    sid = _session(
        gateway,
        title="T",
        context={"a": 1},
        checkpoint={"s": 1},
        metadata={"k": "v"},
        runtime_metadata={"r": 1},
        token_budget=5,
        runtime_backend="lambda",
    )
    patched = gateway.request(
        "PATCH",
        f"/v1/sessions/{sid}",
        {
            "title": None,
            "context": None,
            "checkpoint": None,
            "metadata": None,
            "runtime_metadata": None,
            "token_budget": None,
            "runtime_backend": None,
        },
    ).body
    assert patched["title"] is None and patched["checkpoint"] is None and patched["token_budget"] is None
    assert patched["context"] == {} and patched["metadata"] == {} and patched["runtime_metadata"] == {}
    assert patched["runtime_backend"] == "unknown"


def test_checkpoint_is_saved_and_merged(gateway):
    sid = _session(gateway)
    first = gateway.request("PATCH", f"/v1/sessions/{sid}", {"checkpoint": {"step": 1, "files": ["a"]}}).body
    assert first["checkpoint"] == {"step": 1, "files": ["a"]}
    second = gateway.request("PATCH", f"/v1/sessions/{sid}", {"checkpoint": {"step": 2}}).body
    assert second["checkpoint"] == {"step": 2, "files": ["a"]}


def test_merge_patch_content_type_is_accepted(gateway):
    sid = _session(gateway)
    patched = gateway.request(
        "PATCH",
        f"/v1/sessions/{sid}",
        {"title": "via merge-patch"},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert patched.status == 200 and patched.body["title"] == "via merge-patch"


def test_unknown_or_read_only_fields_are_422(gateway):
    sid = _session(gateway)
    for field, value in [("version", 9), ("usage", {}), ("user_id", "x"), ("session_id", "y"), ("nope", 1)]:
        refused = gateway.request("PATCH", f"/v1/sessions/{sid}", {field: value})
        assert refused.status == 422, field
        assert refused.body["code"] == "validation_error"
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["version"] == 1


def test_status_and_ttl_cannot_be_removed(gateway):
    sid = _session(gateway)
    for field in ("status", "ttl_seconds"):
        refused = gateway.request("PATCH", f"/v1/sessions/{sid}", {field: None})
        assert refused.status == 422 and refused.body["code"] == "validation_error"


def test_merged_context_over_64_kib_is_413_and_nothing_changes(gateway):
    sid = _session(gateway, context={"a": "x" * 40_000})
    refused = gateway.request("PATCH", f"/v1/sessions/{sid}", {"context": {"b": "y" * 40_000}})
    assert refused.status == 413 and refused.body["code"] == "payload_too_large"
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["context"] == {"a": "x" * 40_000}


def test_merged_metadata_over_sixteen_pairs_is_422(gateway):
    sid = _session(gateway, metadata={f"k{i}": "v" for i in range(16)})
    refused = gateway.request("PATCH", f"/v1/sessions/{sid}", {"metadata": {"seventeenth": "v"}})
    assert refused.status == 422 and refused.body["code"] == "validation_error"


def test_if_match_current_version_applies_and_stale_is_412_with_current_version(gateway):
    sid = _session(gateway)
    ok = gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "one"}, headers={"if-match": '"1"'})
    assert ok.status == 200 and ok.etag == '"2"'
    stale = gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "two"}, headers={"if-match": '"1"'})
    assert stale.status == 412
    assert stale.body["code"] == "version_mismatch"
    assert stale.body["current_version"] == 2
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["title"] == "one"


@pytest.mark.parametrize("tag", ['"abc"', "garbage", '"0"'])
def test_unparseable_if_match_never_matches(gateway, tag):
    sid = _session(gateway)
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "x"}, headers={"if-match": tag}).status == 412


def test_if_match_star_and_weak_tags(gateway):
    sid = _session(gateway)
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "a"}, headers={"if-match": "*"}).status == 200
    assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "b"}, headers={"if-match": 'W/"2"'}).status == 200


def test_a_patch_that_changes_nothing_writes_nothing(gateway):
    sid = _session(gateway, title="same", context={"a": 1})
    unchanged = gateway.request("PATCH", f"/v1/sessions/{sid}", {"title": "same", "context": {"a": 1}})
    assert unchanged.status == 200 and unchanged.body["version"] == 1


def test_a_completed_session_keeps_title_metadata_and_ttl_editable(gateway):
    sid = _session(gateway)
    _move_to(gateway, sid, "completed")
    for patch in ({"title": "Done"}, {"metadata": {"outcome": "ok"}}, {"ttl_seconds": 120}):
        assert gateway.request("PATCH", f"/v1/sessions/{sid}", patch).status == 200, patch
    for patch in (
        {"context": {"a": 1}},
        {"checkpoint": {"s": 1}},
        {"runtime_backend": "local"},
        {"runtime_metadata": {"a": 1}},
        {"token_budget": 3},
        {"title": "x", "context": {"b": 1}},
    ):
        refused = gateway.request("PATCH", f"/v1/sessions/{sid}", patch)
        assert refused.status == 409 and refused.body["code"] == "session_closed", patch
    assert gateway.request("GET", f"/v1/sessions/{sid}").body["context"] == {}


def test_ttl_seconds_moves_expires_at_from_now(gateway):
    from sessions.core.clock import now_ms, parse_timestamp

    sid = _session(gateway)
    before = now_ms()
    patched = gateway.request("PATCH", f"/v1/sessions/{sid}", {"ttl_seconds": 120}).body
    expires = parse_timestamp(patched["expires_at"])
    assert before + 120_000 <= expires <= now_ms() + 120_000


def test_updated_at_moves_and_created_at_does_not(gateway):
    created = gateway.create({}).body
    patched = gateway.request("PATCH", f"/v1/sessions/{created['session_id']}", {"title": "t"}).body
    assert patched["created_at"] == created["created_at"]
    assert patched["updated_at"] >= created["updated_at"]


def test_patching_an_unknown_session_is_404(gateway):
    missing = gateway.request("PATCH", "/v1/sessions/nope", {"title": "x"})
    assert missing.status == 404 and missing.body["code"] == "session_not_found"

"""Property: every stored JSON object reads back as it was sent, or is refused (422) with nothing written.

Hypothesis draws any JSON (empty keys, integers past 38 digits, subnormal floats, deep lists …);
the oracle below is the contract's rule, written out independently of sessions/domain/limits.py.
Through the handlers, against the emulator: JSON → API → DynamoDB → API → JSON.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.core.attribute_values import from_attribute, to_attribute
from tests.integration.conftest import set_env
from tests.json_values import same_json

# deterministic (CI), and the in-process gateway is a function-scoped fixture shared by the examples
PROPERTY = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_ids = itertools.count()

scalars = (
    st.none()
    | st.booleans()
    | st.text(max_size=8)
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=4), json_values, max_size=4)


@pytest.fixture(autouse=True)
def no_session_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")  # every example creates sessions


def storable(value: Any, depth: int = 1) -> bool:
    """The contract: keys of 1+ characters, integral numbers within 38 digits, fractions ≥ 1E-130, ≤ 30 levels."""
    if depth > 30:
        return False
    if isinstance(value, dict):
        return all(key != "" and storable(item, depth + 1) for key, item in value.items())
    if isinstance(value, list):
        return all(storable(item, depth + 1) for item in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int) or value.is_integer():
        return abs(int(value)) < 10**38
    return abs(value) >= 1e-130


def merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396, written out again: objects merge, null removes."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merged(result.get(key) if isinstance(result.get(key), dict) else {}, value)
        else:
            result[key] = value
    return result


def new_id() -> str:
    return f"prop-{next(_ids)}"


def assert_refused_and_unwritten(gateway, reply, session_id: str | None = None) -> None:
    assert reply.status == 422, reply.body
    assert reply.body["code"] == "validation_error"
    if session_id:
        assert gateway.request("GET", f"/v1/sessions/{session_id}").status == 404


@pytest.mark.parametrize("field", ["context", "checkpoint", "runtime_metadata"])
@PROPERTY
@given(value=json_objects)
def test_create_holds_any_storable_object_and_refuses_the_rest(gateway, field, value):
    session_id = new_id()
    reply = gateway.create({"session_id": session_id, field: value})
    if not storable(value):
        assert_refused_and_unwritten(gateway, reply, session_id)
        return
    assert reply.status == 201, reply.body
    stored = gateway.request("GET", f"/v1/sessions/{session_id}").body[field]
    assert same_json(stored, value), (stored, value)


@pytest.mark.parametrize("field", ["context", "checkpoint", "runtime_metadata"])
@PROPERTY
@given(first=json_objects, patch=json_objects)
def test_a_merge_patch_stores_the_merge_or_is_refused_with_nothing_changed(gateway, field, first, patch):
    base = first if storable(first) else {}
    session_id = gateway.create({field: base}).body["session_id"]
    reply = gateway.request("PATCH", f"/v1/sessions/{session_id}", {field: patch})
    stored = gateway.request("GET", f"/v1/sessions/{session_id}").body
    if not storable(patch):
        assert_refused_and_unwritten(gateway, reply)
        assert stored["version"] == 1 and same_json(stored[field], base)
        return
    assert reply.status == 200, reply.body
    assert same_json(stored[field], merged(base, patch))


@PROPERTY
@given(payload=json_objects, context_patch=json_objects)
def test_an_event_holds_its_payload_and_context_patch_or_is_refused(gateway, payload, context_patch):
    session_id = gateway.create({"context": {"kept": 1}}).body["session_id"]
    event = {"type": "tool", "payload": payload, "context_patch": context_patch}
    reply = gateway.request("POST", f"/v1/sessions/{session_id}/events", event)
    if not (storable(payload) and storable(context_patch)):
        assert_refused_and_unwritten(gateway, reply)
        assert gateway.request("GET", f"/v1/sessions/{session_id}").body["usage"]["event_count"] == 0
        return
    assert reply.status == 201, reply.body
    history = gateway.request("GET", f"/v1/sessions/{session_id}/history", query="include_payload=true").body
    assert same_json(history["events"][0]["payload"], payload)
    context = gateway.request("GET", f"/v1/sessions/{session_id}").body["context"]
    assert same_json(context, merged({"kept": 1}, context_patch))


@PROPERTY
@given(payload=json_objects)
def test_initial_events_on_create_hold_their_payload_or_refuse_the_whole_create(gateway, payload):
    session_id = new_id()
    reply = gateway.create({"session_id": session_id, "events": [{"type": "system", "payload": payload}]})
    if not storable(payload):
        assert_refused_and_unwritten(gateway, reply, session_id)
        return
    assert reply.status == 201, reply.body
    history = gateway.request("GET", f"/v1/sessions/{session_id}/history", query="include_payload=true").body
    assert same_json(history["events"][0]["payload"], payload)


@PROPERTY
@given(metadata=st.dictionaries(st.text(max_size=70), st.text(max_size=8), max_size=4))
def test_metadata_holds_string_pairs_or_is_refused(gateway, metadata):
    session_id = new_id()
    reply = gateway.create({"session_id": session_id, "metadata": metadata})
    if any(not 0 < len(key) <= 64 for key in metadata):
        assert_refused_and_unwritten(gateway, reply, session_id)
        return
    assert reply.status == 201, reply.body
    assert gateway.request("GET", f"/v1/sessions/{session_id}").body["metadata"] == metadata


@settings(max_examples=300, derandomize=True)
@given(value=json_objects.filter(storable))
def test_attribute_values_convert_any_storable_object_and_back(value):
    assert same_json(from_attribute(to_attribute(value)), value)

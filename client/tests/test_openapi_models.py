"""The client's models agree with the service's OpenAPI document (openapi.json at the repository root).

Every operation of the document has a client model for its success answer, and every property a
response schema requires (at any depth: nested objects, list items, alternatives) is a field of the
matching model. A new endpoint or a new required field without a client model fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import sessions_client as sc
from sessions_client._core import _EventBatch
from sessions_client.models import Problem, ValidationIssue

OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]

# success answers by operation (path parameters written {}), as the client parses them
MODELS_BY_OPERATION: dict[tuple[str, str], list[type[BaseModel]]] = {
    ("POST", "/v1/sessions"): [sc.Session],
    ("GET", "/v1/sessions"): [sc.SessionList],
    ("GET", "/v1/apps/{}/sessions"): [sc.SessionList],  # list_sessions(all_users=True, app_name=…)
    ("GET", "/v1/sessions/stats"): [sc.Stats],
    ("GET", "/v1/sessions/{}"): [sc.Session],
    ("PATCH", "/v1/sessions/{}"): [sc.Session],
    ("DELETE", "/v1/sessions/{}"): [],
    ("POST", "/v1/sessions/{}/events"): [sc.Event, _EventBatch],
    ("GET", "/v1/sessions/{}/history"): [sc.History],
    ("GET", "/v1/sessions/{}/events/{}"): [sc.Event],
    ("PATCH", "/v1/sessions/{}/events/{}"): [sc.Event],
    ("DELETE", "/v1/sessions/{}/events"): [sc.RemovedEvents],
    ("POST", "/v1/sessions/{}/fork"): [sc.Session],
    ("GET", "/v1/apps/{}/state"): [sc.AppState],
    ("PATCH", "/v1/apps/{}/state"): [sc.AppState],
    ("GET", "/v1/apps/{}/users/{}/state"): [sc.UserState],
    ("PATCH", "/v1/apps/{}/users/{}/state"): [sc.UserState],
    ("POST", "/v1/users/{}/erasure"): [sc.Erasure],
    ("GET", "/v1/erasures/{}"): [sc.Erasure],
    ("POST", "/v1/users/{}/export"): [sc.Export],
    ("GET", "/v1/exports/{}"): [sc.Export],
    ("GET", "/v1/tenant/settings"): [sc.TenantSettings],
    ("PATCH", "/v1/tenant/settings"): [sc.TenantSettings],
}
# named schemas that answers hold, and the client's model of each
MODELS_BY_SCHEMA: dict[str, type[BaseModel]] = {
    "Session": sc.Session,
    "SessionWithState": sc.Session,  # get_session(include_state=True): Session.state
    "SessionStates": sc.SessionStates,
    "SessionSummary": sc.SessionSummary,
    "ListedSession": sc.SessionSummary,  # a list item: the summary, context with include_context
    "SessionList": sc.SessionList,
    "Event": sc.Event,
    "EventUsage": sc.EventUsage,
    "History": sc.History,
    "Stats": sc.Stats,
    "SessionCounts": sc.SessionCounts,
    "Usage": sc.Usage,
    "Problem": Problem,
    "ValidationIssue": ValidationIssue,
    "AppState": sc.AppState,
    "UserState": sc.UserState,
    "RemovedEvents": sc.RemovedEvents,
    "EventsRemoved": sc.RemovedEvents,
    "RemovedEvent": sc.RemovedEvent,
    "EventBatch": _EventBatch,
    "ForkPoint": sc.ForkPoint,
    "Erasure": sc.Erasure,
    "ErasureCounts": sc.ErasureCounts,
    "Export": sc.Export,
    "ExportCounts": sc.ExportCounts,
    "TenantSettings": sc.TenantSettings,
}
NOT_MODELLED = {"StorableJsonObject", "StorableJsonValue", "StorableNumber"}  # free-form JSON: dict[str, Any]


def operations() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                for status, response in operation["responses"].items():
                    yield method.upper(), path, status, response


def json_schema(response: dict[str, Any]) -> dict[str, Any] | None:
    for media_type, content in (response.get("content") or {}).items():
        if "json" in media_type and "schema" in content:
            return content["schema"]
    return None


def resolve(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name, SCHEMAS[name]
    return None, schema


def objects(schema: dict[str, Any], seen: set[str] | None = None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Every object schema in `schema`: itself or its alternatives, and what its properties and items hold."""
    seen = set() if seen is None else seen
    name, resolved = resolve(schema)
    if name is not None:
        if name in seen:
            return
        seen.add(name)
    for key in ("anyOf", "oneOf", "allOf"):
        for alternative in resolved.get(key, []):
            yield from objects(alternative, seen)
    if "properties" in resolved:
        yield name, resolved
        for value in resolved["properties"].values():
            yield from objects(value, seen)
    if isinstance(resolved.get("items"), dict):
        yield from objects(resolved["items"], seen)
    if isinstance(resolved.get("additionalProperties"), dict):
        yield from objects(resolved["additionalProperties"], seen)


def route(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def missing_fields(schema: dict[str, Any], model: type[BaseModel]) -> set[str]:
    return set(schema.get("required", [])) - set(model.model_fields)


def test_the_document_has_operations() -> None:
    assert len(list(operations())) > 20
    assert {"Session", "Event", "History", "Stats", "Problem"} <= set(SCHEMAS)


@pytest.mark.parametrize(
    ("method", "path", "status", "response"),
    [pytest.param(*operation, id=f"{operation[0]} {operation[1]} {operation[2]}") for operation in operations()],
)
def test_every_answer_has_a_model_with_its_required_fields(
    method: str, path: str, status: str, response: dict[str, Any]
) -> None:
    schema = json_schema(response)
    if schema is None:
        return  # e.g. 204
    models = MODELS_BY_OPERATION.get((method, route(path)))
    assert models is not None, f"the client has no method for {method} {path}: add one (and its model here)"
    found = list(objects(schema))
    assert found, f"{method} {path} {status}: no object schema"
    top = [] if not status.startswith("2") else [schema]
    for alternative in top:
        name, resolved = resolve(alternative)
        candidates = [resolved] if "properties" in resolved else [resolve(a)[1] for a in resolved.get("anyOf", [])]
        candidates += [resolve(a)[1] for a in resolved.get("oneOf", [])]
        for candidate in (c for c in candidates if "properties" in c):
            assert any(not missing_fields(candidate, model) for model in models), (
                f"{method} {path} {status}: no client model ({', '.join(m.__name__ for m in models)}) has every "
                f"required field of {name or candidate.get('title')}: missing {missing_fields(candidate, models[0])}"
            )
    for name, nested in found:
        if name is None or name in NOT_MODELLED:
            continue
        model = MODELS_BY_SCHEMA.get(name)
        assert model is not None, f"{method} {path} {status}: schema {name} has no client model"
        assert not missing_fields(nested, model), f"{name}: {model.__name__} lacks {missing_fields(nested, model)}"


def test_models_parse_the_documented_shapes() -> None:
    """A model accepts a body holding only the schema's required fields (with values of the schema's types)."""
    samples = {"string": "2026-01-02T03:04:05.678Z", "integer": 1, "number": 1.5, "boolean": True}

    def sample(schema: dict[str, Any]) -> Any:
        _, resolved = resolve(schema)
        alternatives = resolved.get("anyOf") or resolved.get("oneOf")
        if alternatives:
            return sample(next(a for a in alternatives if a.get("type") != "null"))
        if "enum" in resolved:
            return resolved["enum"][0]
        kind = resolved.get("type", "object")
        if kind == "object":
            return {key: sample(resolved["properties"][key]) for key in resolved.get("required", [])}
        if kind == "array":
            return [sample(resolved["items"])] if "items" in resolved else []
        return samples[kind]

    for name, model in MODELS_BY_SCHEMA.items():
        if name in SCHEMAS:
            model.model_validate(sample({"$ref": f"#/components/schemas/{name}"}))

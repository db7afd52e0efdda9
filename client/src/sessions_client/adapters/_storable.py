"""JSON the service stores exactly, for the adapters that keep a framework's objects in payloads.

The service refuses (422) what DynamoDB cannot hold exactly: empty object keys, integers of 39+
digits, numbers under 1e-130, nesting past 30 levels. Such a value is stored as its JSON text
(`<name>_json`) instead, so every item round-trips unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

_MAX_DEPTH = 30


def pack(name: str, value: Any) -> dict[str, Any]:
    """`{name: value}` if the service can store `value` as it is, else `{name + "_json": its JSON text}`."""
    if storable(value):
        return {name: value}
    return {f"{name}_json": json.dumps(value, ensure_ascii=False)}


def unpack(name: str, payload: Mapping[str, Any] | None) -> Any:
    if not payload:
        return None
    if payload.get(name) is not None:
        return payload[name]
    text = payload.get(f"{name}_json")
    return json.loads(text) if isinstance(text, str) else None


def storable(value: Any, depth: int = 0) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and k and storable(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v, depth + 1) for v in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return abs(value) < 10**38
    if isinstance(value, float):
        if not math.isfinite(value):
            return False
        if value.is_integer():
            return abs(value) < 1e38
        return value == 0 or 1e-130 <= abs(value) < 1e126
    return False

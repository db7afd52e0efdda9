"""JSON Merge Patch (RFC 7396), and the set that goes beside it (a key's value replaced, null included)."""

from __future__ import annotations

from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Return target with patch merged in: objects merge recursively, null removes a key.

    Neither argument is modified.
    """
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = apply_merge_patch(merged.get(key), value)
    return merged


def set_keys(target: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Return target with each top-level key of values set to its value, wholesale: null is kept, objects replaced.

    Neither argument is modified.
    """
    return {**target, **values}

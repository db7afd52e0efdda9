"""Comparing JSON values the way JSON means them: one number type, decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def as_json_numbers(value: Any) -> Any:
    """`value` with every number as the decimal its JSON text denotes (1e37 and 10**37 alike)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        return {key: as_json_numbers(item) for key, item in value.items()}
    return [as_json_numbers(item) for item in value]


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON: numbers by decimal value, and true is never 1."""
    return _typed(as_json_numbers(left)) == _typed(as_json_numbers(right))


def _typed(value: Any) -> Any:
    # in Python True == 1; as JSON they differ
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return value

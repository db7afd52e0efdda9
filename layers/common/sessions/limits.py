"""Limits on client-supplied JSON, checked before anything reaches DynamoDB."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

OBJECT_MAX_BYTES = 64 * 1024
BODY_MAX_BYTES = 256 * 1024
# DynamoDB nests documents at most 32 levels deep; the item itself is one of them.
MAX_NESTING = 30
# DynamoDB numbers: 38 significant digits, magnitude within 1E-130 .. 9.99E+125.
_MAX_DIGITS = 38
_MAX_MAGNITUDE = Decimal("9.9999999999999999999999999999999999999E+125")
_MIN_MAGNITUDE = Decimal("1E-130")


class ObjectTooLarge(ValueError):
    """A JSON object field is over its serialized size limit."""


def serialized_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_storable(value: dict[str, Any]) -> None:
    """Refuse what DynamoDB cannot store exactly: deep nesting, numbers beyond its range."""
    _check_storable(value, depth=1)


def check_json_object(value: dict[str, Any], *, max_bytes: int = OBJECT_MAX_BYTES) -> dict[str, Any]:
    """Refuse what DynamoDB cannot store exactly, and objects over max_bytes serialized."""
    check_storable(value)
    size = serialized_size(value)
    if size > max_bytes:
        raise ObjectTooLarge(f"object is {size} bytes serialized; the limit is {max_bytes}")
    return value


def _check_storable(value: Any, depth: int) -> None:
    if depth > MAX_NESTING:
        raise ValueError(f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth + 1)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int | float):
        _check_number(value)


def _check_number(number: int | float) -> None:
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("numbers must be finite")
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    if exact == 0:
        return
    # an integer keeps all its digits; a float is as exact as its shortest repr
    digits = len(exact.as_tuple().digits) if isinstance(number, int) else len(exact.normalize().as_tuple().digits)
    magnitude = abs(exact)
    if digits > _MAX_DIGITS or magnitude > _MAX_MAGNITUDE or magnitude < _MIN_MAGNITUDE:
        raise ValueError(f"number {number} is outside what can be stored exactly (38 digits, 1E-130..1E+126)")

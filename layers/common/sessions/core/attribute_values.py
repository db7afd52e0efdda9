"""JSON values to DynamoDB's AttributeValue form and back, exactly, in one pass.

Numbers travel as the decimal strings DynamoDB stores, in one canonical form: plain positional
notation (`0.00001`, never `1e-05`), exact: a float as the decimal of its shortest repr (so 0.1 is
stored as exactly 0.1), an int as all its digits. DynamoDB takes exponent notation too, but an
emulator's arithmetic may not (moto adds `1e-05` with int()), and one form means every reader of
the table and its stream sees the same text for the same number. Coming back, an integral number within 38
digits (what a client may send) is an int, anything else a float. boto3's TypeSerializer
would do the same in two passes and costs boto3's import on every cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_INTEGRAL_DIGITS_MAX = 38


def to_attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float | Decimal):
        return {"N": number_text(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {key: to_attribute(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(item) for item in value]}
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def number_text(value: float | Decimal) -> str:
    """A number in positional notation, exactly: 1e-05 is 0.00001, 1e+20 is 100000000000000000000."""
    return format(Decimal(repr(value)) if isinstance(value, float) else value, "f")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return _number(value)
    if kind == "M":
        return {key: from_attribute(item) for key, item in value.items()}
    if kind == "L":
        return [from_attribute(item) for item in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    raise TypeError(f"attribute type {kind} is never written by this service")


def _number(text: str) -> int | float:
    if text.lstrip("-").isdigit() and len(text.lstrip("-")) <= _INTEGRAL_DIGITS_MAX:
        return int(text)
    exact = Decimal(text)
    if exact == exact.to_integral_value() and exact.adjusted() < _INTEGRAL_DIGITS_MAX:
        return int(exact)
    return float(text)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: to_attribute(value) for key, value in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: from_attribute(value) for key, value in item.items()}

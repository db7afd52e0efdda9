"""Limits on client-supplied JSON, checked before anything reaches DynamoDB.

What DynamoDB cannot hold is refused here, at the edge, never sent: a write DynamoDB refuses
would be a 500, and one an emulator stores half-way would poison every later read. The same
rules are stated as JSON Schema (STORABLE_JSON_SCHEMAS, in the OpenAPI document), so a client
generator, a fuzzer and the service agree on what a stored object may hold.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

OBJECT_MAX_BYTES = 64 * 1024
BODY_MAX_BYTES = 256 * 1024
# An event's content (UTF-8) and payload (serialized) together; a part over INLINE_PART_MAX_BYTES
# is stored in S3, its item keeping a pointer. The routes that take such events accept bodies up to
# LARGE_BODY_MAX_BYTES (Lambda's 6 MB invocation limit is the ceiling); every other route BODY_MAX_BYTES.
EVENT_PARTS_MAX_BYTES = 5 * 1024 * 1024
INLINE_PART_MAX_BYTES = 32 * 1024
LARGE_BODY_MAX_BYTES = 6_000_000
# Events a rewind or selected removal takes in its one transaction, besides the session, the owner's
# counters and one tenant stats shard. DynamoDB takes 100 items per transaction; 90 leave room to spare.
REWIND_MAX_EVENTS = 90
# DynamoDB nests documents at most 32 levels deep; the item itself is one of them.
MAX_NESTING = 30
# DynamoDB numbers hold 38 significant digits exactly, magnitudes 1E-130 .. 9.99E+125. A JSON
# number without a fraction is an integer (2.0 and 1e20 too) and comes back as one: it must fit
# 38 digits. A number with a fraction is a binary64 float once parsed (at most 17 digits, below
# 2**53): it only needs a magnitude DynamoDB can hold.
INTEGER_DIGITS_MAX = 38
INTEGER_MAX = 10**INTEGER_DIGITS_MAX - 1
FRACTION_MIN_MAGNITUDE = 1e-130


class ObjectTooLarge(ValueError):
    """A JSON object field is over its serialized size limit."""


class NotStorable(ValueError):
    """A JSON value DynamoDB cannot hold as it is; the message names where it is."""


def serialized_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_storable(value: dict[str, Any]) -> None:
    """Refuse what DynamoDB cannot store exactly: empty keys, deep nesting, numbers beyond its range."""
    _check_storable(value, depth=1, path="")


def check_json_object(value: dict[str, Any], *, max_bytes: int = OBJECT_MAX_BYTES) -> dict[str, Any]:
    """Refuse what DynamoDB cannot store exactly, and objects over max_bytes serialized."""
    check_storable(value)
    size = serialized_size(value)
    if size > max_bytes:
        raise ObjectTooLarge(f"object is {size} bytes serialized; the limit is {max_bytes}")
    return value


def _check_storable(value: Any, depth: int, path: str) -> None:
    if depth > MAX_NESTING:
        raise NotStorable(f"nested deeper than {MAX_NESTING} levels at {path or 'the top'}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not key:
                # DynamoDB refuses an empty attribute name at any depth ("Empty attribute name")
                raise NotStorable(f"an object key is empty at {path or 'the top'}; keys need 1 character or more")
            _check_storable(item, depth + 1, f"{path}/{_pointer_token(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, depth + 1, f"{path}/{index}")
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int | float):
        check_number(value, path)


def check_number(number: int | float, path: str = "") -> None:
    """Refuse a number DynamoDB cannot hold exactly (see INTEGER_MAX, FRACTION_MIN_MAGNITUDE)."""
    where = f" at {path}" if path else ""
    if isinstance(number, float) and not math.isfinite(number):
        raise NotStorable(f"numbers must be finite{where}")
    if isinstance(number, int) or number.is_integer():
        # a float exactly, as the decimal it stands for: int(1e38) is 38 digits, 1e38 is 39
        if abs(number if isinstance(number, int) else Decimal(repr(number))) > INTEGER_MAX:
            raise NotStorable(f"the integer{where} has more than 38 digits; DynamoDB cannot hold it exactly")
    elif abs(number) < FRACTION_MIN_MAGNITUDE:
        raise NotStorable(f"the number{where} is smaller in magnitude than 1E-130; DynamoDB cannot hold it")


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901, so the path is unambiguous


# JSON Schema of what check_json_object accepts, for the OpenAPI document's components. Not
# stated there: the nesting limit and the serialized size (JSON Schema has no keyword for them;
# the descriptions say so).
_REF = "#/components/schemas/"
STORABLE_JSON_SCHEMAS: dict[str, dict[str, Any]] = {
    "StorableJsonObject": {
        "type": "object",
        "description": (
            "Any JSON object DynamoDB can hold exactly: keys of 1 character or more, integers (numbers "
            "without a fraction, such as 2.0 or 1e20) within 38 digits, other numbers no smaller in "
            f"magnitude than 1E-130, nested at most {MAX_NESTING} levels, at most 64 KiB serialized. "
            "Anything else is refused with 422 (413 over the size), before anything is written."
        ),
        "propertyNames": {"minLength": 1},
        "additionalProperties": {"$ref": f"{_REF}StorableJsonValue"},
    },
    "StorableJsonValue": {
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "string"},
            {"$ref": f"{_REF}StorableNumber"},
            {"type": "array", "items": {"$ref": f"{_REF}StorableJsonValue"}},
            {"$ref": f"{_REF}StorableJsonObject"},
        ]
    },
    "StorableNumber": {
        "anyOf": [
            {"type": "integer", "minimum": -INTEGER_MAX, "maximum": INTEGER_MAX},
            {"type": "number", "not": {"type": "integer"}, "minimum": FRACTION_MIN_MAGNITUDE},
            {"type": "number", "not": {"type": "integer"}, "maximum": -FRACTION_MIN_MAGNITUDE},
        ]
    },
}

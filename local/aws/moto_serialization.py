"""DynamoDB's item values written into moto's responses directly, not one model lookup per member.

moto 5.2.5 serializes every response by walking the botocore output shape. For each member of a
structure it asks an attribute picker for the value under several aliases (the key, its snake_case
form, ...), so an `AttributeValue` (ten possible members, one present) costs about thirty lookups,
and an item of a few dozen attributes thousands: half the time of an emulated request goes there
(most of the test suite's time, which is spent in the emulator).

An item's values are already plain dicts in the wire's shape (`{"S": "..."}`, `{"M": {...}}`), so
here an `AttributeValue` held in a dict is written as moto's generic path writes it, member by
member in the model's order, with the same conversions (strings through `str`, blobs base64,
maps and lists recursively) and the same skipping of absent and `None` members. Anything else
(a value that is not a dict, a response transformer on the path) takes moto's path unchanged.
tests/unit/test_moto_serialization.py holds the two paths to the same output.

Drop this module once moto's serializer is fast enough on items.
"""

from __future__ import annotations

import base64
from enum import Enum
from typing import Any

from moto.core.serialize import BaseJSONSerializer

_ATTRIBUTE_VALUE = "AttributeValue"
_EMPTY: tuple[Any, ...] = (
    None,
    {},
    [],
)  # moto's string serializer writes these as they are, anything else through str()


def _string(value: Any) -> Any:
    if isinstance(value, Enum):
        value = value.value
    return str(value) if value not in _EMPTY else value


def _blob(value: str | bytes) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).strip().decode("utf-8")


def attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """`value` as moto's JSON serializer writes an AttributeValue held in a dict."""
    out: dict[str, Any] = {}
    for member in _MEMBERS:  # the model's order, as moto's walk writes them
        found = value.get(member)
        if found is None:
            continue
        out[member] = _WRITERS[member](found)
    return out


def _each(write: Any) -> Any:
    return lambda values: [write(item) for item in values]


def _nested(value: Any) -> Any:
    # a nested value moto's walk would hand to the picker: the fast path only for dicts
    return attribute_value(value) if type(value) is dict else _Fallback(value)


class _Fallback:
    """A nested value the fast path does not write: the whole AttributeValue goes to moto's walk."""

    def __init__(self, value: Any) -> None:
        self.value = value


_WRITERS: dict[str, Any] = {
    "S": _string,
    "N": _string,
    "B": _blob,
    "SS": _each(_string),
    "NS": _each(_string),
    "BS": _each(_blob),
    "M": lambda values: {key: _nested(item) for key, item in values.items()},
    "L": _each(_nested),
    "NULL": lambda flag: flag,
    "BOOL": lambda flag: flag,
}
_MEMBERS = tuple(_WRITERS)


def _holds_fallback(written: Any) -> bool:
    if isinstance(written, _Fallback):
        return True
    if isinstance(written, dict):
        return any(_holds_fallback(item) for item in written.values())
    if isinstance(written, list):
        return any(_holds_fallback(item) for item in written)
    return False


def install() -> None:
    generic = BaseJSONSerializer._serialize_type_structure
    if getattr(generic, "_attribute_values_direct", False):
        return

    def serialize_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            shape.name == _ATTRIBUTE_VALUE
            and key
            and type(value) is dict
            and not getattr(self._value_picker, "response_transformers", None)
            and tuple(shape.members) == _MEMBERS
        ):
            written = attribute_value(value)
            if not _holds_fallback(written):
                serialized[self.get_serialized_name(shape, key)] = written
                return
        generic(self, serialized, value, shape, key)

    serialize_structure._attribute_values_direct = True  # type: ignore[attr-defined]
    serialize_structure.generic = generic  # type: ignore[attr-defined]  # moto's walk, for the test comparing the two
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]

"""An item built by moto with its size summed once, not once per attribute.

moto 5.2.5 builds every item it stores (each PutItem, each Put of a transaction) attribute by attribute
into a `LimitedSizeDict`, whose every insertion sums the size of the whole item so far to hold it under
moto's 400 KB limit: an item of n attributes is sized n²/2 times. Here the item is built with a running
total: each attribute is sized once, and the limit is checked at each insertion against the same total,
so the same item is built, or the same `ItemSizeTooLarge` raised at the same attribute.

Updates keep their own running total (`moto_updates.py`). tests/unit/test_moto_item_sizes.py compares
the two constructions. Drop this module once moto sizes an item once.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

_MAX_ITEM_BYTES = 405000  # moto's LimitedSizeDict limit

_generic_init = Item.__init__


def _init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = built = LimitedSizeDict()
    total = 0  # what LimitedSizeDict sums before each insertion: the keys' bytes and the values' sizes so far
    for key, value in attrs.items():
        typed = DynamoType(value)
        added = bytesize(key) + typed.size()
        if total + added > _MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(built, key, typed)
        total += added


def install() -> None:
    if getattr(Item.__init__, "_sized_once", False):
        return
    _init._sized_once = True  # type: ignore[attr-defined]
    _init.generic = _generic_init  # type: ignore[attr-defined]  # moto's, for the test comparing the two
    Item.__init__ = _init  # type: ignore[method-assign]

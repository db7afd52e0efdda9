"""local/aws/moto_item_sizes.py: items are built, or refused as too large, exactly as moto 5.2.5's own construction.

Each attribute map is built into an item twice, with the running total and with moto's `Item.__init__` (its
LimitedSizeDict summing the whole item at each attribute), and the two items, or the two errors, compared;
the maps straddle moto's limit (405,000 bytes) at their first, middle and last attribute.
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from local.aws import moto_item_sizes
from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS

adapt_moto(TESTS_TTL_SWEEP_SECONDS)

LIMIT = 405_000
SMALL: dict[str, Any] = {
    "PK": {"S": "p"},
    "n": {"N": "12345.678"},
    "tiny": {"N": "1E-129"},
    "map": {"M": {"k": {"L": [{"S": "é"}, {"N": "1"}, {"NULL": True}]}, "b": {"BOOL": True}}},
    "set": {"SS": ["a", "bb"]},
    "numbers": {"NS": ["1", "22.5"]},
    "blob": {"B": b"\x00\x01"},
}


def text(size: int) -> dict[str, str]:
    return {"S": "x" * size}


MAPS: list[dict[str, Any]] = [
    SMALL,
    {"PK": {"S": "p"}, "big": text(LIMIT - len("PK") - 1 - len("big"))},  # exactly at the limit
    {"PK": {"S": "p"}, "big": text(LIMIT - len("PK") - 1 - len("big") + 1)},  # one byte over, at the last
    {"big": text(LIMIT), **SMALL},  # over at the first
    {**SMALL, "half": text(LIMIT // 2), "other": text(LIMIT // 2), "last": {"N": "1"}},  # over in the middle
    {"é" * 10: text(LIMIT - 20 - 3), "a": {"N": "1"}},  # keys count their UTF-8 bytes (a number 1 is 2 bytes)
]


def built(construct: Any, attributes: dict[str, Any]) -> Any:
    item = Item.__new__(Item)
    try:
        construct(item, DynamoType({"S": "p"}), None, attributes)
    except Exception as error:  # the same error, or the test fails
        return (type(error).__name__, str(error))
    return (item.hash_key.to_json(), item.range_key, item.to_json(), type(item.attrs))


@pytest.mark.parametrize("attributes", MAPS, ids=range(len(MAPS)))
def test_an_item_is_built_or_refused_as_moto_builds_it(attributes: dict[str, Any]) -> None:
    assert Item.__init__ is moto_item_sizes._init
    assert built(moto_item_sizes._init, attributes) == built(moto_item_sizes._init.generic, attributes)  # type: ignore[attr-defined]


def test_the_maps_do_straddle_the_limit() -> None:
    outcomes = [built(moto_item_sizes._init, attributes) for attributes in MAPS]
    refused = [index for index, outcome in enumerate(outcomes) if outcome[0] == ItemSizeTooLarge.__name__]
    assert refused == [2, 3, 4]

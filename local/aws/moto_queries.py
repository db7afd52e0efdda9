"""Query in moto at the cost of what it reads, not of what the table holds.

moto 5.2.5's `Table.query` starts from `all_items()`: a list of every item of the table, sorted,
built for every Query, on the base table and on indexes alike, and filtered afterwards. A page of
history or of sessions then costs O(table size x log): at 10,000 items a list or history page was
already 3x slower than on an empty table. This module hands moto's own query only the candidates
that can match, so its sorting, paging and filtering run unchanged on a few items:

- on the base table, the items of the one partition asked for, and of those only the ones within the
  sort key condition, past the ExclusiveStartKey, and no more than the page's Limit (plus one, which
  tells moto there is a next page): a page of a long history costs its page, not the partition. The
  partition's sorted keys are kept per partition, dropped on every write to it;
- on a global secondary index, the items whose index hash key has the value asked for, from a
  membership map per index kept as items are written (put, update, delete). An entry is checked
  against the stored item when read, so a stale one (its key changed since) is dropped then; a
  transaction's rollback restores items whose entries are still there (nothing is removed but by
  a delete or a read, and neither runs inside a transaction).

Drop this module once moto's Query reads a partition without reading the table.
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

PrimaryKey = tuple[DynamoType, DynamoType | None]


class IndexMembers:
    """For each global index of a table: hash key value -> primary keys of the items that had it."""

    def __init__(self, table: Table) -> None:
        self._hash_attributes = {
            index.name: next(key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH")
            for index in table.global_indexes
        }
        self._members: dict[str, defaultdict[DynamoType, set[PrimaryKey]]] = {
            name: defaultdict(set) for name in self._hash_attributes
        }
        for item in table.all_items():
            self.add(item)

    def add(self, item: Item | None) -> None:
        if item is not None:
            for members in self._memberships(item):
                members.add((item.hash_key, item.range_key))

    def discard(self, item: Item | None) -> None:
        if item is not None:
            for members in self._memberships(item):
                members.discard((item.hash_key, item.range_key))

    def _memberships(self, item: Item) -> Iterator[set[PrimaryKey]]:
        """The member sets the item belongs in: one per index whose hash key it has."""
        for index, attribute in self._hash_attributes.items():
            value = item.attrs.get(attribute)
            if value is not None:
                yield self._members[index][value]

    def candidates(self, table: Table, index: str, value: DynamoType) -> list[Item] | None:
        """The items whose `index` hash key is `value` now (None for an index this map does not know)."""
        if index not in self._members:
            return None
        attribute, members = self._hash_attributes[index], self._members[index]
        found, stale = [], []
        for hash_value, range_value in members.get(value, ()):
            item = table.get_item(hash_value, range_value)
            # moto's DynamoType cannot be compared with None: an item that lost the attribute is stale
            current = item.attrs.get(attribute) if item is not None else None
            if item is not None and current is not None and current == value:
                found.append(item)
            else:
                stale.append((hash_value, range_value))
        for key in stale:
            members[value].discard(key)
        return sorted(found, key=lambda item: (item.hash_key, item.range_key) if item.range_key else item.hash_key)


def members_of(table: Table) -> IndexMembers:
    members: IndexMembers | None = table.__dict__.get("_index_members")
    if members is None:
        members = table.__dict__["_index_members"] = IndexMembers(table)
    return members


def partition_items(table: Table, hash_value: DynamoType) -> list[Item]:
    if hash_value not in table.items:  # never through [] on moto's defaultdict: it would add an empty partition
        return []
    partition = table.items[hash_value]
    if not table.has_range_key:
        return [partition]  # type: ignore[list-item]  # moto: a hash-only table maps to items
    return sorted(partition.values(), key=lambda item: item.range_key)


def _sortable(value: DynamoType) -> Any:
    """A key's value as Python compares it the way DynamoDB orders sort keys (numbers by value)."""
    return Decimal(value.value) if value.type == "N" else value.value


def _sorted_keys(table: Table, hash_value: DynamoType) -> tuple[list[Any], list[DynamoType]]:
    """The partition's sort keys in order (and their sortable values), kept until a write to the partition."""
    cache: dict[DynamoType, tuple[int, list[Any], list[DynamoType]]] = table.__dict__.setdefault("_sorted_keys", {})
    partition = table.items[hash_value]
    entry = cache.get(hash_value)
    if entry is None or entry[0] != len(partition):  # a write that bypassed the wrappers changes the count
        keys = sorted(partition, key=_sortable)
        entry = cache[hash_value] = (len(partition), [_sortable(key) for key in keys], keys)
    return entry[1], entry[2]


def _forget_order(table: Table, item: Item | None) -> None:
    if item is not None and item.hash_key is not None:
        table.__dict__.get("_sorted_keys", {}).pop(item.hash_key, None)


_RANGE_BOUNDS = {"BETWEEN", "EQ", ">=", ">", "<=", "<"}


def _range_slice(values: list[Any], comparison: str | None, bounds: list[DynamoType]) -> tuple[int, int]:
    """Where the keys within the sort key condition lie among the partition's sorted keys."""
    low, high = 0, len(values)
    if comparison is None:
        return low, high
    first, last = _sortable(bounds[0]), _sortable(bounds[-1])
    if comparison in ("BETWEEN", "EQ", ">="):
        low = bisect.bisect_left(values, first)
    elif comparison == ">":
        low = bisect.bisect_right(values, first)
    if comparison in ("BETWEEN", "EQ", "<="):
        high = bisect.bisect_right(values, last)
    elif comparison == "<":
        high = bisect.bisect_left(values, last)
    return low, high


def _page_candidates(table: Table, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Item] | None:
    """The items a base-table page can hold: in the sort key range, after the start key, at most Limit + 1."""
    hash_value = args[0]
    comparison, bounds = (args[1], args[2]) if len(args) > 2 else (None, [])
    limit = args[3] if len(args) > 3 else None
    start = args[4] if len(args) > 4 else None
    forward = args[5] if len(args) > 5 else True
    if not table.has_range_key or len(kwargs.get("range_key_conditions") or ()) > 1:
        return None
    if comparison is not None and (comparison not in _RANGE_BOUNDS or any(b.type not in "SNB" for b in bounds)):
        return None
    if any(name not in ("hash_key_conditions", "range_key_conditions") for name in kwargs):
        return None  # legacy filters (KeyConditions with QueryFilter): moto's own path
    if hash_value not in table.items:
        return []
    values, keys = _sorted_keys(table, hash_value)
    low, high = _range_slice(values, comparison, bounds)
    if start is not None and table.range_key_attr in start:
        position = _sortable(DynamoType(start[table.range_key_attr]))
        if forward is not False:
            low = max(low, bisect.bisect_right(values, position))
        else:
            high = min(high, bisect.bisect_left(values, position))
    if limit:
        low, high = (low, min(high, low + limit + 1)) if forward is not False else (max(low, high - limit - 1), high)
    # moto's own query reads on past the range: the item after it tells it a page that ends there has a next one
    if forward is not False:
        high = min(high + 1, len(keys))
    else:
        low = max(low - 1, 0)
    partition = table.items[hash_value]
    return [partition[key] for key in keys[low:high]]


def _candidates(table: Table, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Item] | None:
    hash_value = args[0] if args else kwargs.get("hash_key")
    index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
    if not index_name:
        if not isinstance(hash_value, DynamoType):
            return None
        if args:
            page = _page_candidates(table, args, kwargs)
            if page is not None:
                return page
        return partition_items(table, hash_value)
    conditions = kwargs.get("hash_key_conditions") or []
    if len(conditions) > 1:
        return None  # a multi-attribute hash key: moto's own path
    value = conditions[0][1] if conditions else hash_value
    return members_of(table).candidates(table, index_name, value) if isinstance(value, DynamoType) else None


def install() -> None:
    if getattr(Table.query, "_narrowed", False):
        return
    original_query, original_put, original_delete = Table.query, Table.put_item, Table.delete_item
    original_update = DynamoDBBackend.update_item

    @functools.wraps(original_query)
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        candidates = _candidates(self, args, kwargs)
        if candidates is None:
            return original_query(self, *args, **kwargs)
        # moto's query reads self.all_items(); for this call it sees only the candidates
        # (safe: moto_atomicity runs one operation at a time)
        self.all_items = lambda: candidates  # type: ignore[method-assign]
        try:
            return original_query(self, *args, **kwargs)
        finally:
            del self.all_items

    @functools.wraps(original_put)
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
        item = original_put(self, *args, **kwargs)
        members_of(self).add(item)
        _forget_order(self, item)
        return item

    @functools.wraps(original_delete)
    def delete_item(self: Table, *args: Any, **kwargs: Any) -> Item | None:
        item = original_delete(self, *args, **kwargs)
        members_of(self).discard(item)
        _forget_order(self, item)
        return item

    @functools.wraps(original_update)
    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        item = original_update(self, table_name, key, *args, **kwargs)
        members_of(self.get_table(table_name)).add(item)
        _forget_order(self.get_table(table_name), item)
        return item

    query._narrowed = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]

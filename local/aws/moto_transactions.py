"""TransactWriteItems in moto at the cost of what it touches, not of what the table holds.

Replaces moto 5.2.5's `DynamoDBBackend.transact_write_items`, which backs up the whole table
(`copy.deepcopy`, stream included) once for every item of a transaction, so each transaction
costs O(table size × items): a create with 20 initial events copied the table 22 times, and
`make dev` slowed to timeouts after a few hundred sessions. This version journals only the items
the transaction touches (their state before it) and the length of each touched table's stream,
and rolls back exactly those. The table object is never replaced, so stream shards and iterators
stay valid across a rollback. Results match DynamoDB's and moto's: all or nothing, and a
`TransactionCanceledException` with one reason per item ("None", "ConditionalCheckFailed" with
the stored item under ReturnValuesOnConditionCheckFailure=ALL_OLD, …), in the order given.

Drop this module once moto stops copying the table per transaction item.
Atomicity against other requests comes from `moto_atomicity`, which serializes every operation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table

from local.aws.moto_queries import members_of

_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_MAX_ITEMS = 100


@dataclass
class RollbackJournal:
    """What a transaction changed, kept so that it can be undone: touched items and stream lengths."""

    _items: dict[tuple[str, DynamoType, DynamoType | None], tuple[Table, Item | None]] = field(default_factory=dict)
    _streams: dict[str, tuple[StreamShard, int, int]] = field(default_factory=dict)

    def remember(self, table: Table, hash_value: DynamoType, range_value: DynamoType | None) -> None:
        """Keep the item's state before its first change (moto updates items in place, hence the copy)."""
        key = (table.name, hash_value, range_value)
        if key not in self._items:
            self._items[key] = (table, copy.deepcopy(table.get_item(hash_value, range_value)))
        shard = table.stream_shard
        if shard is not None and table.name not in self._streams:
            self._streams[table.name] = (shard, len(shard.items), shard.starting_sequence_number)

    def roll_back(self) -> None:
        for (_, hash_value, range_value), (table, before) in self._items.items():
            if range_value is not None:
                partition = table.items[hash_value]
                if before is None:
                    partition.pop(range_value, None)
                else:
                    partition[range_value] = before
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before  # type: ignore[assignment]  # moto: a hash-only table maps to items
            members_of(table).add(before)  # a delete rolled back is in its indexes again
            table.__dict__.get("_sorted_keys", {}).pop(hash_value, None)  # moto_queries' order of the partition
        for shard, length, first_sequence in self._streams.values():
            # records trimmed from the front meanwhile (moto_streams) shift the list's positions
            del shard.items[length - (shard.starting_sequence_number - first_sequence) :]


class _ConditionFailed(ConditionalCheckFailed):
    """moto's exception, keeping the stored item for the cancellation reason (ALL_OLD)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__(item=item)
        self.item = item


def _key_values(table: Table, operation_type: str, operation: dict[str, Any]) -> dict[str, Any]:
    if operation_type != "Put":
        return dict(operation["Key"])
    attributes = operation["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _write(backend: DynamoDBBackend, operation_type: str, operation: dict[str, Any], key: dict[str, Any]) -> None:
    """Apply one Put, Delete or Update with moto's own operations (its condition is checked already)."""
    expressions: dict[str, Any] = {
        "condition_expression": operation.get("ConditionExpression"),
        "expression_attribute_names": operation.get("ExpressionAttributeNames"),
        "expression_attribute_values": operation.get("ExpressionAttributeValues"),
    }
    if operation_type == "Put":
        backend.put_item(operation["TableName"], operation["Item"], **expressions)
    elif operation_type == "Delete":
        backend.delete_item(operation["TableName"], key, **expressions)
    elif operation_type == "Update":
        backend.update_item(operation["TableName"], key, update_expression=operation["UpdateExpression"], **expressions)


def _run(
    backend: DynamoDBBackend, transact_item: dict[str, Any], journal: RollbackJournal, seen: set[tuple[str, str]]
) -> None:
    """Check and apply one item of a transaction, journaling what it changes."""
    if len(transact_item) > 1:
        raise TransactWriteSingleOpException
    operation_type, operation = next(iter(transact_item.items()))
    if operation_type not in _OPERATIONS:
        raise ValueError("Unsupported transaction operation")
    table = backend.get_table(operation["TableName"])
    key = _key_values(table, operation_type, operation)
    unique = (str(table.name), str(dict(sorted(key.items()))))
    if unique in seen:
        raise MultipleTransactionsException()
    seen.add(unique)

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
    current = table.get_item(hash_value, range_value)
    condition = operation.get("ConditionExpression")
    if condition is not None:
        names, values = operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
        if not get_filter_expression(condition, names, values).expr(current):
            wants_item = operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            raise _ConditionFailed(current.to_json()["Attributes"] if wants_item and current else None)
    if operation_type != "ConditionCheck":
        journal.remember(table, hash_value, range_value)
        _write(backend, operation_type, operation, key)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > _MAX_ITEMS:
        raise TooManyTransactionsException()
    journal = RollbackJournal()
    seen: set[tuple[str, str]] = set()
    reasons: list[tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]] = []
    for transact_item in transact_items:
        try:
            _run(self, transact_item, journal, seen)
            reasons.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException, TransactWriteSingleOpException):
            journal.roll_back()
            raise
        except ConditionalCheckFailed as failed:
            reasons.append(("ConditionalCheckFailed", str(failed.message), getattr(failed, "item", None)))
        except Exception as error:  # moto's own behaviour: any other failure cancels with its name
            reasons.append((type(error).__name__, str(error), None))
    if any(code is not None for code, _, _ in reasons):
        journal.roll_back()
        raise TransactionCanceledException(reasons)


def install() -> None:
    """Put this transaction implementation in place of moto's (before moto_atomicity wraps it)."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

"""What every part of the store shares: the client, the table, and how a transaction's outcome reads."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from sessions.core.errors import SessionLimitReached
from sessions.domain.records import SessionRecord
from sessions.store.keys import session_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ItemExists(Exception):
    """A create found an item under the same key; `record` is what is stored there."""

    def __init__(self, record: SessionRecord) -> None:
        super().__init__("an item already exists under this key")
        self.record = record


class WriteConflict(Exception):
    """DynamoDB refused a write because another transaction was writing the same item: retry it."""


class VersionChanged(Exception):
    """A conditional write of a session lost a race; `record` is the current item (None when it is gone)."""

    def __init__(self, record: SessionRecord | None) -> None:
        super().__init__("the item changed since it was read")
        self.record = record


class TableAccess:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _batch_get(self, keys: list[dict[str, Any]], *, what: str, **options: Any) -> list[dict[str, Any]]:
        """The items of `keys` (at most 100) in one BatchGetItem; `options` go with the keys (ConsistentRead, ...).

        DynamoDB may leave keys unprocessed under load: they are read again with jittered back-off, at most
        10 times, then it is an error (a read is never answered short).
        """
        items: list[dict[str, Any]] = []
        wanted: dict[str, Any] = {self._table: {"Keys": keys, **options}}
        for attempt in range(10):
            response = self._client.batch_get_item(RequestItems=wanted)
            items += response.get("Responses", {}).get(self._table, [])
            wanted = dict(response.get("UnprocessedKeys") or {})
            if not wanted:
                return items
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not a secret
        raise RuntimeError(f"DynamoDB left {what} keys unprocessed after 10 attempts")

    def _transact(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Run a transaction; None when it committed, else DynamoDB's cancellation reasons."""
        try:
            self._client.transact_write_items(TransactItems=operations)  # type: ignore[arg-type]
        except self._client.exceptions.TransactionCanceledException as exc:
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
            codes = {reason.get("Code") for reason in reasons}
            if "ConditionalCheckFailed" in codes:
                return reasons
            if "TransactionConflict" in codes:
                raise WriteConflict("another transaction was writing the same items") from None
            raise
        return None

    @staticmethod
    def _raise_for(reasons: list[dict[str, Any]] | None) -> None:
        """Turn a cancelled transaction whose first item is the session into the matching exception."""
        if reasons is None:
            return
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            stored = reasons[0].get("Item")
            raise VersionChanged(session_record(stored) if stored else None)
        raise SessionLimitReached("the maximum number of open sessions is reached")

"""What removal needs: the cleanup's lease, index walk and deletes, purge markers, and counting a removal out once."""

from __future__ import annotations

import contextlib
from typing import Any, cast

from sessions.core.attribute_values import from_item, to_item
from sessions.core.clock import now_ms
from sessions.domain import counters
from sessions.domain.counters import CounterDeltas
from sessions.domain.records import ExpiryEntry, SessionRecord
from sessions.store.base import TableAccess
from sessions.store.keys import MARKER_LIFETIME_SECONDS, SETTLED_SK_PREFIX, purge_marker, session_pk
from sessions.store.slots import settle_slot
from sessions.store.stats_counters import counter_updates

CLEANUP_PK = "#CLEANUP"
CLEANUP_RUN_SK_PREFIX = "#RUN#"
CLEANUP_LEASE_SK = "#LEASE"
CLEANUP_PAGE_SIZE = 100


class Removals(TableAccess):
    def due_for_removal(
        self, bucket: str, now: str, start: dict[str, Any] | None = None
    ) -> tuple[list[ExpiryEntry], dict[str, Any] | None]:
        """A page of one expiry bucket's index entries that are due (purge_at <= now), with their keys."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByExpiry",
            "KeyConditionExpression": "expiry_bucket = :bucket AND purge_at <= :now",
            "ExpressionAttributeValues": {":bucket": {"S": bucket}, ":now": {"S": now}},
            "Limit": CLEANUP_PAGE_SIZE,
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = self._client.query(**request)
        entries = [cast("ExpiryEntry", from_item(item)) for item in response.get("Items", [])]
        return entries, response.get("LastEvaluatedKey")

    def history_keys(self, pk: str, incarnation: str) -> list[dict[str, Any]]:
        """The keys of one incarnation's events (keys only: the cleanup reads no content)."""
        keys: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": f"E#{incarnation}#"}},
            "ProjectionExpression": "PK, SK",
        }
        while True:
            response = self._client.query(**request)
            keys += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return keys
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def batch_write(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One BatchWriteItem of at most 25 requests; returns the requests DynamoDB left unprocessed."""
        response = self._client.batch_write_item(RequestItems={self._table: requests})  # type: ignore[dict-item]
        return list(response.get("UnprocessedItems", {}).get(self._table, []))  # type: ignore[arg-type]

    def get_cleanup_checkpoint(self) -> str | None:
        response = self._client.get_item(
            TableName=self._table, Key={"PK": {"S": CLEANUP_PK}, "SK": {"S": "#CHECKPOINT"}}, ConsistentRead=True
        )
        return from_item(response["Item"]).get("hour") if "Item" in response else None

    def put_cleanup_checkpoint(self, hour: str) -> None:
        self._client.put_item(
            TableName=self._table, Item=to_item({"PK": CLEANUP_PK, "SK": "#CHECKPOINT", "hour": hour})
        )

    def acquire_cleanup_lease(self, owner: str, now: int, duration_ms: int) -> bool:
        """Take the cleanup's lease unless another run holds one that has not expired; whether it was taken.

        One item, one conditional PutItem: of two runs racing for it exactly one wins, and a lease
        left by a run that died (timeout, out of memory) is taken over once it expires.
        """
        lease = {"PK": CLEANUP_PK, "SK": CLEANUP_LEASE_SK, "owner": owner, "expires_ms": now + duration_ms}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(lease),
                ConditionExpression="attribute_not_exists(PK) OR expires_ms <= :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_cleanup_lease(self, owner: str) -> None:
        """Give the lease back, unless it expired and another run took it over meanwhile."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.delete_item(
                TableName=self._table,
                Key={"PK": {"S": CLEANUP_PK}, "SK": {"S": CLEANUP_LEASE_SK}},
                ConditionExpression="#owner = :owner",  # OWNER is a reserved word
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )

    def put_cleanup_run(self, run_id: str, summary: dict[str, Any], at_ms: int) -> None:
        """The run's summary as an item: the stream turns it into sessions.cleanup_completed."""
        item = {"PK": CLEANUP_PK, "SK": f"{CLEANUP_RUN_SK_PREFIX}{run_id}", **summary, "ttl": at_ms // 1000 + 86400}
        self._client.put_item(TableName=self._table, Item=to_item(item))

    def settle_removed_session(self, old: SessionRecord, *, by_ttl: bool) -> None:
        """Count a removed session out, once per incarnation however often its stream record comes.

        A settled marker (kept MARKER_LIFETIME_SECONDS, past the last moment its stream record can
        come back) makes it exactly-once, for deleted sessions too: a redelivery never puts back a
        purge marker the cleanup already worked off. The purge marker hands whatever history the
        session left behind to the cleanup: all of it when DynamoDB's TTL removed the item (the
        marker then asks the run that works it off to count the session, as no run removed it),
        what a cleanup run did not reach when the cleanup did (already counted by that run).
        A slot it still held is given back with its slot item, unless a repair gave it back first
        (store/slots.py): then only the stats are counted out.
        """
        deltas = counters.expiry(old)
        key = session_pk(old["tenant_id"], old["session_id"])
        at = now_ms()
        marker = purge_marker(self._table, key, old["incarnation"], at, uncounted=old if by_ttl else None)
        settled = {
            "PK": key,
            "SK": f"{SETTLED_SK_PREFIX}{old['incarnation']}",
            "ttl": at // 1000 + MARKER_LIFETIME_SECONDS,
        }
        once = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(settled),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        operations = [marker, once]
        if not deltas:
            self._transact(operations)  # a deleted session was counted out when it was deleted
            return
        slot = [settle_slot(self._table, old)] if deltas.slots else []
        reasons = self._transact([*operations, *slot, *self._counted_out(old, deltas)])
        if reasons is None or reasons[1].get("Code") == "ConditionalCheckFailed":
            return  # settled now, or before
        # the slot was given back by a repair: count out the stats only
        self._transact([*operations, *self._counted_out(old, CounterDeltas(deltas.fields))])

    def delete_purge_marker(self, key: dict[str, Any]) -> bool:
        """Delete a purge marker; whether this call removed it (so the session it stands for is counted once)."""
        try:
            self._client.delete_item(TableName=self._table, Key=key, ConditionExpression="attribute_exists(PK)")
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _counted_out(self, old: SessionRecord, deltas: CounterDeltas) -> list[dict[str, Any]]:
        return counter_updates(self._table, old["tenant_id"], [(old["user_id"], deltas)], cap=0)

    def delete_due_session(self, entry: ExpiryEntry, now: str) -> bool:
        """Delete a session if it is still the same incarnation and still due; whether it was.

        The condition keeps a session that was re-created under the same id, or became active again
        since the cleanup read the index, from being deleted (BatchWriteItem cannot say this).
        """
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"PK": {"S": entry["PK"]}, "SK": {"S": entry["SK"]}},
                ConditionExpression="incarnation = :incarnation AND purge_at <= :now",
                ExpressionAttributeValues={":incarnation": {"S": entry["incarnation"]}, ":now": {"S": now}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

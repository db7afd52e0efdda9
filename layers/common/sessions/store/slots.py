"""Open-session slots by name, so that a slot whose session is gone can be given back, exactly once.

The cap holds on a number, `open_sessions` on the owner's #COUNTERS item, moved in the same
transaction as the session. Beside it, each slot is an item naming the session that holds it
(`#SLOT#{session_id}#{incarnation}` in the owner's partition), put and deleted in that same
transaction. The write that closes a session gives its slot back; a session that leaves the table
while open gives it back through the publisher's settlement of its stream record. When that
record is lost (a stream batch failed past its retries), the slot item names a session that no
longer exists, and `repair_slots` gives exactly those back.

Why the repair is exact under concurrency:
- it reads the slot items and the sessions from the table, strongly consistent, never from an
  index, so a session created a moment ago is never taken for a missing one;
- an incarnation that is gone never comes back (a session created under the same id gets a new
  one), so a slot whose session is missing, or holds another incarnation, is free for good;
- giving a slot back is one transaction conditioned on its item not being freed yet: concurrent
  repairs and the settlement race on that condition and exactly one of them gives it back. The
  repair marks the item freed (for MARKER_LIFETIME_SECONDS, past the last moment the session's
  stream record, written before the repair found it gone, can come back) instead of deleting it,
  so a settlement that comes late, or is replayed, counts out only the stats.
Sessions opened before slots had items have none: their slots are given back by their settlement
as before, and a repair never counts them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from sessions.core.attribute_values import from_item, to_item
from sessions.core.clock import now_ms
from sessions.core.retrying import back_off, write_attempts
from sessions.domain.records import SessionRecord
from sessions.store.base import TableAccess, WriteConflict
from sessions.store.keys import (
    COUNTERS_SK,
    MARKER_LIFETIME_SECONDS,
    SESSION_SK,
    SLOT_SK_PREFIX,
    purge_marker,
    session_pk,
    slot_key,
    user_pk,
)

BATCH_GET_MAX_KEYS = 100
logger = Logger(child=True)


def _holds_slot(record: SessionRecord | None) -> bool:
    return bool(record and record.get("holds_slot"))


def slot_moves(table: str, before: SessionRecord | None, after: SessionRecord | None) -> list[dict[str, Any]]:
    """The slot item's part of a write that takes a slot (put) or gives one back (delete).

    The delete has no condition: a session opened before slots had items has none to delete, and
    its slot is still counted, so the counter moves all the same.
    """
    if after is not None and _holds_slot(after) and not _holds_slot(before):
        names = to_item({"session_id": after["session_id"], "incarnation": after["incarnation"]})
        return [{"Put": {"TableName": table, "Item": {**slot_key(after), **names}}}]
    if before is not None and _holds_slot(before) and not _holds_slot(after):
        return [{"Delete": {"TableName": table, "Key": slot_key(before)}}]
    return []


def settle_slot(table: str, removed: SessionRecord) -> dict[str, Any]:
    """The settlement's part: delete the slot item unless a repair already gave the slot back."""
    return {
        "Delete": {
            "TableName": table,
            "Key": slot_key(removed),
            "ConditionExpression": "attribute_not_exists(freed)",
        }
    }


@dataclass(frozen=True)
class SlotRepair:
    open_sessions: int  # the counter as read, less what this repair gave back
    gone: int  # slots found held by sessions that are gone (given back by this repair or a concurrent one)
    freed: int  # of those, the slots this repair gave back


class Slots(TableAccess):
    def repair_slots(self, tenant_id: str, user_id: str) -> SlotRepair:
        """Give back every slot of the user whose session has left the table; see the module's docstring."""
        counters, slots = self._counters_and_slots(tenant_id, user_id)
        holders = self._incarnations(tenant_id, {slot["session_id"] for slot in slots})
        gone = [slot for slot in slots if holders.get(slot["session_id"]) != slot["incarnation"]]
        freed = sum(self._give_back(tenant_id, user_id, slot) for slot in gone)
        return SlotRepair(open_sessions=int(counters.get("open_sessions", 0)) - freed, gone=len(gone), freed=freed)

    def _counters_and_slots(self, tenant_id: str, user_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The user's counters and the slot items not yet freed, in one consistent Query of their partition."""
        request: dict[str, Any] = {
            "TableName": self._table,
            # "#COUNTERS" sorts before "#SLOT#…", and "~" after every character of a session id
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :counters AND :last_slot",
            "ExpressionAttributeValues": {
                ":pk": {"S": user_pk(tenant_id, user_id)},
                ":counters": {"S": COUNTERS_SK},
                ":last_slot": {"S": f"{SLOT_SK_PREFIX}~"},
            },
            "ConsistentRead": True,
        }
        counters: dict[str, Any] = {}
        slots: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**request)
            for item in map(from_item, response.get("Items", [])):
                if item["SK"] == COUNTERS_SK:
                    counters = item
                elif item["SK"].startswith(SLOT_SK_PREFIX) and "freed" not in item:
                    slots.append(item)
            if "LastEvaluatedKey" not in response:
                return counters, slots
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _incarnations(self, tenant_id: str, session_ids: set[str]) -> dict[str, str]:
        """session id → the incarnation stored under it now, for those that exist (consistent reads)."""
        found: dict[str, str] = {}
        keys = [{"PK": {"S": session_pk(tenant_id, sid)}, "SK": {"S": SESSION_SK}} for sid in sorted(session_ids)]
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            batch = keys[start : start + BATCH_GET_MAX_KEYS]
            items = self._batch_get(
                batch, what="session", ConsistentRead=True, ProjectionExpression="session_id, incarnation"
            )
            for item in map(from_item, items):
                found[item["session_id"]] = item["incarnation"]
        return found

    def _give_back(self, tenant_id: str, user_id: str, slot: dict[str, Any]) -> bool:
        """Free one slot whose session is gone; False when another repair or the settlement did it first."""
        at = now_ms()
        operations = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"PK": {"S": slot["PK"]}, "SK": {"S": slot["SK"]}},
                    "UpdateExpression": "SET freed = :at, #ttl = :ttl",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(freed)",
                    "ExpressionAttributeNames": {"#ttl": "ttl"},
                    "ExpressionAttributeValues": {
                        ":at": {"N": str(at)},
                        ":ttl": {"N": str(at // 1000 + MARKER_LIFETIME_SECONDS)},
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": COUNTERS_SK}},
                    "UpdateExpression": "ADD open_sessions :minus_one",
                    "ExpressionAttributeValues": {":minus_one": {"N": "-1"}},
                }
            },
            # the settlement that was lost would have handed the session's history to the cleanup
            purge_marker(self._table, session_pk(tenant_id, slot["session_id"]), slot["incarnation"], at),
        ]
        for attempt in write_attempts():
            try:
                given_back = self._transact(operations) is None
            except WriteConflict:
                back_off(attempt)  # creates of the same user move the counter: try again
                continue
            if given_back:
                logger.warning(
                    "gave back the open-session slot of a session that left the table unsettled",
                    extra={"session_id": slot["session_id"], "incarnation": slot["incarnation"]},
                )
            return given_back
        return False  # the counter stayed busy past the time budget: the next refused write repairs it

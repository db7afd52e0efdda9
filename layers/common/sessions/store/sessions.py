"""Writing sessions and their events: conditional on the version, counters in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessions.core.attribute_values import to_item
from sessions.core.clock import parse_timestamp
from sessions.core.errors import SessionLimitReached, UserErasureInProgress
from sessions.domain import counters
from sessions.domain.lineage import covering, extents
from sessions.domain.records import EventRecord, SessionChanges, SessionRecord, applied
from sessions.store.base import ItemExists, TableAccess, VersionChanged, WriteConflict
from sessions.store.erasure import refuse_while_erasing, refused_by_erasure
from sessions.store.keys import (
    SESSION_SK,
    active_key,
    app_pk,
    event_item,
    event_sk,
    expiry_attributes,
    names_and_values,
    purge_marker,
    session_item,
    session_pk,
    session_record,
)
from sessions.store.slots import slot_moves
from sessions.store.stats_counters import counter_updates


class SessionWrites(TableAccess):
    def get_session(self, tenant_id: str, session_id: str) -> SessionRecord | None:
        """The stored session, live or not (callers decide what is visible)."""
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": session_pk(tenant_id, session_id)}, "SK": {"S": SESSION_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return session_record(item) if item else None

    def create_session(
        self,
        record: SessionRecord,
        *,
        cap: int,
        replacing: SessionRecord | None = None,
        events: Sequence[EventRecord] = (),
        also: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Put a new session, its initial events, and take its open slot, in one transaction.

        `replacing` is a dead (expired or deleted) session stored under the same id: it is
        overwritten only if unchanged since it was read, and gives back a slot it still held.
        `also`: more conditioned writes of the same transaction (state documents, store/state.py).
        Raises ItemExists (with the stored record), VersionChanged, WriteConflict (a document of
        `also` changed since it was read) or SessionLimitReached.
        """
        operations = self._creation(record, cap=cap, replacing=replacing, events=events)
        reasons = self._transact([*operations, *also])
        if reasons is None:
            return
        if refused_by_erasure(reasons):
            raise UserErasureInProgress("the user is being erased: no session of theirs is created until that ends")
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            stored = reasons[0].get("Item")
            if replacing is None and stored:
                raise ItemExists(session_record(stored))
            raise VersionChanged(session_record(stored) if stored else None)
        if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons[len(operations) :]):
            raise WriteConflict("a state document changed since it was read")
        raise SessionLimitReached("the maximum number of open sessions is reached")

    def _creation(
        self,
        record: SessionRecord,
        *,
        cap: int,
        replacing: SessionRecord | None,
        events: Sequence[EventRecord] = (),
    ) -> list[dict[str, Any]]:
        """What a new session writes: its item (first), its initial events, its slot, and the counters it moves."""
        item = session_item(record)
        if replacing is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            condition = {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": {"N": str(replacing["version"])}},
            }
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **condition,
            }
        }
        operations = [put, *(self._event_put(record, event) for event in events)]
        operations += slot_moves(self._table, None, record)
        owners = [(record["user_id"], counters.change(None, record))]
        if replacing is not None:
            # the dead session under this id leaves now: counted out of its owner's stats as expired,
            # its slot given back, and its history left to the cleanup (it never reaches the stream as a
            # removal), which counts it when it purges that history: no run removed its item
            owners.append((replacing["user_id"], counters.expiry(replacing)))
            operations += slot_moves(self._table, replacing, None)
            dead_key = session_pk(replacing["tenant_id"], replacing["session_id"])
            operations.append(
                purge_marker(
                    self._table,
                    dead_key,
                    replacing["incarnation"],
                    parse_timestamp(record["created_at"]),
                    uncounted=replacing,
                )
            )
        operations += counter_updates(self._table, record["tenant_id"], owners, cap)
        refuse_while_erasing(operations, record["tenant_id"], record["user_id"])  # store/erasure.py
        return operations

    def update_session(self, current: SessionRecord, changes: SessionChanges, *, cap: int = 0) -> SessionRecord:
        """Write `changes` (top-level attributes; None removes one) if `current` is still the stored version.

        The version grows by one. When the change moves the owner's counters (a status, a slot,
        a delete) they move in the same transaction. Returns the new record.
        Raises VersionChanged (with the stored record) or SessionLimitReached.
        """
        update, new_record = self._versioned_update(current, changes)
        deltas = counters.change(current, new_record)
        if not deltas:
            try:
                self._client.update_item(**update)
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                stored: Any = exc.response.get("Item")
                raise VersionChanged(session_record(stored) if stored else None) from None
            except self._client.exceptions.TransactionConflictException:
                raise WriteConflict("a transaction was writing the session") from None
            return new_record
        updates = counter_updates(self._table, current["tenant_id"], [(current["user_id"], deltas)], cap)
        slot = slot_moves(self._table, current, new_record)
        self._raise_for(self._transact([{"Update": update}, *slot, *updates]))
        return new_record

    def append_events(
        self,
        current: SessionRecord,
        events: Sequence[EventRecord],
        changes: SessionChanges,
        *,
        also: Sequence[dict[str, Any]] = (),
        removing: Sequence[EventRecord] = (),
    ) -> SessionRecord:
        """Put the events and apply `changes` to their session in one transaction, if the session is unchanged.

        `removing`: stored events deleted in the same transaction (a tail replaced by the events).

        `also`: more conditioned writes of the same transaction (state documents, store/state.py);
        one of them failing its condition raises WriteConflict, so the append is planned again.
        """
        # a replaced tail changes history that forks may read: conditioned on no fork registering meanwhile
        update, new_record = self._versioned_update(current, changes, history=bool(removing))
        deltas = counters.change(current, new_record)
        updates = counter_updates(self._table, current["tenant_id"], [(current["user_id"], deltas)], cap=0)
        operations = [{"Update": update}, *(self._event_put(current, event) for event in events), *updates]
        operations += [self._event_delete(current, gone["seq"]) for gone in own_events(current, removing)]
        reasons = self._transact([*operations, *also])
        state_failed = reasons and any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[len(operations) :])
        if state_failed and reasons[0].get("Code") != "ConditionalCheckFailed":  # type: ignore[index]
            raise WriteConflict("a state document changed since it was read")
        self._raise_for(reasons)
        return new_record

    def _versioned_update(
        self, current: SessionRecord, changes: SessionChanges, *, history: bool = False
    ) -> tuple[dict[str, Any], SessionRecord]:
        """An UpdateItem of `changes` conditioned on the current version, and the record it leads to.

        `history`: the write changes or removes stored events, so it is conditioned on the forks
        registered with the session too (`fork_count`, as read): a fork that registered meanwhile
        makes it fail, and it is planned again, its readers detached first (store/forks.py). A
        change of `lineage` (a fork's own) is conditioned on `lineage_rev` and moves it on.
        Neither costs anything: they are conditions of the same UpdateItem.
        """
        # a write that does not say who made it leaves no one's name on the item (never the last writer's)
        changes = {"updated_by": None, **changes}
        guards: list[str] = []
        guard_names: dict[str, str] = {}
        guard_values: dict[str, Any] = {}
        if "lineage" in changes:
            revision = int(current.get("lineage_rev", 0))
            changes["lineage_rev"] = revision + 1
            guard_names["#lineage_rev"] = "lineage_rev"
            guard_values[":current_lineage_rev"] = {"N": str(revision)}
            guards.append("#lineage_rev = :current_lineage_rev" if revision else "attribute_not_exists(#lineage_rev)")
        if history:
            guard_names["#fork_count"] = "fork_count"
            if current.get("fork_count"):
                guard_values[":current_fork_count"] = {"N": str(current["fork_count"])}
                guards.append("#fork_count = :current_fork_count")
            else:
                guards.append("attribute_not_exists(#fork_count)")
        new_record = applied(current, changes)
        new_record["version"] = current["version"] + 1
        attribute_changes: dict[str, Any] = {**changes, "version": new_record["version"]}
        if {"expires_at", "last_active_at"} & changes.keys():
            attribute_changes.update(expiry_attributes(new_record))
        if "last_active_at" in changes:  # the ByUserActivity and ByAppActivity sort key moves with it
            attribute_changes["active_key"] = active_key(new_record)
            app_name = new_record.get("app_name")
            if app_name:  # unchanged, but a session made before ByApp existed enters it
                attribute_changes["by_app_pk"] = app_pk(new_record["tenant_id"], app_name)
        to_set = {key: value for key, value in attribute_changes.items() if value is not None}
        to_remove = [key for key, value in attribute_changes.items() if value is None]
        names, values = names_and_values(to_set)
        names.update({f"#{key}": key for key in to_remove})
        names["#current_version"] = "version"
        values[":current_version"] = {"N": str(current["version"])}
        names.update(guard_names)
        values.update(guard_values)
        expression = "SET " + ", ".join(f"#{key} = :{key}" for key in to_set)
        if to_remove:
            expression += " REMOVE " + ", ".join(f"#{key}" for key in to_remove)
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"PK": {"S": session_pk(current["tenant_id"], current["session_id"])}, "SK": {"S": SESSION_SK}},
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(["#current_version = :current_version", *guards]),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        return update, new_record

    def _event_delete(self, session: SessionRecord, seq: int) -> dict[str, Any]:
        pk = session_pk(session["tenant_id"], session["session_id"])
        key = {"PK": pk, "SK": event_sk(session["incarnation"], seq)}
        return {"Delete": {"TableName": self._table, "Key": to_item(key)}}

    def _event_put(self, session: SessionRecord, event: EventRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(event_item(session, event)),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }


def own_events(session: SessionRecord, events: Sequence[EventRecord]) -> list[EventRecord]:
    """Those of `events` stored in the session's own partition: a fork's inherited events live in their source's."""
    lineage = extents(session)
    if not lineage:
        return list(events)
    return [event for event in events if covering(lineage, int(event["seq"])) is None]

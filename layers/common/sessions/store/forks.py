"""Forks: a session that reads another's prefix instead of copying it, and what keeps that read unchanged.

A fork's item carries its `lineage` (sessions/domain/lineage.py): extents of other sessions' partitions it
reads. Every session it reads from (a source) keeps, per incarnation, in its own partition:

    #FORKS#{incarnation}                                    count (forks registered), closed (purge begun)
    #READER#{incarnation}#{reader_id}#{reader_incarnation}  one per fork that reads it

and, while its item is stored, `fork_count` on its item (the same count). Creating a fork is one
transaction whatever the parent's length: the new session (with its slot and counters), the parent
conditioned on the version read (live, same incarnation, its lineage unchanged), and per source the
counter (conditioned on not closed), the registration and the source item's `fork_count`.

Copy before change: before a source's events change or go (rewind, replaced tail, PATCH, purge),
`detach_readers` copies, for every registered fork whose extents cover them, those events as they
are now (large parts copied to the fork's own S3 keys) into the fork's own partition and cuts them
out of its extents: one transaction per chunk of at most CHUNK_EVENTS events, conditioned on the
fork's incarnation and `lineage_rev`. The change itself is then conditioned on `fork_count` as it
was read (store/sessions.py), so a fork registered meanwhile makes it plan again, and detach that one
too. A purge (the session item already gone) first closes the counter, then detaches, then deletes.
Forks that are gone (deleted, expired, another incarnation) are skipped and their registration dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sessions.core.attribute_values import from_item, to_item
from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import SessionLimitReached, UserErasureInProgress
from sessions.core.retrying import back_off, write_attempts
from sessions.domain.lineage import LAST_SEQ, SeqRange, cut, extents, intersect, overlap
from sessions.domain.records import EventRecord, Extent, ForkCounter, SessionRecord
from sessions.store.base import ItemExists, VersionChanged, WriteConflict
from sessions.store.erasure import refused_by_erasure
from sessions.store.event_edits import EventEdits
from sessions.store.keys import (
    FORKS_SK_PREFIX,
    READER_SK_PREFIX,
    SESSION_SK,
    event_item,
    event_record,
    event_sk,
    fork_counter_key,
    reader_sk,
    session_pk,
    session_record,
)
from sessions.store.slots import Slots

if TYPE_CHECKING:
    from sessions.store.blobs import EventBlobs  # S3: loaded only where events are copied

# A detach transaction: the fork's item and at most this many events (DynamoDB takes 100 items and
# 4 MB per transaction; an event item is at most 400 KB, so the bytes bound the chunk too).
CHUNK_EVENTS = 99
CHUNK_BYTES = 3_500_000


class ParentChanged(Exception):
    """The parent changed (or left) since it was read; `record` is its item now, when the write saw it."""

    def __init__(self, record: SessionRecord | None) -> None:
        super().__init__("the parent changed since it was read")
        self.record = record


class SourceClosed(Exception):
    """A session the fork would read from is being purged: it takes no more forks."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} takes no more forks")
        self.session_id = session_id


class ReaderChanged(Exception):
    """A fork's lineage moved while its events were being copied in: read it again."""


@dataclass(frozen=True)
class Source:
    """A session a fork reads from; `stored`: its item is stored under this incarnation (it counts forks too)."""

    session_id: str
    incarnation: str
    stored: bool


class Forks(EventEdits, Slots):
    # --- creating a fork ----------------------------------------------------------------------------

    def stored_incarnations(self, tenant_id: str, session_ids: set[str]) -> dict[str, str]:
        """session id → the incarnation stored under it (consistent reads, one BatchGetItem per 100)."""
        return self._incarnations(tenant_id, session_ids)

    def create_fork(
        self,
        record: SessionRecord,
        *,
        parent: SessionRecord,
        sources: list[Source],
        cap: int,
        replacing: SessionRecord | None,
    ) -> None:
        """Put the fork (as a create does) and register it with every source it reads, in one transaction.

        Raises ItemExists / VersionChanged (the id, as a create), ParentChanged, SourceClosed,
        WriteConflict (a source's item changed) or SessionLimitReached.
        """
        operations = self._creation(record, cap=cap, replacing=replacing)
        created = len(operations)
        parent_key = (parent["session_id"], parent["incarnation"])
        counts_parent = any((source.session_id, source.incarnation) == parent_key for source in sources)
        operations.append(self._parent_guard(parent, count=counts_parent))
        roles: list[tuple[str, str] | None] = []  # what a failed condition of each operation after it means
        at = format_ms(now_ms())
        for source in sources:
            pk = session_pk(record["tenant_id"], source.session_id)
            counter = fork_counter_key(pk, source.incarnation)
            operations.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": counter,
                        "UpdateExpression": "ADD #count :one",
                        "ConditionExpression": "attribute_not_exists(#closed)",
                        "ExpressionAttributeNames": {"#count": "count", "#closed": "closed"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
            )
            roles.append(("closed", source.session_id))
            registration = {
                "PK": pk,
                "SK": reader_sk(source.incarnation, record["session_id"], record["incarnation"]),
                "tenant_id": record["tenant_id"],
                "source_id": source.session_id,
                "reader_id": record["session_id"],
                "reader_incarnation": record["incarnation"],
                "created_at": at,
            }
            operations.append({"Put": {"TableName": self._table, "Item": to_item(registration)}})
            roles.append(None)
            if source.stored and (source.session_id, source.incarnation) != parent_key:
                operations.append({"Update": _count_fork(self._table, pk, source.incarnation)})
                roles.append(("changed", source.session_id))
        reasons = self._transact(operations)
        if reasons is None:
            return
        if refused_by_erasure(reasons):
            raise UserErasureInProgress("the user is being erased: no session of theirs is created until that ends")
        failed = [index for index, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
        if 0 in failed:
            stored = reasons[0].get("Item")
            if replacing is None and stored:
                raise ItemExists(session_record(stored))
            raise VersionChanged(session_record(stored) if stored else None)
        if created in failed:
            stored = reasons[created].get("Item")
            raise ParentChanged(session_record(stored) if stored else None)
        for index in failed:
            role = roles[index - created - 1] if index > created else None
            if role and role[0] == "closed":
                raise SourceClosed(role[1])
            if role and role[0] == "changed":
                raise WriteConflict(f"session {role[1]!r} changed while the fork registered with it")
        raise SessionLimitReached("the maximum number of open sessions is reached")

    def _parent_guard(self, parent: SessionRecord, *, count: bool) -> dict[str, Any]:
        """The parent as read: same version and incarnation, live, its own lineage unchanged; counting the fork."""
        names = {
            "#version": "version",
            "#incarnation": "incarnation",
            "#deleted": "deleted_at",
            "#expires": "expires_at",
        }
        values = {
            ":version": {"N": str(parent["version"])},
            ":incarnation": {"S": parent["incarnation"]},
            ":now": {"S": format_ms(now_ms())},
        }
        conditions = [
            "#version = :version",
            "#incarnation = :incarnation",
            "attribute_not_exists(#deleted)",
            "#expires > :now",
        ]
        if parent.get("lineage_rev"):
            names["#lineage_rev"] = "lineage_rev"
            values[":lineage_rev"] = {"N": str(parent["lineage_rev"])}
            conditions.append("#lineage_rev = :lineage_rev")
        spec: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"PK": {"S": session_pk(parent["tenant_id"], parent["session_id"])}, "SK": {"S": SESSION_SK}},
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if not count:
            return {"ConditionCheck": spec}
        names["#fork_count"] = "fork_count"
        values[":one"] = {"N": "1"}
        return {"Update": {**spec, "UpdateExpression": "ADD #fork_count :one"}}

    # --- a source's forks ---------------------------------------------------------------------------

    def fork_counter(self, pk: str, incarnation: str) -> ForkCounter | None:
        """The incarnation's fork counter; None when it was never forked (then no fork reads it, nor ever will)."""
        response = self._client.get_item(
            TableName=self._table, Key=fork_counter_key(pk, incarnation), ConsistentRead=True
        )
        return cast("ForkCounter", from_item(response["Item"])) if "Item" in response else None

    def close_forks(self, pk: str, incarnation: str) -> None:
        """No fork registers with this incarnation from now on (its history is about to be purged)."""
        self._client.update_item(
            TableName=self._table,
            Key=fork_counter_key(pk, incarnation),
            UpdateExpression="SET #closed = :closed",
            ExpressionAttributeNames={"#closed": "closed"},
            ExpressionAttributeValues={":closed": {"BOOL": True}},
        )

    def fork_keys(self, pk: str, incarnation: str) -> list[dict[str, Any]]:
        """The keys of the incarnation's fork counter and registrations (what a purge deletes with its history)."""
        keys: list[dict[str, Any]] = [fork_counter_key(pk, incarnation)]
        return keys + [
            {"PK": {"S": pk}, "SK": {"S": registration["SK"]}} for registration in self._readers(pk, incarnation)
        ]

    def _readers(self, pk: str, incarnation: str) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": f"{READER_SK_PREFIX}{incarnation}#"}},
            "ConsistentRead": True,
        }
        readers: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**request)
            readers += [from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return readers
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- copy before change -------------------------------------------------------------------------

    def detach_readers(
        self,
        pk: str,
        incarnation: str,
        ranges: list[SeqRange],
        *,
        blobs: EventBlobs,
        out_of_time: Callable[[], bool] | None = None,
    ) -> bool:
        """Before the events in `ranges` of this source change or go: every fork reading them gets its own copy.

        The one hook every path that changes or removes a session's stored events calls first (rewind,
        replaced tail, PATCH, the cleanup's purge; a removal of chosen events passes their seqs as
        one-seq ranges). Costs nothing more than the Query of the registrations when no fork reads
        these seqs. Returns False when `out_of_time` stopped it: what was copied stays copied, and
        the forks' lineages say exactly what is left.
        """
        for registration in self._readers(pk, incarnation):
            if out_of_time is not None and out_of_time():
                return False
            if not self._detach(registration, incarnation, ranges, blobs, out_of_time):
                return False
        return True

    def _detach(
        self,
        registration: dict[str, Any],
        incarnation: str,
        ranges: list[SeqRange],
        blobs: EventBlobs,
        out_of_time: Callable[[], bool] | None,
    ) -> bool:
        tenant_id, source_id = registration["tenant_id"], registration["source_id"]
        for attempt in write_attempts():
            reader = self.get_session(tenant_id, registration["reader_id"])
            if _gone(reader, registration["reader_incarnation"]):
                # a deleted or expired fork is never read again: nothing to keep for it
                self._client.delete_item(
                    TableName=self._table, Key={"PK": {"S": registration["PK"]}, "SK": {"S": registration["SK"]}}
                )
                return True
            assert reader is not None  # noqa: S101 - _gone says so
            wanted = overlap(extents(reader), source_id, incarnation, ranges)
            if not wanted:
                return True
            try:
                return self._copy_into(reader, source_id, incarnation, wanted, blobs, out_of_time)
            except (ReaderChanged, WriteConflict):
                back_off(attempt)  # the fork changed its own lineage meanwhile (its own rewind or PATCH)
        raise WriteConflict(f"fork {registration['reader_id']!r} kept changing while its events were copied")

    def _copy_into(
        self,
        reader: SessionRecord,
        source_id: str,
        incarnation: str,
        wanted: list[SeqRange],
        blobs: EventBlobs,
        out_of_time: Callable[[], bool] | None,
    ) -> bool:
        """Copy the source's events of `wanted` into the reader and cut them from its extents, chunk by chunk."""
        source = {"tenant_id": reader["tenant_id"], "session_id": source_id, "incarnation": incarnation}
        state = _ReaderLineage(extents(reader), int(reader.get("lineage_rev", 0)))
        chunk: list[EventRecord] = []
        size, low = 0, wanted[0][0]
        for start, end in wanted:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
                "ExpressionAttributeValues": {
                    ":pk": {"S": session_pk(source["tenant_id"], source_id)},
                    ":first": {"S": event_sk(incarnation, start)},
                    ":last": {"S": event_sk(incarnation, end)},
                },
                "ConsistentRead": True,
            }
            while True:
                response = self._client.query(**request)
                for event in map(event_record, response.get("Items", [])):
                    event_size = len(json.dumps(event, default=str))
                    if chunk and (len(chunk) == CHUNK_EVENTS or size + event_size > CHUNK_BYTES):
                        self._commit_copies(reader, state, chunk, intersect(wanted, low, chunk[-1]["seq"]), blobs)
                        low, chunk, size = int(chunk[-1]["seq"]) + 1, [], 0
                        if out_of_time is not None and out_of_time():
                            return False
                    chunk.append(event)
                    size += event_size
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        self._commit_copies(reader, state, chunk, intersect(wanted, low, LAST_SEQ), blobs)
        return True

    def _commit_copies(
        self,
        reader: SessionRecord,
        state: _ReaderLineage,
        events: list[EventRecord],
        taken: list[SeqRange],
        blobs: EventBlobs,
    ) -> None:
        """One transaction: the events into the reader's partition, `taken` out of its extents (if unchanged)."""
        lineage = cut(state.lineage, taken)
        update = {
            "TableName": self._table,
            "Key": {"PK": {"S": session_pk(reader["tenant_id"], reader["session_id"])}, "SK": {"S": SESSION_SK}},
            "UpdateExpression": "SET #lineage = :lineage, #rev = :next",
            "ConditionExpression": "#incarnation = :incarnation AND #rev = :rev",
            "ExpressionAttributeNames": {"#lineage": "lineage", "#rev": "lineage_rev", "#incarnation": "incarnation"},
            "ExpressionAttributeValues": {
                ":lineage": to_item({"l": lineage})["l"],
                ":next": {"N": str(state.rev + 1)},
                ":rev": {"N": str(state.rev)},
                ":incarnation": {"S": reader["incarnation"]},
            },
        }
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(event_item(reader, _with_own_parts(reader, event, blobs))),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for event in events
        ]
        if self._transact([{"Update": update}, *puts]) is not None:
            raise ReaderChanged
        state.lineage, state.rev = lineage, state.rev + 1


def _count_fork(table: str, pk: str, incarnation: str) -> dict[str, Any]:
    """A source's item counts a fork registered with it, so its own history changes notice (store/sessions.py)."""
    return {
        "TableName": table,
        "Key": {"PK": {"S": pk}, "SK": {"S": SESSION_SK}},
        "UpdateExpression": "ADD #fork_count :one",
        "ConditionExpression": "#incarnation = :incarnation",
        "ExpressionAttributeNames": {"#fork_count": "fork_count", "#incarnation": "incarnation"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":incarnation": {"S": incarnation}},
    }


@dataclass
class _ReaderLineage:
    """A fork's extents and their revision, as the copies into it move them."""

    lineage: list[Extent]
    rev: int


def _gone(reader: SessionRecord | None, incarnation: str) -> bool:
    """A fork no one reads any more: removed, deleted, expired, or its id taken by another session."""
    if reader is None or reader["incarnation"] != incarnation or "deleted_at" in reader:
        return True
    return bool(reader["expires_at"] <= format_ms(now_ms()))


def _with_own_parts(reader: SessionRecord, event: EventRecord, blobs: EventBlobs) -> EventRecord:
    """The event with its large parts copied to the reader's own keys: the source's go with the source."""
    if not event.get("blobs"):
        return event
    from sessions.store.blobs import own_copies

    return {**event, "blobs": own_copies(blobs, reader, event["event_id"], event["blobs"])}


__all__ = ["FORKS_SK_PREFIX", "Forks", "ParentChanged", "ReaderChanged", "Source", "SourceClosed"]

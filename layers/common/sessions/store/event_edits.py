"""Reading one event, changing one (redaction), and removing events: a history's tail (rewind) or selected seqs.

Every change to the history is one transaction with its session's update, conditioned on the
session version read: an append, a rewind or a redaction that won meanwhile makes it fail, and
the service plans again on the session as it is now. The session's version therefore covers its
history: an event read after the session, at the same version, is the event as it stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sessions.core.attribute_values import to_item
from sessions.domain import counters
from sessions.domain.lineage import Segment, covering, extents, segments
from sessions.domain.records import EventRecord, EventTimes, Extent, SessionChanges, SessionRecord
from sessions.store.base import WriteConflict
from sessions.store.keys import LAST_SEQ, event_item, event_record, event_sk, record_of, session_pk
from sessions.store.sessions import SessionWrites, own_events
from sessions.store.stats_counters import counter_updates


class EventEdits(SessionWrites):
    def get_event(self, session: SessionRecord, seq: int) -> EventRecord | None:
        """The stored event `seq` of the session's history (a fork's inherited one from its source), or None."""
        response = self._client.get_item(
            TableName=self._table,
            Key=_event_key(session, seq, covering(extents(session), seq)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return event_record(item) if item else None

    def events_from(
        self, session: SessionRecord, from_seq: int, limit: int, *, projection: str | None = None
    ) -> list[EventRecord]:
        """The events with seq >= from_seq, in seq order, at most `limit` of them (a fork's read where they live).

        `projection`: the attributes to read (a ProjectionExpression of plain names), else whole events;
        the records then hold only those.
        """
        events: list[EventRecord] = []
        for segment in segments(extents(session), from_seq, LAST_SEQ):
            request = self._segment_query(session, segment)
            if projection:
                names = {f"#p{i}": name for i, name in enumerate(projection.split(","))}
                request["ProjectionExpression"] = ", ".join(names)
                request["ExpressionAttributeNames"] = names
            while len(events) < limit:
                response = self._client.query(**request, Limit=limit - len(events))
                events += [event_record(item) for item in response.get("Items", [])]
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            if len(events) >= limit:
                break
        return events

    def events_at(self, session: SessionRecord, seqs: list[int]) -> list[EventRecord]:
        """The stored events among `seqs` (at most 100, each once), in seq order: one BatchGetItem, strongly consistent.

        A seq that holds no event (never given, or removed) is simply not among them.
        """
        if not seqs:
            return []
        lineage = extents(session)  # a fork's inherited events are read from their source
        keys = [_event_key(session, seq, covering(lineage, seq)) for seq in seqs]
        events = [event_record(item) for item in self._batch_get(keys, what="event", ConsistentRead=True)]
        return sorted(events, key=lambda event: int(event["seq"]))

    def count_events_from(self, session: SessionRecord, from_seq: int) -> int:
        """How many events have seq >= from_seq (keys only; for telling a client how many)."""
        count = 0
        for segment in segments(extents(session), from_seq, LAST_SEQ):
            request = {**self._segment_query(session, segment), "Select": "COUNT"}
            while True:
                response = self._client.query(**request)
                count += response.get("Count", 0)
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return count

    def latest_event_at_or_before(self, session: SessionRecord, seq: int) -> EventTimes | None:
        """The event with the highest seq <= `seq` (timestamps only), or None: one Query per range until found."""
        for segment in reversed(segments(extents(session), 1, seq)):
            request = self._segment_query(session, segment)
            request.update(
                ScanIndexForward=False,
                Limit=1,
                ProjectionExpression="seq, #timestamp, created_at",
                ExpressionAttributeNames={"#timestamp": "timestamp"},
            )
            items = self._client.query(**request).get("Items", [])
            if items:
                return cast("EventTimes", record_of(items[0]))
        return None

    def _segment_query(self, session: SessionRecord, segment: Segment) -> dict[str, Any]:
        """A Query of one range of a history, from the partition that holds it."""
        source = segment.source
        session_id = source["session_id"] if source else session["session_id"]
        incarnation = source["incarnation"] if source else session["incarnation"]
        return {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": session_pk(session["tenant_id"], session_id)},
                ":first": {"S": event_sk(incarnation, segment.low)},
                ":last": {"S": event_sk(incarnation, segment.high)},
            },
            "ConsistentRead": True,
        }

    def replace_event(self, current: SessionRecord, event: EventRecord, changes: SessionChanges) -> SessionRecord:
        """Store `event` over the stored one and apply `changes` to the session, in one transaction.

        Conditioned on the session version (and on the event still being there). A fork's inherited
        event is written to its own partition instead (its source is never changed): `changes` then
        carry the lineage without that seq. Returns the new session record. Raises VersionChanged or
        WriteConflict.
        """
        update, new_record = self._versioned_update(current, changes, history=True)
        inherited = covering(extents(current), int(event["seq"])) is not None
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(event_item(current, event)),
                "ConditionExpression": "attribute_not_exists(PK)" if inherited else "attribute_exists(PK)",
            }
        }
        reasons = self._transact([{"Update": update}, put])
        if reasons is not None and reasons[0].get("Code") != "ConditionalCheckFailed":
            # the session matched but the event is gone: only a write racing this one can do that
            raise WriteConflict("the event changed while it was written")
        self._raise_for(reasons)
        return new_record

    def remove_events(
        self, current: SessionRecord, events: Sequence[EventRecord], changes: SessionChanges
    ) -> SessionRecord:
        """Delete `events` and apply `changes` to the session (usage corrected), counters with them, in one transaction.

        Every removal of stored events by request goes through here: a rewind's tail and a selection of seqs.
        Conditioned on the session version: an append that won meanwhile makes it fail, so no
        event added after the read survives a rewind that should have removed it.
        """
        update, new_record = self._versioned_update(current, changes, history=True)
        deltas = counters.change(current, new_record)
        updates = counter_updates(self._table, current["tenant_id"], [(current["user_id"], deltas)], cap=0)
        # a fork's inherited events are not its to delete: its lineage (in `changes`) stops reading them
        deletes = [
            {"Delete": {"TableName": self._table, "Key": _event_key(current, event["seq"])}}
            for event in own_events(current, events)
        ]
        self._raise_for(self._transact([{"Update": update}, *deletes, *updates]))
        return new_record


def _event_key(session: SessionRecord, seq: int, source: Extent | None = None) -> dict[str, Any]:
    """The key of an event of the session's own partition, or (`source`, an extent) of the session it is read from."""
    session_id = source["session_id"] if source else session["session_id"]
    incarnation = source["incarnation"] if source else session["incarnation"]
    return {
        "PK": {"S": session_pk(session["tenant_id"], session_id)},
        "SK": {"S": event_sk(incarnation, seq)},
    }

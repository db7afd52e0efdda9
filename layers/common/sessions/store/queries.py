"""Reading pages: sessions from the list indexes (keys.py names them), and a session's history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sessions.core.attribute_values import from_item, to_item
from sessions.domain.lineage import segments
from sessions.domain.records import EventRecord, Extent, Position, SessionRecord, SessionSummaryRecord
from sessions.store.base import TableAccess
from sessions.store.keys import (
    LAST_SEQ,
    SESSION_SK,
    agent_pk,
    app_pk,
    event_record,
    event_sk,
    session_pk,
    session_record,
    summary_record,
    user_pk,
)

# A page may take a few Queries when filters discard items; never more than this many.
MAX_QUERIES_PER_PAGE = 8
# A fork's page takes a Query per range it touches (store/forks.py): a bound of its own.
MAX_LINEAGE_QUERIES_PER_PAGE = 32
QUERY_LIMIT_MAX = 400


@dataclass(frozen=True)
class SessionQuery:
    tenant_id: str
    user_id: str
    now: str
    limit: int
    ascending: bool = False
    agent_id: str | None = None
    statuses: tuple[str, ...] = ()
    session_type: str | None = None
    app_name: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    start: Position | None = None
    all_users: bool = False  # every user's sessions of app_name (ByApp, ByAppActivity)
    by_activity: bool = False  # ordered by last_active_at rather than created_at
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value) pairs a session's metadata must all hold
    include_context: bool = False  # read the page's items from the table (one BatchGetItem)


@dataclass(frozen=True)
class EventQuery:
    tenant_id: str
    session_id: str
    incarnation: str
    limit: int
    ascending: bool = True
    event_type: str | None = None
    after: str | None = None
    before: str | None = None
    start: Position | None = None
    first_seq: int = 0  # the history's base, or a from_seq past it: events before it are left out
    last_seq: int = LAST_SEQ  # a to_seq: events after it are left out (as first_seq, a key condition)
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value) pairs an event's metadata must all hold
    # a fork's extents (sessions.domain.lineage): seq ranges read from other sessions' partitions, in seq order
    lineage: tuple[Extent, ...] = ()


@dataclass(frozen=True)
class Page[R]:
    """A page of records: sessions (SessionSummaryRecord, whole SessionRecords with context) or events."""

    records: Sequence[R]
    next_position: Position | None  # where the next page starts (an exclusive start key)


# An item's position: its key, and the list index's key when it comes from one.
PositionOf = Callable[[dict[str, Any]], Position]


class PageReads(TableAccess):
    def list_sessions(self, query: SessionQuery) -> Page[SessionSummaryRecord]:
        """A page of sessions from the index the query needs: one Query unless filters discard items.

        One user's (ByUser, ByAgent, ByUserActivity) or, with `all_users`, every user's sessions of
        an app (ByApp, ByAppActivity); ordered by creation or, with `by_activity`, by last activity.
        What the index's keys cannot select (agent_id outside ByAgent, creation bounds on an activity
        index, metadata values, statuses, types) is a FilterExpression: read, then discarded.
        """
        index, key_name, key_value, sort_key = _list_index(query)
        names = {"#pk": key_name, "#expires": "expires_at", "#deleted": "deleted_at"}
        values: dict[str, Any] = {":pk": {"S": key_value}, ":now": {"S": query.now}}
        filters = ["#expires > :now", "attribute_not_exists(#deleted)"]
        if query.created_after and query.created_before and query.created_after >= query.created_before:
            return Page([], None)  # an empty range (DynamoDB refuses a BETWEEN whose bounds cross)
        key_condition = "#pk = :pk" + _created_bounds(query, sort_key, names, values, filters)
        _attribute_filters(query, index, names, values, filters)
        request = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": key_condition,
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": query.ascending,
        }
        filtered = len(filters) > 2
        position = _list_position(key_name, sort_key)
        page = self._filled_page(request, query.limit, query.start, filtered, position, summary_record)
        if not query.include_context:
            return page
        return Page(self._whole_sessions(page.records, query.now), page.next_position)

    def _whole_sessions(self, records: Sequence[SessionSummaryRecord], now: str) -> list[SessionRecord]:
        """The table's items of a page's sessions (one BatchGetItem), in the page's order; gone ones left out.

        The list indexes leave context out (lean projection); the items read here are as fresh as
        the table's, so a session deleted or expired since the index answered is dropped.
        """
        if not records:
            return []
        keys = [{"PK": {"S": session_pk(r["tenant_id"], r["session_id"])}, "SK": {"S": SESSION_SK}} for r in records]
        found = {record["session_id"]: record for record in map(session_record, self._batch_get(keys, what="session"))}
        whole = [found.get(record["session_id"]) for record in records]
        return [r for r in whole if r is not None and "deleted_at" not in r and r["expires_at"] > now]

    def query_events(self, query: EventQuery) -> Page[EventRecord]:
        """A page of one incarnation's history, in seq order, between first_seq and last_seq (the key condition)."""
        if query.first_seq > query.last_seq:
            return Page([], None)  # a to_seq before the base: DynamoDB refuses a BETWEEN whose bounds cross
        names = {"#sk": "SK"}
        values: dict[str, Any] = {
            ":pk": {"S": session_pk(query.tenant_id, query.session_id)},
            ":first": {"S": event_sk(query.incarnation, query.first_seq)},
            ":last": {"S": event_sk(query.incarnation, query.last_seq)},
        }
        filters = []
        if query.event_type is not None:
            names["#type"] = "type"
            values[":type"] = {"S": query.event_type}
            filters.append("#type = :type")
        # on `timestamp`: after inclusive, before exclusive; an event stored before events had a
        # timestamp happened when it was created
        for operator, bound, name in ((">=", query.after, ":after"), ("<", query.before, ":before")):
            if bound is not None:
                names["#timestamp"], names["#created_at"] = "timestamp", "created_at"
                values[name] = {"S": bound}
                filters.append(
                    f"(#timestamp {operator} {name} OR "
                    f"(attribute_not_exists(#timestamp) AND #created_at {operator} {name}))"
                )
        filters += metadata_filter(query.metadata, names, values)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND #sk BETWEEN :first AND :last",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": query.ascending,
            "ConsistentRead": True,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        if query.lineage:
            return self._lineage_page(query, request)
        start = query.start
        if start is not None and start.get("SK", "") < values[":first"]["S"]:
            # a cursor issued before a newer base: oldest first, the page starts at the base; newest first, the
            # history it was reading is all compacted now
            if not query.ascending:
                return Page([], None)
            start = None
        return self._filled_page(request, query.limit, start, bool(filters), _event_position, event_record)

    def _lineage_page(self, query: EventQuery, request: dict[str, Any]) -> Page[EventRecord]:
        """A page of a fork's history: each range it touches read from where it lives, in seq order.

        One Query per range (more when filters discard items), at most MAX_LINEAGE_QUERIES_PER_PAGE:
        then the page ends early and its cursor resumes after the last seq read. Positions are the
        fork's own (event_position), whatever partition the event came from.
        """
        low, high = query.first_seq, query.last_seq
        if query.start is not None:
            resumed = seq_of(query.start)
            if resumed < low and not query.ascending:
                return Page([], None)  # as on a session's own history: the events it was reading are compacted
            if resumed >= low:
                low, high = (resumed + 1, high) if query.ascending else (low, resumed - 1)
        parts = segments(list(query.lineage), low, high)
        if not query.ascending:
            parts.reverse()
        items: list[dict[str, Any]] = []
        reached: int | None = None  # everything up to this seq (in reading order) has been read
        queries, filtered = 0, "FilterExpression" in request
        for part in parts:
            pk, incarnation = (
                (session_pk(query.tenant_id, part.source["session_id"]), part.source["incarnation"])
                if part.source
                else (session_pk(query.tenant_id, query.session_id), query.incarnation)
            )
            values = {
                **request["ExpressionAttributeValues"],
                ":pk": {"S": pk},
                ":first": {"S": event_sk(incarnation, part.low)},
                ":last": {"S": event_sk(incarnation, part.high)},
            }
            exclusive_start = None
            while len(items) <= query.limit:
                if queries == MAX_LINEAGE_QUERIES_PER_PAGE:
                    position = event_position(query, reached) if reached is not None else query.start
                    return Page([event_record(item) for item in items], position)
                wanted = query.limit + 1 - len(items)
                page_request = {
                    **request,
                    "ExpressionAttributeValues": values,
                    "Limit": min(QUERY_LIMIT_MAX, wanted * (4 if filtered else 1)),
                }
                if exclusive_start:
                    page_request["ExclusiveStartKey"] = exclusive_start
                response = self._client.query(**page_request)
                queries += 1
                items.extend(response.get("Items", []))
                exclusive_start = response.get("LastEvaluatedKey")
                if not exclusive_start:
                    reached = part.high if query.ascending else part.low
                    break
                reached = seq_of(from_item(exclusive_start))
                filtered = True  # once a read came back short, read further ahead
            if len(items) > query.limit:
                break
        if len(items) > query.limit:
            kept = items[: query.limit]
            return Page([event_record(item) for item in kept], event_position(query, int(from_item(kept[-1])["seq"])))
        return Page([event_record(item) for item in items], None)

    def _filled_page[R](
        self,
        request: dict[str, Any],
        limit: int,
        start: Position | None,
        filtered: bool,
        position: PositionOf,
        record: Callable[[dict[str, Any]], R],
    ) -> Page[R]:
        """Read until the page is full or the items run out, so that a page with a cursor is never short.

        One extra matching item tells whether another page exists. The cursor is the position of
        the last item returned, so items read past it are read again next time, never skipped.
        """
        items: list[dict[str, Any]] = []
        exclusive_start = to_item(start) if start else None
        for _ in range(MAX_QUERIES_PER_PAGE):
            wanted = limit + 1 - len(items)
            page_request = {**request, "Limit": min(QUERY_LIMIT_MAX, wanted * (4 if filtered else 1))}
            # once a read came back short (dead or filtered-out items), read further ahead each time
            filtered = True
            if exclusive_start:
                page_request["ExclusiveStartKey"] = exclusive_start
            response = self._client.query(**page_request)
            items.extend(response.get("Items", []))
            exclusive_start = response.get("LastEvaluatedKey")
            if len(items) > limit or not exclusive_start:
                break
        if len(items) > limit:
            kept = items[:limit]
            return Page([record(item) for item in kept], position(from_item(kept[-1])))
        # out of items (no cursor), or out of reads: resume after the last item read, all of which were discarded
        resume = position(from_item(exclusive_start)) if exclusive_start else None
        return Page([record(item) for item in items], resume)


def _created_bounds(
    query: SessionQuery, sort_key: str, names: dict[str, str], values: dict[str, Any], filters: list[str]
) -> str:
    """created_after/created_before: a key condition on created_key, else (an activity index) filters."""
    if sort_key != "created_key":
        for operator, bound, name in ((">", query.created_after, ":low"), ("<", query.created_before, ":high")):
            if bound is not None:
                names["#created_at"] = "created_at"
                values[name] = {"S": bound}
                filters.append(f"#created_at {operator} {name}")
        return ""
    # created_key is "{created_at}#{session_id}"; ids never hold "~", so "T#~" sorts after every key of T
    bounds = []
    if query.created_after:
        values[":low"] = {"S": f"{query.created_after}#~"}
        bounds.append("#created > :low")
    if query.created_before:
        values[":high"] = {"S": query.created_before}
        bounds.append("#created < :high")
    if len(bounds) == 2:
        bounds = ["#created BETWEEN :low AND :high"]
    if not bounds:
        return ""
    names["#created"] = "created_key"
    return " AND " + bounds[0]


def _attribute_filters(
    query: SessionQuery, index: str, names: dict[str, str], values: dict[str, Any], filters: list[str]
) -> None:
    """Statuses, type, app and agent (where the index's key does not select them), metadata values."""
    for position, status in enumerate(query.statuses):
        values[f":status{position}"] = {"S": status}
    if query.statuses:
        names["#status"] = "status"
        filters.append(f"#status IN ({', '.join(f':status{i}' for i in range(len(query.statuses)))})")
    wanted_values = {"session_type": query.session_type}
    if index not in ("ByApp", "ByAppActivity"):
        wanted_values["app_name"] = query.app_name
    if index != "ByAgent":
        wanted_values["agent_id"] = query.agent_id
    for attribute, wanted in wanted_values.items():
        if wanted is not None:
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = {"S": wanted}
            filters.append(f"#{attribute} = :{attribute}")
    filters += metadata_filter(query.metadata, names, values)


def metadata_filter(pairs: tuple[tuple[str, str], ...], names: dict[str, str], values: dict[str, Any]) -> list[str]:
    """The conditions that an item's `metadata` map holds every (key, value) pair (keys as names: any text)."""
    if pairs:
        names["#metadata"] = "metadata"
    conditions = []
    for position, (key, value) in enumerate(pairs):
        names[f"#mk{position}"] = key
        values[f":mv{position}"] = {"S": value}
        conditions.append(f"#metadata.#mk{position} = :mv{position}")
    return conditions


def _list_index(query: SessionQuery) -> tuple[str, str, str, str]:
    """(index, its partition key attribute, the partition, its sort key attribute) a list reads."""
    sort_key = "active_key" if query.by_activity else "created_key"
    if query.all_users:
        if query.app_name is None:
            raise ValueError("listing every user's sessions needs an app_name")
        return (
            "ByAppActivity" if query.by_activity else "ByApp",
            "by_app_pk",
            app_pk(query.tenant_id, query.app_name),
            sort_key,
        )
    if query.agent_id and not query.by_activity:
        return "ByAgent", "by_agent_pk", agent_pk(query.tenant_id, query.user_id, query.agent_id), sort_key
    index = "ByUserActivity" if query.by_activity else "ByUser"
    return index, "by_user_pk", user_pk(query.tenant_id, query.user_id), sort_key


def _list_position(index_key: str, sort_key: str) -> PositionOf:
    def position(item: dict[str, Any]) -> Position:
        return {name: item[name] for name in ("PK", "SK", index_key, sort_key)}

    return position


def event_position(query: EventQuery, seq: int) -> Position:
    """Where a page of `query` resumes after the event `seq` (a page cut short of its limit)."""
    return {"PK": session_pk(query.tenant_id, query.session_id), "SK": event_sk(query.incarnation, seq)}


def seq_of(position: Position) -> int:
    """The seq an event position (an event's key) stands at: its sort key ends with it, 10 digits."""
    return int(str(position["SK"])[-10:])


def _event_position(item: dict[str, Any]) -> Position:
    return {"PK": item["PK"], "SK": item["SK"]}

"""Reading pages: a user's sessions from the ByUser and ByAgent indexes, and a session's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sessions.attribute_values import from_item, to_item
from sessions.store.base import TableAccess
from sessions.store.keys import LAST_SEQ, agent_pk, event_sk, record_of, session_pk, user_pk

# A page may take a few Queries when filters discard items; never more than this many.
MAX_QUERIES_PER_PAGE = 8
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
    start: dict[str, Any] | None = None


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
    start: dict[str, Any] | None = None
    first_seq: int = 0  # the history's base: events before it are left out


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_position: dict[str, Any] | None  # where the next page starts (an exclusive start key)


class PageReads(TableAccess):
    def list_sessions(self, query: SessionQuery) -> Page:
        """A page of a user's sessions from the ByUser (or ByAgent) index: one Query unless filters discard items."""
        user_key = user_pk(query.tenant_id, query.user_id)
        index, key_name, key_value = (
            ("ByAgent", "by_agent_pk", agent_pk(query.tenant_id, query.user_id, query.agent_id))
            if query.agent_id
            else ("ByUser", "by_user_pk", user_key)
        )
        names = {"#pk": key_name, "#expires": "expires_at", "#deleted": "deleted_at"}
        values: dict[str, Any] = {":pk": {"S": key_value}, ":now": {"S": query.now}}
        key_condition = "#pk = :pk"
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
        if bounds:
            names["#created"] = "created_key"
            key_condition += " AND " + bounds[0]
        filters = ["#expires > :now", "attribute_not_exists(#deleted)"]
        for position, status in enumerate(query.statuses):
            values[f":status{position}"] = {"S": status}
        if query.statuses:
            names["#status"] = "status"
            filters.append(f"#status IN ({', '.join(f':status{i}' for i in range(len(query.statuses)))})")
        for attribute in ("session_type", "app_name"):
            wanted = getattr(query, attribute)
            if wanted is not None:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = {"S": wanted}
                filters.append(f"#{attribute} = :{attribute}")
        request = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": key_condition,
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": query.ascending,
        }
        if query.created_after and query.created_before and query.created_after >= query.created_before:
            return Page([], None)  # an empty range (DynamoDB refuses a BETWEEN whose bounds cross)
        filtered = bool(query.statuses or query.session_type or query.app_name)
        return self._filled_page(request, query.limit, query.start, filtered, _list_position(key_name))

    def query_events(self, query: EventQuery) -> Page:
        """A page of one incarnation's history, in seq order."""
        names = {"#sk": "SK"}
        values: dict[str, Any] = {
            ":pk": {"S": session_pk(query.tenant_id, query.session_id)},
            ":first": {"S": event_sk(query.incarnation, query.first_seq)},
            ":last": {"S": event_sk(query.incarnation, LAST_SEQ)},
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
        start = query.start
        if start is not None and start.get("SK", "") < values[":first"]["S"]:
            # a cursor issued before a newer base: oldest first, the page starts at the base; newest first, the
            # history it was reading is all compacted now
            if not query.ascending:
                return Page([], None)
            start = None
        return self._filled_page(request, query.limit, start, bool(filters), _event_position)

    def _filled_page(
        self, request: dict[str, Any], limit: int, start: dict[str, Any] | None, filtered: bool, position: Any
    ) -> Page:
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
            return Page([record_of(item) for item in kept], position(from_item(kept[-1])))
        # out of items (no cursor), or out of reads: resume after the last item read, all of which were discarded
        resume = position(from_item(exclusive_start)) if exclusive_start else None
        return Page([record_of(item) for item in items], resume)


def _list_position(index_key: str) -> Any:
    def position(item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in ("PK", "SK", index_key, "created_key")}

    return position


def event_position(query: EventQuery, seq: int) -> dict[str, Any]:
    """Where a page of `query` resumes after the event `seq` (a page cut short of its limit)."""
    return {"PK": session_pk(query.tenant_id, query.session_id), "SK": event_sk(query.incarnation, seq)}


def _event_position(item: dict[str, Any]) -> dict[str, Any]:
    return {"PK": item["PK"], "SK": item["SK"]}

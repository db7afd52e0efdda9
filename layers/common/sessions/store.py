"""The only module that talks to DynamoDB: keys, items, conditional writes.

One table holds every tenant. Every key starts with the tenant, so no request can reach
another tenant's items by construction:

    session       PK T#{tenant}#S#{session_id}   SK #SESSION
    event         PK T#{tenant}#S#{session_id}   SK E#{incarnation}#{seq:010d}
    user counters PK T#{tenant}#U#{user_id}      SK #COUNTERS    (open-session slots, the user's stats)
    tenant stats  PK T#{tenant}                  SK #STATS#{0..3} (sharded, summed by one Query)
    purge marker  PK T#{tenant}#S#{session_id}   SK #PURGE#{incarnation} (history left to purge)
    settled       PK T#{tenant}#S#{session_id}   SK #SETTLED#{incarnation} (a removal counted out once)

A session's incarnation is fixed at its creation, so the history of an earlier session under
the same id (deleted or expired, not yet purged) never mixes with the new one's.

Sessions are never deleted by a request: a delete marks the item and moves its expiry to now,
so the cleanup finds it (and its history) through the ByExpiry index, and the stream sees it.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sessions import counters
from sessions.attribute_values import from_item, to_attribute, to_item
from sessions.clock import format_ms, now_ms, parse_timestamp
from sessions.counters import CounterDeltas
from sessions.errors import SessionLimitReached
from sessions.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SESSION_SK = "#SESSION"
COUNTERS_SK = "#COUNTERS"
STATS_SK_PREFIX = "#STATS#"
STATS_SHARDS = 4
PURGE_SK_PREFIX = "#PURGE#"
SETTLED_SK_PREFIX = "#SETTLED#"
MARKER_LIFETIME_SECONDS = 2 * 24 * 3600  # longer than any stream record can be redelivered
CLEANUP_PK = "#CLEANUP"
CLEANUP_RUN_SK_PREFIX = "#RUN#"
CLEANUP_PAGE_SIZE = 100
EXPIRY_SHARDS = 8
# Attributes of a session item that only the store uses (keys and index attributes).
_KEY_ATTRIBUTES = frozenset(
    {"PK", "SK", "by_user_pk", "by_agent_pk", "created_key", "expiry_bucket", "purge_at", "ttl"}
)

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


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_position: dict[str, Any] | None  # where the next page starts (an exclusive start key)


class ItemExists(Exception):
    """A create found an item under the same key; `record` is what is stored there."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("an item already exists under this key")
        self.record = record


class WriteConflict(Exception):
    """DynamoDB refused a write because another transaction was writing the same item: retry it."""


class VersionChanged(Exception):
    """A conditional write lost a race; `record` is the current item (None when it is gone)."""

    def __init__(self, record: dict[str, Any] | None) -> None:
        super().__init__("the item changed since it was read")
        self.record = record


def key_part(value: str) -> str:
    """Escape '#' so that no tenant or user id can forge another key's prefix."""
    return value.replace("%", "%25").replace("#", "%23")


def session_pk(tenant_id: str, session_id: str) -> str:
    return f"T#{key_part(tenant_id)}#S#{session_id}"


def user_pk(tenant_id: str, user_id: str) -> str:
    return f"T#{key_part(tenant_id)}#U#{key_part(user_id)}"


def agent_pk(tenant_id: str, user_id: str, agent_id: str) -> str:
    # per user: listing by agent never reads other users' sessions
    return f"T#{key_part(tenant_id)}#U#{key_part(user_id)}#A#{agent_id}"


def event_sk(incarnation: str, seq: int) -> str:
    return f"E#{incarnation}#{seq:010d}"


def tenant_pk(tenant_id: str) -> str:
    return f"T#{key_part(tenant_id)}"


def expiry_bucket(session_key: str, purge_at: str) -> str:
    """Hour of removal plus a shard, so that no hour's index partition is hot."""
    return f"{purge_at[:13]}#{zlib.crc32(session_key.encode()) % EXPIRY_SHARDS}"


def purge_at(record: dict[str, Any]) -> str:
    """When the cleanup may remove a session: its expiry, or its idle deadline if that comes first."""
    idle_seconds = get_settings().inactivity_timeout_seconds
    if not idle_seconds or "deleted_at" in record:
        return str(record["expires_at"])
    idle_deadline = format_ms(parse_timestamp(record["last_active_at"]) + idle_seconds * 1000)
    return min(record["expires_at"], idle_deadline)


def _record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    record = from_item(item)
    for key in _KEY_ATTRIBUTES:
        record.pop(key, None)
    return record


def _names_and_values(values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    names = {f"#{key}": key for key in values}
    serialized = {f":{key}": to_attribute(value) for key, value in values.items()}
    return names, serialized


# --- the store --------------------------------------------------------------------------------


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return aws_client("dynamodb")  # type: ignore[no-any-return,unused-ignore]


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service and container, created on first use (cold starts pay only for what they use).

    botocore's own session: the same client as boto3.client, without importing boto3.
    """
    import botocore.session

    return botocore.session.get_session().create_client(service)


def default_store() -> SessionStore:
    return SessionStore(dynamodb_client(), get_settings().table_name)


class SessionStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- reads ---------------------------------------------------------------------------------

    def get_session(self, tenant_id: str, session_id: str) -> dict[str, Any] | None:
        """The stored session, live or not (callers decide what is visible)."""
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": session_pk(tenant_id, session_id)}, "SK": {"S": SESSION_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record_of(item) if item else None

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
            ":first": {"S": event_sk(query.incarnation, 0)},
            ":last": {"S": event_sk(query.incarnation, 9_999_999_999)},
        }
        filters = []
        if query.event_type is not None:
            names["#type"] = "type"
            values[":type"] = {"S": query.event_type}
            filters.append("#type = :type")
        for operator, bound, name in ((">", query.after, ":after"), ("<", query.before, ":before")):
            if bound is not None:
                names["#created_at"] = "created_at"
                values[name] = {"S": bound}
                filters.append(f"#created_at {operator} {name}")
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
        return self._filled_page(request, query.limit, query.start, bool(filters), _event_position)

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
            return Page([_record_of(item) for item in kept], position(from_item(kept[-1])))
        # out of items (no cursor), or out of reads: resume after the last item read, all of which were discarded
        resume = position(from_item(exclusive_start)) if exclusive_start else None
        return Page([_record_of(item) for item in items], resume)

    # --- writes --------------------------------------------------------------------------------

    def create_session(
        self,
        record: dict[str, Any],
        *,
        cap: int,
        replacing: dict[str, Any] | None = None,
        events: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> None:
        """Put a new session, its initial events, and take its open slot, in one transaction.

        `replacing` is a dead (expired or deleted) session stored under the same id: it is
        overwritten only if unchanged since it was read, and gives back a slot it still held.
        Raises ItemExists (with the stored record), VersionChanged or SessionLimitReached.
        """
        item = self._session_item(record)
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
        owners = [(record["user_id"], counters.change(None, record))]
        if replacing is not None:
            # the dead session under this id leaves now: counted out of its owner's stats as expired,
            # and its history left to the cleanup (it never reaches the stream as a removal)
            owners.append((replacing["user_id"], counters.expiry(replacing)))
            dead_key = session_pk(replacing["tenant_id"], replacing["session_id"])
            operations.append(
                self._purge_marker(dead_key, replacing["incarnation"], parse_timestamp(record["created_at"]))
            )
        operations += self._counter_updates(record["tenant_id"], owners, cap)
        reasons = self._transact(operations)
        if reasons is None:
            return
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            stored = reasons[0].get("Item")
            if replacing is None and stored:
                raise ItemExists(_record_of(stored))
            raise VersionChanged(_record_of(stored) if stored else None)
        raise SessionLimitReached("the maximum number of open sessions is reached")

    def update_session(self, current: dict[str, Any], changes: dict[str, Any], *, cap: int = 0) -> dict[str, Any]:
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
                raise VersionChanged(_record_of(stored) if stored else None) from None
            except self._client.exceptions.TransactionConflictException:
                raise WriteConflict("a transaction was writing the session") from None
            return new_record
        counter_updates = self._counter_updates(current["tenant_id"], [(current["user_id"], deltas)], cap)
        self._raise_for(self._transact([{"Update": update}, *counter_updates]))
        return new_record

    def append_event(self, current: dict[str, Any], event: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Put the event and apply `changes` to its session in one transaction, if the session is unchanged."""
        update, new_record = self._versioned_update(current, changes)
        deltas = counters.change(current, new_record)
        counter_updates = self._counter_updates(current["tenant_id"], [(current["user_id"], deltas)], cap=0)
        self._raise_for(self._transact([{"Update": update}, self._event_put(current, event), *counter_updates]))
        return new_record

    def get_user_counters(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": COUNTERS_SK}},
            ConsistentRead=True,
        )
        return from_item(response.get("Item", {}))

    def get_tenant_counters(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every stats shard of the tenant: a handful of items, whatever the number of sessions."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :shard)",
            ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":shard": {"S": STATS_SK_PREFIX}},
            ConsistentRead=True,
        )
        return [from_item(item) for item in response.get("Items", [])]

    # --- cleanup -------------------------------------------------------------------------------

    def due_for_removal(
        self, bucket: str, now: str, start: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
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
        return [from_item(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")

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

    def put_cleanup_run(self, run_id: str, summary: dict[str, Any], at_ms: int) -> None:
        """The run's summary as an item: the stream turns it into sessions.cleanup_completed."""
        item = {"PK": CLEANUP_PK, "SK": f"{CLEANUP_RUN_SK_PREFIX}{run_id}", **summary, "ttl": at_ms // 1000 + 86400}
        self._client.put_item(TableName=self._table, Item=to_item(item))

    # --- helpers -------------------------------------------------------------------------------

    def _raise_for(self, reasons: list[dict[str, Any]] | None) -> None:
        """Turn a cancelled transaction whose first item is the session into the matching exception."""
        if reasons is None:
            return
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            stored = reasons[0].get("Item")
            raise VersionChanged(_record_of(stored) if stored else None)
        raise SessionLimitReached("the maximum number of open sessions is reached")

    def _versioned_update(
        self, current: dict[str, Any], changes: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An UpdateItem of `changes` conditioned on the current version, and the record it leads to."""
        new_record = {**current, **changes, "version": current["version"] + 1}
        for key in [key for key, value in changes.items() if value is None]:
            del new_record[key]
        attribute_changes = {**changes, "version": new_record["version"]}
        if {"expires_at", "last_active_at"} & changes.keys():
            attribute_changes.update(self._expiry_attributes(new_record))
        to_set = {key: value for key, value in attribute_changes.items() if value is not None}
        to_remove = [key for key, value in attribute_changes.items() if value is None]
        names, values = _names_and_values(to_set)
        names.update({f"#{key}": key for key in to_remove})
        names["#current_version"] = "version"
        values[":current_version"] = {"N": str(current["version"])}
        expression = "SET " + ", ".join(f"#{key} = :{key}" for key in to_set)
        if to_remove:
            expression += " REMOVE " + ", ".join(f"#{key}" for key in to_remove)
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"PK": {"S": session_pk(current["tenant_id"], current["session_id"])}, "SK": {"S": SESSION_SK}},
            "UpdateExpression": expression,
            "ConditionExpression": "#current_version = :current_version",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        return update, new_record

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

    def _counter_updates(
        self, tenant_id: str, owners: list[tuple[str, CounterDeltas]], cap: int
    ) -> list[dict[str, Any]]:
        """ADD each owner's deltas to its counters, and their sum to one of the tenant's stats shards.

        The first owner is the writer: its slot update carries the cap. One update per item, as a
        transaction requires.
        """
        merged: dict[str, CounterDeltas] = {}
        for user_id, deltas in owners:
            merged[user_id] = merged.get(user_id, CounterDeltas()) + deltas
        updates = []
        tenant_fields = CounterDeltas()
        for position, (user_id, deltas) in enumerate(merged.items()):
            tenant_fields += CounterDeltas(deltas.fields)
            if not deltas:
                continue
            values = {**deltas.fields, "open_sessions": deltas.slots} if deltas.slots else dict(deltas.fields)
            update = self._add_update(user_pk(tenant_id, user_id), COUNTERS_SK, values)
            if position == 0 and deltas.slots > 0 and cap > 0:
                # the cap holds under concurrency: the counter and the session commit together
                update["ConditionExpression"] = "attribute_not_exists(open_sessions) OR open_sessions < :cap"
                update["ExpressionAttributeValues"][":cap"] = {"N": str(cap)}
            updates.append({"Update": update})
        if tenant_fields:
            # a random shard of a few spreads a busy tenant's writes; stats sums them in one Query
            shard = f"{STATS_SK_PREFIX}{random.randrange(STATS_SHARDS)}"  # noqa: S311 - not for secrets
            updates.append({"Update": self._add_update(tenant_pk(tenant_id), shard, tenant_fields.fields)})
        return updates

    def _add_update(self, pk: str, sk: str, values: dict[str, int | float]) -> dict[str, Any]:
        names = {f"#f{i}": name for i, name in enumerate(values)}
        return {
            "TableName": self._table,
            "Key": {"PK": {"S": pk}, "SK": {"S": sk}},
            "UpdateExpression": "ADD " + ", ".join(f"#f{i} :f{i}" for i in range(len(values))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":f{i}": to_attribute(value) for i, value in enumerate(values.values())},
        }

    def _purge_marker(self, key: str, incarnation: str, at_ms: int) -> dict[str, Any]:
        """Put "purge this incarnation's history" in the expiry index, for the cleanup to find."""
        now = format_ms(at_ms)
        item = {
            "PK": key,
            "SK": f"{PURGE_SK_PREFIX}{incarnation}",
            "incarnation": incarnation,
            "purge_at": now,
            "expiry_bucket": expiry_bucket(key, now),
        }
        return {"Put": {"TableName": self._table, "Item": to_item(item)}}

    def settle_removed_session(self, old: dict[str, Any]) -> None:
        """Count a removed session out, once per incarnation however often its stream record comes.

        A "settled" marker (kept two days, longer than any redelivery) makes it exactly-once. A
        purge marker hands whatever history the session left behind to the cleanup: all of it when
        DynamoDB's TTL removed the item, what a cleanup run did not reach when the cleanup did.
        """
        deltas = counters.expiry(old)
        key = session_pk(old["tenant_id"], old["session_id"])
        operations = [self._purge_marker(key, old["incarnation"], now_ms())]
        if deltas:
            settled = {
                "PK": key,
                "SK": f"{SETTLED_SK_PREFIX}{old['incarnation']}",
                "ttl": now_ms() // 1000 + MARKER_LIFETIME_SECONDS,
            }
            operations.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(settled),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
            operations += self._counter_updates(old["tenant_id"], [(old["user_id"], deltas)], cap=0)
        self._transact(operations)  # a failed condition means it was settled before: nothing to do

    def delete_due_session(self, entry: dict[str, Any], now: str) -> bool:
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

    def _event_put(self, session: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        item = {
            **{key: value for key, value in event.items() if value is not None},
            "PK": session_pk(session["tenant_id"], session["session_id"]),
            "SK": event_sk(session["incarnation"], event["seq"]),
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _session_item(self, record: dict[str, Any]) -> dict[str, Any]:
        tenant_id, session_id = record["tenant_id"], record["session_id"]
        item = {key: value for key, value in record.items() if value is not None}
        item |= {
            "PK": session_pk(tenant_id, session_id),
            "SK": SESSION_SK,
            "by_user_pk": user_pk(tenant_id, record["user_id"]),
            "created_key": f"{record['created_at']}#{session_id}",
        }
        if record.get("agent_id"):
            item["by_agent_pk"] = agent_pk(tenant_id, record["user_id"], record["agent_id"])
        item |= self._expiry_attributes(record)
        return item

    @staticmethod
    def _expiry_attributes(record: dict[str, Any]) -> dict[str, Any]:
        expires_ms = parse_timestamp(record["expires_at"])
        key = session_pk(record["tenant_id"], record["session_id"])
        due = purge_at(record)
        # DynamoDB's TTL deletes at whole seconds; round up so it never fires early
        return {"ttl": -(-expires_ms // 1000), "purge_at": due, "expiry_bucket": expiry_bucket(key, due)}


def _list_position(index_key: str) -> Any:
    def position(item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in ("PK", "SK", index_key, "created_key")}

    return position


def _event_position(item: dict[str, Any]) -> dict[str, Any]:
    return {"PK": item["PK"], "SK": item["SK"]}

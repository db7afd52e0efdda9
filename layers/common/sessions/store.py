"""The only module that talks to DynamoDB: keys, items, conditional writes.

One table holds every tenant. Every key starts with the tenant, so no request can reach
another tenant's items by construction:

    session       PK T#{tenant}#S#{session_id}   SK #SESSION
    user counters PK T#{tenant}#U#{user_id}      SK #COUNTERS    (open-session slots)

Sessions are never deleted by a request: a delete marks the item and moves its expiry to now,
so the cleanup finds it (and its history) through the ByExpiry index, and the stream sees it.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from sessions.errors import SessionLimitReached
from sessions.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SESSION_SK = "#SESSION"
COUNTERS_SK = "#COUNTERS"
EXPIRY_SHARDS = 8
# Attributes of a session item that only the store uses (keys and index attributes).
_KEY_ATTRIBUTES = frozenset({"PK", "SK", "by_user_pk", "by_agent_pk", "created_key", "expiry_bucket", "ttl"})

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ItemExists(Exception):
    """A create found an item under the same key; `record` is what is stored there."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("an item already exists under this key")
        self.record = record


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


def agent_pk(tenant_id: str, agent_id: str) -> str:
    return f"T#{key_part(tenant_id)}#A#{agent_id}"


def expiry_bucket(session_key: str, expires_at: str) -> str:
    """Hour of expiry plus a shard, so that no hour's index partition is hot."""
    shard = zlib.crc32(session_key.encode()) % EXPIRY_SHARDS
    return f"{expires_at[:13]}#{shard}"


# --- values: JSON in, DynamoDB types out, and back without loss --------------------------------


def to_dynamo_value(value: Any) -> Any:
    """floats become Decimals through their shortest repr, so 0.1 is stored as exactly 0.1."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: to_dynamo_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_dynamo_value(item) for item in value]
    return value


def from_dynamo_value(value: Any) -> Any:
    """Decimals become ints when integral within 38 digits (as clients may send), floats otherwise."""
    if isinstance(value, Decimal):
        integral = value == value.to_integral_value() and value.adjusted() < 38
        return int(value) if integral else float(value)
    if isinstance(value, dict):
        return {key: from_dynamo_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_dynamo_value(item) for item in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(to_dynamo_value(value)) for key, value in item.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: from_dynamo_value(_deserializer.deserialize(value)) for key, value in item.items()}


def _record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    record = deserialize(item)
    for key in _KEY_ATTRIBUTES:
        record.pop(key, None)
    return record


def _names_and_values(values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    names = {f"#{key}": key for key in values}
    serialized = {f":{key}": _serializer.serialize(to_dynamo_value(value)) for key, value in values.items()}
    return names, serialized


# --- the store --------------------------------------------------------------------------------


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb")


def default_store() -> SessionStore:
    return SessionStore(dynamodb_client(), get_settings().table_name)


class SessionStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # reads

    def get_session(self, tenant_id: str, session_id: str) -> dict[str, Any] | None:
        """The stored session, live or not (callers decide what is visible)."""
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": session_pk(tenant_id, session_id)}, "SK": {"S": SESSION_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record_of(item) if item else None

    # writes

    def create_session(self, record: dict[str, Any], *, cap: int, replacing: dict[str, Any] | None = None) -> None:
        """Put a new session and take its open slot, in one transaction.

        `replacing` is a dead (expired or deleted) session stored under the same id: it is
        overwritten only if unchanged since it was read, and gives back a slot it still held.
        Raises ItemExists (with the stored record) or SessionLimitReached.
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
                "Item": serialize(item),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **condition,
            }
        }
        slot_delta = 1 - int(bool(replacing and replacing.get("holds_slot")))
        operations = [put, self._slot_update(record["tenant_id"], record["user_id"], slot_delta, cap)]
        reasons = self._transact(operations)
        if reasons is None:
            return
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            stored = reasons[0].get("Item")
            if replacing is not None:
                raise VersionChanged(_record_of(stored) if stored else None)
            raise ItemExists(_record_of(stored)) if stored else VersionChanged(None)
        raise SessionLimitReached("the maximum number of open sessions is reached")

    def update_session(
        self, current: dict[str, Any], changes: dict[str, Any], *, slot_delta: int = 0, cap: int = 0
    ) -> dict[str, Any]:
        """Write `changes` (top-level attributes; None removes one) if `current` is still the stored version.

        The version grows by one. A slot_delta of +1/-1 takes or gives back the owner's
        open-session slot in the same transaction. Returns the new record.
        Raises VersionChanged (with the stored record) or SessionLimitReached.
        """
        new_record = {**current, **changes, "version": current["version"] + 1}
        for key in [key for key, value in changes.items() if value is None]:
            del new_record[key]
        attribute_changes = {**changes, "version": new_record["version"]}
        if "expires_at" in changes:
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
        if slot_delta == 0:
            try:
                self._client.update_item(**update)
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                stored: Any = exc.response.get("Item")
                raise VersionChanged(_record_of(stored) if stored else None) from None
            return new_record
        slot = self._slot_update(current["tenant_id"], current["user_id"], slot_delta, cap)
        reasons = self._transact([{"Update": update}, slot])
        if reasons is None:
            return new_record
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            stored = reasons[0].get("Item")
            raise VersionChanged(_record_of(stored) if stored else None)
        raise SessionLimitReached("the maximum number of open sessions is reached")

    # helpers

    def _transact(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Run a transaction; None when it committed, else DynamoDB's cancellation reasons."""
        try:
            self._client.transact_write_items(TransactItems=operations)  # type: ignore[arg-type]
        except self._client.exceptions.TransactionCanceledException as exc:
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
            if not any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                raise  # a conflict between transactions: boto3's retries are exhausted
            return reasons
        return None

    def _slot_update(self, tenant_id: str, user_id: str, delta: int, cap: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": COUNTERS_SK}},
            "UpdateExpression": "ADD open_sessions :delta",
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
        if delta > 0 and cap > 0:
            # the cap holds under concurrency: the counter and the session commit together
            update["ConditionExpression"] = "attribute_not_exists(open_sessions) OR open_sessions < :cap"
            update["ExpressionAttributeValues"][":cap"] = {"N": str(cap)}
        return {"Update": update}

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
            item["by_agent_pk"] = agent_pk(tenant_id, record["agent_id"])
        item |= self._expiry_attributes(record)
        return item

    @staticmethod
    def _expiry_attributes(record: dict[str, Any]) -> dict[str, Any]:
        from sessions.clock import parse_timestamp

        expires_ms = parse_timestamp(record["expires_at"])
        key = session_pk(record["tenant_id"], record["session_id"])
        # DynamoDB's TTL deletes at whole seconds; round up so it never fires early
        return {"ttl": -(-expires_ms // 1000), "expiry_bucket": expiry_bucket(key, record["expires_at"])}

"""A tenant's settings item, the cleanup's list of tenants with a history retention, and the events past it.

The settings item and the tenant's entry in the retention list (keys.py) are written in one
transaction, conditioned on the version read: two admins' patches never interleave, and the
cleanup's list never disagrees with the settings.
"""

from __future__ import annotations

from typing import Any, cast

from sessions.core.attribute_values import from_item, to_item
from sessions.domain.tenant_settings import StoredTenantSettings
from sessions.store.base import TableAccess
from sessions.store.keys import RETENTION_SK_PREFIX, tenant_pk, tenant_settings_key
from sessions.store.removals import CLEANUP_PK

RETENTION_PAGE_SIZE = 100


class TenantSettingsChanged(Exception):
    """Another write of the tenant's settings won since they were read."""


class TenantSettingsItems(TableAccess):
    def get_tenant_settings(self, tenant_id: str, *, consistent: bool = False) -> StoredTenantSettings | None:
        """The tenant's stored settings (None: never set). One GetItem, eventually consistent unless asked."""
        response = self._client.get_item(
            TableName=self._table, Key=tenant_settings_key(tenant_id), ConsistentRead=consistent
        )
        if "Item" not in response:
            return None
        item = from_item(response["Item"])
        for key in ("PK", "SK"):
            item.pop(key)
        return cast("StoredTenantSettings", item)

    def put_tenant_settings(self, settings: StoredTenantSettings, *, read_version: int) -> None:
        """Write the settings (version read_version + 1) and the tenant's retention entry; TenantSettingsChanged if
        the stored version is not `read_version` any more."""
        tenant_id = settings["tenant_id"]
        key = tenant_settings_key(tenant_id)
        item = {"PK": key["PK"]["S"], "SK": key["SK"]["S"], **settings}
        condition = "attribute_not_exists(PK)" if read_version == 0 else "version = :read"
        put: dict[str, Any] = {"TableName": self._table, "Item": to_item(item), "ConditionExpression": condition}
        if read_version:
            put["ExpressionAttributeValues"] = {":read": {"N": str(read_version)}}
        entry_key = {"PK": {"S": CLEANUP_PK}, "SK": {"S": f"{RETENTION_SK_PREFIX}{tenant_pk(tenant_id)}"}}
        days = settings.get("history_retention_days")
        entry: dict[str, Any] = (
            {"Delete": {"TableName": self._table, "Key": entry_key}}
            if days is None
            else {
                "Put": {
                    "TableName": self._table,
                    "Item": {**entry_key, "tenant_id": {"S": tenant_id}, "days": {"N": str(days)}},
                }
            }
        )
        if self._transact([{"Put": put}, entry]) is not None:
            raise TenantSettingsChanged(tenant_id)

    def retention_tenants(self) -> list[tuple[str, int]]:
        """Every tenant with a history retention, and its days: one Query per 100 tenants, never a scan."""
        tenants: list[tuple[str, int]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": CLEANUP_PK}, ":prefix": {"S": RETENTION_SK_PREFIX}},
            "Limit": RETENTION_PAGE_SIZE,
        }
        while True:
            response = self._client.query(**request)
            tenants += [(item["tenant_id"]["S"], int(item["days"]["N"])) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return tenants
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def events_appended_before(
        self, bucket: str, cutoff: str, start: dict[str, Any] | None = None, *, limit: int = RETENTION_PAGE_SIZE
    ) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
        """A page of one age partition's events appended before `cutoff`, oldest first: their (PK, SK) keys only."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByExpiry",
            "KeyConditionExpression": "expiry_bucket = :bucket AND purge_at < :cutoff",
            "ExpressionAttributeValues": {":bucket": {"S": bucket}, ":cutoff": {"S": cutoff}},
            "ProjectionExpression": "PK, SK",
            "Limit": limit,
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = self._client.query(**request)
        keys = [(item["PK"]["S"], item["SK"]["S"]) for item in response.get("Items", [])]
        return keys, response.get("LastEvaluatedKey")

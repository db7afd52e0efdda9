"""What exporting a user needs of the table: the job item, its lease, and the user's sessions by key.

    export job      PK T#{tenant}#EXPORT#{export_id}    SK #EXPORT
                    (status, cursor, counts, the upload's id and parts' ETags, the user; a TTL from its start)
    running jobs    PK #EXPORTS                          SK {tenant pk}#{export_id}
                    (ids only, while the job runs: how the cleanup finds a job whose worker died)
    the user's one  PK T#{tenant}#U#{user}               SK #EXPORT
                    (export_id, while it runs: a second request answers that job; an erasure removes it)

Every read is a GetItem or a Query by key (the ByUser index for the user's sessions).
"""

from __future__ import annotations

from typing import Any

from sessions.core.attribute_values import from_item, to_item
from sessions.store.base import TableAccess
from sessions.store.erasure import not_being_erased
from sessions.store.keys import tenant_pk, user_pk

EXPORT_SK = "#EXPORT"
RUNNING_EXPORTS_PK = "#EXPORTS"
SESSIONS_PAGE = 25
# what the ByUser index gives of a session: its keys (the index's and the table's), id and app
_INDEX_KEY = ("PK", "SK", "by_user_pk", "created_key")


def export_pk(tenant_id: str, export_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#EXPORT#{export_id}"


def _job_key(tenant_id: str, export_id: str) -> dict[str, Any]:
    return {"PK": {"S": export_pk(tenant_id, export_id)}, "SK": {"S": EXPORT_SK}}


def _running_key(tenant_id: str, export_id: str) -> dict[str, Any]:
    return {"PK": {"S": RUNNING_EXPORTS_PK}, "SK": {"S": f"{tenant_pk(tenant_id)}#{export_id}"}}


def _user_marker_key(tenant_id: str, user_id: str) -> dict[str, Any]:
    return {"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": EXPORT_SK}}


class UserBeingErased(Exception):
    """An erasure of the user runs: nothing of theirs is exported meanwhile."""


class ExportJobs(TableAccess):
    # --- the job -------------------------------------------------------------------------------

    def start_export(self, job: dict[str, Any]) -> str:
        """Put the job, its running entry and the user's marker at once; the id of the export that runs.

        Refused (UserBeingErased) while an erasure of the user runs; a running export answers instead.
        """
        tenant_id, user_id, export_id = job["tenant_id"], job["user_id"], job["export_id"]
        marker = {**_user_marker_key(tenant_id, user_id), **to_item({"export_id": export_id})}
        operations = [
            not_being_erased(self._table, tenant_id, user_id),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item({"PK": export_pk(tenant_id, export_id)} | {"SK": EXPORT_SK} | job),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_running_key(tenant_id, export_id),
                        **to_item({"tenant_id": tenant_id, "export_id": export_id}),
                    },
                }
            },
        ]
        reasons = self._transact(operations)
        if reasons is None:
            return str(export_id)
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            raise UserBeingErased("an erasure of the user runs")
        stored = reasons[1].get("Item")
        if reasons[1].get("Code") == "ConditionalCheckFailed" and stored:
            return str(from_item(stored)["export_id"])
        raise RuntimeError("the export could not start")  # pragma: no cover - a new uuid never collides

    def get_export(self, tenant_id: str, export_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=_job_key(tenant_id, export_id), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def take_export_lease(
        self, tenant_id: str, export_id: str, owner: str, now: int, until: int
    ) -> dict[str, Any] | None:
        """Take a running job's lease unless a live worker holds it; the job, or None when not taken."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=_job_key(tenant_id, export_id),
                UpdateExpression="SET lease_owner = :owner, lease_until = :until ADD runs :one",
                ConditionExpression="#status = :running AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": str(until)},
                    ":now": {"N": str(now)},
                    ":running": {"S": "running"},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(response["Attributes"])

    def checkpoint_export(self, job: dict[str, Any], owner: str, changes: dict[str, Any]) -> bool:
        """SET `changes` (None removes) if `owner` still holds the job's lease; whether it did."""
        names = {"#owner": "lease_owner"} | {f"#c{i}": name for i, name in enumerate(changes)}
        values: dict[str, Any] = {":owner": {"S": owner}}
        sets, removes = [], []
        for index, value in enumerate(changes.values()):
            if value is None:
                removes.append(f"#c{index}")
            else:
                sets.append(f"#c{index} = :c{index}")
                values[f":c{index}"] = to_item({"v": value})["v"]
        expression = " ".join(
            part
            for part in ("SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "")
            if part
        )
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_job_key(job["tenant_id"], job["export_id"]),
                UpdateExpression=expression,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def finish_export(self, job: dict[str, Any], owner: str, changes: dict[str, Any]) -> bool:
        """End the job (`changes`: status, counts, times), drop its running entry and the user's marker, at once."""
        names = {f"#c{i}": name for i, name in enumerate(changes)} | {"#owner": "lease_owner", "#until": "lease_until"}
        values = {f":c{i}": to_item({"v": value})["v"] for i, value in enumerate(changes.values())}
        values[":owner"] = {"S": owner}
        operations: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _job_key(job["tenant_id"], job["export_id"]),
                    "UpdateExpression": "SET "
                    + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
                    + " REMOVE #owner, #until",
                    "ConditionExpression": "#owner = :owner",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {"Delete": {"TableName": self._table, "Key": _running_key(job["tenant_id"], job["export_id"])}},
            {
                "Delete": {  # unless an erasure took it already, or it names a later export
                    "TableName": self._table,
                    "Key": _user_marker_key(job["tenant_id"], job["user_id"]),
                    "ConditionExpression": "attribute_not_exists(export_id) OR export_id = :id",
                    "ExpressionAttributeValues": {":id": {"S": job["export_id"]}},
                }
            },
        ]
        return self._transact(operations) is None

    def running_exports(self) -> list[dict[str, Any]]:
        """The jobs still running, every tenant's (a small partition: a job leaves it when it ends)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": RUNNING_EXPORTS_PK}},
        }
        while True:
            response = self._client.query(**request)
            found += [from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def nudge_export(self, tenant_id: str, export_id: str, now: int) -> bool:
        """Wake a running job whose lease lapsed: the write reaches the worker through the stream."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_job_key(tenant_id, export_id),
                UpdateExpression="SET nudged_at = :now",
                ConditionExpression="#status = :running AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":running": {"S": "running"}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def user_being_erased(self, tenant_id: str, user_id: str) -> bool:
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": "#COUNTERS"}},
            ProjectionExpression="erasure_id",
            ConsistentRead=True,
        )
        return "erasure_id" in response.get("Item", {})

    # --- what the user has -----------------------------------------------------------------------

    def user_sessions_after(self, tenant_id: str, user_id: str, after: dict[str, str] | None) -> list[dict[str, Any]]:
        """A page of the user's sessions (any status) after the index key `after`: their ids, apps and index keys."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByUser",
            "KeyConditionExpression": "by_user_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": user_pk(tenant_id, user_id)}},
            "ProjectionExpression": "session_id, app_name, " + ", ".join(_INDEX_KEY),
            "Limit": SESSIONS_PAGE,
        }
        if after:
            request["ExclusiveStartKey"] = {name: {"S": value} for name, value in after.items()}
        entries = []
        for item in self._client.query(**request).get("Items", []):
            entry = from_item(item)
            entry["index_key"] = {name: str(entry.pop(name)) for name in _INDEX_KEY}
            entries.append(entry)
        return entries

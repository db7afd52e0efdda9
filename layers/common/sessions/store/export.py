"""What exporting a user needs of the table: the job's start and end, and the user's sessions by key.

    export job      PK T#{tenant}#EXPORT#{export_id}    SK #EXPORT
                    (status, cursor, counts, the upload's id and parts' ETags, the user; a TTL from its start)
    running jobs    PK #EXPORTS                          SK {tenant pk}#{export_id}
                    (the job's item and running entry, its lease and checkpoints: sessions.store.jobs)
    the user's one  PK T#{tenant}#U#{user}               SK #EXPORT
                    (export_id, while it runs: a second request answers that job; an erasure removes it)

Every read is a GetItem or a Query by key (the ByUser index for the user's sessions).
"""

from __future__ import annotations

from typing import Any

from sessions.core.attribute_values import from_item, to_item
from sessions.store.erasure import not_being_erased
from sessions.store.jobs import JobKind, JobTable
from sessions.store.keys import user_pk

EXPORT = JobKind("EXPORT", "export_id")
EXPORT_SK = EXPORT.sk
SESSIONS_PAGE = 25
# what the ByUser index gives of a session: its keys (the index's and the table's), id and app
_INDEX_KEY = ("PK", "SK", "by_user_pk", "created_key")


def export_pk(tenant_id: str, export_id: str) -> str:
    return EXPORT.pk(tenant_id, export_id)


def _user_marker_key(tenant_id: str, user_id: str) -> dict[str, Any]:
    return {"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": EXPORT_SK}}


class UserBeingErased(Exception):
    """An erasure of the user runs: nothing of theirs is exported meanwhile."""


class ExportJobs(JobTable):
    # --- the job (its lease, checkpoints and end: sessions.store.jobs) ----------------------------

    def start_export(self, job: dict[str, Any]) -> str:
        """Put the job, its running entry and the user's marker at once; the id of the export that runs.

        Refused (UserBeingErased) while an erasure of the user runs; a running export answers instead.
        """
        tenant_id, user_id, export_id = job["tenant_id"], job["user_id"], job["export_id"]
        marker = {**_user_marker_key(tenant_id, user_id), **to_item({"export_id": export_id})}
        guards = [
            not_being_erased(self._table, tenant_id, user_id),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        reasons = self.begin_job(EXPORT, job, guards)
        if reasons is None:
            return str(export_id)
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            raise UserBeingErased("an erasure of the user runs")
        stored = reasons[1].get("Item")
        if reasons[1].get("Code") == "ConditionalCheckFailed" and stored:
            return str(from_item(stored)["export_id"])
        raise RuntimeError("the export could not start")  # pragma: no cover - a new uuid never collides

    def drop_marker(self, job: dict[str, Any]) -> dict[str, Any]:
        """The Delete of the user's marker that names this export (an ended export's last write)."""
        return {
            "Delete": {  # unless an erasure took it already, or it names a later export
                "TableName": self._table,
                "Key": _user_marker_key(job["tenant_id"], job["user_id"]),
                "ConditionExpression": "attribute_not_exists(export_id) OR export_id = :id",
                "ExpressionAttributeValues": {":id": {"S": job["export_id"]}},
            }
        }

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

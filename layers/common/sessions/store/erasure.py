"""What erasing a user needs of the table: the job's start and end, and finding the user's items by key.

    erasure job     PK T#{tenant}#ERASURE#{erasure_id}   SK #ERASURE
                    (status, phase, cursor, counts, the user erased; a TTL once it ends)
    running jobs    PK #ERASURES                          SK {tenant pk}#{erasure_id}
                    (the job's item and running entry, its lease and checkpoints: sessions.store.jobs)
    the user's flag `erasure_id` on the user counters item (T#{tenant}#U#{user} #COUNTERS): every
                    create of a session and of a user state document is conditioned on its absence
    registration    PK T#{tenant}#U#{user}   SK #APPSTATE#{app_name}   (a user state document exists in
                    that app: put with the document's first write, so an erasure finds every app's document)

Every read is a Query or GetItem by key: the ByUser index for the user's sessions, each session's
partition for its events and markers, the user's partition for counters, slots and registrations.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from sessions.core.attribute_values import from_item, to_item
from sessions.store.jobs import JobKind, JobTable
from sessions.store.keys import COUNTERS_SK, SESSION_SK, STATE_SK, key_part, state_pk, user_pk

if TYPE_CHECKING:
    from sessions.store.state import StateKey

ERASURE = JobKind("ERASURE", "erasure_id")
ERASURE_SK = ERASURE.sk
USER_STATE_SK_PREFIX = "#APPSTATE#"
SESSIONS_PAGE = 25


def erasure_pk(tenant_id: str, erasure_id: str) -> str:
    return ERASURE.pk(tenant_id, erasure_id)


def _counters_key(tenant_id: str, user_id: str) -> dict[str, Any]:
    return {"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": COUNTERS_SK}}


def user_state_registration(table: str, key: StateKey) -> dict[str, Any]:
    """The Put that registers a user state document in its user's partition (with the document's first write)."""
    assert key.user_id is not None  # noqa: S101 - app documents name no user
    item = {
        "PK": user_pk(key.tenant_id, key.user_id),
        "SK": f"{USER_STATE_SK_PREFIX}{key_part(key.app_name)}",
        "app_name": key.app_name,
    }
    return {"Put": {"TableName": table, "Item": to_item(item)}}


def not_being_erased(table: str, tenant_id: str, user_id: str) -> dict[str, Any]:
    """A transaction's ConditionCheck: no erasure of the user is running."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": _counters_key(tenant_id, user_id),
            "ConditionExpression": "attribute_not_exists(erasure_id)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def refuse_while_erasing(operations: list[dict[str, Any]], tenant_id: str, user_id: str) -> None:
    """Condition the update of the user's counters in `operations` (a create's) on no erasure running.

    The create updates that item anyway (its open-session slot), so the refusal costs nothing more.
    """
    wanted = _counters_key(tenant_id, user_id)
    for operation in operations:
        update = operation.get("Update")
        if update is None or update["Key"] != wanted:
            continue
        condition = update.get("ConditionExpression")
        update["ConditionExpression"] = (
            f"attribute_not_exists(erasure_id) AND ({condition})" if condition else "attribute_not_exists(erasure_id)"
        )
        update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return


def refused_by_erasure(reasons: list[dict[str, Any]] | None) -> bool:
    """Whether a cancelled transaction failed on a user counters item that carries an erasure's flag."""
    for reason in reasons or []:
        item = reason.get("Item") or {}
        if (
            reason.get("Code") == "ConditionalCheckFailed"
            and "erasure_id" in item
            and item.get("SK") == {"S": COUNTERS_SK}
        ):
            return True
    return False


class ErasureJobs(JobTable):
    # --- the job (its lease, checkpoints and end: sessions.store.jobs) ----------------------------

    def start_erasure(self, job: dict[str, Any]) -> str:
        """Flag the user and put the job in one transaction; the id of the erasure that runs (this or an earlier)."""
        flag = {
            "Update": {
                "TableName": self._table,
                "Key": _counters_key(job["tenant_id"], job["user_id"]),
                "UpdateExpression": "SET erasure_id = :id",
                "ConditionExpression": "attribute_not_exists(erasure_id)",
                "ExpressionAttributeValues": {":id": {"S": job["erasure_id"]}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        reasons = self.begin_job(ERASURE, job, [flag])
        if reasons is None:
            return str(job["erasure_id"])
        stored = reasons[0].get("Item")
        if reasons[0].get("Code") == "ConditionalCheckFailed" and stored:
            return str(from_item(stored)["erasure_id"])  # one runs already: that one answers
        raise RuntimeError("the erasure could not start")  # a new uuid never collides

    def lift_flag(self, job: dict[str, Any]) -> dict[str, Any]:
        """The Delete of the user's counters item, its flag with it (a completed erasure's last write)."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": _counters_key(job["tenant_id"], job["user_id"]),
                "ConditionExpression": "attribute_not_exists(erasure_id) OR erasure_id = :id",
                "ExpressionAttributeValues": {":id": {"S": job["erasure_id"]}},
            }
        }

    # --- what the user has -----------------------------------------------------------------------

    def user_sessions_page(
        self, tenant_id: str, user_id: str, start: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """A page of the user's sessions (any status) from the ByUser index: their ids and apps."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByUser",
            "KeyConditionExpression": "by_user_pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": user_pk(tenant_id, user_id)}},
            "ProjectionExpression": "session_id, app_name",
            "Limit": SESSIONS_PAGE,
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = self._client.query(**request)
        return [from_item(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")

    def has_sessions(self, tenant_id: str, user_id: str) -> bool:
        items, _ = self.user_sessions_page(tenant_id, user_id, None)
        return bool(items)

    def delete_erased_session(self, pk: str, incarnation: str) -> None:
        """Delete a session item marked erased, unless another session took its id meanwhile."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.delete_item(
                TableName=self._table,
                Key={"PK": {"S": pk}, "SK": {"S": SESSION_SK}},
                ConditionExpression="incarnation = :incarnation",
                ExpressionAttributeValues={":incarnation": {"S": incarnation}},
            )

    def partition_keys(self, pk: str) -> list[dict[str, Any]]:
        """The keys of every item of a partition (keys only: nothing of their content is read)."""
        keys: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "PK, SK",
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**request)
            keys += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return keys
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def user_state_apps(self, tenant_id: str, user_id: str) -> list[str]:
        """The apps in which the user has a registered state document."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": user_pk(tenant_id, user_id)},
                ":prefix": {"S": USER_STATE_SK_PREFIX},
            },
            "ProjectionExpression": "app_name",
            "ConsistentRead": True,
        }
        apps: list[str] = []
        while True:
            response = self._client.query(**request)
            apps += [str(from_item(item)["app_name"]) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return apps
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_user_state(self, tenant_id: str, app_name: str, user_id: str) -> bool:
        """Delete the user's state document in one app, and its registration; whether a document was there."""
        response = self._client.delete_item(
            TableName=self._table,
            Key={"PK": {"S": state_pk(tenant_id, app_name, user_id)}, "SK": {"S": STATE_SK}},
            ReturnValues="ALL_OLD",
        )
        self._client.delete_item(
            TableName=self._table,
            Key={"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": f"{USER_STATE_SK_PREFIX}{key_part(app_name)}"}},
        )
        return "Attributes" in response

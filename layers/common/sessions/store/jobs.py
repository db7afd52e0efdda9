"""What a resumable job (an erasure, an export) needs of the table: its item, its lease, its running entry.

    job             PK T#{tenant}#{KIND}#{job_id}   SK #{KIND}
                    (status, the user, what the kind records; lease_owner/lease_until while a run holds it)
    running jobs    PK #{KIND}S                       SK {tenant pk}#{job_id}
                    (ids only, while the job runs: how the cleanup finds a job whose worker died)

A run works a job only while it holds the lease (a conditional UpdateItem); every later write of the
run is conditioned on it, so two runs never both work a job. A write to the job item reaches the
kind's worker through the table's stream: giving the lease back, or the cleanup's nudge, wakes the next run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from sessions.core.attribute_values import from_item, to_item
from sessions.store.base import TableAccess
from sessions.store.keys import tenant_pk


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its name in keys (ERASURE) and the attribute its id is stored under (erasure_id)."""

    name: str
    id_attribute: str

    @property
    def sk(self) -> str:
        return f"#{self.name}"

    @property
    def running_pk(self) -> str:
        return f"#{self.name}S"

    def pk(self, tenant_id: str, job_id: str) -> str:
        return f"{tenant_pk(tenant_id)}#{self.name}#{job_id}"

    def key(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        return {"PK": {"S": self.pk(tenant_id, job_id)}, "SK": {"S": self.sk}}

    def running_key(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        return {"PK": {"S": self.running_pk}, "SK": {"S": f"{tenant_pk(tenant_id)}#{job_id}"}}

    def running_item(self, tenant_id: str, job_id: str) -> dict[str, Any]:
        return {**self.running_key(tenant_id, job_id), **to_item({"tenant_id": tenant_id, self.id_attribute: job_id})}


def _assignments(changes: dict[str, Any], values: dict[str, Any], names: dict[str, str]) -> tuple[list[str], list[str]]:
    """SET clauses for `changes` (REMOVE ones where a value is None), their names and values added."""
    sets, removes = [], []
    for index, (name, value) in enumerate(changes.items()):
        names[f"#c{index}"] = name
        if value is None:
            removes.append(f"#c{index}")
        else:
            sets.append(f"#c{index} = :c{index}")
            values[f":c{index}"] = to_item({"v": value})["v"]
    return sets, removes


class JobTable(TableAccess):
    def begin_job(
        self, kind: JobKind, job: dict[str, Any], guards: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """Put the job and its running entry in one transaction after `guards` (the kind's conditions).

        None when it started, else the cancellation reasons (the guards' first: they come first).
        """
        tenant_id, job_id = job["tenant_id"], job[kind.id_attribute]
        item = {"PK": kind.pk(tenant_id, job_id), "SK": kind.sk, **job}
        return self._transact(
            [
                *guards,
                {"Put": {"TableName": self._table, "Item": to_item(item)}},  # a new uuid: no condition needed
                {"Put": {"TableName": self._table, "Item": kind.running_item(tenant_id, job_id)}},
            ]
        )

    def get_job(self, kind: JobKind, tenant_id: str, job_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=kind.key(tenant_id, job_id), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def take_lease(
        self, kind: JobKind, tenant_id: str, job_id: str, owner: str, now: int, until: int
    ) -> dict[str, Any] | None:
        """Take a running job's lease unless a live worker holds it; the job, or None when not taken."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=kind.key(tenant_id, job_id),
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

    def checkpoint(
        self, kind: JobKind, job: dict[str, Any], owner: str, changes: dict[str, Any], added: dict[str, int]
    ) -> bool:
        """SET `changes` (None removes) and ADD `added` to the job if `owner` still holds its lease; whether it did."""
        names = {"#owner": "lease_owner"}
        values: dict[str, Any] = {":owner": {"S": owner}}
        sets, removes = _assignments(changes, values, names)
        adds = []
        for index, (name, value) in enumerate(added.items()):
            if value:
                names[f"#a{index}"] = name
                values[f":a{index}"] = {"N": str(value)}
                adds.append(f"#a{index} :a{index}")
        clauses = (("SET", sets), ("REMOVE", removes), ("ADD", adds))
        expression = " ".join(f"{verb} {', '.join(parts)}" for verb, parts in clauses if parts)
        if not expression:
            return True
        try:
            self._client.update_item(
                TableName=self._table,
                Key=kind.key(job["tenant_id"], job[kind.id_attribute]),
                UpdateExpression=expression,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def finish_job(
        self,
        kind: JobKind,
        job: dict[str, Any],
        owner: str,
        changes: dict[str, Any],
        also: list[dict[str, Any]],
    ) -> bool:
        """End the job (`changes`: status, counts, times), drop its lease and running entry, and do `also`, at once.

        Conditioned on `owner` holding the lease; whether it did.
        """
        tenant_id, job_id = job["tenant_id"], job[kind.id_attribute]
        names = {f"#c{i}": name for i, name in enumerate(changes)} | {"#owner": "lease_owner", "#until": "lease_until"}
        values = {f":c{i}": to_item({"v": value})["v"] for i, value in enumerate(changes.values())}
        values[":owner"] = {"S": owner}
        update = {
            "TableName": self._table,
            "Key": kind.key(tenant_id, job_id),
            "UpdateExpression": "SET "
            + ", ".join(f"#c{i} = :c{i}" for i in range(len(changes)))
            + " REMOVE #owner, #until",
            "ConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        operations: list[dict[str, Any]] = [
            {"Update": update},
            {"Delete": {"TableName": self._table, "Key": kind.running_key(tenant_id, job_id)}},
            *also,
        ]
        return self._transact(operations) is None

    def reopen_job(self, kind: JobKind, tenant_id: str, job_id: str) -> None:
        """Run a failed job again: running, its failures forgotten, back in the running entries."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=kind.key(tenant_id, job_id),
                UpdateExpression="SET #status = :running, failures = :zero REMOVE lease_owner, lease_until, #ttl",
                ConditionExpression="#status = :failed",
                ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":running": {"S": "running"},
                    ":failed": {"S": "failed"},
                    ":zero": {"N": "0"},
                },
            )
            self._client.put_item(TableName=self._table, Item=kind.running_item(tenant_id, job_id))

    def running_jobs(self, kind: JobKind) -> list[dict[str, Any]]:
        """The kind's jobs still running, every tenant's (a small partition: a job leaves it when it ends)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": kind.running_pk}},
        }
        while True:
            response = self._client.query(**request)
            found += [from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def nudge(self, kind: JobKind, tenant_id: str, job_id: str, now: int) -> bool:
        """Wake a running job whose lease lapsed: the write reaches the worker through the stream."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=kind.key(tenant_id, job_id),
                UpdateExpression="SET nudged_at = :now",
                ConditionExpression="#status = :running AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":running": {"S": "running"}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

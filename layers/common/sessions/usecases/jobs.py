"""What every resumable job of a user's data (an erasure, an export) does the same way.

Starting one puts the job with its running entry (and the kind's guards) in one transaction; a
request while one runs answers the running job. Seeing one takes the role the start took.

A worker is woken by the job item's own stream records: the job's creation, and every later write
to it while it runs. A run takes the job's lease (a conditional UpdateItem), works until done or
until its function's time is short, records its progress after each step (conditioned on the lease,
so two workers never both work a job), and stops SAFETY_MARGIN_MS before its timeout, giving the
lease back: that write wakes the next run. A run that fails gives the lease back too, with its
failure counted, until MAX_FAILURES in a row end the job as failed. A run that dies keeps the lease
until it lapses; the scheduled cleanup then writes to the job (`resume_lapsed`), which wakes a new run.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from sessions.core.attribute_values import from_item
from sessions.core.clock import format_ms, now_ms
from sessions.core.settings import get_settings
from sessions.store import SessionStore
from sessions.usecases.access import store

if TYPE_CHECKING:
    from sessions.core.errors import SessionError
    from sessions.domain.identity import Identity
    from sessions.store.blobs import EventBlobs
    from sessions.store.jobs import JobKind, JobTable

logger = Logger(child=True)

SAFETY_MARGIN_MS = 10_000  # a run stops this long before its function's timeout
LEASE_MARGIN_MS = 30_000  # a lease outlives the run that took it by this much
MAX_FAILURES = 5  # runs in a row that failed before the job is reported failed


class LeaseLost(Exception):
    """A run outlived its lease and another run took the job: this one stops."""


def check_settings() -> None:
    """At INIT (a worker's handler): a stack without the event-parts bucket fails its cold start, not a job."""
    get_settings().require("event_blobs_bucket")


def job_store[Jobs: "JobTable"](kind_store: type[Jobs]) -> Jobs:
    """The session store with a kind's job reads and writes: the same client and table."""
    current = store()
    if not isinstance(current, SessionStore):
        raise TypeError("a job runs on the DynamoDB store, not a stand-in")
    return kind_store(current._client, current._table)


# --- the API ------------------------------------------------------------------------------------


def may_act_for(identity: Identity, user_id: str) -> bool:
    """Who may start and see a job of a user's data: the user, the tenant's services and admins."""
    return user_id == identity.principal or identity.is_service or identity.is_admin


def new_job(kind: JobKind, tenant_id: str, user_id: str, at: int) -> dict[str, Any]:
    """A job of the user's data, running from `at` (ms) under a new id; the kind adds what it records."""
    return {
        "tenant_id": tenant_id,
        kind.id_attribute: str(uuid.uuid4()),
        "user_id": user_id,
        "status": "running",
        "started_at": format_ms(at),
    }


def start_or_answer(
    jobs: JobTable,
    kind: JobKind,
    job: dict[str, Any],
    begin: Callable[[dict[str, Any]], str],
    view: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    rerun_failed: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Start `job` with `begin` (the id of the job that runs), or answer the one that runs already.

    (The job's view, whether this request started it.) With `rerun_failed`, a failed job answered
    is run again, from where it stopped.
    """
    running_id = begin(job)
    if running_id == job[kind.id_attribute]:
        return view(job), True
    stored = jobs.get_job(kind, job["tenant_id"], running_id)
    if stored is None:  # pragma: no cover - the user's flag or marker and the job are written together
        raise RuntimeError(f"the user's {kind.name} entry names no job")
    if rerun_failed and stored["status"] == "failed":
        jobs.reopen_job(kind, job["tenant_id"], running_id)  # asked again: it runs again
        stored = jobs.get_job(kind, job["tenant_id"], running_id) or stored
    return view(stored), False


def visible_job(
    jobs: JobTable, kind: JobKind, identity: Identity, job_id: str, not_found: type[SessionError]
) -> dict[str, Any]:
    """The caller's tenant's job, if the caller may see it; else `not_found` (unknown and hidden alike)."""
    job = jobs.get_job(kind, identity.tenant_id, job_id)
    if job is None or not may_act_for(identity, job["user_id"]):
        raise not_found(f"{kind.name.lower()} {job_id!r} not found")
    return job


# --- the worker ---------------------------------------------------------------------------------


class JobRun(ABC):
    """One run of a job, holding its lease: the kind's work between the shared start, checkpoints and end."""

    def __init__(
        self, jobs: JobTable, kind: JobKind, job: dict[str, Any], owner: str, out_of_time: Callable[[], bool]
    ) -> None:
        self._kind, self._job, self._owner, self._out_of_time = kind, job, owner, out_of_time
        self._job_table = jobs
        self._tenant, self._user = job["tenant_id"], job["user_id"]

    @abstractmethod
    def work(self) -> str:
        """Work the job until it ends ("completed", "failed") or time is short ("paused", see `_pause`)."""

    @abstractmethod
    def _give_up(self, changes: dict[str, Any]) -> None:
        """End the job as failed for good with `changes` (`_end` does it; what the kind undoes first)."""

    def failed(self, error: str) -> None:
        """This run failed with `error` (a type name): hand over to the next run, or end the job after MAX_FAILURES."""
        failures = int(self._job.get("failures", 0)) + 1
        if failures < MAX_FAILURES:
            # giving the lease back wakes the next run at once (the job item's stream record)
            self._checkpoint({"failures": failures, "last_error": error, "lease_owner": None, "lease_until": None})
            return
        self._give_up({"status": "failed", "failures": failures, "last_error": error})

    def _pause(self) -> str:
        """Give the lease back: its write wakes the next run, which goes on from the last checkpoint."""
        self._checkpoint({"lease_owner": None, "lease_until": None})
        return "paused"

    def _checkpoint(self, changes: dict[str, Any], added: dict[str, int] | None = None) -> None:
        """Record `changes` (None removes) and `added` counts on the job, if this run still holds its lease."""
        added = added or {}
        if not self._job_table.checkpoint(self._kind, self._job, self._owner, changes, added):
            raise LeaseLost("another run took the job over")
        for name, value in changes.items():
            if value is None:
                self._job.pop(name, None)
            else:
                self._job[name] = value
        for name, value in added.items():
            self._job[name] = int(self._job.get(name, 0)) + value

    def _ended(self) -> dict[str, Any]:
        """What an ended job records besides its status and counts (the kind may add a TTL)."""
        return {"completed_at": format_ms(now_ms())}

    def _end(self, changes: dict[str, Any], also: list[dict[str, Any]]) -> bool:
        """End the job with `changes` and the kind's `also` operations, at once; whether this run still held it."""
        return self._job_table.finish_job(self._kind, self._job, self._owner, changes | self._ended(), also)

    def _end_holding(self, changes: dict[str, Any], also: list[dict[str, Any]]) -> None:
        """End the job as `_end` does; a run that lost the lease meanwhile stops (LeaseLost)."""
        if not self._end(changes, also):
            raise LeaseLost("another run took the job over")


class JobWorker[Store: "JobTable"]:
    """A kind's runs, as its worker (woken by the stream) and the cleanup (resuming lapsed jobs) start them."""

    def __init__(
        self,
        kind: JobKind,
        store: Callable[[], Store],
        start_run: Callable[[Store, EventBlobs, dict[str, Any], str, Callable[[], bool]], JobRun],
    ) -> None:
        self._kind, self._store, self._start_run = kind, store, start_run

    def run(
        self,
        tenant_id: str,
        job_id: str,
        *,
        remaining_ms: Callable[[], int],
        jobs: Store | None = None,
        blobs: EventBlobs | None = None,
    ) -> str:
        """One run of a job: what it did ("busy": another run holds the lease or the job ended; "paused";
        "completed"; "failed": this run failed, the next one retries until MAX_FAILURES)."""
        table = jobs or self._store()
        owner = str(uuid.uuid4())
        now = now_ms()
        job = table.take_lease(self._kind, tenant_id, job_id, owner, now, now + remaining_ms() + LEASE_MARGIN_MS)
        if job is None:
            return "busy"
        from sessions.store.blobs import default_blobs  # the workers' alone: the API's functions never touch S3

        run = self._start_run(table, blobs or default_blobs(), job, owner, lambda: remaining_ms() < SAFETY_MARGIN_MS)
        try:
            return run.work()
        except LeaseLost:
            return "busy"  # it outlived its lease: the run that took the job over carries on
        except Exception as exc:
            # the type only: a message may quote what it failed on
            error = type(exc).__name__
            label = self._kind.name.lower()
            logger.exception(f"{label} run failed", extra={self._kind.id_attribute: job_id, "error": error})
            run.failed(error)
            return "failed"

    def run_woken(self, records: list[dict[str, Any]], *, remaining_ms: Callable[[], int]) -> dict[str, str]:
        """A worker's batch of stream records: each job they name run once; {job id: what its run did}."""
        # a batch may hold many writes of one job: each job is run once (a run works it as long as time allows)
        woken = {}
        for record in records:
            image = from_item(record["dynamodb"].get("NewImage") or {})
            if image.get("tenant_id") and image.get(self._kind.id_attribute):
                woken[(image["tenant_id"], image[self._kind.id_attribute])] = True
        outcomes = {}
        for tenant_id, job_id in woken:
            outcomes[job_id] = self.run(tenant_id, job_id, remaining_ms=remaining_ms)
            label = self._kind.name.lower()
            logger.info(f"{label} run", extra={self._kind.id_attribute: job_id, "outcome": outcomes[job_id]})
        return outcomes

    def resume_lapsed(self, jobs: Store | None = None) -> int:
        """The cleanup's part: wake every running job whose lease lapsed (its worker died); how many were woken."""
        table = jobs or self._store()
        now = now_ms()
        kind = self._kind
        return sum(
            table.nudge(kind, entry["tenant_id"], entry[kind.id_attribute], now) for entry in table.running_jobs(kind)
        )

"""Erasing everything a user has in a tenant (POST /v1/users/{user_id}/erasure), as a resumable job.

Starting one flags the user on their counters item and puts the job, in one transaction: from then
on every create of a session or of a user state document of that user is refused (409
user_erasure_in_progress), at no extra cost for creates (they update that item anyway). A second
request while one runs answers the running job.

The worker (functions/erasure_worker) is woken by the job item's own stream records: the job's
creation, and every later write to it while it runs. A run takes the job's lease (a conditional
UpdateItem), works page by page, records its cursor and counts after each page (conditioned on
the lease, so two workers never both work a job), and stops before its time runs out, giving the
lease back: that write wakes the next run. A run that dies keeps the lease until it lapses; the
scheduled cleanup then writes to the job (`nudge`), which wakes a new run.

Phases, each resumable at any point:
  sessions  the ByUser index, a page at a time. Each session is first marked erased and deleted
            (its stats counted out, its slot given back, exactly as a delete does; appends to it
            fail from then on), then its partition goes (events of every incarnation, purge,
            settled, fork and reader markers), then its large parts in S3 (every object under the
            session's prefix), and last its item, so a run that dies half-way finds it again.
  user      the user's state documents (registered in the user's partition, and in the apps of the
            sessions erased), then the user's partition (slots, registrations, a running export's
            marker) and the user's exports in S3 (sessions.usecases.export); then, once the
            index shows no session, the job completes and the counters item goes with the flag.
Costs what it removes: Queries and GetItems by key, BatchWriteItem in 25s, DeleteObjects in 1000s.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from sessions.core.clock import format_ms, now_ms, parse_timestamp
from sessions.core.errors import ErasureNotFound, Forbidden
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity
from sessions.store import SessionStore, VersionChanged, WriteConflict
from sessions.store.erasure import ErasureJobs
from sessions.store.keys import SESSION_SK, session_pk, user_pk
from sessions.usecases.access import store

if TYPE_CHECKING:
    from sessions.domain.records import SessionChanges, SessionRecord
    from sessions.store.blobs import EventBlobs

logger = Logger(child=True)

JOB_LIFETIME_SECONDS = 30 * 24 * 3600  # an ended job (ids and counts) is kept this long, then DynamoDB's TTL removes it
SAFETY_MARGIN_MS = 10_000  # a run stops this long before its function's timeout
LEASE_MARGIN_MS = 30_000  # a lease outlives the run that took it by this much
INDEX_SETTLE_MS = 3_000  # the ByUser index shows a session this long after it was written, at the latest (typically)
MAX_FAILURES = 5  # runs in a row that failed before the job is reported failed
BATCH_WRITE_MAX = 25
COUNTS = ("sessions_erased", "events_deleted", "markers_deleted", "objects_deleted", "state_documents_deleted")


class ErasureStore(ErasureJobs, SessionStore):
    """The session store with the erasure's own reads and writes."""


def _store() -> ErasureStore:
    current = store()
    if not isinstance(current, SessionStore):
        raise TypeError("an erasure runs on the DynamoDB store, not a stand-in")
    return ErasureStore(current._client, current._table)  # the same client and table


def check_settings() -> None:
    """At INIT (the worker's handler): a stack without the event-parts bucket fails its cold start, not a job."""
    get_settings().require("event_blobs_bucket")


# --- who ----------------------------------------------------------------------------------------


def _may_erase(identity: Identity, user_id: str) -> bool:
    return user_id == identity.principal or identity.is_service or identity.is_admin


def check_erasure_access(identity: Identity, user_id: str) -> None:
    if not _may_erase(identity, user_id):
        raise Forbidden("erasing another user needs the service or admin role")


# --- the API ------------------------------------------------------------------------------------


def view(job: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/erasures/{id} answers: ids, status, counts, times; never anything of the user's content."""
    body = {
        "erasure_id": job["erasure_id"],
        "user_id": job["user_id"],
        "status": job["status"],
        "started_at": job["started_at"],
        "completed_at": job.get("completed_at"),
        "counts": {name: int(job.get(name, 0)) for name in COUNTS},
    }
    if job["status"] == "failed":
        body["remaining"] = job.get("remaining", {})
    return body


def start_erasure(identity: Identity, user_id: str) -> tuple[dict[str, Any], bool]:
    """Start erasing the user (or answer the erasure that runs); (the job's view, whether this request started it)."""
    check_erasure_access(identity, user_id)
    jobs = _store()
    at = format_ms(now_ms())
    job = {
        "tenant_id": identity.tenant_id,
        "erasure_id": str(uuid.uuid4()),
        "user_id": user_id,
        "status": "running",
        "phase": "sessions",
        "started_at": at,
        **dict.fromkeys(COUNTS, 0),
    }
    running_id = jobs.start_erasure(job)
    if running_id == job["erasure_id"]:
        return view(job), True
    stored = jobs.get_erasure(identity.tenant_id, running_id)
    if stored is None:  # pragma: no cover - the flag and the job are written together
        raise RuntimeError("an erasure's flag names no job")
    if stored["status"] == "failed":
        jobs.reopen_erasure(identity.tenant_id, running_id)  # asked again: it runs again, from where it stopped
        stored = jobs.get_erasure(identity.tenant_id, running_id) or stored
    return view(stored), False


def get_erasure(identity: Identity, erasure_id: str) -> dict[str, Any]:
    job = _store().get_erasure(identity.tenant_id, erasure_id)
    if job is None or not _may_erase(identity, job["user_id"]):
        raise ErasureNotFound(f"erasure {erasure_id!r} not found")
    return view(job)


# --- the worker ---------------------------------------------------------------------------------


def run_erasure(
    tenant_id: str,
    erasure_id: str,
    *,
    remaining_ms: Callable[[], int],
    jobs: ErasureStore | None = None,
    blobs: EventBlobs | None = None,
) -> str:
    """One run of a job: what it did ("busy": another run holds the lease or the job ended; "paused"; "completed")."""
    from sessions.store.blobs import default_blobs  # the worker's alone: the API's functions never touch S3

    jobs = jobs or _store()
    owner = str(uuid.uuid4())
    now = now_ms()
    job = jobs.take_erasure_lease(tenant_id, erasure_id, owner, now, now + remaining_ms() + LEASE_MARGIN_MS)
    if job is None:
        return "busy"
    run = _Run(jobs, blobs or default_blobs(), job, owner, lambda: remaining_ms() < SAFETY_MARGIN_MS)
    try:
        outcome = run.work()
    except LeaseLost:
        return "busy"  # it outlived its lease: the run that took the job over carries on
    except Exception as exc:
        # the type only: a message may quote what it failed on
        logger.exception("erasure run failed", extra={"erasure_id": erasure_id, "error": type(exc).__name__})
        run.failed(type(exc).__name__)
        return "failed"
    return outcome


def resume_lapsed_erasures(jobs: ErasureStore | None = None) -> int:
    """The cleanup's part: wake every running job whose lease lapsed (its worker died); how many were woken."""
    jobs = jobs or _store()
    now = now_ms()
    return sum(jobs.nudge_erasure(entry["tenant_id"], entry["erasure_id"], now) for entry in jobs.running_erasures())


class _Run:
    def __init__(
        self, jobs: ErasureStore, blobs: EventBlobs, job: dict[str, Any], owner: str, out_of_time: Callable[[], bool]
    ) -> None:
        self._jobs, self._blobs, self._job, self._owner, self._out_of_time = jobs, blobs, job, owner, out_of_time
        self._tenant, self._user = job["tenant_id"], job["user_id"]

    def work(self) -> str:
        while True:
            if self._out_of_time():
                self._checkpoint({"lease_owner": None, "lease_until": None}, {})
                return "paused"
            if self._job["phase"] == "sessions":
                self._sessions_page()
            elif self._user_data():
                return "completed"

    def failed(self, error: str) -> None:
        failures = int(self._job.get("failures", 0)) + 1
        if failures < MAX_FAILURES:
            # giving the lease back wakes the next run at once (the job item's stream record)
            self._checkpoint({"failures": failures, "last_error": error, "lease_owner": None, "lease_until": None}, {})
            return
        remaining = {"sessions": len(self._jobs.user_sessions_page(self._tenant, self._user, None)[0])}
        self._jobs.finish_erasure(
            self._job,
            self._owner,
            {"status": "failed", "failures": failures, "last_error": error, "remaining": remaining} | self._ended(),
        )

    def _ended(self) -> dict[str, Any]:
        at = now_ms()
        return {"completed_at": format_ms(at), "ttl": at // 1000 + JOB_LIFETIME_SECONDS}

    def _checkpoint(self, changes: dict[str, Any], added: dict[str, int]) -> None:
        if not self._jobs.checkpoint_erasure(self._job, self._owner, changes, added):
            raise LeaseLost("another run took the job over")
        for name, value in changes.items():
            if value is None:
                self._job.pop(name, None)
            else:
                self._job[name] = value
        for name, value in added.items():
            self._job[name] = int(self._job.get(name, 0)) + value

    # --- sessions ------------------------------------------------------------------------------

    def _sessions_page(self) -> None:
        entries, cursor = self._jobs.user_sessions_page(self._tenant, self._user, self._job.get("cursor"))
        added = dict.fromkeys(COUNTS, 0)
        apps = {entry["app_name"] for entry in entries if entry.get("app_name")}
        for entry in entries:
            for name, value in self._erase_session(entry["session_id"]).items():
                added[name] += value
        changes: dict[str, Any] = {"cursor": cursor}
        if apps:
            changes["apps"] = sorted(set(self._job.get("apps", [])) | apps)
        if cursor is None:
            changes["phase"] = "user"
        self._checkpoint(changes, added)

    def _erase_session(self, session_id: str) -> dict[str, int]:
        counts = dict.fromkeys(COUNTS, 0)
        record = self._marked_erased(session_id)
        if record is None:
            return counts  # gone, or another user's now (the index lags)
        pk = session_pk(self._tenant, session_id)
        keys = [key for key in self._jobs.partition_keys(pk) if key["SK"]["S"] != SESSION_SK]
        self._delete_all(keys)
        counts["events_deleted"] = sum(key["SK"]["S"].startswith("E#") for key in keys)
        counts["markers_deleted"] = len(keys) - counts["events_deleted"]
        # every incarnation's objects (and those of appends that failed after their upload)
        from sessions.store.blobs import history_blob_prefix

        session_prefix = history_blob_prefix(pk, record["incarnation"]).removesuffix(f"{record['incarnation']}/")
        deletion = self._blobs.delete_prefix(session_prefix)
        if not deletion.complete:
            raise ObjectsKept("S3 kept some of the session's objects")
        counts["objects_deleted"] = deletion.deleted
        self._jobs.delete_erased_session(pk, record["incarnation"])
        counts["sessions_erased"] = 1
        return counts

    def _marked_erased(self, session_id: str) -> SessionRecord | None:
        """The session, marked erased (and deleted, counted out as a delete counts it); None if it is not the user's."""
        for _attempt in range(50):
            record = self._jobs.get_session(self._tenant, session_id)
            if record is None or record["user_id"] != self._user:
                return None
            if "erased_at" in record:
                return record
            at = format_ms(now_ms())
            changes: SessionChanges = {"erased_at": at, "updated_at": at}
            if "deleted_at" not in record:
                changes |= {"deleted_at": at, "expires_at": at}
            if record.get("holds_slot"):
                changes["holds_slot"] = False
            try:
                return self._jobs.update_session(record, changes)
            except (VersionChanged, WriteConflict):
                continue  # an append got in first: mark what it left
        raise WriteConflict("the session kept changing")

    def _delete_all(self, keys: list[dict[str, Any]]) -> None:
        requests = [{"DeleteRequest": {"Key": key}} for key in keys]
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            batch = requests[start : start + BATCH_WRITE_MAX]
            for attempt in range(10):
                batch = self._jobs.batch_write(batch)
                if not batch:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            if batch:
                raise WriteConflict("DynamoDB left deletes unprocessed")

    # --- the user's own items ------------------------------------------------------------------

    def _user_data(self) -> bool:
        """State documents, slots and registrations; whether the job completed (else back to the sessions)."""
        apps = set(self._job.get("apps", [])) | set(self._jobs.user_state_apps(self._tenant, self._user))
        documents = sum(self._jobs.delete_user_state(self._tenant, app, self._user) for app in sorted(apps))
        keys = [
            key for key in self._jobs.partition_keys(user_pk(self._tenant, self._user)) if key["SK"]["S"] != "#COUNTERS"
        ]
        self._delete_all(keys)
        exports = self._delete_exports()
        # a session created just before the flag may reach the index a moment late
        settle = self._settled_at() - now_ms()
        if settle > 0:
            time.sleep(settle / 1000)
        if self._jobs.has_sessions(self._tenant, self._user):
            added = {"state_documents_deleted": documents, "markers_deleted": len(keys), "objects_deleted": exports}
            self._checkpoint({"phase": "sessions", "cursor": None}, added)
            return False
        counts = {name: int(self._job.get(name, 0)) for name in COUNTS}
        counts["state_documents_deleted"] += documents
        counts["markers_deleted"] += len(keys)
        counts["objects_deleted"] += exports
        if not self._jobs.finish_erasure(self._job, self._owner, {"status": "completed", **counts} | self._ended()):
            raise LeaseLost("another run took the job over")
        return True

    def _delete_exports(self) -> int:
        """Every export of the user (JSON Lines objects: copies of what was erased); how many objects went."""
        from sessions.store.blobs import export_prefix

        deletion = self._blobs.delete_prefix(export_prefix(self._tenant, self._user))
        if not deletion.complete:
            raise ObjectsKept("S3 kept some of the user's exports")
        return deletion.deleted

    def _settled_at(self) -> int:
        return parse_timestamp(self._job["started_at"]) + INDEX_SETTLE_MS


class LeaseLost(Exception):
    """A run outlived its lease and another run took the job: this one stops."""


class ObjectsKept(Exception):
    """S3 refused to delete some objects: the run fails, and the next one deletes them again."""

"""Erasing everything a user has in a tenant (POST /v1/users/{user_id}/erasure), as a resumable job.

Starting one flags the user on their counters item and puts the job, in one transaction: from then
on every create of a session or of a user state document of that user is refused (409
user_erasure_in_progress), at no extra cost for creates (they update that item anyway). A second
request while one runs answers the running job.

The worker (functions/erasure_worker) runs it as every job runs (sessions.usecases.jobs): woken by
the job item's stream records, under the job's lease, its cursor and counts recorded after each page,
handing over before its function's time runs out; the cleanup wakes a job whose run died. A failed
erasure keeps the user's flag: a new request runs it again, from where it stopped.

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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sessions.core.clock import format_ms, now_ms, parse_timestamp
from sessions.core.errors import ErasureNotFound, Forbidden
from sessions.domain.identity import Identity
from sessions.store import SessionStore, VersionChanged, WriteConflict
from sessions.store.erasure import ERASURE, ErasureJobs
from sessions.store.keys import SESSION_SK, session_pk, user_pk
from sessions.usecases.jobs import JobRun, JobWorker, job_store, may_act_for, new_job, start_or_answer, visible_job

if TYPE_CHECKING:
    from sessions.domain.records import SessionChanges, SessionRecord
    from sessions.store.blobs import EventBlobs

JOB_LIFETIME_SECONDS = 30 * 24 * 3600  # an ended job (ids and counts) is kept this long, then DynamoDB's TTL removes it
INDEX_SETTLE_MS = 3_000  # the ByUser index shows a session this long after it was written, at the latest (typically)
BATCH_WRITE_MAX = 25
COUNTS = ("sessions_erased", "events_deleted", "markers_deleted", "objects_deleted", "state_documents_deleted")


class ErasureStore(ErasureJobs, SessionStore):
    """The session store with the erasure's own reads and writes."""


def _store() -> ErasureStore:
    return job_store(ErasureStore)


# --- who ----------------------------------------------------------------------------------------


def check_erasure_access(identity: Identity, user_id: str) -> None:
    if not may_act_for(identity, user_id):
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
    """Start erasing the user (or answer the erasure that runs); (the job's view, whether this request started it).

    A failed erasure answered runs again, from where it stopped.
    """
    check_erasure_access(identity, user_id)
    jobs = _store()
    job = new_job(ERASURE, identity.tenant_id, user_id, now_ms()) | {"phase": "sessions", **dict.fromkeys(COUNTS, 0)}
    return start_or_answer(jobs, ERASURE, job, jobs.start_erasure, view, rerun_failed=True)


def get_erasure(identity: Identity, erasure_id: str) -> dict[str, Any]:
    return view(visible_job(_store(), ERASURE, identity, erasure_id, ErasureNotFound))


# --- the worker ---------------------------------------------------------------------------------


class _Run(JobRun):
    def __init__(
        self, jobs: ErasureStore, blobs: EventBlobs, job: dict[str, Any], owner: str, out_of_time: Callable[[], bool]
    ) -> None:
        super().__init__(jobs, ERASURE, job, owner, out_of_time)
        self._jobs, self._blobs = jobs, blobs

    def work(self) -> str:
        while True:
            if self._out_of_time():
                return self._pause()
            if self._job["phase"] == "sessions":
                self._sessions_page()
            elif self._user_data():
                return "completed"

    def _give_up(self, changes: dict[str, Any]) -> None:
        remaining = {"sessions": len(self._jobs.user_sessions_page(self._tenant, self._user, None)[0])}
        self._end(changes | {"remaining": remaining}, [])  # the flag stays: the user's data is not all gone

    def _ended(self) -> dict[str, Any]:
        at = now_ms()
        return {"completed_at": format_ms(at), "ttl": at // 1000 + JOB_LIFETIME_SECONDS}

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
        # the counters item goes last, its flag with it: from now on the user may start anew
        self._end_holding({"status": "completed", **counts}, [self._jobs.lift_flag(self._job)])
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


class ObjectsKept(Exception):
    """S3 refused to delete some objects: the run fails, and the next one deletes them again."""


WORKER = JobWorker(ERASURE, _store, _Run)
run_erasure = WORKER.run  # one run of a job (the worker's, or a test's)
resume_lapsed_erasures = WORKER.resume_lapsed  # the cleanup's part

"""Exporting everything a user has in a tenant (POST /v1/users/{user_id}/export), as a resumable job.

The copy is one JSON Lines object in the event-parts bucket, `#exports/{tenant}/{user}/{export_id}.jsonl`
(sessions.store.blobs.export_key), one JSON object per line, in this order:

    {"type": "session", "session": <GET /v1/sessions/{id}>}
    {"type": "event", "session_id": …, "event": <as GET …/history?include_payload=true&include_compacted=true>}
    … (each session followed by its events, in seq order; large parts inline)
    {"type": "state", "state": <GET /v1/apps/{app}/users/{user}/state>}   (one per app the user has a document in)

Sessions are those GET /v1/sessions/{id} answers: live ones (a deleted or expired session is not
readable through the API, and is not exported).

The worker (functions/export_worker) is woken, like the erasure's, by the job item's stream records,
and takes the job's lease. It reads the user's data in a fixed order and keeps what it read in a
buffer; once the buffer holds PART_BYTES it uploads it as the next part of an S3 multipart upload
and records, with the part's ETag, the cursor after the buffer's last line (conditioned on the
lease). A run that stops (out of time, or dead) loses only its buffer: the next run starts from the
recorded cursor, so no part is written twice. The last run uploads the rest and completes the upload
(or, with a single part, puts the object). The object is SSE-encrypted by the bucket's default (the
stack's key when one is set); the bucket's lifecycle expires it after EXPORT_OBJECT_DAYS.
An erasure of the user deletes every export of theirs; an export is refused while an erasure runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from sessions.core.clock import format_ms, now_ms, parse_timestamp
from sessions.core.errors import ExportNotFound, Forbidden, UserErasureInProgress
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity
from sessions.domain.lineage import extents, is_fork_reader
from sessions.store import SessionStore
from sessions.store.erasure import ErasureJobs
from sessions.store.export import ExportJobs, UserBeingErased
from sessions.store.queries import EventQuery, event_position
from sessions.store.state import StateKey
from sessions.usecases.access import is_live, public_view, store

if TYPE_CHECKING:
    from sessions.domain.records import EventRecord, SessionRecord
    from sessions.store.blobs import EventBlobs
    from sessions.store.queries import Page

logger = Logger(child=True)

JOB_LIFETIME_SECONDS = 30 * 24 * 3600  # the job item (ids and counts) is kept this long from its start (TTL)
EXPORT_OBJECT_DAYS = 7  # template.yaml's lifecycle rule on the export prefix: the object's life
URL_SECONDS = 3600  # a download URL's validity, from the GET that signed it
PART_BYTES = 8 * 1024 * 1024  # an upload part (S3: at least 5 MiB, but for the last)
EVENTS_PAGE = 100
SAFETY_MARGIN_MS = 10_000  # a run stops this long before its function's timeout
LEASE_MARGIN_MS = 30_000  # a lease outlives the run that took it by this much
MAX_FAILURES = 5  # runs in a row that failed before the job is reported failed
COUNTS = ("sessions", "events", "state_documents", "bytes")
CONTENT_TYPE = "application/x-ndjson"


class ExportStore(ExportJobs, ErasureJobs, SessionStore):
    """The session store with the export's reads and writes (and the erasure's registrations of state documents)."""


def _store() -> ExportStore:
    current = store()
    if not isinstance(current, SessionStore):
        raise TypeError("an export runs on the DynamoDB store, not a stand-in")
    return ExportStore(current._client, current._table)  # the same client and table


def _blobs() -> EventBlobs:
    from sessions.store.blobs import default_blobs  # the worker's and GET's: creating a job touches no S3

    return default_blobs()


def check_settings() -> None:
    """At INIT (the worker's handler): a stack without the bucket fails its cold start, not a job."""
    get_settings().require("event_blobs_bucket")


# --- who ----------------------------------------------------------------------------------------


def _may_export(identity: Identity, user_id: str) -> bool:
    return user_id == identity.principal or identity.is_service or identity.is_admin


# --- the API ------------------------------------------------------------------------------------


def view(job: dict[str, Any], blobs: EventBlobs | None = None) -> dict[str, Any]:
    """What GET /v1/exports/{id} answers: ids, status, counts, times, and once completed a download URL."""
    cursor = job.get("cursor") or {}
    body: dict[str, Any] = {
        "export_id": job["export_id"],
        "user_id": job["user_id"],
        "status": job["status"],
        "started_at": job["started_at"],
        "completed_at": job.get("completed_at"),
        "counts": {name: int(cursor.get(name, 0)) for name in COUNTS},
        "download_url": None,
        "url_expires_in": None,
        "expires_at": None,
    }
    if job["status"] == "completed":
        expires = parse_timestamp(job["completed_at"]) + EXPORT_OBJECT_DAYS * 24 * 3600 * 1000
        body["expires_at"] = format_ms(expires)
        if now_ms() < expires:
            body["url_expires_in"] = URL_SECONDS
            from sessions.store.blobs import export_key

            key = export_key(job["tenant_id"], job["user_id"], job["export_id"])
            body["download_url"] = (blobs or _blobs()).presigned_get(key, URL_SECONDS)
    return body


def start_export(identity: Identity, user_id: str) -> tuple[dict[str, Any], bool]:
    """Start exporting the user (or answer the export that runs); (the job's view, whether this request started it)."""
    if not _may_export(identity, user_id):
        raise Forbidden("exporting another user's data needs the service or admin role")
    jobs = _store()
    at = now_ms()
    job = {
        "tenant_id": identity.tenant_id,
        "export_id": str(uuid.uuid4()),
        "user_id": user_id,
        "status": "running",
        "started_at": format_ms(at),
        "cursor": _first_cursor(),
        "ttl": at // 1000 + JOB_LIFETIME_SECONDS,
    }
    try:
        running_id = jobs.start_export(job)
    except UserBeingErased:
        raise UserErasureInProgress("the user is being erased: nothing of theirs is exported") from None
    if running_id == job["export_id"]:
        return view(job), True
    stored = jobs.get_export(identity.tenant_id, running_id)
    if stored is None:  # pragma: no cover - the marker and the job are written together
        raise RuntimeError("an export's marker names no job")
    return view(stored), False


def get_export(identity: Identity, export_id: str) -> dict[str, Any]:
    job = _store().get_export(identity.tenant_id, export_id)
    if job is None or not _may_export(identity, job["user_id"]):
        raise ExportNotFound(f"export {export_id!r} not found")
    return view(job)


# --- the worker ---------------------------------------------------------------------------------


def run_export(
    tenant_id: str,
    export_id: str,
    *,
    remaining_ms: Callable[[], int],
    jobs: ExportStore | None = None,
    blobs: EventBlobs | None = None,
) -> str:
    """One run of a job: what it did ("busy": another run holds the lease or the job ended; "paused"; "completed";
    "failed": this run failed, the next one retries until MAX_FAILURES)."""
    jobs = jobs or _store()
    owner = str(uuid.uuid4())
    now = now_ms()
    job = jobs.take_export_lease(tenant_id, export_id, owner, now, now + remaining_ms() + LEASE_MARGIN_MS)
    if job is None:
        return "busy"
    run = _Run(jobs, blobs or _blobs(), job, owner, lambda: remaining_ms() < SAFETY_MARGIN_MS)
    try:
        return run.work()
    except LeaseLost:
        return "busy"  # it outlived its lease: the run that took the job over carries on
    except Exception as exc:
        # the type only: a message may quote what it failed on
        logger.exception("export run failed", extra={"export_id": export_id, "error": type(exc).__name__})
        run.failed(type(exc).__name__)
        return "failed"


def resume_lapsed_exports(jobs: ExportStore | None = None) -> int:
    """The cleanup's part: wake every running job whose lease lapsed (its worker died); how many were woken."""
    jobs = jobs or _store()
    now = now_ms()
    return sum(jobs.nudge_export(entry["tenant_id"], entry["export_id"], now) for entry in jobs.running_exports())


def _first_cursor() -> dict[str, Any]:
    """Where an export starts: before the user's first session, nothing written."""
    return {"phase": "sessions", "after": None, "session_id": None, "seq": 0, "apps": [], **dict.fromkeys(COUNTS, 0)}


def line(record: dict[str, Any]) -> bytes:
    """One JSON Lines line: the API's serialization (sessions.http.app.json_response: compact, UTF-8 unescaped)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class _Run:
    def __init__(
        self, jobs: ExportStore, blobs: EventBlobs, job: dict[str, Any], owner: str, out_of_time: Callable[[], bool]
    ) -> None:
        self._jobs, self._blobs, self._job, self._owner, self._out_of_time = jobs, blobs, job, owner, out_of_time
        self._tenant, self._user = job["tenant_id"], job["user_id"]
        from sessions.store.blobs import export_key

        self._key = export_key(self._tenant, self._user, job["export_id"])

    def work(self) -> str:
        if self._jobs.user_being_erased(self._tenant, self._user):
            return self._end_erased()
        buffer = bytearray()
        cursor = dict(self._job["cursor"])
        for text, after in _Lines(self._jobs, self._tenant, self._user).after(cursor):
            if self._out_of_time():
                # what the buffer holds is read again by the next run, from the recorded cursor
                self._checkpoint({"lease_owner": None, "lease_until": None})
                return "paused"
            buffer += text
            cursor = after
            if len(buffer) >= PART_BYTES:
                self._upload_part(bytes(buffer), cursor)
                buffer.clear()
        if self._jobs.user_being_erased(self._tenant, self._user):
            return self._end_erased()
        self._complete(bytes(buffer), cursor)
        return "completed"

    def failed(self, error: str) -> None:
        failures = int(self._job.get("failures", 0)) + 1
        if failures < MAX_FAILURES:
            # giving the lease back wakes the next run at once (the job item's stream record)
            self._checkpoint({"failures": failures, "last_error": error, "lease_owner": None, "lease_until": None})
            return
        self._abort_upload()
        self._jobs.finish_export(
            self._job, self._owner, {"status": "failed", "failures": failures, "last_error": error} | self._ended()
        )

    def _ended(self) -> dict[str, Any]:
        return {"completed_at": format_ms(now_ms())}

    def _end_erased(self) -> str:
        """An erasure of the user runs: what is uploaded goes, and the job fails (nothing of theirs is exported)."""
        self._abort_upload()
        if not self._jobs.finish_export(
            self._job, self._owner, {"status": "failed", "last_error": "UserErased"} | self._ended()
        ):
            raise LeaseLost("another run took the job over")
        return "failed"

    def _abort_upload(self) -> None:
        if self._job.get("upload_id"):
            self._blobs.abort_upload(self._key, self._job["upload_id"])

    def _checkpoint(self, changes: dict[str, Any]) -> None:
        if not self._jobs.checkpoint_export(self._job, self._owner, changes):
            raise LeaseLost("another run took the job over")
        for name, value in changes.items():
            if value is None:
                self._job.pop(name, None)
            else:
                self._job[name] = value

    def _upload_part(self, data: bytes, cursor: dict[str, Any]) -> None:
        upload_id = self._job.get("upload_id")
        if not upload_id:
            # an upload begun by a run that died before recording it is dropped by the bucket's lifecycle (1 day)
            upload_id = self._blobs.start_upload(self._key, CONTENT_TYPE)
            self._checkpoint({"upload_id": upload_id, "etags": []})
        etags = list(self._job.get("etags", []))
        etags.append(self._blobs.upload_part(self._key, upload_id, len(etags) + 1, data))
        self._checkpoint({"cursor": cursor, "etags": etags})

    def _complete(self, rest: bytes, cursor: dict[str, Any]) -> None:
        upload_id = self._job.get("upload_id")
        if upload_id:
            etags = list(self._job.get("etags", []))
            if rest or not etags:
                etags.append(self._blobs.upload_part(self._key, upload_id, len(etags) + 1, rest))
            self._blobs.complete_upload(self._key, upload_id, etags)
        else:
            self._blobs.put(self._key, rest, CONTENT_TYPE)  # it all fit one part: no multipart upload needed
        if not self._jobs.finish_export(
            self._job, self._owner, {"status": "completed", "cursor": cursor} | self._ended()
        ):
            raise LeaseLost("another run took the job over")


class _Lines:
    """The export's lines in their fixed order, each with the cursor after it (where a run resumes)."""

    def __init__(self, jobs: ExportStore, tenant_id: str, user_id: str) -> None:
        self._jobs, self._tenant, self._user = jobs, tenant_id, user_id

    def after(self, cursor: dict[str, Any]) -> Iterator[tuple[bytes, dict[str, Any]]]:
        at = dict(cursor)
        if at["phase"] == "sessions":
            while entries := self._jobs.user_sessions_after(self._tenant, self._user, at["after"]):
                for entry in entries:
                    if at["session_id"] != entry["session_id"]:  # not the one a run stopped in (or it is gone)
                        at |= {"session_id": None, "seq": 0}
                    yield from self._session(entry, at)
                    at |= {"after": entry["index_key"], "session_id": None, "seq": 0}
                    yield b"", dict(at)  # a place to stop at, between sessions
            registered = self._jobs.user_state_apps(self._tenant, self._user)
            at |= {"phase": "state", "apps": sorted(set(at["apps"]) | set(registered))}
        while at["apps"]:
            app_name, rest = at["apps"][0], at["apps"][1:]
            key = StateKey(self._tenant, app_name, self._user)
            document = self._jobs.get_state(key)
            at |= {"apps": rest}
            if document is None:
                continue
            from sessions.usecases.state import view as state_view

            text = line({"type": "state", "state": state_view(key, document)})
            at |= {"state_documents": at["state_documents"] + 1, "bytes": at["bytes"] + len(text)}
            yield text, dict(at)

    def _session(self, entry: dict[str, Any], at: dict[str, Any]) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """The session's line (unless a run wrote it already) and its events after `at["seq"]`; `at` moves on."""
        record = self._jobs.get_session(self._tenant, entry["session_id"])
        if record is None or record["user_id"] != self._user or not is_live(record, now_ms()):
            return  # deleted, expired, or another user's now (the index lags): not readable through the API
        if entry.get("app_name"):
            at["apps"] = sorted(set(at["apps"]) | {entry["app_name"]})
        if at["session_id"] is None:
            text = line({"type": "session", "session": public_view(record)})
            at |= {"session_id": record["session_id"], "sessions": at["sessions"] + 1, "bytes": at["bytes"] + len(text)}
            yield text, dict(at)
        query = EventQuery(
            tenant_id=self._tenant,
            session_id=record["session_id"],
            incarnation=record["incarnation"],
            limit=EVENTS_PAGE,
            lineage=tuple(extents(record)),
        )
        start = event_position(query, at["seq"]) if at["seq"] else None
        # the worker's alone: the API's export functions never read S3 at INIT
        from sessions.usecases.large_events import event_view, with_parts_inline

        while True:
            page = self._page(record, replace(query, start=start))
            for event in page.records:
                view = event_view(with_parts_inline(event), include_payload=True)
                text = line({"type": "event", "session_id": record["session_id"], "event": view})
                at |= {"seq": int(event["seq"]), "events": at["events"] + 1, "bytes": at["bytes"] + len(text)}
                yield text, dict(at)
            if page.next_position is None:
                return
            start = page.next_position

    def _page(self, record: SessionRecord, query: EventQuery) -> Page[EventRecord]:
        def read(reading: SessionRecord) -> Page[EventRecord]:
            return self._jobs.query_events(replace(query, lineage=tuple(extents(reading))))

        if is_fork_reader(record):
            from sessions.usecases.forks import read_stable

            return read_stable(record, read)  # a fork's page crosses into its sources: read it steadily
        return read(record)


class LeaseLost(Exception):
    """A run outlived its lease and another run took the job: this one stops."""

"""What every use case shares: the store, finding a session the caller may read or write, and retries.

A session the caller may not see is not found, never forbidden: its existence is not disclosed.
Writes are optimistic on the session's version; write_until_it_wins replans a write that lost a race.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import SessionLimitReached, SessionNotFound, VersionMismatch
from sessions.core.retrying import back_off, write_attempts
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity
from sessions.domain.models import ID_PATTERN, PUBLIC_FIELDS, RESERVED_SESSION_IDS
from sessions.domain.records import SessionChanges, SessionRecord
from sessions.store import VersionChanged, WriteConflict, default_store
from sessions.usecases.ports import SessionStorePort

SESSION_ID = re.compile(ID_PATTERN)
logger = Logger(child=True)
metrics = Metrics()  # the same EMF buffer the handler flushes (sessions.http.app)

_store: SessionStorePort | None = None


def store() -> SessionStorePort:
    global _store
    if _store is None:
        _store = default_store()
    return _store


def use_store(session_store: SessionStorePort | None) -> None:
    """Swap the store (tests, benchmarks); None goes back to the default on next use."""
    global _store
    _store = session_store


def written_by(identity: Identity, changes: SessionChanges) -> SessionChanges:
    """`changes` to a session, stamped with who made them (the principal, not the user acted for)."""
    return {**changes, "updated_by": identity.principal}


def public_view(record: SessionRecord) -> dict[str, Any]:
    """A session as the API answers it (models.Session): every public field, null where the record has none."""
    return {field: record.get(field) for field in PUBLIC_FIELDS}


def is_live(record: SessionRecord, at_ms: int) -> bool:
    # DynamoDB's TTL can lag by days: expiry is decided here, not by the item's presence
    return "deleted_at" not in record and record["expires_at"] > format_ms(at_ms)


def _may_read(identity: Identity, record: SessionRecord) -> bool:
    return record["user_id"] == identity.user_id or identity.is_admin


# --- read ---------------------------------------------------------------------------------------


def _stored(identity: Identity, session_id: str) -> SessionRecord | None:
    # an id we could never have issued is simply not found (and never reaches DynamoDB's key limits)
    if not SESSION_ID.fullmatch(session_id) or session_id in RESERVED_SESSION_IDS:
        return None
    return store().get_session(identity.tenant_id, session_id)


def get_session(identity: Identity, session_id: str) -> SessionRecord:
    record = _stored(identity, session_id)
    if record is None or not is_live(record, now_ms()) or not _may_read(identity, record):
        raise SessionNotFound(f"session {session_id!r} not found")
    return record


def owned_live_session(identity: Identity, session_id: str) -> SessionRecord:
    """Writes are for the owner only: an admin may read another user's session, not change it."""
    record = _stored(identity, session_id)
    if record is None or not is_live(record, now_ms()) or record["user_id"] != identity.user_id:
        raise SessionNotFound(f"session {session_id!r} not found")
    return record


def with_slot_repair[T](identity: Identity, write: Callable[[], T]) -> T:
    """Run a write that may take an open-session slot; refused at the cap, repair the caller's slots and try once more.

    A slot stays counted when the stream record that should give it back is lost (its session left
    the table while open, and the publisher's batch failed past its retries): without the repair
    the user would be at the cap for good. The repair gives back only slots of sessions that are
    gone, each once (store/slots.py), so the counter never falls below the sessions holding slots
    and the retry is held to the cap like any other write.
    """
    try:
        return write()
    except SessionLimitReached:
        repair = store().repair_slots(identity.tenant_id, identity.user_id)
        if repair.freed:
            metrics.add_metric(name="open_slots_repaired", unit=MetricUnit.Count, value=repair.freed)
        # slots freed by a concurrent repair or a close are worth one more try as well
        if not repair.gone and repair.open_sessions >= get_settings().max_open_sessions_per_user:
            raise
    return write()


def write_until_it_wins[T](current: SessionRecord, write: Callable[[SessionRecord], T]) -> T:
    """Plan and write on `current`; a lost race plans again on the session as it is now.

    Optimistic concurrency on the version: no lost updates. The first loss retries at once on the
    item the store handed back with its failure; after that the writer backs off and then reads
    the session afresh, because a sleep makes any image it holds stale, and writing a stale plan
    only loses again. Raises SessionNotFound when the session died meanwhile.
    """
    for attempt in write_attempts():
        try:
            result = write(current)
            if attempt:  # contention is worth seeing in the logs: how often, and how hard
                logger.info("write won after lost races", extra={"write_attempts": attempt + 1})
            return result
        except VersionChanged as changed:
            latest = changed.record if attempt == 0 else None
            if changed.record is None:
                raise SessionNotFound(f"session {current['session_id']!r} not found") from None
        except WriteConflict:
            latest = None  # another transaction held an item (the session or a counter): no image
        if latest is None:
            back_off(attempt)
            latest = store().get_session(current["tenant_id"], current["session_id"])
        if latest is None or not is_live(latest, now_ms()) or latest["incarnation"] != current["incarnation"]:
            raise SessionNotFound(f"session {current['session_id']!r} not found")  # gone, or a new session took the id
        current = latest
    raise VersionMismatch(current["version"], f"the session kept changing (now version {current['version']}); retry")

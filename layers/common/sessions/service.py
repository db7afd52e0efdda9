"""The use cases behind the endpoints: visibility, lifecycle rules and retries around the store."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sessions.clock import format_ms, now_ms
from sessions.errors import Forbidden, SessionIdTaken, SessionLimitReached, SessionNotFound, VersionMismatch
from sessions.lifecycle import Status
from sessions.models import ID_PATTERN, PUBLIC_FIELDS, RESERVED_SESSION_IDS
from sessions.retrying import back_off, write_attempts
from sessions.settings import get_settings
from sessions.store import ItemExists, SessionStore, VersionChanged, WriteConflict, default_store

if TYPE_CHECKING:
    from sessions.models import CreateSessionRequest, UpdateSessionRequest

ADMIN_ROLE = "admin"
SERVICE_ROLE = "service"  # a backend acting for the users of its tenant (user_id on each request)
SESSION_ID = re.compile(ID_PATTERN)
logger = Logger(child=True)
metrics = Metrics()  # the same EMF buffer the handler flushes (sessions.api)

_store: SessionStore | None = None


def store() -> SessionStore:
    global _store
    if _store is None:
        _store = default_store()
    return _store


def use_store(session_store: SessionStore | None) -> None:
    """Swap the store (tests, benchmarks); None goes back to the default on next use."""
    global _store
    _store = session_store


@dataclass(frozen=True)
class Identity:
    """Who calls (`principal`, the token's sub) and whose sessions the call touches (`user_id`).

    They differ only for a `service` caller acting for a user of its tenant, or an admin reading
    another user's sessions (acting_for). The tenant is always the caller's own.
    """

    tenant_id: str
    user_id: str
    roles: frozenset[str] = frozenset()
    principal: str = ""  # empty: the caller acts as itself (principal = user_id)

    def __post_init__(self) -> None:
        if not self.principal:
            object.__setattr__(self, "principal", self.user_id)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles


def acting_for(identity: Identity, user_id: str | None, *, reading: bool) -> Identity:
    """The identity a request naming `user_id` acts as; Forbidden when the caller may not.

    A `service` caller acts as any user of its own tenant, for reads and writes. Anyone may name
    themselves. An admin may name another user to read (read, list, history, stats), never to
    write. Everyone else naming another user is refused, before anything is looked up.
    """
    if user_id is None or user_id == identity.principal:
        return identity if identity.user_id == identity.principal else replace(identity, user_id=identity.principal)
    if not (identity.is_service or (reading and identity.is_admin)):
        if identity.is_admin:
            raise Forbidden(
                "an admin may read another user's sessions, not change them; acting for users needs the service role"
            )
        raise Forbidden("acting for another user needs the service role")
    return replace(identity, user_id=user_id)


def written_by(identity: Identity, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` to a session, stamped with who made them (the principal, not the user acted for)."""
    return {**changes, "updated_by": identity.principal}


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    return {field: record.get(field) for field in PUBLIC_FIELDS}


def is_live(record: dict[str, Any], at_ms: int) -> bool:
    # DynamoDB's TTL can lag by days: expiry is decided here, not by the item's presence
    return "deleted_at" not in record and record["expires_at"] > format_ms(at_ms)


def _may_read(identity: Identity, record: dict[str, Any]) -> bool:
    return record["user_id"] == identity.user_id or identity.is_admin


# --- read ---------------------------------------------------------------------------------------


def _stored(identity: Identity, session_id: str) -> dict[str, Any] | None:
    # an id we could never have issued is simply not found (and never reaches DynamoDB's key limits)
    if not SESSION_ID.fullmatch(session_id) or session_id in RESERVED_SESSION_IDS:
        return None
    return store().get_session(identity.tenant_id, session_id)


def get_session(identity: Identity, session_id: str) -> dict[str, Any]:
    record = _stored(identity, session_id)
    if record is None or not is_live(record, now_ms()) or not _may_read(identity, record):
        raise SessionNotFound(f"session {session_id!r} not found")
    return record


def owned_live_session(identity: Identity, session_id: str) -> dict[str, Any]:
    """Writes are for the owner only: an admin may read another user's session, not change it."""
    record = _stored(identity, session_id)
    if record is None or not is_live(record, now_ms()) or record["user_id"] != identity.user_id:
        raise SessionNotFound(f"session {session_id!r} not found")
    return record


# --- create -------------------------------------------------------------------------------------


def create_session(identity: Identity, request: CreateSessionRequest) -> tuple[dict[str, Any], bool]:
    """Returns (session record, created). An id the caller already holds is returned unchanged."""
    # imported here: only create and update plan changes, and every function imports this module
    from sessions.appending import plan_append

    settings = get_settings()
    now = now_ms()
    ttl_seconds = request.ttl_seconds or settings.default_ttl_seconds
    timestamp = format_ms(now)
    record: dict[str, Any] = {
        **request.model_dump(exclude={"ttl_seconds", "events", "user_id", "state_patch", "state_set"}, mode="json"),
        "session_id": request.session_id or str(uuid.uuid4()),
        "tenant_id": identity.tenant_id,
        "user_id": identity.user_id,
        "status": Status.ACTIVE.value,
        "usage": {"tokens_used": 0, "cost_usd": 0, "event_count": 0, "task_count": 0},
        "created_at": timestamp,
        "updated_at": timestamp,
        "last_active_at": timestamp,
        "expires_at": format_ms(now + ttl_seconds * 1000),
        "version": 1,
        # events of an earlier session under the same id never mix with this one's
        "incarnation": uuid.uuid4().hex[:12],
        "holds_slot": True,
        "created_by": identity.principal,
        "updated_by": identity.principal,
    }
    events = []
    for event_request in request.events:  # appended as if posted in order, in the same transaction
        event, changes = plan_append(record, event_request, now, max_events=settings.max_history_events)
        record |= {**changes, "version": record["version"] + 1}
        events.append(event)
    state_writes = _state_writes(identity, record, request)
    return with_slot_repair(identity, lambda: _insert(identity, record, events, state_writes))


def _state_writes(
    identity: Identity, record: dict[str, Any], request: CreateSessionRequest
) -> Callable[[], list[dict[str, Any]]] | None:
    """The state documents a create's state_patch and state_set write in its transaction, planned anew per attempt.

    Checked now (403, 409 session_has_no_app), before anything is read or written.
    """
    if request.state_patch is None and request.state_set is None:
        return None
    from sessions import state  # only a create that changes state needs it

    state.check_state_changes(identity, record, [request])
    return lambda: state.state_writes(identity, record, [request])


def _insert(
    identity: Identity,
    record: dict[str, Any],
    events: list[dict[str, Any]],
    state_writes: Callable[[], list[dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], bool]:
    cap = get_settings().max_open_sessions_per_user
    replacing: dict[str, Any] | None = None
    for attempt in write_attempts():
        try:
            # state documents are read again on every attempt: one that changed meanwhile is planned anew
            also = state_writes() if state_writes else []
            store().create_session(record, cap=cap, replacing=replacing, events=events, also=also)
            return record, True
        except WriteConflict:
            back_off(attempt)
            continue
        except ItemExists as exists:
            replacing = exists.record
        except VersionChanged as changed:
            if changed.record is None:
                replacing = None
                continue
            replacing = changed.record
        if is_live(replacing, now_ms()):
            if replacing["user_id"] != identity.user_id:
                raise SessionIdTaken(f"session id {record['session_id']!r} is taken")
            return replacing, False
        # the id belonged to a session that expired or was deleted: a new one takes its place
    raise VersionChanged(replacing)


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


# --- change -------------------------------------------------------------------------------------


def update_session(
    identity: Identity, session_id: str, patch: UpdateSessionRequest, if_match: int | None
) -> dict[str, Any]:
    from sessions.patching import plan_patch  # see create_session

    cap = get_settings().max_open_sessions_per_user

    def write(current: dict[str, Any]) -> dict[str, Any]:
        if if_match is not None and current["version"] != if_match:
            raise VersionMismatch(current["version"])
        changes = plan_patch(current, patch, now_ms())
        if not changes:
            return current  # nothing differs: no write, no new version
        return store().update_session(current, written_by(identity, changes), cap=cap)

    # resuming a crashed session takes a slot again: at the cap, as a create does
    return with_slot_repair(identity, lambda: write_until_it_wins(owned_live_session(identity, session_id), write))


def write_until_it_wins[T](current: dict[str, Any], write: Callable[[dict[str, Any]], T]) -> T:
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


# --- delete -------------------------------------------------------------------------------------


def delete_session(identity: Identity, session_id: str) -> None:
    """Idempotent: an unknown, dead or someone else's session is left as it is, silently."""
    try:
        current = owned_live_session(identity, session_id)
    except SessionNotFound:
        return

    def write(current: dict[str, Any]) -> None:
        timestamp = format_ms(now_ms())
        changes: dict[str, Any] = {
            "deleted_at": timestamp,
            "updated_at": timestamp,
            # expiring now puts the session in the cleanup's index, which purges its remains
            "expires_at": timestamp,
        }
        if current.get("holds_slot"):
            changes["holds_slot"] = False
        store().update_session(current, written_by(identity, changes))

    try:
        write_until_it_wins(current, write)
    except SessionNotFound:
        return  # deleted or expired meanwhile: nothing left to delete

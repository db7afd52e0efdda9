"""Writing the sessions resource: create, update (merge patch) and delete; reading one is access.get_session."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import SessionIdTaken, SessionNotFound, VersionMismatch
from sessions.core.retrying import back_off, write_attempts
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity
from sessions.domain.records import EventRecord, SessionChanges, SessionRecord, applied
from sessions.domain.status import Status
from sessions.store import ItemExists, VersionChanged, WriteConflict
from sessions.usecases.access import (
    is_live,
    owned_live_session,
    store,
    with_slot_repair,
    write_until_it_wins,
    written_by,
)

if TYPE_CHECKING:
    from sessions.domain.models import CreateSessionRequest, UpdateSessionRequest


# --- create -------------------------------------------------------------------------------------


def create_session(identity: Identity, request: CreateSessionRequest) -> tuple[SessionRecord, bool]:
    """Returns (session record, created). An id the caller already holds is returned unchanged."""
    # imported here: only create and update plan changes, and every function imports this module
    from sessions.domain.appending import plan_append
    from sessions.domain.tenant_settings import session_ttl
    from sessions.usecases.tenant_settings import tenant_settings

    settings = get_settings()
    # within the tenant's maximum (422 ttl_above_tenant_max), else the tenant's default
    ttl_seconds = session_ttl(tenant_settings(identity.tenant_id), request.ttl_seconds)
    now = now_ms()
    timestamp = format_ms(now)
    given = request.model_dump(exclude={"ttl_seconds", "events", "user_id", "state_patch", "state_set"}, mode="json")
    record: SessionRecord = {
        "app_name": given["app_name"],
        "agent_id": given["agent_id"],
        "session_type": given["session_type"],
        "title": given["title"],
        "context": given["context"],
        "checkpoint": given["checkpoint"],
        "metadata": given["metadata"],
        "runtime_backend": given["runtime_backend"],
        "runtime_metadata": given["runtime_metadata"],
        "token_budget": given["token_budget"],
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
    events: list[EventRecord] = []
    for event_request in request.events:  # appended as if posted in order, in the same transaction
        event, changes = plan_append(record, event_request, now, max_events=settings.max_history_events)
        record = applied(record, changes)
        record["version"] += 1
        events.append(event)
    state_writes = _state_writes(identity, record, request)
    return with_slot_repair(identity, lambda: _insert(identity, record, events, state_writes))


def _state_writes(
    identity: Identity, record: SessionRecord, request: CreateSessionRequest
) -> Callable[[], list[dict[str, Any]]] | None:
    """The state documents a create's state_patch and state_set write in its transaction, planned anew per attempt.

    Checked now (403, 409 session_has_no_app), before anything is read or written.
    """
    if request.state_patch is None and request.state_set is None:
        return None
    from sessions.usecases import state  # only a create that changes state needs it

    state.check_state_changes(identity, record, [request])
    return lambda: state.state_writes(identity, record, [request])


def _insert(
    identity: Identity,
    record: SessionRecord,
    events: list[EventRecord],
    state_writes: Callable[[], list[dict[str, Any]]] | None = None,
) -> tuple[SessionRecord, bool]:
    cap = get_settings().max_open_sessions_per_user
    replacing: SessionRecord | None = None
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


# --- change -------------------------------------------------------------------------------------


def update_session(
    identity: Identity, session_id: str, patch: UpdateSessionRequest, if_match: int | None
) -> SessionRecord:
    from sessions.domain.patching import plan_patch  # see create_session

    if patch.ttl_seconds is not None:  # within the tenant's maximum, else 422 ttl_above_tenant_max
        from sessions.domain.tenant_settings import check_ttl
        from sessions.usecases.tenant_settings import tenant_settings

        check_ttl(tenant_settings(identity.tenant_id), patch.ttl_seconds)
    cap = get_settings().max_open_sessions_per_user

    def write(current: SessionRecord) -> SessionRecord:
        if if_match is not None and current["version"] != if_match:
            raise VersionMismatch(current["version"])
        changes = plan_patch(current, patch, now_ms())
        if not changes:
            return current  # nothing differs: no write, no new version
        return store().update_session(current, written_by(identity, changes), cap=cap)

    # resuming a crashed session takes a slot again: at the cap, as a create does
    return with_slot_repair(identity, lambda: write_until_it_wins(owned_live_session(identity, session_id), write))


# --- delete -------------------------------------------------------------------------------------


def delete_session(identity: Identity, session_id: str) -> None:
    """Idempotent: an unknown, dead or someone else's session is left as it is, silently."""
    try:
        current = owned_live_session(identity, session_id)
    except SessionNotFound:
        return

    def write(current: SessionRecord) -> None:
        timestamp = format_ms(now_ms())
        changes: SessionChanges = {
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

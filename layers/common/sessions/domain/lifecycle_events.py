"""The lifecycle event catalog: a model per detail-type, and how stream records become events.

The table's stream is the outbox: every committed change to a session item reaches the
publisher as a stream record, even if the function that wrote it died right after. An event's
id is derived from the stream record, so a redelivered record yields the same ids; per session,
`version` orders events. No event carries context, checkpoint, content or payload.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamChangedRecordModel, DynamoDBStreamRecordModel
from pydantic import BaseModel, Field, field_validator

from sessions.core.attribute_values import from_item
from sessions.core.clock import format_ms
from sessions.domain.models import ForkPoint, Usage

# Fields of a session item whose change is bookkeeping or storage, not news.
_BOOKKEEPING = frozenset(
    {"updated_at", "last_active_at", "version", "holds_slot", "incarnation", "usage", "created_by", "updated_by"}
    | {"last_seq", "history_change", "last_event_at", "compacted_count", "base_history"}
    | {"lineage", "lineage_rev", "fork_count"}  # where a fork reads, and forks counted (store/forks.py)
    | {"PK", "SK", "by_user_pk", "by_agent_pk", "by_app_pk", "created_key", "active_key"}
    | {"expiry_bucket", "purge_at", "ttl"}
)
_EVENT_ID_NAMESPACE = uuid.UUID("6b1f9a3e-2f7c-4c1e-9d5a-0c8e7f4b2a61")
STATUS_DETAIL_TYPES = {
    "paused": "session.paused",
    "completed": "session.completed",
    "crashed": "session.crashed",
    "active": "session.resumed",
}


class SessionEventDetail(BaseModel):
    """What every session.* event carries: identity, state and usage, never content."""

    event_id: str = Field(description="Stable per stream record: deduplicate on it")
    occurred_at: str
    session_id: str
    tenant_id: str
    user_id: str
    agent_id: str | None
    app_name: str | None
    session_type: str
    status: str
    previous_status: str | None
    changed_fields: list[str]
    version: int = Field(description="Orders a session's events")
    usage: Usage
    expires_at: str
    actor: str | None = Field(
        description="Who made the change: the caller's principal (a service acting for the user is named, not the "
        "user). Null for removals by TTL or the cleanup."
    )


class SessionCreated(SessionEventDetail):
    forked_from: ForkPoint | None = Field(
        None, description="A fork (POST …/fork): the session it was forked from and the seq; ids only. Null otherwise."
    )


class SessionUpdated(SessionEventDetail):
    pass


class SessionPaused(SessionEventDetail):
    pass


class SessionResumed(SessionEventDetail):
    pass


class SessionCompleted(SessionEventDetail):
    pass


class SessionCrashed(SessionEventDetail):
    pass


class SessionDeleted(SessionEventDetail):
    pass


class SessionEventAppended(SessionEventDetail):
    pass


class SessionEventsRemoved(SessionEventDetail):
    """Events left the history: a rewind (every event from `from_seq` on), or the seqs a removal selected."""

    from_seq: int | None = Field(description="A rewind's first seq; null when selected seqs were removed")
    count: int = Field(description="How many events were removed")
    seqs: list[int] | None = Field(
        description="The removed events' seqs, ascending (at most 90); null only for a removal recorded before "
        "seqs were published"
    )


class SessionEventChanged(SessionEventDetail):
    """An event of the history was redacted or amended (its content is never in the event)."""

    seq: int


class SessionExpired(SessionEventDetail):
    reason: Literal["ttl", "inactive", "cleanup"]


class CleanupCompleted(BaseModel):
    """One per cleanup run, with its counts."""

    event_id: str
    occurred_at: str
    dry_run: bool
    sessions_expired: int
    sessions_purged: int
    history_events_deleted: int
    retention_events_deleted: int = Field(
        0, description="Events of live sessions removed past their tenant's history_retention_days"
    )
    complete: bool


class UserErased(BaseModel):
    """An erasure of a user's data completed (POST /v1/users/{user_id}/erasure): ids and counts only.

    The erased sessions get no session.* event of their own: this one stands for all of them.
    """

    event_id: str
    occurred_at: str
    tenant_id: str
    user_id: str = Field(description="The user whose data is gone: erase what you keep of theirs too")
    erasure_id: str
    sessions_erased: int
    events_deleted: int
    markers_deleted: int
    objects_deleted: int
    state_documents_deleted: int


DETAIL_TYPES: dict[str, type[BaseModel]] = {
    "session.created": SessionCreated,
    "session.updated": SessionUpdated,
    "session.paused": SessionPaused,
    "session.resumed": SessionResumed,
    "session.completed": SessionCompleted,
    "session.crashed": SessionCrashed,
    "session.deleted": SessionDeleted,
    "session.expired": SessionExpired,
    "session.event_appended": SessionEventAppended,
    "session.events_removed": SessionEventsRemoved,
    "session.event_changed": SessionEventChanged,
    "sessions.cleanup_completed": CleanupCompleted,
    "user.erased": UserErased,
}


# --- stream records ------------------------------------------------------------------------------


class SessionStreamImages(DynamoDBStreamChangedRecordModel):
    """Powertools' stream record images, decoded exactly (ints and floats, no Decimals) by our converter."""

    @field_validator("Keys", "NewImage", "OldImage", mode="before")
    @classmethod
    def deserialize_field(cls, value: dict[str, Any]) -> dict[str, Any]:
        return from_item(value)


class SessionStreamRecord(DynamoDBStreamRecordModel):
    dynamodb: SessionStreamImages


class PendingEvent(BaseModel):
    detail_type: str
    detail: dict[str, Any]
    time: datetime


def is_session_item(image: dict[str, Any] | None) -> bool:
    return bool(image) and image.get("SK") == "#SESSION"  # type: ignore[union-attr]


def is_cleanup_run(image: dict[str, Any]) -> bool:
    return image.get("PK") == "#CLEANUP" and str(image.get("SK", "")).startswith("#RUN#")


def is_erasure_job(image: dict[str, Any]) -> bool:
    return image.get("SK") == "#ERASURE"


def is_erased(image: dict[str, Any] | None) -> bool:
    """A session item an erasure marked (usecases/erasure.py): its changes and its removal are no news of their own."""
    return bool(image) and "erased_at" in image  # type: ignore[operator]


def _job_events(record: Any, old: dict[str, Any], new: dict[str, Any]) -> list[PendingEvent]:
    """A cleanup run's record when written; an erasure job's when it completes."""
    if is_cleanup_run(new):
        return [_cleanup_completed(record, new)] if record.eventName == "INSERT" else []
    if new.get("status") != "completed" or old.get("status") == "completed":
        return []
    detail = {name: new[name] for name in UserErased.model_fields if name in new}
    detail["event_id"] = str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{record.eventID}:user.erased"))
    detail["occurred_at"] = new["completed_at"]
    return [PendingEvent(detail_type="user.erased", detail=detail, time=datetime.now(UTC))]


def _cleanup_completed(record: Any, run: dict[str, Any]) -> PendingEvent:
    detail = {
        "event_id": str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{record.eventID}:sessions.cleanup_completed")),
        "occurred_at": format_ms(
            int((record.dynamodb.ApproximateCreationDateTime or datetime.now(UTC)).timestamp() * 1000)
        ),
        **{name: run[name] for name in CleanupCompleted.model_fields if name in run},
    }
    return PendingEvent(detail_type="sessions.cleanup_completed", detail=detail, time=datetime.now(UTC))


def removed_by_ttl(record: Any) -> bool:
    identity = getattr(record, "userIdentity", None)
    return identity is not None and identity.principalId == "dynamodb.amazonaws.com"


def events_of(record: Any) -> list[PendingEvent]:
    """The domain events one stream record of the sessions table stands for (none for other items)."""
    change = record.dynamodb
    old: dict[str, Any] = change.OldImage or {}
    new: dict[str, Any] = change.NewImage or {}
    if is_cleanup_run(new) or is_erasure_job(new):
        return _job_events(record, old, new)
    if not is_session_item(new or old) or is_erased(new or old):
        return []  # an erased session's marking and removal: user.erased stands for them
    at = change.ApproximateCreationDateTime or datetime.now(UTC)
    if record.eventName == "INSERT":
        return [_event(record, "session.created", new, None, [])]
    if record.eventName == "REMOVE":
        if "deleted_at" in old:
            return []  # announced as session.deleted when it was deleted
        return [_expired(record, old, _removal_reason(record, old, at), at)]
    if old.get("incarnation") != new.get("incarnation"):
        # a new session took the id of a dead one: the dead one's end, then the new one's start
        previous = [] if "deleted_at" in old else [_expired(record, old, "cleanup", at)]
        return [*previous, _event(record, "session.created", new, None, [])]
    changed = sorted(
        name for name in set(old) | set(new) if name not in _BOOKKEEPING and old.get(name) != new.get(name)
    )
    if old.get("version") == new.get("version") and not changed:
        return []  # bookkeeping that moves no version (a fork counted, a fork's lineage moving): not news
    if "deleted_at" in new and "deleted_at" not in old:
        return [_event(record, "session.deleted", new, old, changed)]
    if new["status"] != old["status"]:
        return [_event(record, STATUS_DETAIL_TYPES[new["status"]], new, old, changed)]
    history_change = _history_change_of(new)
    if history_change is not None:
        pending = _event(record, HISTORY_DETAIL_TYPES[history_change["kind"]], new, old, changed)
        fields = HISTORY_DETAIL_FIELDS[history_change["kind"]]
        # .get: a selection has no from_seq, a change recorded before seqs were published has no seqs
        pending.detail.update({name: history_change.get(name) for name in fields})
        if history_change["kind"] == "replaced":  # an append that replaced the history's tail: both happened
            return [pending, _event(record, "session.event_appended", new, old, changed)]
        return [pending]
    if new["usage"]["event_count"] > old["usage"]["event_count"]:
        return [_event(record, "session.event_appended", new, old, changed)]
    return [_event(record, "session.updated", new, old, changed)]


HISTORY_DETAIL_TYPES = {
    "removed": "session.events_removed",
    "selected": "session.events_removed",  # DELETE …/events?seq=…: from_seq null
    "replaced": "session.events_removed",  # and session.event_appended (events_of)
    "changed": "session.event_changed",
}
_REMOVAL_FIELDS = ("from_seq", "count", "seqs")
HISTORY_DETAIL_FIELDS = {
    "removed": _REMOVAL_FIELDS,
    "replaced": _REMOVAL_FIELDS,
    "selected": _REMOVAL_FIELDS,
    "changed": ("seq",),
}


def _history_change_of(session: dict[str, Any]) -> dict[str, Any] | None:
    """The history change this very write made: the item keeps `history_change` until the next one,
    tagged with the version that made it, so a later write (an append, a patch) is not taken for it."""
    change = session.get("history_change")
    if not isinstance(change, dict) or change.get("version") != session["version"]:
        return None
    return change if change.get("kind") in HISTORY_DETAIL_TYPES else None


def _removal_reason(record: Any, old: dict[str, Any], at: datetime) -> str:
    if removed_by_ttl(record):
        return "ttl"
    # the cleanup removes what expired by time, or what was idle past the inactivity timeout
    return "cleanup" if old["expires_at"] <= format_ms(int(at.timestamp() * 1000)) else "inactive"


def _expired(record: Any, old: dict[str, Any], reason: str, at: datetime) -> PendingEvent:
    ended = {**old, "version": old["version"] + 1, "updated_at": format_ms(int(at.timestamp() * 1000))}
    ended["updated_by"] = None  # no caller: DynamoDB's TTL or the cleanup
    pending = _event(record, "session.expired", ended, old, [])
    pending.detail["reason"] = reason
    return pending


def _event(
    record: Any, detail_type: str, session: dict[str, Any], before: dict[str, Any] | None, changed: list[str]
) -> PendingEvent:
    detail = {
        "event_id": str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{record.eventID}:{detail_type}")),
        "occurred_at": session["updated_at"],
        "session_id": session["session_id"],
        "tenant_id": session["tenant_id"],
        "user_id": session["user_id"],
        "agent_id": session.get("agent_id"),
        "app_name": session.get("app_name"),
        "session_type": session["session_type"],
        "status": session["status"],
        "previous_status": before["status"] if before else None,
        "changed_fields": changed,
        "version": session["version"],
        "usage": session["usage"],
        "expires_at": session["expires_at"],
        "actor": session.get("updated_by"),  # the principal of the write; absent for TTL, cleanup, older items
    }
    if detail_type == "session.created":
        detail["forked_from"] = session.get("forked_from")  # ids and a seq: never content
    return PendingEvent(detail_type=detail_type, detail=detail, time=datetime.now(UTC))

"""Typed responses of the session service (pydantic v2).

Every model accepts fields it does not know (kept as extras, reachable as attributes and in
`model_extra`), so a newer server never breaks an older client. Enumerations (`status`,
`runtime_backend`, `role`) are plain strings for the same reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Usage(_Model):
    """A session's running totals."""

    tokens_used: int = 0
    cost_usd: float = 0.0
    event_count: int = 0
    task_count: int = 0


class EventUsage(_Model):
    """What one event cost."""

    tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0


class ForkPoint(_Model):
    """Where a fork was taken: the session it was forked from, and the last seq of that history it reads."""

    session_id: str
    seq: int


class SessionSummary(_Model):
    """A session as lists return it (no `checkpoint`; `context` only with include_context)."""

    session_id: str
    tenant_id: str
    user_id: str
    app_name: str | None = None
    agent_id: str | None = None
    session_type: str = "conversation"
    title: str | None = None
    status: str
    metadata: dict[str, str] = Field(default_factory=dict)
    runtime_backend: str = "unknown"
    runtime_metadata: dict[str, Any] = Field(default_factory=dict)
    token_budget: int | None = None
    usage: Usage = Field(default_factory=Usage)
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime
    # the timestamp of the last event appended; None until one is (and from older servers)
    last_event_at: datetime | None = None
    expires_at: datetime
    version: int
    # a list item's context, when the list was asked for it (include_context=True)
    context: dict[str, Any] | None = None
    # added with the service role and rewind (absent from older servers)
    created_by: str | None = None
    updated_by: str | None = None
    last_seq: int | None = None
    # a fork (fork_session): where it was forked from; None for other sessions (and from older servers)
    forked_from: ForkPoint | None = None


class Session(SessionSummary):
    """One session, as read, created or changed."""

    context: dict[str, Any] = Field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    history_base_seq: int | None = None
    # with get_session(include_state=True): the state documents of the session's app and user (None without an app)
    state: SessionStates | None = None


class SessionList(_Model):
    sessions: list[SessionSummary]
    next_cursor: str | None = None


class Event(_Model):
    """One event of a session's history. `session_version` is the session's version after an append or change."""

    event_id: str
    seq: int
    created_at: datetime
    type: str
    role: str | None = None
    content: str | None = None
    task_id: str | None = None
    payload: dict[str, Any] | None = None
    usage: EventUsage | None = None
    metadata: dict[str, str] | None = None
    timestamp: datetime | None = None
    base: bool | None = None
    # large parts too big to inline: presigned GET URLs instead
    content_url: str | None = None
    payload_url: str | None = None

    _session_version: int | None = PrivateAttr(default=None)

    @property
    def session_version(self) -> int | None:
        """The session version the server reported with this event (its ETag), when it did."""
        return self._session_version


class History(_Model):
    session_id: str
    events: list[Event]
    next_cursor: str | None = None
    total: int | None = None


class SessionCounts(_Model):
    active: int = 0
    paused: int = 0
    completed: int = 0
    crashed: int = 0


class Stats(_Model):
    scope: str
    sessions: SessionCounts
    created_total: int = 0
    deleted_total: int = 0
    expired_total: int = 0
    events_total: int = 0
    tokens_used_total: int = 0
    cost_usd_total: float = 0.0
    computed_at: datetime


class AppState(_Model):
    """An app's shared state document (version 0: never written)."""

    app_name: str
    state: dict[str, Any] = Field(default_factory=dict)
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None


class UserState(AppState):
    """One user's state document within an app."""

    user_id: str


class SessionStates(_Model):
    """The state documents of a session's app and of its user in that app (`get_session(include_state=True)`)."""

    app: AppState
    user: UserState


class RemovedEvent(Event):
    """A removed event as a rewind returns it (return_events=True).

    Its parts are inline, never behind URLs: the rewind deletes their objects. A part that would have
    passed the server's response limit is left out and named in `parts_omitted` ("content",
    "payload"); it is gone with the event (read the history first to keep it).
    """

    parts_omitted: list[str] | None = None


class RemovedEvents(_Model):
    """The answer of a removal: how many events went, which seqs, the session's new version.

    `from_seq`: a rewind's first seq (None when seqs were selected). `seqs`: the removed events' seqs,
    ascending (None from a server that predates it).
    """

    removed: int
    from_seq: int | None = None
    seqs: list[int] | None = None
    version: int | None = None
    events: list[RemovedEvent] | None = None


class ErasureCounts(_Model):
    """What an erasure removed so far (final once it completed)."""

    sessions_erased: int = 0
    events_deleted: int = 0
    markers_deleted: int = 0
    objects_deleted: int = 0
    state_documents_deleted: int = 0


class Erasure(_Model):
    """A job erasing everything of one user in the tenant (`erase_user`, `get_erasure`): ids and counts only.

    `status`: "running", "completed" or "failed" (then `remaining` says what is left; erasing the user
    again runs the job again from where it stopped)."""

    erasure_id: str
    user_id: str
    status: str
    started_at: datetime
    completed_at: datetime | None = None
    counts: ErasureCounts = Field(default_factory=ErasureCounts)
    remaining: dict[str, int] | None = None


class ExportCounts(_Model):
    """What an export wrote so far (final once it completed)."""

    sessions: int = 0
    events: int = 0
    state_documents: int = 0
    bytes: int = 0


class Export(_Model):
    """A job writing a copy of one user's data in the tenant as JSON Lines (`export_user`, `get_export`).

    `status`: "running", "completed" (then `download_url`, a presigned GET valid `url_expires_in` seconds
    from the answer, until the object expires at `expires_at`) or "failed"."""

    export_id: str
    user_id: str
    status: str
    started_at: datetime
    completed_at: datetime | None = None
    counts: ExportCounts = Field(default_factory=ExportCounts)
    download_url: str | None = None
    url_expires_in: int | None = None
    expires_at: datetime | None = None


class TenantSettings(_Model):
    """The tenant's session TTL bounds and history retention in effect (the stack's where it set none).

    `history_retention_days` None: events live as long as their session. `version` 0: never changed."""

    tenant_id: str
    max_session_ttl_seconds: int
    default_session_ttl_seconds: int
    history_retention_days: int | None = None
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None


class ValidationIssue(_Model):
    loc: list[str | int] = Field(default_factory=list)
    msg: str = ""


class Problem(_Model):
    """An RFC 9457 problem as the service writes it."""

    type: str = "about:blank"
    title: str = ""
    status: int
    detail: str = ""
    code: str = ""
    current_version: int | None = None
    errors: list[ValidationIssue] | None = None


__all__ = [
    "AppState",
    "Event",
    "EventUsage",
    "ForkPoint",
    "History",
    "Problem",
    "RemovedEvent",
    "RemovedEvents",
    "Session",
    "SessionCounts",
    "SessionList",
    "SessionSummary",
    "Stats",
    "Usage",
    "UserState",
    "ValidationIssue",
]


Session.model_rebuild()

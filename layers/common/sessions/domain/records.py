"""The records the store hands the use cases, as types: what a stored session, event or state document holds.

Records are JSON-shaped dicts (an item's attributes without its keys and index attributes,
store/keys.py `record_of`), so the use cases build responses from them directly; these TypedDicts
name their attributes for mypy and for the reader, at no runtime cost. A `NotRequired` attribute
may be absent: the item was written before it existed, or the write had nothing to put there
(None is never stored: an attribute set to None is removed). Extra attributes may be present at
runtime (a list index projecting ALL), and code never relies on their absence.

The request and response models are pydantic (models.py); these are what is stored.
"""

# No `from __future__ import annotations` here: evaluated annotations let TypedDict tell NotRequired attributes
# at runtime (__optional_keys__), which tests/unit/test_records.py holds against the template and the models.
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict, cast

# --- sessions -----------------------------------------------------------------------------------


class UsageRecord(TypedDict):
    """What a session's history used: totals of its events' usage, and how many events and tasks it holds."""

    tokens_used: int
    cost_usd: float  # an integral amount comes back from DynamoDB as an int
    event_count: int  # stored events, compacted ones included
    task_count: int


class ForkPointRecord(TypedDict):
    """`forked_from` of a fork: its parent and the last seq of the parent's history it reads."""

    session_id: str
    seq: int


class Extent(TypedDict):
    """A seq range of a fork's history read from another session's partition (domain/lineage.py)."""

    session_id: str
    incarnation: str
    from_seq: int
    to_seq: int


class HistoryChange(TypedDict):
    """The last change a write made to the history (not an append), for the publisher to announce.

    Tagged with the version of the write that made it: the item keeps it until the next such change.
    """

    kind: Literal["changed", "removed", "replaced", "selected"]  # PATCH, rewind, replaced tail, selected seqs
    version: int
    seq: NotRequired[int]  # changed: the event's seq
    from_seq: NotRequired[int]  # removed, replaced: the first seq removed
    count: NotRequired[int]  # removed, replaced, selected: how many events went
    seqs: NotRequired[list[int]]  # removed, replaced, selected: their seqs, ascending


class SessionSummaryRecord(TypedDict):
    """A session as the list indexes project it (template.yaml, ListIndexProjection lean): no context, no checkpoint."""

    session_id: str
    tenant_id: str
    user_id: str  # the owner
    app_name: NotRequired[str | None]
    agent_id: NotRequired[str | None]
    session_type: str
    title: NotRequired[str | None]
    status: str  # a domain.status.Status value
    metadata: dict[str, str]
    runtime_backend: str  # a models.RuntimeBackend value
    runtime_metadata: dict[str, Any]
    token_budget: NotRequired[int | None]
    usage: UsageRecord
    created_at: str  # RFC 3339 UTC with milliseconds, as every timestamp here (core/clock.py)
    updated_at: str
    last_active_at: str
    last_event_at: NotRequired[str | None]  # the last appended event's timestamp
    expires_at: str
    version: int  # grows by one with every write: the ETag, and the condition of every write
    deleted_at: NotRequired[str]  # deleted: the item stays until the cleanup purges it
    forked_from: NotRequired[ForkPointRecord]


class SessionRecord(SessionSummaryRecord):
    """A stored session, every attribute of its item but the keys (store/keys.py)."""

    context: dict[str, Any]
    checkpoint: NotRequired[dict[str, Any] | None]
    incarnation: str  # fixed at creation: the events of an earlier session under the same id never mix in
    holds_slot: NotRequired[bool]  # counted in its owner's open sessions (store/slots.py)
    created_by: NotRequired[str]  # the principal of the create (a service acting for the user is named)
    updated_by: NotRequired[str]  # the principal of the last write that says who made it
    # the history (domain/appending.py, lineage.py)
    last_seq: NotRequired[int]  # the highest seq ever given (absent: event_count, before rewinds existed)
    history_base_seq: NotRequired[int | None]  # the latest base (a compaction)
    compacted_count: NotRequired[int]  # stored events before the base
    base_history: NotRequired[list[list[int]]]  # [seq, compacted_count] of each base, oldest first
    history_change: NotRequired[HistoryChange]
    # forks (store/forks.py)
    lineage: NotRequired[list[Extent]]  # a fork's: where its inherited events are read
    lineage_rev: NotRequired[int]  # grows with every change of `lineage`
    fork_count: NotRequired[int]  # forks registered with this incarnation
    erased_at: NotRequired[str]  # an erasure of its user took it (usecases/erasure.py); deleted too


class SessionChanges(TypedDict, total=False):
    """What a write changes on a session: top-level attributes, None removing one (store/sessions.py).

    The store adds the new `version`; what changes the counters (status, holds_slot, usage,
    deleted_at) moves them in the same transaction.
    """

    title: str | None
    status: str
    context: dict[str, Any]
    checkpoint: dict[str, Any] | None
    metadata: dict[str, str]
    runtime_backend: str
    runtime_metadata: dict[str, Any]
    token_budget: int | None
    usage: UsageRecord
    updated_at: str
    last_active_at: str
    last_event_at: str | None
    expires_at: str
    deleted_at: str
    erased_at: str
    holds_slot: bool
    updated_by: str | None  # the store removes it from a write that does not say who made it
    last_seq: int
    history_base_seq: int | None
    compacted_count: int
    base_history: list[list[int]]
    history_change: HistoryChange
    lineage: list[Extent]
    lineage_rev: int  # the store moves it with every change of `lineage`


def applied(record: SessionRecord, changes: SessionChanges) -> SessionRecord:
    """The record once `changes` are made to it (a new dict): an attribute changed to None is removed."""
    merged: dict[str, Any] = {**record, **changes}
    for name in [name for name, value in changes.items() if value is None]:
        del merged[name]
    return cast("SessionRecord", merged)


# --- events -------------------------------------------------------------------------------------


class EventUsageRecord(TypedDict, total=False):
    tokens: int
    cost_usd: float
    duration_ms: float


class BlobPointer(TypedDict):
    """Where a part of an event too large for its item lies in S3 (store/blobs.py), and its size."""

    key: str
    bytes: int


class EventRecord(TypedDict):
    """A stored event of a session's history (its item without keys); what was not given is absent.

    A read with a projection (store/event_edits.py events_from) holds only the attributes it asked for.
    """

    event_id: str
    seq: int
    created_at: str  # when it was appended
    timestamp: NotRequired[str]  # when it happened (as given, else created_at; absent on events stored before it)
    type: str
    role: NotRequired[str]
    content: NotRequired[str]
    task_id: NotRequired[str]
    payload: NotRequired[dict[str, Any]]
    usage: NotRequired[EventUsageRecord]
    metadata: NotRequired[dict[str, str]]
    base: NotRequired[bool]  # appended as a base of the history (a compaction)
    blobs: NotRequired[dict[str, BlobPointer]]  # "content", "payload": parts stored in S3 instead of the item


class EventTimes(TypedDict):
    """What a read of an event's times gives (store/event_edits.py latest_event_at_or_before)."""

    seq: int
    created_at: str
    timestamp: NotRequired[str]


# --- state documents ----------------------------------------------------------------------------


class StateDocument(TypedDict):
    """An app's or a user's state document as stored (store/state.py); version 0: never written."""

    state: dict[str, Any]
    version: int
    updated_at: str | None
    updated_by: str | None  # the principal of the last write


class StateView(TypedDict):
    """A state document as its GET answers it (models.AppState, models.UserState)."""

    app_name: str
    user_id: NotRequired[str]  # a user's document
    state: dict[str, Any]
    version: int
    updated_at: str | None


class SessionStates(TypedDict):
    app: StateView
    user: StateView


# --- the rest the store reads -------------------------------------------------------------------

# An owner's counters or a tenant's stats shard (store/stats_counters.py): sessions by status, running
# totals and open-session slots, by name; money as a Decimal, exactly.
Counters = dict[str, int | Decimal]
# Where a page resumes: the exclusive start key of its Query, as plain values (what a cursor signs).
Position = dict[str, str]


class ExpiryEntry(TypedDict):
    """A ByExpiry index entry (template.yaml), keys included: a due session, or a purge marker (store/keys.py)."""

    PK: str
    SK: str  # "#SESSION", or "#PURGE#{incarnation}"
    incarnation: str
    purge_at: str
    tenant_id: NotRequired[str]  # a session's
    user_id: NotRequired[str]
    session_id: NotRequired[str]
    last_active_at: NotRequired[str]
    expires_at: NotRequired[str]  # a session's; a marker's when its session ended by expiry, uncounted
    deleted_at: NotRequired[str]  # a deleted session's; a marker's when it ended by delete, uncounted


class ForkCounter(TypedDict):
    """The forks registered with one incarnation of a session (store/forks.py)."""

    count: NotRequired[int]
    closed: NotRequired[bool]  # its history is being purged: no more forks

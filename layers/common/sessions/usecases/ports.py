"""What the use cases ask of the store: exactly the methods they call, typed, and nothing else.

The use cases hold a store through these protocols (access.store(), cleanup.run_cleanup), never
the concrete `sessions.store.SessionStore`, which satisfies both structurally: mypy checks it
below, so a change of a store signature that a use case relies on fails the type check, and a
test or a benchmark may hand in any object with these methods (access.use_store).
Records are the TypedDicts of sessions.domain.records; "operations" are items of a DynamoDB
transaction the store built (store/state.py) and takes back to write with a session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sessions.domain.lineage import SeqRange
    from sessions.domain.records import (
        Counters,
        EventRecord,
        EventTimes,
        ExpiryEntry,
        ForkCounter,
        SessionChanges,
        SessionRecord,
        SessionSummaryRecord,
        StateDocument,
    )
    from sessions.domain.tenant_settings import StoredTenantSettings
    from sessions.store import EventQuery, Page, SessionQuery, SessionStore, SlotRepair, Source, StateKey
    from sessions.store.blobs import EventBlobs


class ForkCopyPort(Protocol):
    """Copy before change: what a history change and a purge both ask of the store (store/forks.py)."""

    def detach_readers(
        self,
        pk: str,
        incarnation: str,
        ranges: list[SeqRange],
        *,
        blobs: EventBlobs,
        out_of_time: Callable[[], bool] | None = ...,
    ) -> bool: ...


class SessionStorePort(ForkCopyPort, Protocol):
    """The store as the endpoints' use cases use it (usecases/access.py store())."""

    # --- sessions (store/sessions.py, slots.py, queries.py) ---
    def get_session(self, tenant_id: str, session_id: str) -> SessionRecord | None: ...

    def create_session(
        self,
        record: SessionRecord,
        *,
        cap: int,
        replacing: SessionRecord | None = ...,
        events: Sequence[EventRecord] = ...,
        also: Sequence[dict[str, Any]] = ...,
    ) -> None: ...

    def update_session(self, current: SessionRecord, changes: SessionChanges, *, cap: int = ...) -> SessionRecord: ...

    def repair_slots(self, tenant_id: str, user_id: str) -> SlotRepair: ...

    def list_sessions(self, query: SessionQuery) -> Page[SessionSummaryRecord]: ...

    # --- history (store/sessions.py, queries.py, event_edits.py) ---
    def append_events(
        self,
        current: SessionRecord,
        events: Sequence[EventRecord],
        changes: SessionChanges,
        *,
        also: Sequence[dict[str, Any]] = ...,
        removing: Sequence[EventRecord] = ...,
    ) -> SessionRecord: ...

    def query_events(self, query: EventQuery) -> Page[EventRecord]: ...

    def get_event(self, session: SessionRecord, seq: int) -> EventRecord | None: ...

    def events_from(
        self, session: SessionRecord, from_seq: int, limit: int, *, projection: str | None = ...
    ) -> list[EventRecord]: ...

    def events_at(self, session: SessionRecord, seqs: list[int]) -> list[EventRecord]: ...

    def count_events_from(self, session: SessionRecord, from_seq: int) -> int: ...

    def latest_event_at_or_before(self, session: SessionRecord, seq: int) -> EventTimes | None: ...

    def replace_event(self, current: SessionRecord, event: EventRecord, changes: SessionChanges) -> SessionRecord: ...

    def remove_events(
        self, current: SessionRecord, events: Sequence[EventRecord], changes: SessionChanges
    ) -> SessionRecord: ...

    # --- forks (store/forks.py) ---
    def stored_incarnations(self, tenant_id: str, session_ids: set[str]) -> dict[str, str]: ...

    def create_fork(
        self,
        record: SessionRecord,
        *,
        parent: SessionRecord,
        sources: list[Source],
        cap: int,
        replacing: SessionRecord | None,
    ) -> None: ...

    # --- stats (store/stats_counters.py) ---
    def get_user_counters(self, tenant_id: str, user_id: str) -> Counters: ...

    def get_tenant_counters(self, tenant_id: str) -> list[Counters]: ...

    # --- state documents (store/state.py) ---
    def get_state(self, key: StateKey) -> StateDocument | None: ...

    def get_states(self, keys: list[StateKey]) -> list[StateDocument | None]: ...

    def state_write(self, key: StateKey, document: StateDocument, *, read_version: int) -> dict[str, Any]: ...

    def put_state(self, key: StateKey, document: StateDocument, *, read_version: int) -> None: ...

    def user_state_registration(self, key: StateKey) -> dict[str, Any]: ...

    # --- tenant settings and history retention (store/tenant_settings.py) ---
    def get_tenant_settings(self, tenant_id: str, *, consistent: bool = ...) -> StoredTenantSettings | None: ...

    def put_tenant_settings(self, settings: StoredTenantSettings, *, read_version: int) -> None: ...

    def retention_tenants(self) -> list[tuple[str, int]]: ...

    def events_appended_before(
        self, bucket: str, cutoff: str, start: dict[str, Any] | None = ..., *, limit: int = ...
    ) -> tuple[list[tuple[str, str]], dict[str, Any] | None]: ...


class RemovalStorePort(ForkCopyPort, Protocol):
    """The store as removal uses it: the cleanup's run (usecases/cleanup.py) and the publisher's settlement."""

    def acquire_cleanup_lease(self, owner: str, now: int, duration_ms: int) -> bool: ...

    def release_cleanup_lease(self, owner: str) -> None: ...

    def get_cleanup_checkpoint(self) -> str | None: ...

    def put_cleanup_checkpoint(self, hour: str) -> None: ...

    def put_cleanup_run(self, run_id: str, summary: dict[str, Any], at_ms: int) -> None: ...

    def due_for_removal(
        self, bucket: str, now: str, start: dict[str, Any] | None = ...
    ) -> tuple[list[ExpiryEntry], dict[str, Any] | None]: ...

    def delete_due_session(self, entry: ExpiryEntry, now: str) -> bool: ...

    def history_keys(self, pk: str, incarnation: str) -> list[dict[str, Any]]: ...

    def batch_write(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def delete_purge_marker(self, key: dict[str, Any]) -> bool: ...

    def fork_counter(self, pk: str, incarnation: str) -> ForkCounter | None: ...

    def close_forks(self, pk: str, incarnation: str) -> None: ...

    def fork_keys(self, pk: str, incarnation: str) -> list[dict[str, Any]]: ...

    def settle_removed_session(self, old: SessionRecord, *, by_ttl: bool) -> None: ...


if TYPE_CHECKING:

    def _the_store_satisfies_the_ports(store: SessionStore) -> tuple[SessionStorePort, RemovalStorePort]:
        """mypy's proof that SessionStore has every method above with a compatible signature (never called)."""
        return store, store

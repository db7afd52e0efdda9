"""Forking a session in O(1), and the hooks that keep what forks read unchanged (docs/API.md, "Forks").

A fork reads its parent's history up to its fork point from where it lives (sessions/domain/lineage.py),
so creating one writes the same few items whatever the parent's length (store/forks.py). Reads are
the parent's item and, only when the fork point is before the parent's latest seq, the events after
it (their usage leaves the fork's) and the one event at or before it (its `last_event_at`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import ForkLineageTooLong, InvalidField, SessionIdTaken, SessionNotFound, VersionMismatch
from sessions.core.retrying import back_off, write_attempts
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity
from sessions.domain.lineage import (
    LAST_SEQ,
    SOURCES_MAX,
    SeqRange,
    base_at,
    base_history,
    extents,
    fork_lineage,
    is_fork_reader,
    sources,
)
from sessions.domain.records import SessionRecord, UsageRecord
from sessions.domain.status import Status
from sessions.domain.usage import usage_without
from sessions.store import ItemExists, ParentChanged, Source, SourceClosed, VersionChanged, WriteConflict, session_pk
from sessions.usecases.access import is_live, owned_live_session, store, with_slot_repair

if TYPE_CHECKING:
    from sessions.domain.models import ForkSessionRequest


def fork_session(identity: Identity, session_id: str, request: ForkSessionRequest) -> SessionRecord:
    """A new session whose history is the parent's up to `at_seq`, then its own; as a create, it takes a slot."""
    parent = owned_live_session(identity, session_id)  # who may append to the parent may fork it
    if request.session_id == session_id:
        raise SessionIdTaken(f"session id {session_id!r} is taken")  # by the parent itself
    fork_id = request.session_id or str(uuid.uuid4())
    incarnation = uuid.uuid4().hex[:12]
    from sessions.domain.tenant_settings import session_ttl
    from sessions.usecases.tenant_settings import tenant_settings

    # within the tenant's maximum (422 ttl_above_tenant_max), else the tenant's default
    ttl_seconds = session_ttl(tenant_settings(identity.tenant_id), request.ttl_seconds)
    return with_slot_repair(identity, lambda: _insert(identity, parent, request, fork_id, incarnation, ttl_seconds))


def _insert(
    identity: Identity,
    parent: SessionRecord,
    request: ForkSessionRequest,
    fork_id: str,
    incarnation: str,
    ttl_seconds: int,
) -> SessionRecord:
    cap = get_settings().max_open_sessions_per_user
    replacing: SessionRecord | None = None
    for attempt in write_attempts():
        record, forked_sources = _plan(identity, parent, request, fork_id, incarnation, ttl_seconds)
        try:
            store().create_fork(record, parent=parent, sources=forked_sources, cap=cap, replacing=replacing)
            return record
        except ItemExists as exists:
            replacing = exists.record
        except VersionChanged as changed:
            replacing = changed.record
            if replacing is None:
                continue  # the dead session under the id was removed meanwhile: a plain create now
        except ParentChanged as changed:
            # an append, a rewind or a fork of the parent won: plan again on the parent as it is now
            parent = _same_parent(identity, parent, changed.record if attempt == 0 else None, attempt)
            continue
        except SourceClosed as closed:
            if closed.session_id == parent["session_id"]:
                raise SessionNotFound(f"session {parent['session_id']!r} not found") from None
            # a session the parent reads from is being purged: its events move into the parent first
            parent = _same_parent(identity, parent, None, attempt)
            continue
        except WriteConflict:
            parent = _same_parent(identity, parent, None, attempt)
            continue
        if is_live(replacing, now_ms()):
            raise SessionIdTaken(f"session id {fork_id!r} is taken")
        # the id belonged to a session that expired or was deleted: the fork takes its place
    raise VersionMismatch(parent["version"], f"the session kept changing (now version {parent['version']}); retry")


def _same_parent(
    identity: Identity, parent: SessionRecord, latest: SessionRecord | None, attempt: int
) -> SessionRecord:
    """The parent as it is now (read again after a back-off unless the failed write handed it back)."""
    if latest is None:
        back_off(attempt)
        latest = store().get_session(parent["tenant_id"], parent["session_id"])
    if (
        latest is None
        or not is_live(latest, now_ms())
        or latest["incarnation"] != parent["incarnation"]
        or latest["user_id"] != identity.user_id
    ):
        raise SessionNotFound(f"session {parent['session_id']!r} not found")
    return latest


def _plan(
    identity: Identity,
    parent: SessionRecord,
    request: ForkSessionRequest,
    fork_id: str,
    incarnation: str,
    ttl_seconds: int,
) -> tuple[SessionRecord, list[Source]]:
    """The fork's record and the sessions it registers with, from the parent as read."""
    from sessions.domain.appending import last_seq

    latest = last_seq(parent)
    at_seq = latest if request.at_seq is None else request.at_seq
    if at_seq > latest:
        raise InvalidField(("body", "at_seq"), f"at_seq must be at most {latest}, the parent's highest seq")
    lineage = fork_lineage(parent, at_seq)
    read_from = sources(lineage)
    if len(read_from) > SOURCES_MAX:
        raise ForkLineageTooLong(
            f"the fork would read from {len(read_from)} sessions; at most {SOURCES_MAX} (fork an earlier point, "
            "or a session with fewer forks behind it)"
        )
    now = now_ms()
    timestamp = format_ms(now)
    given = request.model_dump(include={"title", "metadata", "context"}, exclude_none=True, mode="json")
    record: SessionRecord = {
        # copied from the parent as they are now (title, metadata and context unless the body gives them)
        "app_name": parent.get("app_name"),
        "agent_id": parent.get("agent_id"),
        "session_type": parent["session_type"],
        "title": given.get("title", parent.get("title")),
        "context": given.get("context", parent["context"]),
        "checkpoint": parent.get("checkpoint"),
        "metadata": given.get("metadata", parent["metadata"]),
        "runtime_backend": parent["runtime_backend"],
        "runtime_metadata": parent["runtime_metadata"],
        "token_budget": parent.get("token_budget"),
        "session_id": fork_id,
        "tenant_id": parent["tenant_id"],
        "user_id": parent["user_id"],
        "status": Status.ACTIVE.value,
        **_history_at(parent, at_seq, latest),
        "created_at": timestamp,
        "updated_at": timestamp,
        "last_active_at": timestamp,
        "expires_at": format_ms(now + ttl_seconds * 1000),
        "version": 1,
        "incarnation": incarnation,
        "holds_slot": True,
        "created_by": identity.principal,
        "updated_by": identity.principal,
        "forked_from": {"session_id": parent["session_id"], "seq": at_seq},
        "lineage": lineage,
        "lineage_rev": 1,
    }
    return record, _sources(parent, read_from, fork_id)


class _HistoryAt(TypedDict):
    """What a fork's record takes from its parent's history up to the fork point."""

    usage: UsageRecord
    last_seq: int
    last_event_at: str | None
    history_base_seq: int | None
    compacted_count: int
    base_history: list[list[int]]


def _history_at(parent: SessionRecord, at_seq: int, latest: int) -> _HistoryAt:
    """Usage, last seq, base and last event time of the parent's history up to `at_seq`.

    At the latest seq: the parent's own figures. Before it: the events after `at_seq` are read
    (their usage leaves the fork's: reads grow with what is cut off, never with the prefix) and one
    event at or before it (its timestamp); the base comes from the parent's base_history.
    """
    if at_seq == latest:
        return {
            "usage": parent["usage"].copy(),
            "last_seq": at_seq,
            "last_event_at": parent.get("last_event_at"),
            "history_base_seq": parent.get("history_base_seq"),
            "compacted_count": int(parent.get("compacted_count", 0)),
            "base_history": base_history(parent),
        }
    after = store().events_from(parent, at_seq + 1, LAST_SEQ, projection="seq,usage,type")
    usage = usage_without(parent["usage"].copy(), after)
    base, compacted = base_at(parent, at_seq)
    last = store().latest_event_at_or_before(parent, at_seq) if at_seq else None
    return {
        "usage": usage,
        "last_seq": at_seq,
        "last_event_at": (last.get("timestamp") or last.get("created_at")) if last else None,
        "history_base_seq": base,
        "compacted_count": compacted,
        "base_history": [entry for entry in base_history(parent) if entry[0] <= at_seq],
    }


def _sources(parent: SessionRecord, read_from: list[tuple[str, str]], fork_id: str) -> list[Source]:
    """The sessions the fork reads from, each with whether its item is stored (then it counts the fork too).

    An ancestor gone under the fork's own id (the fork takes its place) counts the fork on its fork
    counter only: its item is the one the fork replaces.
    """
    others = {session_id for session_id, _ in read_from if session_id not in (parent["session_id"], fork_id)}
    stored = store().stored_incarnations(parent["tenant_id"], others) if others else {}
    stored[parent["session_id"]] = parent["incarnation"]
    return [
        Source(session_id, incarnation, stored.get(session_id) == incarnation) for session_id, incarnation in read_from
    ]


# --- the hooks of every path that changes a history -------------------------------------------------


def detach_readers(session: SessionRecord, ranges: list[SeqRange]) -> None:
    """Before the events of `ranges` of `session` change or go: the forks that read them get their own copies.

    Free for a session never forked (`fork_count` absent: nothing is read). The write that follows
    is conditioned on `fork_count` as read (store history writes), so a fork registered meanwhile
    makes it plan again, and this runs again for it.
    """
    if not session.get("fork_count"):
        return
    from sessions.usecases.large_events import blobs  # S3: the events' large parts are copied too

    pk = session_pk(session["tenant_id"], session["session_id"])
    store().detach_readers(pk, session["incarnation"], ranges, blobs=blobs())


def read_stable[T](session: SessionRecord, read: Callable[[SessionRecord], T]) -> T:
    """`read(session)`, for a fork made again until its lineage held still while it read.

    A fork's source copies events into the fork (moving its lineage) before it changes them: a
    read that crossed into the source while that happened could see the change. Checking
    `lineage_rev` after the read (one GetItem, for forks only) tells, and the read is made again.
    """
    if not is_fork_reader(session):
        return read(session)
    for attempt in write_attempts():
        result = read(session)
        latest = store().get_session(session["tenant_id"], session["session_id"])
        if latest is None or latest["incarnation"] != session["incarnation"]:
            return result  # gone since it was read: the answer stands as of then
        if latest.get("lineage_rev") == session.get("lineage_rev"):
            return result
        session = {**session, "lineage": extents(latest)}
        session.pop("lineage_rev", None)  # as read: absent when the latest has none
        if "lineage_rev" in latest:
            session["lineage_rev"] = latest["lineage_rev"]
        back_off(attempt)
    raise VersionMismatch(session["version"], "the history kept changing while it was read; retry")

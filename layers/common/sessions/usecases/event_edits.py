"""One event of a history: reading it, redacting it (PATCH); rewinding a history from a seq, or removing
selected events (DELETE).

Every change is one atomic step with its session: the version grows by one, the session carries
`history_change` (what the publisher turns into session.event_changed or session.events_removed),
and a rewind corrects usage, counts and the owner's stats in the same transaction. Seqs are never
given again: `last_seq` stays where it was, so a rewound history has a hole until the next append.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import (
    EventNotFound,
    InvalidField,
    PayloadTooLarge,
    RewindTooLarge,
    SessionClosed,
    VersionMismatch,
)
from sessions.domain.identity import Identity
from sessions.domain.limits import (
    EVENT_PARTS_MAX_BYTES,
    REWIND_MAX_EVENTS,
    ObjectTooLarge,
    check_json_object,
    serialized_size,
)
from sessions.domain.lineage import LAST_SEQ, base_history, covering, cut, extents, with_base
from sessions.domain.merge_patch import apply_merge_patch
from sessions.domain.models import METADATA_MAX_PAIRS
from sessions.domain.records import BlobPointer, EventRecord, HistoryChange, SessionChanges, SessionRecord
from sessions.domain.status import Status
from sessions.domain.usage import usage_without
from sessions.store import VersionChanged
from sessions.store.blobs import own_copies
from sessions.store.sessions import own_events
from sessions.usecases.access import get_session, owned_live_session, store, write_until_it_wins, written_by
from sessions.usecases.forks import detach_readers, read_stable
from sessions.usecases.large_events import (
    delete_blobs,
    delete_event_blobs,
    inline_parts,
    offload_large_parts,
    removed_views,
    with_parts_inline,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sessions.domain.models import UpdateEventRequest


def _stored_event(session: SessionRecord, seq: int) -> EventRecord:
    event = store().get_event(session, seq)
    if event is None:
        raise EventNotFound(f"session {session['session_id']!r} has no event {seq}")
    return event


def _history_change(current: SessionRecord, **change: Any) -> HistoryChange:
    # tagged with the version it comes with, so the publisher tells this write from a later one that keeps it
    return cast("HistoryChange", {**change, "version": current["version"] + 1})


def _still_current(current: SessionRecord) -> None:
    """Raise VersionChanged unless the session is still at `current`'s version.

    An answer that writes nothing rests on a session read and an event read made one after the
    other; a write between them would make it answer (and pass If-Match) on a version already gone.
    """
    latest = store().get_session(current["tenant_id"], current["session_id"])
    if latest is None or latest["version"] != current["version"]:
        raise VersionChanged(latest)


def _check_if_match(current: SessionRecord, if_match: int | None) -> None:
    if if_match is not None and current["version"] != if_match:
        raise VersionMismatch(current["version"])


# --- read ---------------------------------------------------------------------------------------


def get_event(identity: Identity, session_id: str, seq: int) -> tuple[dict[str, Any], SessionRecord]:
    """The event (payload included, large parts inline or presigned) and the session it was read with.

    The session's version is the answer's ETag.
    """
    session = get_session(identity, session_id)
    # a fork's inherited event (and its S3 parts) is read from its source, checked against a
    # copy-before-change meanwhile (after which the source deletes what it copied)
    view = read_stable(session, lambda reading: inline_parts([_stored_event(reading, seq)], include_payload=True)[0])
    return view, session


# --- redact -------------------------------------------------------------------------------------


def plan_event_patch(event: EventRecord, patch: UpdateEventRequest) -> EventRecord:
    """The event a merge patch leads to (the same event when the patch changes nothing)."""
    given = patch.model_fields_set
    patched: dict[str, Any] = dict(event)
    if "content" in given:
        patched["content"] = patch.content
    if "payload" in given:
        payload = None if patch.payload is None else apply_merge_patch(event.get("payload") or {}, patch.payload)
        patched["payload"] = payload if payload is None else _checked_payload(payload)
    if "metadata" in given:
        metadata = None if patch.metadata is None else apply_merge_patch(event.get("metadata") or {}, patch.metadata)
        if metadata is not None and len(metadata) > METADATA_MAX_PAIRS:
            raise InvalidField(("body", "metadata"), f"metadata holds at most {METADATA_MAX_PAIRS} pairs")
        patched["metadata"] = metadata
    patched = {name: value for name, value in patched.items() if value is not None}
    if patched.get("content") is not None and patched.get("payload") is not None:
        size = len(patched["content"].encode("utf-8", errors="surrogatepass")) + serialized_size(patched["payload"])
        if size > EVENT_PARTS_MAX_BYTES:
            raise PayloadTooLarge(f"content and payload would be {size} bytes; the limit is {EVENT_PARTS_MAX_BYTES}")
    return cast("EventRecord", patched)  # the event with the fields of UpdateEventRequest, as stored


def _checked_payload(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_json_object(payload, max_bytes=EVENT_PARTS_MAX_BYTES)
    except ObjectTooLarge as exc:
        raise PayloadTooLarge(f"payload: {exc}") from None
    except ValueError as exc:
        raise InvalidField(("body", "payload"), str(exc)) from None


def update_event(
    identity: Identity, session_id: str, seq: int, patch: UpdateEventRequest, if_match: int | None
) -> tuple[dict[str, Any], SessionRecord]:
    """Redact or amend one event; returns the event and the session as written.

    Allowed on completed sessions too: redaction must always be possible.
    """

    replaced: list[BlobPointer] = []  # the objects of parts the committed change replaced

    def write(current: SessionRecord) -> tuple[EventRecord, SessionRecord]:
        _check_if_match(current, if_match)
        stored = _stored_event(current, seq)
        event = with_parts_inline(stored)  # large parts read back from S3: a patch merges into the whole event
        patched = plan_event_patch(event, patch)
        if _as_json(patched) == _as_json(event):
            # nothing differs: no write, no new version, if the event read is still the session's version's
            _still_current(current)
            return _with_pointers(event, stored), current
        changes: SessionChanges = {
            "updated_at": format_ms(now_ms()),
            "history_change": _history_change(current, kind="changed", seq=seq),
        }
        detach_readers(current, [(seq, seq)])  # the forks that read this event keep it as it is
        # a fork's inherited event becomes its own: written to its partition, never to its source's
        inherited = covering(extents(current), seq) is not None
        if inherited:
            changes["lineage"] = cut(extents(current), [(seq, seq)])
        # a large part the patch left as it was keeps its object; a changed one goes to a new object,
        # so the objects the committed item points at stay until it is replaced
        old = stored.get("blobs") or {}
        kept = {part: pointer for part, pointer in old.items() if patched.get(part) == event.get(part)}
        if inherited and kept:
            kept = own_parts(current, stored["event_id"], kept)  # the source's objects go with the source
        item = offload_large_parts(current, patched, revision=True, kept=kept)
        session = store().replace_event(current, item, written_by(identity, changes))
        # the replaced objects are deleted after the commit: never a source's, which it still reads
        replaced[:] = [] if inherited else [pointer for part, pointer in old.items() if part not in kept]
        return _with_pointers(patched, item), session

    event, session = write_until_it_wins(owned_live_session(identity, session_id), write)
    delete_blobs(replaced)  # after the commit: the replaced objects
    # answered as GET answers it: a part too large for Lambda's response limit as a URL
    return inline_parts([event], include_payload=True)[0], session


def _with_pointers(event: EventRecord, item: EventRecord) -> EventRecord:
    # the whole event (nothing to read back) plus where its large parts are stored (for URLs if need be)
    return {**event, "blobs": item["blobs"]} if "blobs" in item else event


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- rewind -------------------------------------------------------------------------------------


def plan_removal(current: SessionRecord, from_seq: int, *, room: int = 0) -> tuple[list[EventRecord], SessionChanges]:
    """The events a removal from `from_seq` on takes, and the session changes it makes (none when nothing is there).

    `room`: events appended in the same transaction (an append's replace_from_seq), which take their
    places among the REWIND_MAX_EVENTS a transaction holds; more is RewindTooLarge, nothing written.
    """
    from sessions.domain.appending import last_seq

    limit = REWIND_MAX_EVENTS - room
    removed = store().events_from(current, from_seq, limit + 1)
    if len(removed) > limit:
        count = store().count_events_from(current, from_seq)
        also = f" besides the {room} appended" if room else ""
        raise RewindTooLarge(
            f"from_seq {from_seq} would remove {count} events; at most {limit}{also} go in one call: "
            f"remove from a later seq first"
        )
    if not removed:
        return [], {}
    lineage = extents(current)
    changes: SessionChanges = {
        "usage": usage_without(current["usage"], removed),
        "last_seq": last_seq(current),  # seqs are never given again, even on an item from before last_seq
        "history_change": _history_change(
            current,
            kind="replaced" if room else "removed",
            from_seq=from_seq,
            count=len(removed),
            seqs=[event["seq"] for event in removed],
        ),
    }
    base = current.get("history_base_seq")
    if base is not None and from_seq <= base:
        # the base goes with the removal, never what it compacted: the history starts at from_seq, and every
        # event left (all before from_seq) stays compacted
        changes["history_base_seq"] = from_seq
        changes["compacted_count"] = changes["usage"]["event_count"]
        changes["base_history"] = with_base(current, from_seq, changes["compacted_count"])
    remaining = cut(lineage, [(from_seq, LAST_SEQ)])
    if remaining != lineage:
        # a fork's inherited events leave its history by leaving its lineage: its source is never changed
        changes["lineage"] = remaining
    return removed, changes


def plan_seq_removal(current: SessionRecord, seqs: Sequence[int]) -> tuple[list[EventRecord], SessionChanges]:
    """The events among `seqs` that are stored, and the session changes their removal makes (none when none are).

    A seq that holds no event is passed over. The history's base stays where it is, even when its own event
    goes: what it compacted stays compacted (as a rewind never reveals it), and the history starts after it.
    """
    from sessions.domain.appending import compacted_count, last_seq

    removed = store().events_at(current, list(seqs))
    if not removed:
        return [], {}
    removed_seqs = [event["seq"] for event in removed]
    changes: SessionChanges = {
        "usage": usage_without(current["usage"], removed),
        "last_seq": last_seq(current),  # seqs are never given again
        "history_change": _history_change(current, kind="selected", count=len(removed), seqs=removed_seqs),
    }
    base = current.get("history_base_seq")
    compacted = 0 if base is None else sum(seq < base for seq in removed_seqs)
    if compacted:  # events before the base left: the history from the base on (its total) is as it was
        changes["compacted_count"] = max(compacted_count(current) - compacted, 0)
    bases = base_history(current)
    # each base a fork may start at counts the events before it: those removed no longer count
    lowered = [[seq, max(count - sum(gone < seq for gone in removed_seqs), 0)] for seq, count in bases]
    if lowered != bases:
        changes["base_history"] = lowered
    lineage = extents(current)
    remaining = cut(lineage, _single_ranges(removed))
    if remaining != lineage:
        # a fork's inherited events leave its history by leaving its lineage: its source is never changed
        changes["lineage"] = remaining
    return removed, changes


def _single_ranges(events: Sequence[EventRecord]) -> list[tuple[int, int]]:
    return [(int(event["seq"]), int(event["seq"])) for event in events]


def selected_seqs(from_seq: int | None, seqs: Sequence[int] | None) -> list[int] | None:
    """The seqs a removal names (None: a rewind from `from_seq`); 422 unless exactly one of the two is given."""
    if (from_seq is None) == (seqs is None):
        raise InvalidField(("query", "seq"), "give from_seq (rewind from a seq on) or seq (remove those events), one")
    if seqs is None:
        return None
    if not 1 <= len(seqs) <= REWIND_MAX_EVENTS:  # the route's bound, kept here for every caller
        raise InvalidField(("query", "seq"), f"1 to {REWIND_MAX_EVENTS} seqs")
    if len(set(seqs)) != len(seqs):
        raise InvalidField(("query", "seq"), "each seq once")
    return sorted(seqs)


def delete_events(
    identity: Identity,
    session_id: str,
    from_seq: int | None = None,
    *,
    seqs: Sequence[int] | None = None,
    return_events: bool,
    if_match: int | None,
) -> tuple[dict[str, Any], SessionRecord]:
    """Remove every event with seq >= from_seq, or the events among `seqs`, in one transaction with the session.

    Returns the answer's body and the session as written (unchanged when nothing was removed).
    A rewind takes at most REWIND_MAX_EVENTS events per call; more is RewindTooLarge, with nothing removed.
    `seqs`: 1 to REWIND_MAX_EVENTS distinct seqs (else 422); those holding no event are passed over.
    """
    # imported here: the event GET and PATCH functions import this module and need none of appending
    from sessions.domain.appending import last_seq

    selected = selected_seqs(from_seq, seqs)
    first = selected[0] if selected is not None else int(from_seq or 0)
    owned: list[EventRecord] = []  # the removed events stored in the session's own partition

    def write(current: SessionRecord) -> tuple[list[EventRecord], SessionRecord]:
        _check_if_match(current, if_match)
        if current["status"] == Status.COMPLETED:
            what = "rewound" if selected is None else "have events removed"
            raise SessionClosed(f"session is completed; its history can no longer be {what} (events can be redacted)")
        if selected is None:
            removed, removal = plan_removal(current, first)
        else:
            removed, removal = plan_seq_removal(current, selected)
        if not removed:
            # nothing to remove: no write, no new version. Past the last seq ever given that held when the
            # session was read; short of it, the events may have gone since (a concurrent removal), so the
            # answer stands only if the session is still the one read
            if first <= last_seq(current):
                _still_current(current)
            return [], current
        # the forks that read what goes keep it
        detach_readers(current, [(first, LAST_SEQ)] if selected is None else _single_ranges(removed))
        changes: SessionChanges = {**removal, "updated_at": format_ms(now_ms())}
        session = store().remove_events(current, removed, written_by(identity, changes))
        owned[:] = own_events(current, removed)
        return removed, session

    removed, session = write_until_it_wins(owned_live_session(identity, session_id), write)
    body: dict[str, Any] = {
        "removed": len(removed),
        "from_seq": from_seq if selected is None else None,
        "seqs": [event["seq"] for event in removed],
        "version": session["version"],
    }
    if return_events:
        # every part read back now, within Lambda's response limit: never a URL, since the objects go next;
        # a part that cannot fit is left out and named in the event's parts_omitted
        body["events"] = removed_views(removed)
    delete_event_blobs(owned)  # after the commit (and after reading them back); a fork's source keeps its own
    return body, session


def own_parts(session: SessionRecord, event_id: str, pointers: dict[str, BlobPointer]) -> dict[str, BlobPointer]:
    """Copies under the session's own keys of the large parts of an event it inherited (its own PATCH)."""
    from sessions.usecases.large_events import blobs

    return own_copies(blobs(), session, event_id, pointers)

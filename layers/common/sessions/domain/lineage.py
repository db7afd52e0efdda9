"""Where a fork's history lives: extents of other sessions' histories, and its own partition. No I/O.

A fork reads its parent's prefix instead of copying it. Its session item keeps `lineage`: a short
list of extents, each a seq range read from another session's event partition (same tenant):

    {"session_id": "p", "incarnation": "…", "from_seq": 1, "to_seq": 40}

Extents are disjoint and sorted by seq; every seq no extent covers is read from the session's own
partition (its appends after the fork point, and events copied in since). A fork at N of P takes
P's own ranges up to N as extents sourced from P, and P's extents (P a fork itself) truncated to N:
a fork of a fork reads its grand-parent directly, never through its parent.

`lineage_rev` grows with every change of the lineage: writes that change it are conditioned on it,
and a read across extents checks it did not move while it read (store/forks.py).

Bases: `base_history` keeps, per session, the bases its history had ([seq, compacted_count], seq
ascending, the last one the current base), so a fork knows the base its history had at its fork
point without reading the prefix. At most BASE_HISTORY_MAX are kept (the oldest dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions.domain.records import Extent, SessionRecord

LAST_SEQ = 9_999_999_999  # as store/keys.py: the highest seq an event key holds
SOURCES_MAX = 16  # distinct sessions one lineage reads from (a fork's transaction registers with each)
BASE_HISTORY_MAX = 64

SeqRange = tuple[int, int]  # inclusive


@dataclass(frozen=True)
class Segment:
    """A seq range of a history and where it is read: `source` None is the session's own partition."""

    low: int
    high: int
    source: Extent | None = None


def extents(record: SessionRecord) -> list[Extent]:
    return sorted(record.get("lineage") or [], key=lambda extent: int(extent["from_seq"]))


def is_fork_reader(record: SessionRecord) -> bool:
    """Whether reads of this session may cross into other sessions' partitions."""
    return bool(record.get("lineage"))


def covering(lineage: list[Extent], seq: int) -> Extent | None:
    """The extent a seq is read from; None: the session's own partition."""
    for extent in lineage:
        if int(extent["from_seq"]) <= seq <= int(extent["to_seq"]):
            return extent
    return None


def segments(lineage: list[Extent], low: int, high: int) -> list[Segment]:
    """[low, high] split into the ranges each partition serves, in seq order (empty own ranges included)."""
    result: list[Segment] = []
    at = low
    for extent in sorted(lineage, key=lambda item: int(item["from_seq"])):
        start, end = max(int(extent["from_seq"]), low), min(int(extent["to_seq"]), high)
        if start > end:
            continue
        if at < start:
            result.append(Segment(at, start - 1))
        result.append(Segment(start, end, extent))
        at = end + 1
    if at <= high:
        result.append(Segment(at, high))
    return result


def same_source(extent: Extent, session_id: str, incarnation: str) -> bool:
    return extent["session_id"] == session_id and extent["incarnation"] == incarnation


def overlap(lineage: list[Extent], session_id: str, incarnation: str, ranges: list[SeqRange]) -> list[SeqRange]:
    """The seqs of `ranges` this lineage reads from that source, as sorted disjoint ranges."""
    found = []
    for extent in lineage:
        if not same_source(extent, session_id, incarnation):
            continue
        for low, high in ranges:
            start, end = max(int(extent["from_seq"]), low), min(int(extent["to_seq"]), high)
            if start <= end:
                found.append((start, end))
    return _merged(found)


def cut(lineage: list[Extent], ranges: list[SeqRange]) -> list[Extent]:
    """The lineage with `ranges` taken out of its extents (split or shrunk): those seqs become the session's own."""
    result: list[Extent] = []
    for extent in lineage:
        pieces = [(int(extent["from_seq"]), int(extent["to_seq"]))]
        for low, high in ranges:
            pieces = [piece for start, end in pieces for piece in _minus((start, end), (low, high))]
        result += [{**extent, "from_seq": start, "to_seq": end} for start, end in pieces]
    return sorted(result, key=lambda item: int(item["from_seq"]))


def fork_lineage(parent: SessionRecord, at_seq: int) -> list[Extent]:
    """The lineage of a fork of `parent` at `at_seq`: what the parent reads up to it, each range from where it lives."""
    if at_seq < 1:
        return []
    carried: list[Extent] = [
        {**extent, "to_seq": min(int(extent["to_seq"]), at_seq)}
        for extent in extents(parent)
        if int(extent["from_seq"]) <= at_seq
    ]
    own: list[Extent] = [
        {
            "session_id": parent["session_id"],
            "incarnation": parent["incarnation"],
            "from_seq": segment.low,
            "to_seq": segment.high,
        }
        for segment in segments(carried, 1, at_seq)
        if segment.source is None
    ]
    return _joined(sorted(carried + own, key=lambda item: int(item["from_seq"])))


def sources(lineage: list[Extent]) -> list[tuple[str, str]]:
    """The distinct (session_id, incarnation) a lineage reads from, in seq order of their first extent."""
    return list(dict.fromkeys((extent["session_id"], extent["incarnation"]) for extent in lineage))


def intersect(ranges: list[SeqRange], low: int, high: int) -> list[SeqRange]:
    return [(max(start, low), min(end, high)) for start, end in ranges if max(start, low) <= min(end, high)]


# --- bases ------------------------------------------------------------------------------------------


def base_history(record: SessionRecord) -> list[list[int]]:
    """The bases the session's history had, oldest first; a base set before forks existed is its only entry."""
    if "base_history" in record:
        return [[int(seq), int(count)] for seq, count in record["base_history"]]
    base = record.get("history_base_seq")
    return [] if base is None else [[int(base), int(record.get("compacted_count", 0))]]


def with_base(record: SessionRecord, seq: int, compacted_count: int) -> list[list[int]]:
    """base_history once `seq` becomes the base (a base appended, or a rewind at or before it moving it back)."""
    kept = [entry for entry in base_history(record) if entry[0] < seq]
    return [*kept, [seq, compacted_count]][-BASE_HISTORY_MAX:]


def base_at(record: SessionRecord, at_seq: int) -> tuple[int | None, int]:
    """(history_base_seq, compacted_count) of the history as it was up to `at_seq`: the latest base at or before it."""
    entries = [entry for entry in base_history(record) if entry[0] <= at_seq]
    if not entries:
        return None, 0
    seq, count = entries[-1]
    return seq, count


# --- ranges -----------------------------------------------------------------------------------------


def _minus(piece: SeqRange, taken: SeqRange) -> list[SeqRange]:
    (start, end), (low, high) = piece, taken
    if high < start or low > end:
        return [piece]
    return [part for part in ((start, low - 1), (high + 1, end)) if part[0] <= part[1]]


def _merged(ranges: list[SeqRange]) -> list[SeqRange]:
    merged: list[SeqRange] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _joined(lineage: list[Extent]) -> list[Extent]:
    """Adjacent extents of one source as one."""
    joined: list[Extent] = []
    for extent in lineage:
        last = joined[-1] if joined else None
        if (
            last is not None
            and same_source(last, extent["session_id"], extent["incarnation"])
            and int(last["to_seq"]) + 1 == int(extent["from_seq"])
        ):
            joined[-1] = {**last, "to_seq": extent["to_seq"]}
        else:
            joined.append(extent.copy())
    return joined

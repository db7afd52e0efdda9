"""Where a fork reads each seq from (sessions/domain/lineage.py): extents, their cuts, a fork's lineage, its base."""

from __future__ import annotations

from sessions.domain.lineage import (
    BASE_HISTORY_MAX,
    LAST_SEQ,
    Segment,
    base_at,
    covering,
    cut,
    fork_lineage,
    overlap,
    segments,
    sources,
    with_base,
)


def extent(session_id: str, low: int, high: int, incarnation: str = "i") -> dict[str, object]:
    return {"session_id": session_id, "incarnation": incarnation, "from_seq": low, "to_seq": high}


def session(session_id: str, lineage: list[dict[str, object]] | None = None, **fields: object) -> dict[str, object]:
    return {"session_id": session_id, "incarnation": f"{session_id}-i", "lineage": lineage or [], **fields}


def test_a_fork_of_a_session_reads_its_prefix_from_it():
    assert fork_lineage(session("p"), 7) == [extent("p", 1, 7, "p-i")]
    assert fork_lineage(session("p"), 0) == []


def test_a_fork_of_a_fork_reads_its_grand_parent_directly():
    parent = session("f", [extent("g", 1, 5), extent("g", 7, 9)])  # f patched its seq 6 (its own now)
    assert fork_lineage(parent, 12) == [
        extent("g", 1, 5),
        extent("f", 6, 6, "f-i"),
        extent("g", 7, 9),
        extent("f", 10, 12, "f-i"),
    ]
    assert fork_lineage(parent, 4) == [extent("g", 1, 4)]  # only the parent's extents, truncated
    assert sources(fork_lineage(parent, 12)) == [("g", "i"), ("f", "f-i")]


def test_segments_cover_a_range_in_order_with_the_own_partition_between_extents():
    lineage = [extent("g", 1, 5), extent("f", 8, 9)]
    assert segments(lineage, 3, 12) == [
        Segment(3, 5, lineage[0]),
        Segment(6, 7),
        Segment(8, 9, lineage[1]),
        Segment(10, 12),
    ]
    assert segments([], 0, LAST_SEQ) == [Segment(0, LAST_SEQ)]
    assert covering(lineage, 8) == lineage[1] and covering(lineage, 6) is None


def test_cut_splits_and_shrinks_extents_and_overlap_names_what_a_source_serves():
    lineage = [extent("g", 1, 10), extent("f", 11, 20)]
    assert cut(lineage, [(4, 4), (15, LAST_SEQ)]) == [extent("g", 1, 3), extent("g", 5, 10), extent("f", 11, 14)]
    assert cut(lineage, [(0, LAST_SEQ)]) == []
    assert overlap(lineage, "g", "i", [(3, 4), (5, 6), (9, 30)]) == [(3, 6), (9, 10)]
    assert overlap(lineage, "g", "other-incarnation", [(0, LAST_SEQ)]) == []


def test_the_base_of_a_fork_is_the_latest_at_or_before_its_fork_point():
    record = session("p", history_base_seq=9, compacted_count=8, base_history=[[4, 3], [9, 8]])
    assert [base_at(record, at) for at in (3, 4, 8, 9, 20)] == [(None, 0), (4, 3), (4, 3), (9, 8), (9, 8)]
    # a base set before forks kept their bases: only it is known
    legacy = session("p", history_base_seq=9, compacted_count=8)
    assert base_at(legacy, 12) == (9, 8) and base_at(legacy, 5) == (None, 0)
    # a rewind at or before a base moves it back and forgets the bases after it; at most 64 are kept
    assert with_base(record, 6, 5) == [[4, 3], [6, 5]]
    many = session("p", base_history=[[seq, seq - 1] for seq in range(1, BASE_HISTORY_MAX + 1)])
    assert with_base(many, 1000, 999)[0] == [2, 1] and len(with_base(many, 1000, 999)) == BASE_HISTORY_MAX

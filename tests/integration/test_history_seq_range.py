"""GET …/history?from_seq=N&to_seq=M through the template's handlers on moto.

A seq range is the Query's key condition: only the events in it are read (what a range costs does
not grow with the history around it), in both orders, with every other parameter, with cursors bound
to it, on forks across their fork point; `total` does not change (as with filters).
"""

from __future__ import annotations

import pytest

from local.testing import record_store_calls
from tests.integration.test_history_metadata import _all, _page


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _append(gateway, sid, *bodies):
    for body in bodies:
        appended = gateway.request("POST", f"/v1/sessions/{sid}/events", body)
        assert appended.status == 201, appended.body


def _event(seq):
    return {"type": "task" if seq % 3 == 0 else "message", "metadata": {"kind": "odd" if seq % 2 else "even"}}


@pytest.fixture
def twenty(gateway):
    sid = _session(gateway)
    _append(gateway, sid, *(_event(seq) for seq in range(1, 21)))
    return sid


@pytest.fixture
def read_items(monkeypatch):
    """The event items every DynamoDB Query of the store reads (ScannedCount: what a Query is charged for)."""
    return record_store_calls(monkeypatch).scanned


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_bounds_alone_and_together_select_an_inclusive_range(gateway, twenty, order):
    def seqs(**bounds):
        page = _page(gateway, twenty, order=order, limit=100, **bounds)
        assert page.status == 200, page.body
        assert page.body["total"] == 20  # a range, as filters, leaves total alone
        return page.body["events"] and [event["seq"] for event in page.body["events"]]

    def ordered(values):
        return list(values) if order == "asc" else list(reversed(values))

    assert seqs(from_seq=15) == ordered(range(15, 21))
    assert seqs(to_seq=4) == ordered(range(1, 5))
    assert seqs(from_seq=7, to_seq=9) == ordered([7, 8, 9])
    assert seqs(from_seq=5, to_seq=5) == [5]
    assert seqs(from_seq=21) == []
    assert seqs(from_seq=9999999999) == []


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_range_reads_only_its_events_however_long_the_history(gateway, read_items, order):
    sid = _session(gateway)
    for _ in range(10):
        _append(gateway, sid, {"events": [{"type": "message"}] * 20})
    read_items.clear()
    page = _page(gateway, sid, order=order, from_seq=101, to_seq=103, limit=100)
    assert [event["seq"] for event in page.body["events"]] == ([101, 102, 103] if order == "asc" else [103, 102, 101])
    assert read_items == [3]  # one Query, the range's 3 items: nothing before or after it is read


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_range_combines_with_filters(gateway, twenty, order):
    seqs, _ = _all(gateway, twenty, "kind:odd", order=order, type="message", from_seq=4, to_seq=14, limit=2)
    expected = [seq for seq in range(4, 15) if seq % 2 and seq % 3]
    assert seqs == (expected if order == "asc" else expected[::-1])


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 3])
def test_cursors_walk_the_range_and_stop_at_its_end(gateway, twenty, order, limit):
    seqs, pages = _all(gateway, twenty, order=order, from_seq=6, to_seq=12, limit=limit)
    assert seqs == (list(range(6, 13)) if order == "asc" else list(range(12, 5, -1)))
    assert pages == -(-7 // limit)  # never an empty last page: the range's end is the Query's end


def test_a_cursor_is_bound_to_its_range(gateway, twenty):
    first = _page(gateway, twenty, from_seq=2, to_seq=10, limit=2)
    cursor = first.body["next_cursor"]
    for other in ({"from_seq": 3, "to_seq": 10}, {"from_seq": 2}, {}):
        refused = _page(gateway, twenty, cursor=cursor, limit=2, **other)
        assert refused.status == 400 and refused.body["code"] == "invalid_cursor", other
    unranged = _page(gateway, twenty, limit=2).body["next_cursor"]
    refused = _page(gateway, twenty, cursor=unranged, limit=2, from_seq=1)
    assert refused.status == 400 and refused.body["code"] == "invalid_cursor"


def test_the_range_combines_with_the_base_the_later_lower_bound_wins(gateway):
    sid = _session(gateway)
    _append(gateway, sid, *[{"type": "message"}] * 5, {"type": "message", "base": True}, *[{"type": "message"}] * 4)
    assert [e["seq"] for e in _page(gateway, sid, from_seq=2, to_seq=8).body["events"]] == [6, 7, 8]
    assert [e["seq"] for e in _page(gateway, sid, from_seq=8).body["events"]] == [8, 9, 10]
    assert _page(gateway, sid, to_seq=4).body["events"] == []  # all before the base
    assert _page(gateway, sid, to_seq=4, order="desc").body["events"] == []
    compacted = _page(gateway, sid, to_seq=4, include_compacted="true")
    assert [e["seq"] for e in compacted.body["events"]] == [1, 2, 3, 4] and compacted.body["total"] == 10


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 2, 100])
def test_a_forks_range_crosses_its_fork_point(gateway, order, limit):
    parent = _session(gateway)
    _append(gateway, parent, *(_event(seq) for seq in range(1, 11)))
    forked = gateway.request("POST", f"/v1/sessions/{parent}/fork", {"at_seq": 6})
    assert forked.status == 201, forked.body
    sid = forked.body["session_id"]
    _append(gateway, sid, *({"type": "message", "metadata": {"own": "yes"}} for _ in range(5)))  # seqs 7-11
    seqs, _ = _all(gateway, sid, order=order, from_seq=4, to_seq=9, limit=limit)
    expected = [4, 5, 6, 7, 8, 9]
    assert seqs == (expected if order == "asc" else expected[::-1])
    inherited, _ = _all(gateway, sid, order=order, from_seq=2, to_seq=5, limit=limit)
    assert inherited == ([2, 3, 4, 5] if order == "asc" else [5, 4, 3, 2])
    own, _ = _all(gateway, sid, order=order, from_seq=9, limit=limit)
    assert own == ([9, 10, 11] if order == "asc" else [11, 10, 9])
    assert all(event["metadata"] == {"own": "yes"} for event in _page(gateway, sid, from_seq=7).body["events"])


def test_a_forks_range_reads_only_the_partitions_it_touches(gateway, read_items):
    parent = _session(gateway)
    _append(gateway, parent, {"events": [{"type": "message"}] * 20}, {"events": [{"type": "message"}] * 10})
    sid = gateway.request("POST", f"/v1/sessions/{parent}/fork", {"at_seq": 30}).body["session_id"]
    _append(gateway, sid, {"events": [{"type": "message"}] * 20}, {"events": [{"type": "message"}] * 10})
    read_items.clear()
    page = _page(gateway, sid, from_seq=50, to_seq=52, order="desc")
    assert [event["seq"] for event in page.body["events"]] == [52, 51, 50]
    assert read_items == [3]  # the fork's own partition only, the range's items only


@pytest.mark.parametrize(
    "query",
    [
        "from_seq=0",
        "to_seq=0",
        "from_seq=-1",
        "to_seq=-1",
        "from_seq=abc",
        "to_seq=1.5",
        "from_seq=10000000000",
        "from_seq=5&to_seq=4",
        "from_seq=",
    ],
)
def test_bad_bounds_are_refused(gateway, twenty, query):
    refused = gateway.request("GET", f"/v1/sessions/{twenty}/history", query=query)
    assert refused.status == 422 and refused.body["code"] == "validation_error", refused.body

"""GET …/history?metadata=key:value through the template's handlers on moto, as clients and attackers send it.

Only events whose metadata holds every pair come back, with every other history parameter; a
page may be short (a filter reads and discards) with a cursor that is bound to the filters.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from sessions.store.queries import MAX_QUERIES_PER_PAGE


def _session(gateway, **fields):
    created = gateway.create(fields)
    assert created.status == 201, created.body
    return created.body["session_id"]


def _append(gateway, sid, body):
    appended = gateway.request("POST", f"/v1/sessions/{sid}/events", body)
    assert appended.status == 201, appended.body
    return appended.body


def _page(gateway, sid, *pairs, **params):
    """One page; `pairs` are metadata filters (repeated), `params` the other parameters."""
    query = urlencode([*(("metadata", pair) for pair in pairs), *params.items()])
    return gateway.request("GET", f"/v1/sessions/{sid}/history", query=query)


def _all(gateway, sid, *pairs, **params):
    """Every page, following next_cursor: the seqs in the order answered, and how many pages."""
    seqs, pages, cursor = [], 0, None
    while True:
        page = _page(gateway, sid, *pairs, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status == 200, page.body
        seqs += [event["seq"] for event in page.body["events"]]
        pages += 1
        cursor = page.body["next_cursor"]
        if cursor is None:
            return seqs, pages


@pytest.fixture
def tagged(gateway):
    """Twelve events: run r1 holds seqs 1-6, r2 7-12; odd seqs are checkpoints, tasks every third seq."""
    sid = _session(gateway)
    for seq in range(1, 13):
        metadata = {"run": "r1" if seq <= 6 else "r2", "kind": "checkpoint" if seq % 2 else "write"}
        _append(gateway, sid, {"type": "task" if seq % 3 == 0 else "message", "metadata": metadata})
    return sid


def test_only_events_holding_every_pair_come_back(gateway, tagged):
    page = _page(gateway, tagged, "run:r1", limit=100)
    assert page.status == 200
    assert [event["seq"] for event in page.body["events"]] == [1, 2, 3, 4, 5, 6]
    assert page.body["next_cursor"] is None and page.body["total"] == 12  # filters never change total
    both = _page(gateway, tagged, "run:r2", "kind:checkpoint", limit=100).body
    assert [event["seq"] for event in both["events"]] == [7, 9, 11]
    assert all(event["metadata"]["run"] == "r2" for event in both["events"])
    # the same pair twice is one filter; two values for one key select nothing
    assert [e["seq"] for e in _page(gateway, tagged, "run:r2", "run:r2").body["events"]] == [7, 8, 9, 10, 11, 12]
    assert _page(gateway, tagged, "run:r1", "run:r2").body == {
        "session_id": tagged,
        "events": [],
        "next_cursor": None,
        "total": 12,
    }
    # a key no event has, a value no event holds, a key that differs only in case
    for pair in ("missing:x", "run:r3", "Run:r1", "run:"):
        assert _page(gateway, tagged, pair).body["events"] == [], pair


def test_filters_combine_with_every_other_parameter_in_both_orders(gateway, tagged):
    assert _all(gateway, tagged, "kind:checkpoint", order="desc")[0] == [11, 9, 7, 5, 3, 1]
    assert _all(gateway, tagged, "kind:write", type="task")[0] == [6, 12]
    assert _all(gateway, tagged, "kind:write", type="task", order="desc")[0] == [12, 6]
    events = _page(gateway, tagged, limit=100).body["events"]
    middle = events[5]["timestamp"]  # seq 6: after is inclusive, before exclusive
    assert _all(gateway, tagged, "kind:write", after=middle)[0] == [s for s in (6, 8, 10, 12) if s >= 6]
    assert _all(gateway, tagged, "run:r1", before=middle, order="desc")[0] == [
        e["seq"] for e in reversed(events[:6]) if e["timestamp"] < middle
    ]
    with_payload = _page(gateway, tagged, "run:r1", include_payload="true", limit=2).body
    assert [event["seq"] for event in with_payload["events"]] == [1, 2]


def test_paging_with_limit_one_in_both_orders_returns_each_match_once(gateway, tagged):
    ascending, pages = _all(gateway, tagged, "run:r2", limit=1)
    assert ascending == [7, 8, 9, 10, 11, 12] and pages >= 6
    descending, _ = _all(gateway, tagged, "run:r2", "kind:write", limit=1, order="desc")
    assert descending == [12, 10, 8]


def test_a_filter_that_discards_much_answers_short_pages_with_a_cursor_and_misses_nothing(gateway):
    sid = _session(gateway)
    for _ in range(5):
        _append(gateway, sid, {"events": [{"type": "message", "metadata": {"k": "noise"}}] * 20})
    _append(gateway, sid, {"type": "message", "metadata": {"k": "needle"}})  # seq 101
    first = _page(gateway, sid, "k:needle", limit=1)
    # a page reads at most MAX_QUERIES_PER_PAGE Query pages of 8 items with limit 1: far short of seq 101
    assert MAX_QUERIES_PER_PAGE * 8 < 100
    assert first.body["events"] == [] and first.body["next_cursor"] is not None
    seqs, pages = _all(gateway, sid, "k:needle", limit=1)
    assert seqs == [101] and pages > 1
    newest_first = _page(gateway, sid, "k:needle", limit=1, order="desc").body
    assert [event["seq"] for event in newest_first["events"]] == [101]  # found at once from the end
    assert _all(gateway, sid, "k:needle", limit=1, order="desc")[0] == [101]
    assert _all(gateway, sid, "k:noise", limit=100)[0] == list(range(1, 101))


@pytest.mark.parametrize(
    "value",
    [
        "a:b:c",  # colons after the first belong to the value
        "one, two,three",  # API Gateway joins repeated parameters with commas: values keep theirs
        "naïve 日本語 🎉",
        " spaced ",
        "&=?#%+",
        "",
        "v" * 512,
    ],
)
def test_values_with_colons_commas_and_unicode_select_exactly(gateway, value):
    sid = _session(gateway)
    _append(gateway, sid, {"type": "message", "metadata": {"ns:key": "x", "tag": value, "other": "o"}})
    near = value[:511] + "!"  # another value, within the 512 characters
    _append(gateway, sid, {"type": "message", "metadata": {"tag": near, "other": "o"}})
    _append(gateway, sid, {"type": "message", "metadata": {"tag": value}})
    assert [e["seq"] for e in _page(gateway, sid, f"tag:{value}").body["events"]] == [1, 3]
    assert [e["seq"] for e in _page(gateway, sid, f"tag:{value}", "other:o").body["events"]] == [1]
    # with a comma in one filter and another filter after it: each is read as sent
    assert [e["seq"] for e in _page(gateway, sid, "other:o", f"tag:{near}").body["events"]] == [2]
    # a key ends at the first ':' ("ns:key" cannot be named; "ns" is another key)
    assert _page(gateway, sid, "ns:key:x").body["events"] == []


def test_a_cursor_is_bound_to_its_filters(gateway, tagged):
    first = _page(gateway, tagged, "run:r1", "kind:checkpoint", limit=1).body
    cursor = first["next_cursor"]
    # the same filters in another order are the same query
    same = _page(gateway, tagged, "kind:checkpoint", "run:r1", limit=1, cursor=cursor)
    assert same.status == 200 and [e["seq"] for e in same.body["events"]] == [3]
    for pairs in (("run:r1",), ("run:r1", "kind:write"), ()):
        other = _page(gateway, tagged, *pairs, limit=1, cursor=cursor)
        assert other.status == 400 and other.body["code"] == "invalid_cursor", pairs
    unfiltered = _page(gateway, tagged, limit=1).body["next_cursor"]
    refused = _page(gateway, tagged, "run:r1", limit=1, cursor=unfiltered)
    assert refused.status == 400 and refused.body["code"] == "invalid_cursor"
    other_order = _page(gateway, tagged, "run:r1", "kind:checkpoint", limit=1, cursor=cursor, order="desc")
    assert other_order.status == 400


def test_filters_read_from_the_base_or_every_event_with_include_compacted(gateway):
    sid = _session(gateway)
    _append(gateway, sid, {"events": [{"type": "message", "metadata": {"k": "v"}}] * 3})
    _append(gateway, sid, {"type": "summary", "base": True, "metadata": {"k": "v"}})
    _append(gateway, sid, {"type": "message", "metadata": {"k": "v"}})
    assert _all(gateway, sid, "k:v")[0] == [4, 5]
    assert _all(gateway, sid, "k:v", include_compacted="true", limit=1)[0] == [1, 2, 3, 4, 5]
    assert _page(gateway, sid, "k:v").body["total"] == 2


@pytest.mark.parametrize(
    "pairs",
    [
        [f"k{i}:v" for i in range(17)],  # at most 16
        ["novalue"],  # no ':'
        [":value"],  # an empty key
        ["k" * 65 + ":v"],  # a key over 64 characters
        ["k:" + "v" * 513],  # a value over 512 characters
    ],
    ids=["seventeen", "no_colon", "empty_key", "long_key", "long_value"],
)
def test_malformed_filters_are_422(gateway, tagged, pairs):
    refused = _page(gateway, tagged, *pairs)
    assert refused.status == 422 and refused.body["code"] == "validation_error"
    assert refused.body["errors"][0]["loc"] == ["query", "metadata"]


def test_sixteen_filters_are_accepted(gateway):
    metadata = {f"k{i}": f"v{i}" for i in range(16)}
    sid = _session(gateway, events=[{"type": "message", "metadata": metadata}, {"type": "message"}])
    pairs = [f"{key}:{value}" for key, value in metadata.items()]
    assert [e["seq"] for e in _page(gateway, sid, *pairs).body["events"]] == [1]


def test_filtering_another_users_history_is_404(gateway, tagged):
    assert _page(gateway, tagged, "run:r1").status == 200
    hidden = gateway.request("GET", f"/v1/sessions/{tagged}/history", query="metadata=run:r1", user="u-2")
    assert hidden.status == 404 and hidden.body["code"] == "session_not_found"

"""Forks under concurrency, with real threads against the emulator (through the service layer, as conftest says).

Appends to a parent and to its fork never lose or repeat a seq and never cross; forks taken while
the parent is appended to, rewound or redacted each read one consistent prefix, with the usage of
exactly that prefix; and a reader of a fork never sees what its parent changes, even mid-copy.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sessions.core import retrying
from sessions.domain.identity import Identity
from sessions.domain.models import AppendEventRequest, ForkSessionRequest, UpdateEventRequest
from sessions.usecases import event_edits, forks
from sessions.usecases.events import append_events, get_history
from tests.integration.conftest import concurrently, set_env
from tests.integration.test_forks import LARGE, append, body, fork, read_all

OWNER = Identity(tenant_id="acme", user_id="u-1")


def _append(sid: str, content: str, tokens: int = 1) -> dict[str, Any]:
    request = AppendEventRequest.model_validate({"type": "message", "content": content, "usage": {"tokens": tokens}})
    return append_events(OWNER, sid, [request])[0][0]


def _history(sid: str) -> list[dict[str, Any]]:
    page = get_history(
        OWNER,
        sid,
        limit=100,
        cursor=None,
        ascending=True,
        event_type=None,
        after=None,
        before=None,
        include_payload=True,
        include_compacted=True,
    )
    assert page["next_cursor"] is None
    return page["events"]


@pytest.fixture(autouse=True)
def roomy(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")
    # these threads call the service layer outside a handler, where the retry budget is 5 s; a deployed
    # function retries until MARGIN_SECONDS before its timeout (template.yaml: 10 s). The races here (19
    # redactions of one parent copying into a fork while it rewinds, readers during 20 copies) are
    # serialized by the version: on the emulator, each write costs tens of milliseconds, and far more on a
    # loaded machine, so the 19 writes need more than the deployed bound here. What they assert (every
    # write lands, none is lost or crosses into the other session) does not depend on it; how long
    # contended writes take is `python -m bench contention`'s.
    monkeypatch.setattr(retrying, "DEFAULT_BUDGET_SECONDS", 30.0)


def test_appends_to_a_parent_and_its_fork_at_once_each_keep_their_own_seqs(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i) for i in range(1, 6)))
    fork(gateway, "p", {"session_id": "f"})

    def work(index: int) -> dict[str, Any]:
        sid = "p" if index % 2 else "f"
        return _append(sid, f"{sid}-{index}", tokens=index)

    results = concurrently(20, work)
    assert all(status == 200 for status, _ in results), results
    for sid in ("p", "f"):
        events = _history(sid)
        assert [event["seq"] for event in events] == list(range(1, 16)), sid  # none lost, none twice
        own = [event["content"] for event in events[5:]]
        assert all(content.startswith(f"{sid}-") for content in own), (sid, own)  # nothing crossed
        assert [event["content"] for event in events[:5]] == [f"turn {i}" for i in range(1, 6)]
        session = gateway.request("GET", f"/v1/sessions/{sid}").body
        assert session["usage"]["event_count"] == 15
        assert session["usage"]["tokens_used"] == 15 + sum(i for i in range(20) if (i % 2 == 1) == (sid == "p"))


def test_forks_taken_while_the_parent_is_appended_to_each_read_one_prefix_with_its_usage(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", body(1))

    def work(index: int) -> Any:
        if index < 8:
            return forks.fork_session(OWNER, "p", ForkSessionRequest(session_id=f"f{index}"))
        return _append("p", f"p-{index}", tokens=index)

    results = concurrently(20, work)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200]
    parent = _history("p")
    for index in range(8):
        made = gateway.request("GET", f"/v1/sessions/f{index}").body
        at_seq = made["forked_from"]["seq"]
        prefix = [event for event in parent if event["seq"] <= at_seq]
        assert _history(f"f{index}") == prefix
        assert made["usage"]["event_count"] == len(prefix)
        assert made["usage"]["tokens_used"] == sum(event["usage"]["tokens"] for event in prefix)


def test_forks_taken_while_the_parent_is_rewound_and_redacted_read_a_consistent_history(gateway):
    gateway.create({"session_id": "p"})
    original = append(gateway, "p", *(body(i) for i in range(1, 41)))
    by_seq = {event["seq"]: event for event in original}

    def work(index: int) -> Any:
        if index < 4:
            return forks.fork_session(OWNER, "p", ForkSessionRequest(session_id=f"f{index}", at_seq=40))
        if index < 7:
            return event_edits.delete_events(OWNER, "p", 41 - 4 * (index - 3), return_events=False, if_match=None)
        patch = UpdateEventRequest.model_validate({"content": f"[redacted {index}]"})
        return event_edits.update_event(OWNER, "p", index - 6, patch, None)

    results = concurrently(11, work)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200]
    for index in range(4):
        events = _history(f"f{index}")
        made = gateway.request("GET", f"/v1/sessions/f{index}").body
        # whatever the parent had at the fork's moment, the fork holds one contiguous prefix, counted exactly
        seqs = [event["seq"] for event in events]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 28
        assert made["usage"]["event_count"] == len(events)
        assert made["usage"]["tokens_used"] == sum(event["usage"]["tokens"] for event in events)
        for event in events:
            assert event["content"] in (by_seq[event["seq"]]["content"], *(f"[redacted {i}]" for i in range(7, 11)))


def test_a_reader_of_a_fork_never_sees_what_the_parent_changes_meanwhile(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i, content=LARGE if i % 7 == 0 else f"turn {i}") for i in range(1, 31)))
    fork(gateway, "p", {"session_id": "f"})
    expected = _history("f")
    reading, done = threading.Event(), threading.Event()
    seen: list[list[dict[str, Any]]] = []

    def read() -> None:
        while not done.is_set():
            reading.set()
            seen.append(_history("f"))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    reading.wait()  # the changes start while a read is under way
    try:
        for seq in range(30, 0, -3):  # the parent redacts events and rewinds, copying into the fork each time
            patch = UpdateEventRequest.model_validate({"content": "[redacted]"})
            event_edits.update_event(OWNER, "p", seq, patch, None)
            event_edits.delete_events(OWNER, "p", seq, return_events=False, if_match=None)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert seen and all(reading == expected for reading in seen)
    assert [event["seq"] for event in _history("p")] == [1, 2]


def test_a_forks_own_rewind_racing_its_parents_redactions_leaves_each_its_own(gateway):
    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i) for i in range(1, 21)))
    fork(gateway, "p", {"session_id": "f"})

    def work(index: int) -> Any:
        if index == 0:
            return event_edits.delete_events(OWNER, "f", 11, return_events=False, if_match=None)
        patch = UpdateEventRequest.model_validate({"content": f"[p {index}]"})
        return event_edits.update_event(OWNER, "p", index, patch, None)

    results = concurrently(20, work)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200]
    assert [event["content"] for event in _history("f")] == [f"turn {i}" for i in range(1, 11)]
    assert [event["content"] for event in _history("p")] == [f"[p {i}]" for i in range(1, 20)] + ["turn 20"]
    assert read_all(gateway, "f", order="desc")[0]["seq"] == 10


def test_a_page_read_across_a_copy_before_change_is_read_again(gateway, monkeypatch):
    """The parent copies into the fork and rewinds between the fork's lineage being read and its page."""
    from sessions.store.event_edits import EventEdits
    from sessions.store.queries import PageReads

    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i) for i in range(1, 11)))
    fork(gateway, "p", {"session_id": "f"})
    expected = read_all(gateway, "f", limit=4)
    expected_event = gateway.request("GET", "/v1/sessions/f/events/9").body
    raced: list[str] = []
    query_events, get_event = PageReads.query_events, EventEdits.get_event

    def rewind_first(name: str, from_seq: int) -> None:
        if name not in raced:
            raced.append(name)
            event_edits.delete_events(OWNER, "p", from_seq, return_events=False, if_match=None)

    def racing_page(self: Any, query: Any) -> Any:
        if query.session_id == "f":
            rewind_first("page", 3)
        return query_events(self, query)

    def racing_event(self: Any, session: dict[str, Any], seq: int) -> Any:
        if session["session_id"] == "f":
            rewind_first("event", 2)
        return get_event(self, session, seq)

    monkeypatch.setattr(PageReads, "query_events", racing_page)
    monkeypatch.setattr(EventEdits, "get_event", racing_event)
    assert read_all(gateway, "f", limit=4) == expected
    assert gateway.request("GET", "/v1/sessions/f/events/9").body == expected_event
    assert raced == ["page", "event"]
    assert [event["seq"] for event in read_all(gateway, "p")] == [1]


def test_a_fork_registered_between_the_copy_and_the_change_gets_its_copy_too(gateway, monkeypatch):
    from sessions.store import SessionStore

    gateway.create({"session_id": "p"})
    original = append(gateway, "p", *(body(i) for i in range(1, 11)))
    fork(gateway, "p", {"session_id": "f", "at_seq": 5})
    detach = SessionStore.detach_readers
    late: list[dict[str, Any]] = []

    def then_a_fork(self: Any, *args: Any, **kwargs: Any) -> bool:
        copied = detach(self, *args, **kwargs)
        if not late:  # a fork of the whole history registers after the copies, before the rewind commits
            late.append(forks.fork_session(OWNER, "p", ForkSessionRequest(session_id="late")))
        return copied

    monkeypatch.setattr(SessionStore, "detach_readers", then_a_fork)
    assert event_edits.delete_events(OWNER, "p", 4, return_events=False, if_match=None)[0]["removed"] == 7
    # the rewind lost to the fork's registration, planned again and copied for it as well
    assert [event["event_id"] for event in _history("late")] == [event["event_id"] for event in original]
    assert gateway.request("GET", "/v1/sessions/late").body["usage"]["event_count"] == 10
    assert [event["seq"] for event in _history("f")] == [1, 2, 3, 4, 5]


def test_a_fork_of_a_fork_whose_grand_parent_is_being_purged_waits_for_its_copy(gateway, table, monkeypatch):
    from tests.integration.test_cleanup import run

    gateway.create({"session_id": "p"})
    append(gateway, "p", *(body(i) for i in range(1, 6)))
    fork(gateway, "p", {"session_id": "f"})
    expected = _history("f")
    incarnation = table.get_item(Key={"PK": "T#acme#S#p", "SK": "#SESSION"})["Item"]["incarnation"]
    assert gateway.request("DELETE", "/v1/sessions/p").status == 204
    # the purge of p has begun: its counter is closed, f still reads p's events
    table.update_item(
        Key={"PK": "T#acme#S#p", "SK": f"#FORKS#{incarnation}"},
        UpdateExpression="SET closed = :yes",
        ExpressionAttributeValues={":yes": True},
    )
    waits: list[int] = []

    def purge_meanwhile(attempt: int) -> None:
        if not waits:
            assert run(gateway)["complete"]  # the purge copies p's events into f
        waits.append(attempt)

    monkeypatch.setattr(forks, "back_off", purge_meanwhile)
    made = forks.fork_session(OWNER, "f", ForkSessionRequest(session_id="g"))
    assert waits and made["forked_from"] == {"session_id": "f", "seq": 5}
    assert _history("g") == expected == _history("f")

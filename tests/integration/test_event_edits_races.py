"""Rewinds and redactions racing appends, in real threads: no lost event, no seq given twice, exact usage and stats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sessions.core.errors import VersionMismatch
from sessions.domain.identity import Identity
from sessions.domain.models import AppendEventRequest, UpdateEventRequest
from sessions.usecases import event_edits
from sessions.usecases.events import append_events
from tests.integration.conftest import concurrently

OWNER = Identity("acme", "u-1")


def _event(index: int) -> AppendEventRequest:
    kind = "task" if index % 3 == 0 else "message"
    return AppendEventRequest(type=kind, content=f"turn {index}", usage={"tokens": index + 1, "cost_usd": 0.01})


def _all_events(gateway, sid):
    history = gateway.request("GET", f"/v1/sessions/{sid}/history", query="limit=100&include_payload=true").body
    assert history["next_cursor"] is None
    return history["events"]


def _check_usage_and_stats(gateway, sid, events):
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    cost = sum((Decimal(repr(event["usage"]["cost_usd"])) for event in events), Decimal(0))
    assert session["usage"] == {
        "tokens_used": sum(event["usage"]["tokens"] for event in events),
        "cost_usd": float(cost),
        "event_count": len(events),
        "task_count": sum(event["type"] == "task" for event in events),
    }
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert (stats["events_total"], stats["tokens_used_total"]) == (len(events), session["usage"]["tokens_used"])
    assert stats["cost_usd_total"] == session["usage"]["cost_usd"]
    return session


def test_rewinds_racing_appends_lose_no_event_and_never_reuse_a_seq(gateway, table):
    initial = [_event(100 + i).model_dump(exclude_none=True) for i in range(10)]
    sid = gateway.create({"events": initial}).body["session_id"]
    appends, rewinds = 24, 6

    def work(index: int):
        if index < appends:
            return "append", append_events(OWNER, sid, [_event(index)])[0]
        from_seq = 3 + 4 * (index - appends)  # 3, 7, 11, …: some before the appends' seqs, some among them
        return "rewind", event_edits.delete_events(OWNER, sid, from_seq, return_events=True, if_match=None)[0]

    results = concurrently(appends + rewinds, work)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200]
    appended = [event for _, (kind, value) in results if kind == "append" for event in value]
    removed = [event for _, (kind, value) in results if kind == "rewind" for event in value["events"]]

    # every seq was given once, and never again after a rewind removed it
    given = [event["seq"] for event in appended]
    assert len(set(given)) == len(given) == appends and min(given) > 10
    assert max(given) == 10 + appends
    stored = table.get_item(Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"})["Item"]
    assert stored["last_seq"] == 10 + appends

    # no event is lost or kept twice: each one is either in the history or was removed by exactly one rewind
    history = _all_events(gateway, sid)
    initial_ids = {event["event_id"] for event in _all_events_at_creation(results, history, removed)}
    kept, gone = {event["event_id"] for event in history}, [event["event_id"] for event in removed]
    assert len(gone) == len(set(gone)) and not kept & set(gone)
    assert kept | set(gone) == {event["event_id"] for event in appended} | initial_ids
    assert [event["seq"] for event in history] == sorted(event["seq"] for event in history)
    by_id = {event["event_id"]: event for event in appended}
    for event in history:  # what is kept is what was appended
        if event["event_id"] in by_id:
            assert event["content"] == by_id[event["event_id"]]["content"]

    _check_usage_and_stats(gateway, sid, history)


def _all_events_at_creation(results, history, removed):
    """The ten events of the create: whatever is neither an append's nor anyone's but was kept or removed."""
    appended_ids = {event["event_id"] for _, (kind, value) in results if kind == "append" for event in value}
    initial = [event for event in [*history, *removed] if event["event_id"] not in appended_ids]
    assert sorted(event["seq"] for event in initial) == list(range(1, 11))
    return initial


def test_redactions_and_rewinds_racing_appends_keep_history_usage_and_stats_exact(gateway):
    sid = gateway.create({"events": [_event(i).model_dump(exclude_none=True) for i in range(8)]}).body["session_id"]
    appends, redactions, rewinds = 16, 8, 2

    def work(index: int):
        if index < appends:
            return "append", append_events(OWNER, sid, [_event(50 + index), _event(80 + index)])[0]
        if index < appends + redactions:
            seq = index - appends + 1
            patch = UpdateEventRequest(content=f"[redacted {seq}]", payload={"note": "redacted"})
            return "redact", event_edits.update_event(OWNER, sid, seq, patch, None)[0]
        from_seq = 6 if index == appends + redactions else 30
        return "rewind", event_edits.delete_events(OWNER, sid, from_seq, return_events=True, if_match=None)[0]

    results = concurrently(appends + redactions + rewinds, work)
    # a redaction may find its event removed by a rewind that won (404 event_not_found); nothing else fails
    failures = [(status, value) for status, value in results if status != 200]
    assert all(status == 404 and value.extra == {} and "no event" in value.detail for status, value in failures)
    done = [value for status, value in results if status == 200]
    appended = [event for kind, value in done if kind == "append" for event in value]
    removed = [event for kind, value in done if kind == "rewind" for event in value["events"]]
    given = [event["seq"] for event in appended]
    assert len(set(given)) == len(given) == 2 * appends and min(given) > 8

    history = _all_events(gateway, sid)
    kept = {event["event_id"] for event in history}
    assert not kept & {event["event_id"] for event in removed}
    assert {event["event_id"] for event in appended} <= kept | {event["event_id"] for event in removed}
    for event in history:
        if event["seq"] <= 8:  # a redaction that ran either won or found its event gone; none is half done
            assert (event["content"], event.get("payload")) in [
                (f"turn {event['seq'] - 1}", None),
                (f"[redacted {event['seq']}]", {"note": "redacted"}),
            ]
    redacted = {value["seq"] for kind, value in done if kind == "redact"}
    for event in history:
        if event["seq"] in redacted:
            assert event["content"] == f"[redacted {event['seq']}]"
    session = _check_usage_and_stats(gateway, sid, history)
    # one version per committed write: the create (9 with its events), each append, redaction and rewind that wrote
    writes = sum(1 for kind, value in done if kind != "rewind" or value["removed"])
    assert session["version"] == 9 + writes


def test_concurrent_appends_with_the_same_if_match_let_exactly_one_win(gateway):
    sid = gateway.create({}).body["session_id"]

    def append(index: int):
        return append_events(OWNER, sid, [_event(index), _event(index + 100)], if_match=1)

    results = concurrently(12, append)
    won = [value for status, value in results if status == 200]
    lost = [value for status, value in results if status != 200]
    assert len(won) == 1 and len(lost) == 11
    assert all(error.extra["current_version"] == 2 for error in lost)  # 412 with the version that won
    assert [event["seq"] for event in won[0][0]] == [1, 2]
    _check_usage_and_stats(gateway, sid, _all_events(gateway, sid))


def test_a_rewind_that_finds_its_events_taken_by_a_concurrent_rewind_never_answers_a_stale_version(
    gateway, monkeypatch
):
    from sessions.usecases import access

    sid = gateway.create({}).body["session_id"]
    append_events(OWNER, sid, [_event(index) for index in range(3)])
    version = gateway.request("GET", f"/v1/sessions/{sid}").body["version"]
    store = access.store()
    original = type(store).events_from
    raced: list[int] = []

    def events_from(self, session, from_seq, limit):
        if not raced:  # between this rewind's read of the session and its Query, another rewind commits
            raced.append(1)
            event_edits.delete_events(OWNER, sid, 3, return_events=False, if_match=None)
        return original(self, session, from_seq, limit)

    monkeypatch.setattr(type(store), "events_from", events_from)
    with pytest.raises(VersionMismatch):  # the version it was asked to match is gone: 412, not "removed 0"
        event_edits.delete_events(OWNER, sid, 3, return_events=False, if_match=version)


def test_a_patch_that_finds_its_change_already_made_concurrently_never_answers_a_stale_version(gateway, monkeypatch):
    from sessions.usecases import access

    sid = gateway.create({}).body["session_id"]
    append_events(OWNER, sid, [_event(0)])
    version = gateway.request("GET", f"/v1/sessions/{sid}").body["version"]
    same = UpdateEventRequest(metadata={"k": "v"})
    store = access.store()
    original = type(store).get_event
    raced: list[int] = []

    def get_event(self, session, seq):
        if not raced:  # between this patch's read of the session and of the event, the same change commits
            raced.append(1)
            event_edits.update_event(OWNER, sid, 1, same, None)
        return original(self, session, seq)

    monkeypatch.setattr(type(store), "get_event", get_event)
    with pytest.raises(VersionMismatch):  # the version it was asked to match is gone: 412, not a no-op 200
        event_edits.update_event(OWNER, sid, 1, same, version)

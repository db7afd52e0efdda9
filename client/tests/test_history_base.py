"""A history that starts again from a base (a compaction): `base: true` on append, history from the latest base.

Each test runs in-process on moto and over HTTP on the dev server (`sessions_backend`). The framework
behaviour each one stands for is named in its docstring.
"""

from __future__ import annotations

import pytest

from sessions_client import SessionsClient, errors


def _messages(count: int, start: int = 0) -> list[dict]:
    return [{"type": "message", "role": "user", "content": f"m{start + index}"} for index in range(count)]


def _session_with(client: SessionsClient, count: int, **fields) -> str:
    session = client.create_session(**fields)
    for start in range(0, count, 20):
        client.append_events(session.session_id, _messages(min(20, count - start), start))
    return session.session_id


def _contents(client: SessionsClient, session_id: str, **query) -> list[str | None]:
    return [event.content for event in client.iter_history(session_id, page_size=100, **query)]


def test_an_append_marked_base_starts_the_history_again_atomically_with_if_match(sessions_client):
    """Compaction as one atomic step (OpenAIResponsesCompactionSession's replacement, ADK's compaction event):
    the base and what follows are all the history shows; what came before stays stored, readable on request."""
    sid = _session_with(sessions_client, 5)
    session = sessions_client.get_session(sid)
    assert session.history_base_seq is None
    with pytest.raises(errors.VersionMismatch):
        sessions_client.append_events(
            sid, [{"type": "message", "content": "summary", "base": True}], if_match=session.version - 1
        )
    assert _contents(sessions_client, sid) == [f"m{index}" for index in range(5)]  # nothing written
    events = sessions_client.append_events(
        sid,
        [{"type": "message", "content": "summary", "base": True}, {"type": "message", "content": "kept"}],
        if_match=session.version,
    )
    assert [event.seq for event in events] == [6, 7] and events[0].base is True and events[1].base is None
    after = sessions_client.get_session(sid)
    assert after.history_base_seq == 6 and after.version == session.version + 1
    assert after.usage.event_count == 7  # every stored event, compacted ones included
    page = sessions_client.get_history(sid)
    assert [event.content for event in page.events] == ["summary", "kept"] and page.total == 2
    every = sessions_client.get_history(sid, include_compacted=True, limit=100)
    assert every.total == 7 and [event.seq for event in every.events] == [1, 2, 3, 4, 5, 6, 7]
    assert sessions_client.get_event(sid, 2).content == "m1"  # one event, any seq
    newest = sessions_client.get_history(sid, order="desc", limit=100)
    assert [event.seq for event in newest.events] == [7, 6]


def test_the_last_event_marked_in_one_append_is_the_base(sessions_client):
    """One clear rule for a batch (a compaction's output of several items)."""
    sid = _session_with(sessions_client, 2)
    events = sessions_client.append_events(
        sid, [{"type": "message", "content": "a", "base": True}, {"type": "message", "content": "b", "base": True}]
    )
    assert sessions_client.get_session(sid).history_base_seq == events[1].seq
    assert _contents(sessions_client, sid) == ["b"]


def test_a_later_base_replaces_the_earlier_and_a_base_on_create_counts(sessions_client):
    """Compaction after compaction (SQLiteSession after two compactions holds the second's output only)."""
    created = sessions_client.create_session(events=[*_messages(2), {"type": "message", "content": "s1", "base": True}])
    sid = created.session_id
    assert created.history_base_seq == 3
    sessions_client.append_events(sid, _messages(3, 10))
    sessions_client.append_event(sid, type="message", content="s2", base=True)
    assert _contents(sessions_client, sid) == ["s2"]
    assert len(_contents(sessions_client, sid, include_compacted=True)) == 7


def test_history_total_counts_from_the_base_and_usage_counts_every_stored_event(sessions_backend):
    """A compaction refunds nothing (usage), and the history it leaves counts from the base (its maximum too:
    tests/integration/test_history_bases.py, which can lower MAX_HISTORY_EVENTS)."""
    client = sessions_backend.client()
    sid = _session_with(client, 3)
    client.append_event(sid, type="message", content="summary", base=True)
    page = client.get_history(sid)
    assert page.total == 1
    assert client.get_session(sid).usage.event_count == 4


def test_a_cursor_issued_before_a_new_base_continues_from_the_base(sessions_client):
    """A reader paging through while another writer compacts never reads compacted events after the compaction."""
    sid = _session_with(sessions_client, 6)
    first = sessions_client.get_history(sid, limit=2)
    assert [event.content for event in first.events] == ["m0", "m1"] and first.next_cursor
    newest = sessions_client.get_history(sid, limit=2, order="desc")
    sessions_client.append_event(sid, type="message", content="summary", base=True)
    rest = sessions_client.get_history(sid, limit=10, cursor=first.next_cursor)
    assert [event.content for event in rest.events] == ["summary"] and rest.next_cursor is None
    older = sessions_client.get_history(sid, limit=10, order="desc", cursor=newest.next_cursor)
    assert older.events == [] and older.next_cursor is None


def test_a_rewind_at_or_before_the_base_never_reveals_compacted_events(sessions_client):
    """pop_item of the compaction item (OpenAI Agents SDK) leaves an empty history, as SQLiteSession's does."""
    sid = _session_with(sessions_client, 4)
    sessions_client.append_events(sid, [{"type": "message", "content": "summary", "base": True}, *_messages(1, 9)])
    removed = sessions_client.delete_events(sid, 6)  # after the base: the base stays
    assert removed.removed == 1 and sessions_client.get_session(sid).history_base_seq == 5
    assert _contents(sessions_client, sid) == ["summary"]
    removed = sessions_client.delete_events(sid, 5)  # the base itself
    assert removed.removed == 1
    session = sessions_client.get_session(sid)
    assert session.history_base_seq == 5 and session.usage.event_count == 4
    page = sessions_client.get_history(sid)
    assert page.events == [] and page.total == 0
    sessions_client.append_event(sid, type="message", content="next")
    assert _contents(sessions_client, sid) == ["next"]
    sessions_client.delete_events(sid, 3)  # before the base: compacted events go too, nothing is revealed
    session = sessions_client.get_session(sid)
    assert session.history_base_seq == 3 and session.usage.event_count == 2
    assert _contents(sessions_client, sid) == []
    assert _contents(sessions_client, sid, include_compacted=True) == ["m0", "m1"]


def test_base_must_be_a_boolean(sessions_client):
    sid = _session_with(sessions_client, 1)
    with pytest.raises(errors.ValidationError):
        sessions_client.append_event(sid, type="message", base="yes")
    sessions_client.append_event(sid, type="message", content="x", base=False)
    assert sessions_client.get_session(sid).history_base_seq is None


def test_get_session_with_state_reads_the_app_and_user_documents_in_one_request(sessions_backend):
    """ADK's get_session merges app: and user: state into the session's: one request, not three."""
    service = sessions_backend.client(identity=sessions_backend.identity(roles=("service",)))
    app_name = "app-state-read"
    service.update_app_state(app_name, {"theme": "dark"})
    service.update_user_state(app_name, {"lang": "fr"}, user_id=sessions_backend.user)
    client = sessions_backend.client()
    sid = client.create_session(app_name=app_name, context={"k": 1}).session_id
    session = client.get_session(sid, include_state=True)
    assert session.context == {"k": 1}
    assert session.state is not None
    assert session.state.app.state == {"theme": "dark"} and session.state.app.version == 1
    assert session.state.user.state == {"lang": "fr"} and session.state.user.user_id == sessions_backend.user
    assert client.get_session(sid).state is None  # only when asked
    plain = client.create_session().session_id
    assert client.get_session(plain, include_state=True).state is None
    never = client.create_session(app_name="never-written").session_id
    states = client.get_session(never, include_state=True).state
    assert states is not None and states.app.version == 0 and states.user.state == {}


def test_a_batch_may_replace_the_history_tail_in_one_atomic_step(sessions_client):
    """SQLiteSession's replace_suffix (compaction of a bounded suffix with older history kept): the tail from a
    seq is removed and the batch appended in one step, with If-Match; usage and counts follow."""
    sid = _session_with(sessions_client, 5)
    session = sessions_client.get_session(sid)
    with pytest.raises(errors.VersionMismatch):
        sessions_client.append_events(
            sid, [{"type": "message", "content": "s"}], replace_from_seq=3, if_match=session.version - 1
        )
    events = sessions_client.append_events(
        sid,
        [{"type": "message", "content": "summary", "usage": {"tokens": 7}}],
        replace_from_seq=3,
        if_match=session.version,
    )
    assert [event.seq for event in events] == [6]
    assert _contents(sessions_client, sid) == ["m0", "m1", "summary"]
    after = sessions_client.get_session(sid)
    assert after.version == session.version + 1 and after.usage.event_count == 3 and after.usage.tokens_used == 7
    # nothing at or past the seq: a plain append
    sessions_client.append_events(sid, [{"type": "message", "content": "x"}], replace_from_seq=100)
    assert _contents(sessions_client, sid) == ["m0", "m1", "summary", "x"]
    # with a base: a replacement from at or before the base never reveals compacted events
    sessions_client.append_events(sid, [{"type": "message", "content": "b", "base": True}])
    base = sessions_client.get_session(sid).history_base_seq
    sessions_client.append_events(sid, [{"type": "message", "content": "c"}], replace_from_seq=base)
    assert _contents(sessions_client, sid) == ["c"]


def test_replacing_more_than_a_transaction_holds_is_refused_with_nothing_written(sessions_client):
    sid = _session_with(sessions_client, 90)
    with pytest.raises(errors.RewindTooLarge):
        sessions_client.append_events(sid, [{"type": "message", "content": "s"}], replace_from_seq=1)
    assert sessions_client.get_session(sid).usage.event_count == 90
    sessions_client.append_events(sid, [{"type": "message", "content": "s"}], replace_from_seq=2)
    assert _contents(sessions_client, sid) == ["m0", "s"]

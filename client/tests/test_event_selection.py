"""Filtering history on event metadata and removing selected events, through both clients and the CLI.

Against the API in-process and over HTTP on the dev server (the `sessions_backend` parameters).
"""

from __future__ import annotations

import json

import pytest
from conftest import SessionsBackend

import sessions_client as sc
from sessions_client import SessionsClient, cli

TAGGED = [
    {"type": "message", "content": "a", "metadata": {"run": "r1", "kind": "checkpoint"}, "usage": {"tokens": 1}},
    {"type": "message", "content": "b", "metadata": {"run": "r1", "kind": "write"}, "usage": {"tokens": 2}},
    {"type": "task", "content": "c", "metadata": {"run": "r2", "kind": "checkpoint"}, "usage": {"tokens": 4}},
    {"type": "message", "content": "d", "metadata": {"run": "r2", "kind": "write", "url": "x:y,z"}},
    {"type": "message", "content": "e", "metadata": {"run": "r2", "kind": "checkpoint", "名": "値"}},
]


def _tagged(client: SessionsClient) -> str:
    sid = client.create_session(title="tagged").session_id
    client.append_events(sid, TAGGED)
    return sid


def test_history_filters_on_metadata(sessions_client: SessionsClient) -> None:
    sid = _tagged(sessions_client)
    page = sessions_client.get_history(sid, metadata={"run": "r2"})
    assert [event.seq for event in page.events] == [3, 4, 5] and page.total == 5
    newest = sessions_client.get_history(sid, metadata={"run": "r2", "kind": "checkpoint"}, order="desc", limit=1)
    assert [event.seq for event in newest.events] == [5] and newest.next_cursor
    assert [e.seq for e in sessions_client.iter_history(sid, page_size=1, metadata={"kind": "checkpoint"})] == [1, 3, 5]
    assert [e.seq for e in sessions_client.iter_history(sid, metadata={"kind": "checkpoint"}, type="task")] == [3]
    assert [e.seq for e in sessions_client.iter_history(sid, metadata={"url": "x:y,z"})] == [4]
    assert [e.seq for e in sessions_client.iter_history(sid, metadata={"名": "値"})] == [5]
    assert list(sessions_client.iter_history(sid, metadata={"absent": "x"})) == []
    with pytest.raises(sc.InvalidCursor):  # a cursor is bound to its filters
        sessions_client.get_history(sid, metadata={"run": "r1"}, cursor=newest.next_cursor, order="desc")
    with pytest.raises(sc.ValidationError):
        sessions_client.get_history(sid, metadata={f"k{i}": "v" for i in range(17)})


def test_delete_events_removes_selected_seqs(sessions_client: SessionsClient) -> None:
    sid = _tagged(sessions_client)
    removed = sessions_client.delete_events(sid, seqs=[3, 1, 99], return_events=True)
    assert (removed.removed, removed.from_seq, removed.seqs) == (2, None, [1, 3])
    assert [event.content for event in removed.events or []] == ["a", "c"]
    session = sessions_client.get_session(sid)
    assert session.version == removed.version
    assert (session.usage.event_count, session.usage.tokens_used, session.usage.task_count) == (3, 2, 0)
    assert [event.seq for event in sessions_client.iter_history(sid)] == [2, 4, 5]
    again = sessions_client.delete_events(sid, seqs=[1, 3])
    assert (again.removed, again.seqs, again.version) == (0, [], removed.version)
    with pytest.raises(sc.VersionMismatch):
        sessions_client.delete_events(sid, seqs=[2], if_match=1)
    rewound = sessions_client.delete_events(sid, 5)  # a rewind, as always
    assert (rewound.removed, rewound.from_seq, rewound.seqs) == (1, 5, [5])
    assert sessions_client.append_event(sid, type="message").seq == 6


def test_delete_events_takes_from_seq_or_seqs(sessions_client: SessionsClient) -> None:
    sid = _tagged(sessions_client)
    for call in (
        lambda: sessions_client.delete_events(sid),
        lambda: sessions_client.delete_events(sid, 1, seqs=[2]),
        lambda: sessions_client.delete_events(sid, seqs=[]),
    ):
        with pytest.raises(ValueError, match="from_seq"):
            call()
    with pytest.raises(sc.ValidationError):  # the API's limits: each seq once, at most 90
        sessions_client.delete_events(sid, seqs=[2, 2])
    with pytest.raises(sc.ValidationError):
        sessions_client.delete_events(sid, seqs=range(1, 92))
    assert sessions_client.get_session(sid).usage.event_count == 5


@pytest.mark.anyio
async def test_async_client_filters_and_removes(sessions_backend: SessionsBackend) -> None:
    client = sessions_backend.async_client()
    sid = (await client.create_session(title="async")).session_id
    await client.append_events(sid, TAGGED)
    page = await client.get_history(sid, metadata={"kind": "write"}, order="desc")
    assert [event.seq for event in page.events] == [4, 2]
    assert [event.seq async for event in client.iter_history(sid, page_size=1, metadata={"run": "r1"})] == [1, 2]
    removed = await client.delete_events(sid, seqs=[2, 4], return_events=True)
    assert (removed.removed, removed.seqs) == (2, [2, 4])
    assert [event.seq async for event in client.iter_history(sid, metadata={"kind": "write"})] == []
    with pytest.raises(ValueError, match="from_seq"):
        await client.delete_events(sid)
    await client.aclose()


def test_cli_history_filters_on_metadata(sessions_client: SessionsClient) -> None:
    sid = _tagged(sessions_client)
    lines: list[str] = []
    argv = ["--json", "history", sid, "--metadata", "run:r2", "--metadata", "url:x:y,z"]
    assert cli.main(argv, client=sessions_client, write=lines.append, environ={}) == 0
    assert [event["seq"] for event in json.loads("\n".join(lines))] == [4]


@pytest.mark.parametrize("pair", ["novalue", ":v"])
def test_cli_refuses_a_malformed_metadata_filter(pair: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(["history", "s-1", "--metadata", pair], {})
    assert exit_.value.code == 2 and "KEY:VALUE" in capsys.readouterr().err


def test_cli_refuses_two_values_for_one_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.parse_args(["history", "s-1", "--metadata", "k:v", "--metadata", "k:v"], {}).metadata == [("k", "v")] * 2
    with pytest.raises(SystemExit):
        cli.parse_args(["history", "s-1", "--metadata", "k:v", "--metadata", "k:w"], {})
    assert "twice" in capsys.readouterr().err

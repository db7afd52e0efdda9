"""Nothing a parent does changes what its forks read: copy before change (store/forks.py).

A parent's rewind, removal of selected events, replaced tail, redaction, delete and the cleanup's
purge, its expiry by time, by inactivity or by DynamoDB's TTL: each fork, and each fork of a fork,
reads exactly what it read before, large parts included (their objects copied to the fork's own keys
before the parent's go). A fork's own rewind, removal or redaction of events it inherited changes the
fork only.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from local.api.gateway import LambdaContext
from sessions.store import forks
from tests.integration.conftest import publish, set_env
from tests.integration.test_cleanup import backdate, run
from tests.integration.test_forks import LARGE, append, body, fork, read_all

PARENT_EVENTS = 8


def snapshot(gateway, sid: str) -> dict[str, Any]:
    """Everything a reader of the session can see of its history."""
    everything = read_all(gateway, sid, include_payload="true", include_compacted="true", limit=3)
    session = gateway.request("GET", f"/v1/sessions/{sid}").body
    return {
        "history": everything,
        "newest_first": read_all(gateway, sid, order="desc", limit=2),
        "one_by_one": [gateway.request("GET", f"/v1/sessions/{sid}/events/{e['seq']}").body for e in everything],
        "usage": session["usage"],
        "base": session["history_base_seq"],
    }


def objects(prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=os.environ["EVENT_BLOBS_BUCKET"], Prefix=prefix)
    return [entry["Key"] for entry in listed.get("Contents", [])]


def partition(table, sid: str) -> list[str]:
    return sorted(item["SK"] for item in table.scan()["Items"] if item["PK"] == f"T#acme#S#{sid}")


@pytest.fixture
def family(gateway, monkeypatch):
    """p (8 events, 3 and 5 with parts in S3, a base at 2) → f at 6, 2 own → g, 1 own → h at 7."""
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")
    events = [body(i, **({"base": True} if i == 2 else {})) for i in range(1, PARENT_EVENTS + 1)]
    for large in (2, 4):
        events[large] = {**events[large], "content": LARGE + str(large), "payload": {"big": LARGE}}
    gateway.create({"session_id": "p"})
    append(gateway, "p", *events)
    assert fork(gateway, "p", {"session_id": "f", "at_seq": 6}).status == 201
    append(gateway, "f", body(30), body(31))
    assert fork(gateway, "f", {"session_id": "g"}).status == 201
    append(gateway, "g", body(40))
    assert fork(gateway, "g", {"session_id": "h", "at_seq": 7}).status == 201
    return gateway


def _cleanup(gateway) -> None:
    summary = run(gateway)
    assert summary["complete"], summary


def _rewind(gateway, table, stream, monkeypatch) -> None:
    assert gateway.request("DELETE", "/v1/sessions/p/events", query="from_seq=2&return_events=true").status == 200


def _remove_selected(gateway, table, stream, monkeypatch) -> None:
    removed = gateway.request("DELETE", "/v1/sessions/p/events", query="seq=1&seq=3&seq=7&return_events=true")
    assert removed.status == 200 and removed.body["seqs"] == [1, 3, 7]


def _replace_tail(gateway, table, stream, monkeypatch) -> None:
    compaction = {"events": [{"type": "summary", "base": True}], "replace_from_seq": 2}
    assert gateway.request("POST", "/v1/sessions/p/events", compaction).status == 201


def _redact(gateway, table, stream, monkeypatch) -> None:
    for seq, patch in (
        (3, {"content": "[redacted]", "payload": None}),
        (5, {"content": "short"}),
        (1, {"metadata": None}),
    ):
        assert gateway.request("PATCH", f"/v1/sessions/p/events/{seq}", patch).status == 200


def _delete_and_purge(gateway, table, stream, monkeypatch) -> None:
    assert gateway.request("DELETE", "/v1/sessions/p").status == 204
    _cleanup(gateway)


def _expire_and_purge(gateway, table, stream, monkeypatch) -> None:
    backdate(table, "p")
    _cleanup(gateway)


def _idle_and_purge(gateway, table, stream, monkeypatch) -> None:
    set_env(monkeypatch, INACTIVITY_TIMEOUT_SECONDS="3600")
    backdate(table, "p", idle_only=True)
    _cleanup(gateway)


def _ttl_and_purge(gateway, table, stream, monkeypatch) -> None:
    backdate(table, "p")
    stream.read()
    table.delete_item(Key={"PK": "T#acme#S#p", "SK": "#SESSION"})  # DynamoDB's TTL, before any cleanup run
    records = stream.read()
    for record in records:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert publish(gateway, records) == {"batchItemFailures": []}  # the settlement leaves a purge marker
    _cleanup(gateway)


PARENT_CHANGES = {
    "rewind": _rewind,
    "selected removal": _remove_selected,
    "replaced tail": _replace_tail,
    "redaction": _redact,
    "delete and purge": _delete_and_purge,
    "expiry and purge": _expire_and_purge,
    "inactivity and purge": _idle_and_purge,
    "TTL and purge": _ttl_and_purge,
}
PURGES = {"delete and purge", "expiry and purge", "inactivity and purge", "TTL and purge"}


@pytest.mark.parametrize("change", sorted(PARENT_CHANGES))
def test_nothing_the_parent_does_changes_what_its_forks_read(family, table, stream, monkeypatch, change):
    gateway = family
    before = {sid: snapshot(gateway, sid) for sid in ("f", "g", "h")}
    assert objects("acme/f/") == []  # read where they are, until the parent changes them
    PARENT_CHANGES[change](gateway, table, stream, monkeypatch)
    for sid in ("f", "g", "h"):
        assert snapshot(gateway, sid) == before[sid], sid
    if change in PURGES:
        # nothing of the parent's history is left, its fork bookkeeping neither, nor its objects
        assert [sk for sk in partition(table, "p") if not sk.startswith("#SETTLED#")] == []
        assert objects("acme/p/") == []
        assert len(objects("acme/f/")) == 4  # events 3 and 5, content and payload: the forks' own copies now
    if change == "rewind":
        assert len(objects("acme/p/")) == 0 and len(objects("acme/f/")) == 4
    # the forks go on as sessions of their own
    assert append(gateway, "h", body(60))[0]["seq"] == 8


@pytest.mark.parametrize("change", ["rewind", "selected removal", "redaction", "delete and purge"])
def test_a_fork_of_a_fork_keeps_its_history_when_the_middle_one_changes(family, table, monkeypatch, change):
    gateway = family
    before = {sid: snapshot(gateway, sid) for sid in ("p", "g", "h")}
    if change == "selected removal":  # one inherited from p (3), one its own (7)
        assert gateway.request("DELETE", "/v1/sessions/f/events", query="seq=3&seq=7").status == 200
    elif change == "rewind":  # below its fork point: what it inherited leaves its lineage, nothing leaves p
        assert gateway.request("DELETE", "/v1/sessions/f/events", query="from_seq=3").status == 200
    elif change == "redaction":
        for seq in (3, 7):  # one inherited from p, one its own
            assert gateway.request("PATCH", f"/v1/sessions/f/events/{seq}", {"content": "[gone]"}).status == 200
    else:
        assert gateway.request("DELETE", "/v1/sessions/f").status == 204
        _cleanup(gateway)
    for sid in ("p", "g", "h"):
        assert snapshot(gateway, sid) == before[sid], sid


def test_a_forks_own_rewind_of_inherited_events_leaves_the_parent_as_it_was(family):
    gateway = family
    parent = snapshot(gateway, "p")
    removed = gateway.request("DELETE", "/v1/sessions/f/events", query="from_seq=3&return_events=true")
    assert removed.status == 200 and removed.body["removed"] == 6  # 3-6 inherited, 7-8 its own
    assert removed.body["events"][0]["content"] == LARGE + "2"  # read back from the parent's objects
    assert snapshot(gateway, "p") == parent
    assert [event["seq"] for event in read_all(gateway, "f", include_compacted="true")] == [1, 2]
    session = gateway.request("GET", "/v1/sessions/f").body
    assert session["usage"] == {"tokens_used": 3, "cost_usd": 0.003, "event_count": 2, "task_count": 1}
    assert append(gateway, "f", body(9))[0]["seq"] == 9  # seqs are never given again


def test_a_forks_own_removal_of_selected_inherited_events_leaves_the_parent_as_it_was(family):
    gateway = family
    parent = snapshot(gateway, "p")
    removed = gateway.request("DELETE", "/v1/sessions/f/events", query="seq=3&seq=4&seq=8&return_events=true")
    assert removed.status == 200 and removed.body["seqs"] == [3, 4, 8]  # 3 and 4 inherited, 8 its own
    assert removed.body["events"][0]["content"] == LARGE + "2"  # read back from the parent's objects
    assert snapshot(gateway, "p") == parent
    assert [event["seq"] for event in read_all(gateway, "f", include_compacted="true")] == [1, 2, 5, 6, 7]
    assert gateway.request("GET", "/v1/sessions/f/events/3").status == 404
    session = gateway.request("GET", "/v1/sessions/f").body
    assert session["usage"]["event_count"] == 5
    # a fork of f made now reads the holes as holes, and the parent's delete changes nothing for either
    assert fork(gateway, "f", {"session_id": "f2"}).status == 201
    before = {sid: snapshot(gateway, sid) for sid in ("f", "f2")}
    assert gateway.request("DELETE", "/v1/sessions/p").status == 204
    _cleanup(gateway)
    assert {sid: snapshot(gateway, sid) for sid in ("f", "f2")} == before


def test_a_forks_own_redaction_of_an_inherited_event_is_its_own(family, table):
    gateway = family
    parent = snapshot(gateway, "p")
    patched = gateway.request("PATCH", "/v1/sessions/f/events/3", {"content": "[redacted]"})
    assert patched.status == 200 and patched.body["payload"] == {"big": LARGE}
    assert snapshot(gateway, "p") == parent
    assert gateway.request("GET", "/v1/sessions/f/events/3").body["content"] == "[redacted]"
    assert len(objects("acme/f/")) == 1  # the unchanged payload: copied, the parent's goes with the parent
    assert gateway.request("DELETE", "/v1/sessions/p").status == 204
    _cleanup(gateway)
    assert gateway.request("GET", "/v1/sessions/f/events/3").body == patched.body
    # its own fork "g" still reads the original from where it lived (now copied into g)
    assert gateway.request("GET", "/v1/sessions/g/events/3").body["content"] == LARGE + "2"


def test_a_gone_fork_is_skipped_and_forgotten(family, table):
    gateway = family
    assert gateway.request("DELETE", "/v1/sessions/h").status == 204
    assert gateway.request("DELETE", "/v1/sessions/p/events", query="from_seq=7").status == 200
    assert not [sk for sk in partition(table, "h") if sk.startswith("E#")]  # nothing copied into the deleted fork
    incarnation = table.get_item(Key={"PK": "T#acme#S#p", "SK": "#SESSION"})["Item"]["incarnation"]
    readers = [sk for sk in partition(table, "p") if sk.startswith(f"#READER#{incarnation}#")]
    assert [reader.split("#")[3] for reader in readers] == ["f", "g"]  # h's registration dropped


def test_a_purge_that_runs_out_of_time_while_copying_resumes_where_it_stopped(family, table, stream, monkeypatch):
    gateway = family
    append(gateway, "p", *(body(i) for i in range(10, 60)))
    assert fork(gateway, "p", {"session_id": "late"}).status == 201
    before = snapshot(gateway, "late")
    monkeypatch.setattr(forks, "CHUNK_EVENTS", 10)
    commits = []
    original = forks.Forks._commit_copies

    def counted(self, *args, **kwargs):
        commits.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(forks.Forks, "_commit_copies", counted)
    assert gateway.request("DELETE", "/v1/sessions/p").status == 204
    context = LambdaContext("CleanupFunction", timeout_seconds=300)
    context.get_remaining_time_in_millis = lambda: 0 if len(commits) >= 2 else 60_000  # type: ignore[method-assign]
    summary = gateway.handler("CleanupFunction")({}, context)
    assert summary["complete"] is False and summary["history_events_deleted"] == 0
    assert snapshot(gateway, "late") == before  # half copied, half still read from the parent: the same
    assert [sk for sk in partition(table, "p") if sk.startswith("E#")]
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}  # the removal's purge marker
    _cleanup(gateway)
    assert snapshot(gateway, "late") == before
    assert [sk for sk in partition(table, "p") if not sk.startswith("#SETTLED#")] == []


def test_a_fork_registered_while_the_parent_is_purged_is_refused_as_for_a_gone_parent(family, table):
    gateway = family
    incarnation = table.get_item(Key={"PK": "T#acme#S#f", "SK": "#SESSION"})["Item"]["incarnation"]
    # the purge of f has begun (its counter closed) while f is still stored: a fork of f is refused
    table.update_item(
        Key={"PK": "T#acme#S#f", "SK": f"#FORKS#{incarnation}"},
        UpdateExpression="SET closed = :yes",
        ExpressionAttributeValues={":yes": True},
    )
    refused = fork(gateway, "f", {"session_id": "too-late"})
    assert refused.status == 404 and refused.body["code"] == "session_not_found"
    assert table.get_item(Key={"PK": "T#acme#S#too-late", "SK": "#SESSION"}).get("Item") is None

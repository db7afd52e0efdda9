"""Export on the dev server: the worker woken by the stream as deployed, 10,000 events of a user written in
one run, and the JSON Lines object read back through its presigned URL equal to what the API answers."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any
from urllib.parse import quote

from local.seeding import Seeder
from sessions.domain.identity import Identity
from tests.e2e.client import Client
from tests.e2e.conftest import DevServer, job_once_done

BIG = "x" * (100 * 1024)  # its content goes to S3
SESSIONS, EVENTS = 10, 1000
THROUGH_API = 40  # the first session's first events, appended through the API before the seeded ones
FORK_AT = EVENTS - 20  # the last session: a fork of the second, its own 20 events appended through the API
DONE_WITHIN_SECONDS = 180


def messages(index: int, first: int, end: int) -> list[dict[str, Any]]:
    """Bodies of POST …/events of session `index`, numbered `first` to `end` - 1 (one less than their seqs)."""
    return [{"type": "m", "content": f"{index}:{seq}", "payload": {"seq": seq}} for seq in range(first, end)]


def everything(caller: Client, user: str) -> list[dict[str, Any]]:
    """The user's sessions, whole histories (parts inline) and state documents, as the API answers them."""
    lines: list[dict[str, Any]] = []
    listed = caller.get("/v1/sessions?limit=100").json()
    assert listed["next_cursor"] is None
    for entry in sorted(listed["sessions"], key=lambda entry: entry["session_id"]):
        sid = entry["session_id"]
        lines.append({"type": "session", "session": caller.get(f"/v1/sessions/{sid}").json()})
        cursor = None
        while True:
            query = "include_payload=true&include_compacted=true&limit=100" + (
                f"&cursor={quote(cursor)}" if cursor else ""
            )
            page = caller.get(f"/v1/sessions/{sid}/history?{query}").json()
            lines += [{"type": "event", "session_id": sid, "event": event} for event in page["events"]]
            if not (cursor := page["next_cursor"]):
                break
    lines.append({"type": "state", "state": caller.get(f"/v1/apps/chat/users/{user}/state").json()})
    return lines


def in_order(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(line: dict[str, Any]) -> tuple[Any, ...]:
        if line["type"] == "state":
            return (1, line["state"]["app_name"], 0, 0)
        sid = line.get("session_id") or line["session"]["session_id"]
        return (0, sid, line["type"] == "event", line.get("event", {}).get("seq", 0))

    return sorted(lines, key=key)


def test_an_export_of_ten_thousand_events_over_http_reads_back_what_the_api_answers(
    api: Client, dev_server: DevServer, tenant: str, user: str
) -> None:
    """Made through the API: the sessions, the first session's first 40 events and its large last one, and the
    last session, a fork of the second at seq 980 with 20 events of its own. The rest of the 10,000 events are
    seeded into the emulator's table as appends store them (local/seeding.py: 500 requests took most of the
    test's time)."""
    owner = api.as_(user=user, tenant=tenant)
    other = api.as_(user=f"{user}-other", tenant=tenant)
    seeder, identity = Seeder.on_emulator(dev_server.moto_url), Identity(tenant, user)
    sids: list[str] = []
    for index in range(SESSIONS - 1):
        sids.append(sid := owner.post("/v1/sessions", {"app_name": "shop", "title": f"t{index}"}).json()["session_id"])
        small = EVENTS - 1 if index == 0 else EVENTS  # the first session's last event is the large one
        through_api = THROUGH_API if index == 0 else 0
        for start in range(0, through_api, 20):  # a batch takes 20 events
            batch = {"events": messages(index, start, start + 20)}
            assert owner.post(f"/v1/sessions/{sid}/events", batch).status == 201
        seeder.append(identity, sid, messages(index, through_api, small))
        if index == 0:
            assert owner.post(f"/v1/sessions/{sid}/events", {"type": "m", "content": BIG}).status == 201
    forked = owner.post(f"/v1/sessions/{sids[1]}/fork", {"at_seq": FORK_AT, "title": "branch"})
    assert forked.status == 201, forked.body
    fork = forked.json()["session_id"]
    assert owner.post(f"/v1/sessions/{fork}/events", {"events": messages(SESSIONS - 1, FORK_AT, EVENTS)}).status == 201
    assert owner.patch(f"/v1/apps/chat/users/{user}/state", {"k": 1}).status == 200
    sid = other.post("/v1/sessions", {"title": "not yours"}).json()["session_id"]
    assert other.post(f"/v1/sessions/{sid}/events", {"type": "m", "content": "other words"}).status == 201

    started = owner.post(f"/v1/users/{quote(user, safe='')}/export")
    assert started.status == 202, started.body
    job_path = started.headers["location"]
    assert other.get(job_path).status == 404
    job = job_once_done(owner, job_path, time.monotonic() + DONE_WITHIN_SECONDS)
    assert job["status"] == "completed", job
    assert job["counts"]["sessions"] == SESSIONS and job["counts"]["events"] == SESSIONS * EVENTS

    with urllib.request.urlopen(job["download_url"], timeout=60) as response:  # noqa: S310 - the emulator's URL
        data = response.read()
    assert len(data) == job["counts"]["bytes"]
    lines = [json.loads(text) for text in data.decode("utf-8").splitlines()]
    assert in_order(lines) == in_order(everything(owner, user))
    assert "other words" not in data.decode("utf-8") and f"{user}-other" not in data.decode("utf-8")

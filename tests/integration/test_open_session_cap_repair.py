"""A slot whose settlement was lost is given back exactly: the user never stays at the cap, never goes past it.

A session that leaves the table while open (cleanup, DynamoDB's TTL) gives its slot back when the
publisher settles its stream record. Here the publisher never runs (its batch failed past every
retry), or runs late, or runs while creates race.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.api.gateway import LambdaContext
from sessions.core.clock import format_ms, now_ms
from sessions.domain.identity import Identity
from sessions.domain.models import CreateSessionRequest, UpdateSessionRequest
from sessions.usecases.session_writes import create_session, update_session
from tests.integration.conftest import concurrently, expire_in_place, publish

CAP = 10  # the template's default, which the gateway fixture runs


def fill(gateway, user: str, count: int, prefix: str = "s") -> list[str]:
    ids = []
    for i in range(count):
        created = gateway.create({"session_id": f"{prefix}{i}"}, user=user)
        assert created.status == 201, created.body
        ids.append(created.body["session_id"])
    return ids


def expire_by_cleanup(gateway, table, user: str, session_ids: list[str]) -> None:
    """The cleanup removes them (past expires_at): a REMOVE on the stream that nobody settles."""
    expire_in_place(table, session_ids)
    summary = gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))
    assert summary["sessions_expired"] == len(session_ids), summary


def expire_by_ttl(table, session_ids: list[str]) -> None:
    for sid in session_ids:
        table.delete_item(Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"})


def slot_state(table, user: str) -> tuple[int, list[str], list[str]]:
    """(counter, live sessions holding a slot, slot items not freed) of one user; tests may scan."""
    items = table.scan()["Items"]
    counters = next((i for i in items if i["PK"] == f"T#acme#U#{user}" and i["SK"] == "#COUNTERS"), {})
    holders = sorted(
        i["session_id"] for i in items if i["SK"] == "#SESSION" and i["user_id"] == user and i.get("holds_slot")
    )
    slots = sorted(
        i["session_id"]
        for i in items
        if i["PK"] == f"T#acme#U#{user}" and i["SK"].startswith("#SLOT#") and "freed" not in i
    )
    return int(counters.get("open_sessions", 0)), holders, slots


def assert_exact(table, user: str, expected_open: int) -> None:
    counter, holders, slots = slot_state(table, user)
    assert counter == len(holders) == len(slots) == expected_open, (counter, holders, slots)


def test_every_open_session_is_named_by_a_slot_in_step_with_the_counter(gateway, table):
    ids = fill(gateway, "named", 4)
    assert_exact(table, "named", 4)
    gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "completed"}, user="named")
    gateway.request("PATCH", f"/v1/sessions/{ids[1]}", {"status": "crashed"}, user="named")
    gateway.request("DELETE", f"/v1/sessions/{ids[2]}", user="named")
    gateway.request("PATCH", f"/v1/sessions/{ids[3]}", {"status": "paused"}, user="named")  # keeps its slot
    assert_exact(table, "named", 1)
    gateway.request("PATCH", f"/v1/sessions/{ids[1]}", {"status": "active"}, user="named")  # takes one again
    assert_exact(table, "named", 2)


@pytest.mark.parametrize("removal", ["cleanup", "ttl"])
def test_a_user_whose_removals_were_never_settled_creates_up_to_the_cap_and_no_further(gateway, table, removal):
    ids = fill(gateway, "wedged", CAP)
    if removal == "cleanup":
        expire_by_cleanup(gateway, table, "wedged", ids[:3])
    else:
        expire_by_ttl(table, ids[:3])
    counter, holders, _ = slot_state(table, "wedged")
    assert (counter, len(holders)) == (CAP, CAP - 3)  # the publisher never ran: 3 slots held by nothing

    for _ in range(3):
        created = gateway.create({}, user="wedged")
        assert created.status == 201, created.body
    refused = gateway.create({}, user="wedged")
    assert refused.status == 429
    assert refused.body["code"] == "session_limit_reached"
    assert_exact(table, "wedged", CAP)
    # the history the lost settlements would have handed to the cleanup is handed to it all the same
    purge_markers = {item["PK"] for item in table.scan()["Items"] if item["SK"].startswith("#PURGE#")}
    assert {f"T#acme#S#{sid}" for sid in ids[:3]} <= purge_markers


def test_a_settlement_that_comes_after_the_repair_gives_nothing_back_twice(gateway, table, stream):
    ids = fill(gateway, "late", CAP)
    stream.read()
    expire_by_cleanup(gateway, table, "late", ids[:2])
    late_records = stream.read()
    for _ in range(2):
        assert gateway.create({}, user="late").status == 201  # repaired
    stream.read()

    assert publish(gateway, late_records) == {"batchItemFailures": []}  # delivered at last
    assert publish(gateway, late_records) == {"batchItemFailures": []}  # and again
    assert_exact(table, "late", CAP)
    assert gateway.create({}, user="late").status == 429
    stats = gateway.request("GET", "/v1/sessions/stats", user="late").body
    assert stats["expired_total"] == 2  # the late settlement still counts the stats out, once
    assert stats["sessions"]["active"] == CAP


def test_a_settlement_before_the_repair_leaves_it_nothing_to_do(gateway, table, stream):
    ids = fill(gateway, "ontime", CAP)
    stream.read()
    expire_by_ttl(table, ids[:1])
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    assert_exact(table, "ontime", CAP - 1)
    assert gateway.create({}, user="ontime").status == 201
    assert gateway.create({}, user="ontime").status == 429
    assert_exact(table, "ontime", CAP)


def test_sessions_that_expired_but_are_still_in_the_table_keep_their_slots(gateway, table):
    ids = fill(gateway, "lingering", CAP)
    past = format_ms(now_ms() - 1000)
    for sid in ids[:3]:  # expired by time, not removed yet: documented to keep their slot
        table.update_item(
            Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": past},
        )
    assert gateway.create({}, user="lingering").status == 429
    assert_exact(table, "lingering", CAP)


def test_a_new_session_under_a_removed_id_does_not_hide_the_lost_slot(gateway, table):
    ids = fill(gateway, "reuser", CAP)
    expire_by_ttl(table, [ids[0]])
    # the same id again: a new incarnation, which takes the slot the lost one should have given back
    again = gateway.create({"session_id": ids[0]}, user="reuser")
    assert again.status == 201, again.body
    assert gateway.create({}, user="reuser").status == 429
    assert_exact(table, "reuser", CAP)


def test_resuming_a_crashed_session_at_the_cap_repairs_too(gateway, table):
    ids = fill(gateway, "phoenix", CAP)
    assert gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "crashed"}, user="phoenix").status == 200
    assert gateway.create({}, user="phoenix").status == 201
    expire_by_ttl(table, [ids[1]])
    resumed = gateway.request("PATCH", f"/v1/sessions/{ids[0]}", {"status": "active"}, user="phoenix")
    assert resumed.status == 200, resumed.body
    assert_exact(table, "phoenix", CAP)


def test_slots_taken_before_slots_had_items_are_still_given_back_by_their_settlement(gateway, table, stream):
    ids = fill(gateway, "legacy", CAP)
    for sid in ids[:2]:  # as a stack upgraded under them left them: counted, with no slot item
        table.delete_item(Key={"PK": "T#acme#U#legacy", "SK": f"#SLOT#{sid}#{_incarnation(table, sid)}"})
    assert gateway.create({}, user="legacy").status == 429  # a repair cannot see them, and frees nothing
    stream.read()
    expire_by_ttl(table, ids[:1])
    assert publish(gateway, stream.read()) == {"batchItemFailures": []}
    assert gateway.create({}, user="legacy").status == 201
    assert gateway.create({}, user="legacy").status == 429
    counter, holders, slots = slot_state(table, "legacy")
    assert counter == len(holders) == CAP and len(slots) == CAP - 1  # the other one still counted, rightly


def _incarnation(table, sid: str) -> str:
    return table.get_item(Key={"PK": f"T#acme#S#{sid}", "SK": "#SESSION"})["Item"]["incarnation"]


# --- under concurrency ----------------------------------------------------------------------------


def test_creates_racing_while_slots_are_repaired_take_exactly_the_freed_slots(gateway, table):
    ids = fill(gateway, "racer", CAP)
    expire_by_ttl(table, ids[:4])
    racer = Identity("acme", "racer")
    results = concurrently(25, lambda _: create_session(racer, CreateSessionRequest()))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 21, statuses
    assert_exact(table, "racer", CAP)


def test_creates_resumes_and_the_late_settlement_racing_never_pass_the_cap(gateway, table, stream):
    ids = fill(gateway, "storm", CAP)
    for sid in ids[4:6]:
        assert gateway.request("PATCH", f"/v1/sessions/{sid}", {"status": "crashed"}, user="storm").status == 200
    fill(gateway, "storm", 2, prefix="refill")
    stream.read()
    expire_by_ttl(table, ids[:4])
    late_records = stream.read()
    storm = Identity("acme", "storm")
    resume = UpdateSessionRequest.model_validate({"status": "active"})

    def act(index: int) -> Any:
        if index == 0:
            return publish(gateway, late_records)  # the settlement, delivered while the repairs run
        if index <= 2:
            return update_session(storm, ids[3 + index], resume, None)  # the two crashed ones
        return create_session(storm, CreateSessionRequest())

    results = concurrently(24, act)
    assert results[0] == (200, {"batchItemFailures": []})
    won = sum(1 for status, _ in results[1:] if status == 200)
    assert won == 4, [status for status, _ in results]  # exactly the four slots the removals freed
    assert all(status in (200, 429) for status, _ in results), results
    assert_exact(table, "storm", CAP)
    stats = gateway.request("GET", "/v1/sessions/stats", user="storm").body
    assert stats["expired_total"] == 4
    assert stats["sessions"]["active"] + stats["sessions"]["paused"] == CAP

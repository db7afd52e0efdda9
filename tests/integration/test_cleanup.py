"""The scheduled cleanup: removes exactly what is due, costs what it removes, resumes after a stop."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from local.api.gateway import LambdaContext
from local.event_sources.stream_reader import StreamReader
from sessions import store
from sessions.core.clock import format_ms, now_ms
from tests.integration.conftest import publish, set_env

HOUR = 3_600_000


@pytest.fixture(autouse=True)
def no_cap(gateway, monkeypatch):
    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER="0")


def backdate(table, session_id: str, *, hours: float = 2, tenant: str = "acme", idle_only: bool = False) -> None:
    """Make a session due as if time had passed (DynamoDB's TTL never runs in the emulator)."""
    key = {"PK": f"T#{tenant}#S#{session_id}", "SK": "#SESSION"}
    past = format_ms(now_ms() - int(hours * HOUR))
    item = table.get_item(Key=key)["Item"]
    values = {":active": past, ":purge": past, ":bucket": store.expiry_bucket(key["PK"], past)}
    expression = "SET last_active_at = :active, purge_at = :purge, expiry_bucket = :bucket"
    if not idle_only:
        values[":expires"] = past
        expression += ", expires_at = :expires"
    table.update_item(Key=key, UpdateExpression=expression, ExpressionAttributeValues=values)
    assert item


def run(gateway, *, dry_run: bool = False, remaining=None) -> dict[str, Any]:
    context = LambdaContext("CleanupFunction", timeout_seconds=300)
    if remaining is not None:
        context.get_remaining_time_in_millis = remaining  # type: ignore[method-assign]
    event = {"dry_run": True} if dry_run else json.loads('{"detail-type": "Scheduled Event", "detail": {}}')
    return gateway.handler("CleanupFunction")(event, context)


def all_items(table) -> dict[tuple[str, str], dict[str, Any]]:
    items = table.scan()["Items"]  # tests may scan; the service never does
    return {(item["PK"], item["SK"]): item for item in items}


def sessions_with_history(gateway, prefix: str, count: int, events: int = 3, **caller) -> list[str]:
    ids = []
    for i in range(count):
        sid = f"{prefix}{i}"
        assert gateway.create({"session_id": sid}, **caller).status == 201
        for _ in range(events):
            gateway.request("POST", f"/v1/sessions/{sid}/events", {"type": "message", "content": "x"}, **caller)
        ids.append(sid)
    return ids


def test_expired_sessions_and_their_history_go_and_live_ones_are_untouched(gateway, table):
    live = sessions_with_history(gateway, "live", 3)
    expired = sessions_with_history(gateway, "old", 3)
    for sid in expired:
        backdate(table, sid)
    before = all_items(table)
    summary = run(gateway)
    assert summary == {
        "dry_run": False,
        "sessions_expired": 3,
        "sessions_purged": 0,
        "history_events_deleted": 9,
        "retention_events_deleted": 0,
        "complete": True,
        "skipped": False,
    }
    after = all_items(table)
    gone = set(before) - set(after)
    assert gone == {key for key in before if any(key[0] == f"T#acme#S#{sid}" for sid in expired)}
    for key, item in after.items():
        if key[0].startswith("T#acme#S#live"):
            assert item == before[key]  # untouched, to the attribute
    assert all(gateway.request("GET", f"/v1/sessions/{sid}").status == 200 for sid in live)


def test_deleted_sessions_are_purged(gateway, table):
    sessions_with_history(gateway, "del", 2)
    gateway.request("DELETE", "/v1/sessions/del0")
    summary = run(gateway)
    assert summary["sessions_purged"] == 1 and summary["history_events_deleted"] == 3
    assert summary["sessions_expired"] == 0
    assert not [key for key in all_items(table) if key[0] == "T#acme#S#del0"]
    assert [key for key in all_items(table) if key[0] == "T#acme#S#del1"]


def test_inactivity_expiry(gateway, table, monkeypatch):
    set_env(monkeypatch, INACTIVITY_TIMEOUT_SECONDS="3600")
    sessions_with_history(gateway, "idle", 1, events=1)
    sessions_with_history(gateway, "busy", 1, events=1)
    backdate(table, "idle0", hours=2, idle_only=True)
    item = table.get_item(Key={"PK": "T#acme#S#busy0", "SK": "#SESSION"})["Item"]
    assert item["purge_at"] < item["expires_at"]  # the idle deadline comes first
    summary = run(gateway)
    assert summary["sessions_expired"] == 1
    assert gateway.request("GET", "/v1/sessions/idle0").status == 404
    assert gateway.request("GET", "/v1/sessions/busy0").status == 200


def test_a_dry_run_deletes_nothing_and_reports_what_the_real_run_then_does(gateway, table):
    sessions_with_history(gateway, "exp", 4, events=2)
    sessions_with_history(gateway, "gone", 2, events=1)
    for sid in ("exp0", "exp1", "exp2"):
        backdate(table, sid)
    gateway.request("DELETE", "/v1/sessions/gone0")
    before = all_items(table)
    dry = run(gateway, dry_run=True)
    assert all_items(table).keys() - {k for k in all_items(table) if k[0] == "#CLEANUP"} == before.keys()
    real = run(gateway)
    assert dry == {**real, "dry_run": True}
    assert real == {
        "dry_run": False,
        "sessions_expired": 3,
        "sessions_purged": 1,
        "history_events_deleted": 7,
        "retention_events_deleted": 0,
        "complete": True,
        "skipped": False,
    }


def test_a_run_out_of_time_stops_cleanly_and_the_next_run_completes_with_exact_totals(gateway, table):
    sessions_with_history(gateway, "slow", 30, events=2)
    for i in range(30):
        backdate(table, f"slow{i}")
    budget = {"calls": 0}

    def remaining() -> int:
        budget["calls"] += 1
        return 60_000 if budget["calls"] < 6 else 5_000  # runs out after a few checks

    first = run(gateway, remaining=remaining)
    assert first["complete"] is False
    second = run(gateway)
    assert second["complete"] is True
    assert first["sessions_expired"] + second["sessions_expired"] == 30
    assert first["history_events_deleted"] + second["history_events_deleted"] == 60
    assert not [key for key in all_items(table) if key[0].startswith("T#acme#S#slow")]


def test_unprocessed_items_are_retried_until_done(gateway, table, monkeypatch):
    sessions_with_history(gateway, "retry", 10, events=2)
    for i in range(10):
        backdate(table, f"retry{i}")
    client = store.dynamodb_client()
    real = client.batch_write_item
    calls = Counter()

    def stingy(RequestItems):
        calls["batch"] += 1
        ((table_name, requests),) = RequestItems.items()
        if calls["batch"] % 2:  # every other call, DynamoDB takes only the first half
            taken, left = requests[: len(requests) // 2], requests[len(requests) // 2 :]
            real(RequestItems={table_name: taken})
            return {"UnprocessedItems": {table_name: left}}
        return real(RequestItems=RequestItems)

    monkeypatch.setattr(client, "batch_write_item", stingy)
    monkeypatch.setattr("sessions.usecases.cleanup.time.sleep", lambda _: None)
    summary = run(gateway)
    assert summary["sessions_expired"] == 10 and summary["history_events_deleted"] == 20 and summary["complete"]
    assert not [key for key in all_items(table) if key[0].startswith("T#acme#S#retry")]


def test_cost_grows_with_what_it_removes_not_with_the_table(gateway, table, aws):
    live_bucket_time = format_ms(now_ms() + 10 * 24 * HOUR)
    past = format_ms(now_ms() - 2 * HOUR)
    with table.batch_writer() as batch:
        for i in range(10_000):
            pk = f"T#acme#S#live-{i}"
            batch.put_item(
                Item={
                    "PK": pk,
                    "SK": "#SESSION",
                    "session_id": f"live-{i}",
                    "incarnation": "a",
                    "expires_at": live_bucket_time,
                    "purge_at": live_bucket_time,
                    "expiry_bucket": store.expiry_bucket(pk, live_bucket_time),
                    "last_active_at": past,
                }
            )
        for i in range(200):
            pk = f"T#acme#S#dead-{i}"
            batch.put_item(
                Item={
                    "PK": pk,
                    "SK": "#SESSION",
                    "session_id": f"dead-{i}",
                    "incarnation": "b",
                    "tenant_id": "acme",
                    "user_id": "u",
                    "status": "active",
                    "expires_at": past,
                    "purge_at": past,
                    "expiry_bucket": store.expiry_bucket(pk, past),
                    "last_active_at": past,
                }
            )
            for seq in range(1, 4):
                batch.put_item(Item={"PK": pk, "SK": f"E#b#{seq:010d}", "type": "message"})
    store.default_store().put_cleanup_checkpoint(format_ms(now_ms() - 3 * HOUR)[:13])
    counted: Counter = Counter()
    client = store.dynamodb_client()

    def count(model, params, **_):
        counted[model.name] += 1

    def read(parsed, model, **_):
        if model.name == "Query":
            counted["items read"] += parsed.get("ScannedCount", 0)

    client.meta.events.register("before-call.dynamodb", count)
    client.meta.events.register("after-call.dynamodb", read)
    summary = run(gateway)
    assert summary["sessions_expired"] == 200 and summary["history_events_deleted"] == 600
    needed = 200 + 600  # the index entries of the 200, and their history
    assert counted["items read"] <= 2 * needed
    # each session goes on its own condition (still due, same incarnation); its history in batches of 25
    assert counted["DeleteItem"] == 200 + 1  # and the lease, given back at the end
    assert counted["BatchWriteItem"] <= -(-600 // 25)
    assert "Scan" not in counted


def test_each_expiry_is_announced_with_its_reason_and_counted_out(gateway, table, stream, bus_queue, monkeypatch):
    set_env(monkeypatch, INACTIVITY_TIMEOUT_SECONDS="3600")
    for sid in ("timed", "idle", "deleted"):
        gateway.create({"session_id": sid})
    backdate(table, "timed")
    backdate(table, "idle", idle_only=True)
    gateway.request("DELETE", "/v1/sessions/deleted")
    summary = run(gateway)
    assert (summary["sessions_expired"], summary["sessions_purged"]) == (2, 1)
    records = stream.read()
    assert publish(gateway, records) == {"batchItemFailures": []}
    publish(gateway, records)  # redelivered: counted once
    received = bus_queue()
    expired = {
        m["detail"]["session_id"]: m["detail"]["reason"] for m in received if m["detail-type"] == "session.expired"
    }
    assert expired == {"timed": "cleanup", "idle": "inactive"}
    runs = [m["detail"] for m in received if m["detail-type"] == "sessions.cleanup_completed"]
    announced = {k: v for k, v in summary.items() if k != "skipped"}  # an announced run is never a skipped one
    assert runs and {k: runs[0][k] for k in announced} == announced and runs[0]["event_id"]
    stats = gateway.request("GET", "/v1/sessions/stats").body
    assert stats["expired_total"] == 2 and stats["deleted_total"] == 1
    assert stats["sessions"] == {"active": 0, "paused": 0, "completed": 0, "crashed": 0}
    counters = table.get_item(Key={"PK": "T#acme#U#u-1", "SK": "#COUNTERS"})["Item"]
    assert counters["open_sessions"] == 0  # every slot is free again


def test_history_orphaned_by_dynamodb_ttl_is_purged(gateway, table, aws):
    reader = StreamReader(boto3.Session(), aws["SessionsTable"])
    sessions_with_history(gateway, "ttl", 1, events=4)
    reader.read()
    table.delete_item(Key={"PK": "T#acme#S#ttl0", "SK": "#SESSION"})  # DynamoDB's TTL got there first
    records = reader.read()
    for record in records:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    gateway.handler("PublishEventsFunction")({"Records": records}, LambdaContext("PublishEventsFunction"))
    summary = run(gateway)
    assert summary["history_events_deleted"] == 4
    left = [key for key in all_items(table) if key[0] == "T#acme#S#ttl0"]
    assert len(left) == 1 and left[0][1].startswith(
        "#SETTLED#"
    )  # kept against redelivery; history and purge marker gone
    assert run(gateway)["history_events_deleted"] == 0


def announced_runs(bus_queue) -> list[dict[str, Any]]:
    """The sessions.cleanup_completed details on the bus, without the event's own fields."""
    runs = {
        m["detail"]["event_id"]: m["detail"] for m in bus_queue() if m["detail-type"] == "sessions.cleanup_completed"
    }
    return [{k: v for k, v in run.items() if k not in ("event_id", "occurred_at")} for run in runs.values()]


@pytest.mark.parametrize("ended", ["deleted", "expired"])
@pytest.mark.parametrize("removed_by", ["cleanup", "ttl"])
def test_a_session_is_counted_once_by_the_run_that_removed_its_remains(
    gateway, table, stream, bus_queue, ended, removed_by
):
    from local.aws.moto_ttl import sweep

    sessions_with_history(gateway, "gone", 1, events=1)
    if ended == "deleted":
        assert gateway.request("DELETE", "/v1/sessions/gone0").status == 204
    else:
        backdate(table, "gone0")
        key = {"PK": "T#acme#S#gone0", "SK": "#SESSION"}
        table.update_item(
            Key=key,
            UpdateExpression="SET #ttl = :past",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":past": now_ms() // 1000 - 3600},
        )  # as backdate's expires_at
    if removed_by == "ttl":  # DynamoDB's TTL removes the item before any run (the dev server sweeps each minute)
        assert sweep(boto3.Session().region_name, now_ms() / 1000 + 1) == 1

    def publish_twice() -> None:  # the stream delivers at least once: a redelivery changes nothing
        records = stream.read()
        assert publish(gateway, records) == {"batchItemFailures": []}
        publish(gateway, records)

    publish_twice()
    bus_queue()
    first = run(gateway)
    publish_twice()  # the removal's settlement (when the run removed the item) comes after the run
    second = run(gateway)
    publish_twice()
    counted = "sessions_purged" if ended == "deleted" else "sessions_expired"
    nothing = {"sessions_expired": 0, "sessions_purged": 0, "history_events_deleted": 0, "retention_events_deleted": 0}
    assert first == {
        "dry_run": False,
        **nothing,
        counted: 1,
        "history_events_deleted": 1,
        "retention_events_deleted": 0,
        "complete": True,
        "skipped": False,
    }
    assert second == {"dry_run": False, **nothing, "complete": True, "skipped": False}
    # the summary event says what each run answered
    assert announced_runs(bus_queue) == [
        {k: v for k, v in summary.items() if k != "skipped"} for summary in (first, second)
    ]
    # nothing of it is left but the settled marker, which lives only as long as its stream record can come back
    (left,) = [item for key, item in all_items(table).items() if key[0] == "T#acme#S#gone0"]
    assert left["SK"].startswith("#SETTLED#")
    assert 0 < int(left["ttl"]) - now_ms() // 1000 <= 25 * 3600


@pytest.mark.parametrize("ended", ["deleted", "expired"])
def test_a_session_replaced_under_its_id_is_counted_by_the_run_that_purges_its_history(gateway, table, ended):
    sessions_with_history(gateway, "reused", 1, events=2)
    if ended == "deleted":
        gateway.request("DELETE", "/v1/sessions/reused0")
    else:
        backdate(table, "reused0")
    assert gateway.create({"session_id": "reused0"}).status == 201  # the dead item is replaced: no run removes it
    first, second = run(gateway), run(gateway)
    counted = "sessions_purged" if ended == "deleted" else "sessions_expired"
    assert (first[counted], first["history_events_deleted"]) == (1, 2)
    assert (second["sessions_expired"], second["sessions_purged"], second["history_events_deleted"]) == (0, 0, 0)
    assert [key[1] for key in all_items(table) if key[0] == "T#acme#S#reused0"] == ["#SESSION"]


@pytest.mark.parametrize("payload", [{}, {"dry_run": "yes"}])
def test_anything_but_dry_run_true_is_a_real_run(gateway, payload):
    summary = gateway.handler("CleanupFunction")(payload, LambdaContext("CleanupFunction", timeout_seconds=300))
    assert summary["dry_run"] is False


# --- single flight: the lease -------------------------------------------------------------------


def lease(table) -> dict[str, Any] | None:
    return table.get_item(Key={"PK": "#CLEANUP", "SK": "#LEASE"}).get("Item")


def run_records(table) -> list[dict[str, Any]]:
    return [item for key, item in all_items(table).items() if key[0] == "#CLEANUP" and key[1].startswith("#RUN#")]


def test_two_runs_racing_one_does_the_work_the_other_skips_and_announces_nothing(gateway, table, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sessions.usecases import cleanup

    sessions_with_history(gateway, "race", 6, events=2)
    for i in range(6):
        backdate(table, f"race{i}")
    barrier = threading.Barrier(2)
    real_acquire = store.SessionStore.acquire_cleanup_lease
    both_past_the_start = threading.Barrier(2)

    def acquire_together(self, owner, now, duration_ms):
        barrier.wait()  # both runs ask for the lease at the same moment
        taken = real_acquire(self, owner, now, duration_ms)
        both_past_the_start.wait()  # the winner cannot finish (and release) before the loser has asked
        return taken

    monkeypatch.setattr(store.SessionStore, "acquire_cleanup_lease", acquire_together)

    def one_run(_: int) -> dict[str, Any]:
        context = LambdaContext("CleanupFunction", timeout_seconds=300)
        return cleanup.run_cleanup(dry_run=False, remaining_ms=context.get_remaining_time_in_millis)

    with ThreadPoolExecutor(max_workers=2) as pool:
        summaries = list(pool.map(one_run, range(2)))
    worked = [summary for summary in summaries if not summary["skipped"]]
    skipped = [summary for summary in summaries if summary["skipped"]]
    assert len(worked) == 1 and len(skipped) == 1
    assert worked[0]["sessions_expired"] == 6 and worked[0]["history_events_deleted"] == 12
    assert worked[0]["complete"] is True
    assert skipped[0] == {
        "dry_run": False,
        "sessions_expired": 0,
        "sessions_purged": 0,
        "history_events_deleted": 0,
        "retention_events_deleted": 0,
        "complete": False,
        "skipped": True,
    }
    assert len(run_records(table)) == 1  # only the run that worked is announced
    assert lease(table) is None  # given back at the end
    assert not [key for key in all_items(table) if key[0].startswith("T#acme#S#race")]


def test_a_run_skips_while_a_live_lease_is_held(gateway, table):
    sessions_with_history(gateway, "held", 1, events=1)
    backdate(table, "held0")
    assert store.default_store().acquire_cleanup_lease("other-run", now_ms(), 330_000)
    summary = run(gateway)
    assert summary["skipped"] is True and summary["sessions_expired"] == 0
    assert gateway.request("GET", "/v1/sessions/held0").status == 404  # expired: hidden, but still stored
    assert ("T#acme#S#held0", "#SESSION") in all_items(table)
    assert lease(table)["owner"] == "other-run"  # a skipped run never touches another run's lease
    assert run_records(table) == []
    assert run(gateway, dry_run=True)["sessions_expired"] == 1  # a dry run deletes nothing and needs no lease


def test_an_expired_lease_is_taken_over(gateway, table):
    sessions_with_history(gateway, "stale", 2, events=1)
    for i in range(2):
        backdate(table, f"stale{i}")
    store.default_store().acquire_cleanup_lease("dead-run", now_ms() - 400_000, 330_000)  # expired 70 s ago
    summary = run(gateway)
    assert summary["skipped"] is False and summary["sessions_expired"] == 2 and summary["complete"] is True
    assert lease(table) is None


def test_a_crashed_runs_lease_expires_and_the_next_run_carries_on(gateway, table, monkeypatch):
    from sessions.usecases import cleanup

    sessions_with_history(gateway, "crash", 3, events=1)
    for i in range(3):
        backdate(table, f"crash{i}")
    # the process dies mid-run (timeout, out of memory): no code of it runs after that, no release
    monkeypatch.setattr(store.SessionStore, "release_cleanup_lease", lambda self, owner: None)
    monkeypatch.setattr(store.SessionStore, "delete_due_session", lambda *args: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        run(gateway)
    monkeypatch.undo()
    held = lease(table)
    assert held is not None
    assert run(gateway)["skipped"] is True  # within the dead run's timeout: it might still be alive
    # once the lease's expiry (past the dead run's timeout) has gone by, the next run takes over
    later = int(held["expires_ms"]) + 1
    monkeypatch.setattr(cleanup, "now_ms", lambda: later)
    summary = run(gateway)
    assert summary["skipped"] is False and summary["sessions_expired"] == 3 and summary["complete"] is True
    assert lease(table) is None
    assert not [key for key in all_items(table) if key[0].startswith("T#acme#S#crash")]


def test_a_run_that_fails_gives_the_lease_back(gateway, table, monkeypatch):
    sessions_with_history(gateway, "fail", 1, events=1)
    backdate(table, "fail0")

    def broken(*args: Any) -> Any:
        raise RuntimeError("DynamoDB had a bad day")

    monkeypatch.setattr(store.SessionStore, "due_for_removal", broken)
    with pytest.raises(RuntimeError):
        run(gateway)
    assert lease(table) is None  # Lambda's retry of the invocation is not locked out
    monkeypatch.undo()
    assert run(gateway)["sessions_expired"] == 1


def emf_metrics(output: str) -> list[dict[str, Any]]:
    """The EMF documents a handler printed: one per metric set, with their dimensions and values."""
    return [doc for line in output.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


def test_the_metric_the_not_completing_alarm_watches_is_the_one_each_real_run_emits(gateway, capsys):
    from local.stack.template import load_template

    alarm = load_template()["Resources"]["CleanupNotCompletingAlarm"]["Properties"]
    context = LambdaContext("sessions-dev-CleanupFunction-AbC123", timeout_seconds=300)
    capsys.readouterr()
    gateway.handler("CleanupFunction")({"detail-type": "Scheduled Event"}, context)
    (document,) = [doc for doc in emf_metrics(capsys.readouterr().out) if alarm["MetricName"] in doc]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == alarm["Namespace"]
    assert sorted(directive["Dimensions"][0]) == sorted(d["Name"] for d in alarm["Dimensions"])
    assert document["function_name"] == context.function_name  # what !Ref CleanupFunction names
    assert document["service"] == next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "service")
    assert document["runs_completed"] == [1.0] and document["runs_skipped"] == [0.0]
    # a skipped run completes nothing; a dry run removes nothing and is no metric at all
    store.default_store().acquire_cleanup_lease("other-run", now_ms(), 330_000)
    gateway.handler("CleanupFunction")({}, context)
    (skipped,) = [doc for doc in emf_metrics(capsys.readouterr().out) if "runs_completed" in doc]
    assert skipped["runs_completed"] == [0.0] and skipped["runs_skipped"] == [1.0]
    gateway.handler("CleanupFunction")({"dry_run": True}, context)
    assert not [doc for doc in emf_metrics(capsys.readouterr().out) if "sessions_expired" in doc]

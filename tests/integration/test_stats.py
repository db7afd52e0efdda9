"""GET /v1/sessions/stats: exact counters, one round trip at any scale."""

from __future__ import annotations

from collections import Counter

from sessions import store
from sessions.domain.identity import Identity
from sessions.domain.models import AppendEventRequest, CreateSessionRequest, UpdateSessionRequest
from sessions.usecases.events import append_event
from sessions.usecases.session_writes import create_session, delete_session, update_session
from tests.integration.conftest import concurrently

ZERO = {"active": 0, "paused": 0, "completed": 0, "crashed": 0}


def _stats(gateway, **caller):
    response = gateway.request("GET", "/v1/sessions/stats", **caller)
    assert response.status == 200, response.body
    return response.body


def test_stats_of_a_new_user_are_zero(gateway):
    stats = _stats(gateway)
    assert stats["scope"] == "user" and stats["sessions"] == ZERO
    assert stats["created_total"] == stats["events_total"] == stats["tokens_used_total"] == 0
    assert stats["cost_usd_total"] == 0 and stats["computed_at"].endswith("Z")


def test_stats_stay_exact_after_a_mixed_workload_with_concurrent_writers(gateway):
    alice = Identity("acme", "alice")
    created = concurrently(8, lambda i: create_session(alice, CreateSessionRequest(session_id=f"a{i}")))
    assert all(status == 200 for status, _ in created)
    appended = concurrently(
        12,
        lambda i: append_event(
            alice,
            f"a{i % 4}",
            AppendEventRequest(type="task" if i % 2 else "message", usage={"tokens": 10, "cost_usd": 0.1}),
        ),
    )
    assert all(status == 200 for status, _ in appended)
    moves = {"a0": "paused", "a1": "completed", "a2": "crashed", "a3": "paused"}
    results = concurrently(
        4, lambda i: update_session(alice, f"a{i}", UpdateSessionRequest(status=moves[f"a{i}"]), None)
    )
    assert all(status == 200 for status, _ in results)
    delete_session(alice, "a4")
    delete_session(alice, "a1")  # a completed session deleted
    gateway.create({"session_id": "b0"}, user="bob")
    stats = _stats(gateway, user="alice")
    assert stats["sessions"] == {"active": 3, "paused": 2, "completed": 0, "crashed": 1}
    assert stats["created_total"] == 8 and stats["deleted_total"] == 2 and stats["expired_total"] == 0
    assert stats["events_total"] == 12 and stats["tokens_used_total"] == 120
    assert stats["cost_usd_total"] == 1.2
    tenant = _stats(gateway, user="admin", roles=["admin"], query="scope=tenant")
    assert tenant["scope"] == "tenant" and tenant["created_total"] == 9
    assert tenant["sessions"] == {"active": 4, "paused": 2, "completed": 0, "crashed": 1}


def test_tenant_scope_needs_admin_and_never_crosses_tenants(gateway):
    gateway.create({}, tenant="other")
    refused = gateway.request("GET", "/v1/sessions/stats", query="scope=tenant")
    assert refused.status == 403 and refused.body["code"] == "forbidden"
    mine = _stats(gateway, user="boss", roles=["admin"], query="scope=tenant")
    assert mine["created_total"] == 0
    assert gateway.request("GET", "/v1/sessions/stats", query="scope=world").status == 422


def test_stats_cost_one_round_trip_with_ten_sessions_and_with_two_thousand(gateway, table, aws):
    calls = Counter()
    client = store.dynamodb_client()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    for _ in range(10):
        gateway.create({}, user="small")
    with table.batch_writer() as batch:  # 2,000 sessions of one user, written directly: only their number matters
        for i in range(2000):
            batch.put_item(
                Item={
                    "PK": f"T#acme#S#big-{i}",
                    "SK": "#SESSION",
                    "by_user_pk": "T#acme#U#big",
                    "created_key": f"2026-01-01T00:00:00.000Z#big-{i}",
                    "status": "active",
                }
            )
    for user, roles, query in (("small", None, ""), ("big", None, ""), ("admin", ["admin"], "scope=tenant")):
        calls.clear()
        _stats(gateway, user=user, roles=roles, query=query)
        assert sum(calls.values()) == 1 and "Scan" not in calls, (user, calls)
    assert calls == Counter({"BatchGetItem": 1})  # every stats shard of the tenant, by key


def test_tenant_stats_shards_are_separate_partitions_and_sum_exactly(gateway, table):
    """A busy tenant's stats writes spread over partitions, not sort keys of one hot partition."""
    for i in range(40):
        gateway.create({"session_id": f"s{i}"}, user=f"user-{i % 5}")
    shards = [item for item in table.scan()["Items"] if item["SK"] == "#STATS"]
    assert len({item["PK"] for item in shards}) > 4  # 40 creates land on many of the 16 partitions
    assert all(item["PK"].startswith("T#acme#STATS#") for item in shards)
    assert sum(item["created_total"] for item in shards) == 40
    tenant = _stats(gateway, user="admin", roles=["admin"], query="scope=tenant")
    assert tenant["created_total"] == 40 and tenant["sessions"]["active"] == 40


def test_tenant_stats_written_before_partition_sharding_still_count(gateway, table):
    table.put_item(Item={"PK": "T#acme", "SK": "#STATS#2", "created_total": 7, "active": 3})
    gateway.create({})
    tenant = _stats(gateway, user="admin", roles=["admin"], query="scope=tenant")
    assert tenant["created_total"] == 8 and tenant["sessions"]["active"] == 4


def test_tenant_stats_read_again_what_dynamodb_left_unprocessed():
    """BatchGetItem may return some keys as UnprocessedKeys; the sum must not come out short."""
    from sessions.store import SessionStore

    class Throttling:
        def __init__(self) -> None:
            self.calls: list[int] = []

        def batch_get_item(self, RequestItems):
            keys = RequestItems["sessions"]["Keys"]
            self.calls.append(len(keys))
            done, left = keys[: len(keys) // 2 or 1], keys[len(keys) // 2 or 1 :]
            items = [{**key, "created_total": {"N": "1"}} for key in done]
            unprocessed = {"sessions": {**RequestItems["sessions"], "Keys": left}} if left else {}
            return {"Responses": {"sessions": items}, "UnprocessedKeys": unprocessed}

    client = Throttling()
    shards = SessionStore(client, "sessions").get_tenant_counters("acme")  # type: ignore[arg-type]
    assert sum(shard["created_total"] for shard in shards) == 20  # 16 shards and 4 older ones, each read once
    assert client.calls[0] == 20 and len(client.calls) > 1


def test_the_stats_function_may_make_exactly_the_calls_stats_make(gateway, aws):
    """IAM is not enforced by the emulator: the template's policy is checked against the calls made."""
    from local.stack.template import load_template

    calls: Counter = Counter()
    store.dynamodb_client().meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    _stats(gateway)
    _stats(gateway, user="admin", roles=["admin"], query="scope=tenant")
    policies = load_template()["Resources"]["GetStatsFunctionRole"]["Properties"]["Policies"]
    statements = [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]
    allowed = {action for statement in statements for action in statement["Action"] if action.startswith("dynamodb:")}
    assert {f"dynamodb:{name}" for name in calls} == allowed

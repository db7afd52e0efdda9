"""The counters every session write moves: the owner's (slots and stats) and its tenant's stats.

A tenant's stats are sharded over partitions (`T#{tenant}#STATS#{shard}`), not over sort keys of
one partition, so a busy tenant's writes spread over as many partitions as there are shards;
`GET /v1/sessions/stats?scope=tenant` reads every shard in one BatchGetItem and sums them.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from sessions.core.attribute_values import from_item, to_attribute
from sessions.domain.counters import CounterDeltas
from sessions.domain.records import Counters
from sessions.store.base import TableAccess
from sessions.store.keys import COUNTERS_SK, tenant_pk, user_pk

STATS_SHARDS = 16
STATS_SK = "#STATS"
# where stacks before partition sharding kept tenant stats: still read, never written
_LEGACY_STATS_SHARDS = 4
_LEGACY_STATS_SK_PREFIX = "#STATS#"


def stats_pk(tenant_id: str, shard: int) -> str:
    return f"{tenant_pk(tenant_id)}#STATS#{shard}"


def _stats_keys(tenant_id: str) -> list[dict[str, Any]]:
    keys = [{"PK": {"S": stats_pk(tenant_id, shard)}, "SK": {"S": STATS_SK}} for shard in range(STATS_SHARDS)]
    keys += [
        {"PK": {"S": tenant_pk(tenant_id)}, "SK": {"S": f"{_LEGACY_STATS_SK_PREFIX}{shard}"}}
        for shard in range(_LEGACY_STATS_SHARDS)
    ]
    return keys


def add_update(table: str, pk: str, sk: str, values: dict[str, int | Decimal]) -> dict[str, Any]:
    names = {f"#f{i}": name for i, name in enumerate(values)}
    return {
        "TableName": table,
        "Key": {"PK": {"S": pk}, "SK": {"S": sk}},
        "UpdateExpression": "ADD " + ", ".join(f"#f{i} :f{i}" for i in range(len(values))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {f":f{i}": to_attribute(value) for i, value in enumerate(values.values())},
    }


def counter_updates(
    table: str, tenant_id: str, owners: list[tuple[str, CounterDeltas]], cap: int
) -> list[dict[str, Any]]:
    """ADD each owner's deltas to its counters, and their sum to one of the tenant's stats shards.

    The first owner is the writer: its slot update carries the cap. One update per item, as a
    transaction requires.
    """
    merged: dict[str, CounterDeltas] = {}
    for user_id, deltas in owners:
        merged[user_id] = merged.get(user_id, CounterDeltas()) + deltas
    updates = []
    tenant_fields = CounterDeltas()
    for position, (user_id, deltas) in enumerate(merged.items()):
        tenant_fields += CounterDeltas(deltas.fields)
        if not deltas:
            continue
        values = {**deltas.fields, "open_sessions": deltas.slots} if deltas.slots else dict(deltas.fields)
        update = add_update(table, user_pk(tenant_id, user_id), COUNTERS_SK, values)
        if position == 0 and deltas.slots > 0 and cap > 0:
            # the cap holds under concurrency: the counter and the session commit together
            update["ConditionExpression"] = "attribute_not_exists(open_sessions) OR open_sessions < :cap"
            update["ExpressionAttributeValues"][":cap"] = {"N": str(cap)}
        updates.append({"Update": update})
    if tenant_fields:
        shard = random.randrange(STATS_SHARDS)  # noqa: S311 - spreads load, not a secret
        updates.append({"Update": add_update(table, stats_pk(tenant_id, shard), STATS_SK, tenant_fields.fields)})
    return updates


def _counters(item: dict[str, Any]) -> Counters:
    """A counters item's counts, keys left out; money exactly (a Decimal: a float would round 17 digits or more)."""
    counters: Counters = {name: value for name, value in from_item(item).items() if name not in ("PK", "SK")}
    if "cost_usd_total" in item:
        counters["cost_usd_total"] = Decimal(item["cost_usd_total"]["N"])
    return counters


class StatsReads(TableAccess):
    def get_user_counters(self, tenant_id: str, user_id: str) -> Counters:
        response = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": user_pk(tenant_id, user_id)}, "SK": {"S": COUNTERS_SK}},
            ConsistentRead=True,
        )
        return _counters(response.get("Item", {}))

    def get_tenant_counters(self, tenant_id: str) -> list[Counters]:
        """Every stats shard of the tenant: one BatchGetItem, whatever the number of sessions.

        DynamoDB may leave keys unprocessed under load; they are read again (with back-off), so the
        sum is never short.
        """
        items = self._batch_get(_stats_keys(tenant_id), what="tenant stats", ConsistentRead=True)
        return [_counters(item) for item in items]

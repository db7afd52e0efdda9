"""Statistics for a user or a whole tenant, read from counters: one round trip at any scale."""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Any, Literal

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import Forbidden
from sessions.domain.counters import COST_QUANTUM, STATUS_FIELDS, TOTAL_FIELDS
from sessions.domain.identity import Identity
from sessions.usecases.access import store


def get_stats(identity: Identity, scope: Literal["user", "tenant"]) -> dict[str, Any]:
    if scope == "tenant":
        if not identity.is_admin:
            raise Forbidden("tenant statistics need the admin role")
        shards = store().get_tenant_counters(identity.tenant_id)
    else:
        shards = [store().get_user_counters(identity.tenant_id, identity.user_id)]
    # money is read as Decimals (each shard an exact multiple of counters.COST_QUANTUM): summed exactly
    total = {name: sum(shard.get(name, 0) for shard in shards) for name in (*STATUS_FIELDS, *TOTAL_FIELDS)}
    cost = Decimal(total["cost_usd_total"])
    return {
        "scope": scope,
        "sessions": {status: total[status] for status in STATUS_FIELDS},
        **{name: total[name] for name in TOTAL_FIELDS},
        "cost_usd_total": float(cost.quantize(Decimal(COST_QUANTUM), context=Context(prec=38))),
        "computed_at": format_ms(now_ms()),
    }

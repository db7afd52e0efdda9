"""DynamoDB's Time to Live in the emulator: expired items are deleted, as DynamoDB's TTL does.

moto 5.2.5 records a table's TTL setting but never deletes anything by it, so over a long
`make dev` every item with a TTL stays for ever: `Idempotency-Key` records (one per keyed
request), settled markers, cleanup run summaries. The sweeper deletes, every SWEEP_SECONDS, the
items whose TTL attribute (epoch seconds) has passed, in every table with TTL enabled. As on AWS,
each deletion reaches the table's stream as a REMOVE whose `userIdentity` names DynamoDB's
service principal, so the publisher sees it as a TTL expiry, exactly as it would deployed.

Drop this module once moto deletes expired items itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import cast

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from local.aws.moto_atomicity import serialized
from local.background import BackgroundLoop, seconds_setting

LOG = logging.getLogger("local")
SWEEP_SECONDS = 60.0
SWEEP_VARIABLE = "LOCAL_TTL_SWEEP_SECONDS"  # another interval, e.g. for a test server that expires sessions itself
DELETIONS_PER_LOCK = 100  # how many deletions a sweep makes per hold of the emulator's lock
TTL_IDENTITY = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}  # as GetRecords names them


def _is_expired(item: Item, attribute: str, now: Decimal) -> bool:
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return False  # DynamoDB's TTL ignores items whose attribute is missing or not a number
    try:
        return Decimal(value.value) < now
    except InvalidOperation:
        return False


def _snapshot(table: Table) -> list[Item]:
    """The table's items as they are, unsorted (moto's `all_items` sorts them: seconds at 100,000 items)."""
    with serialized():
        if table.range_key_attr:
            return [item for partition in table.items.values() for item in partition.values()]
        return cast("list[Item]", list(table.items.values()))  # a hash-only table holds items, not partitions


def _tables(region: str | None) -> list[Table]:
    account = dynamodb_backends[DEFAULT_ACCOUNT_ID]
    backends = [account[region]] if region is not None else list(account.values())  # the regions in use
    return [table for backend in backends for table in list(backend.tables.values())]


def sweep(region: str | None = None, now: float | None = None) -> int:
    """Delete the expired items of every TTL-enabled table of the region (of every region in use when None);
    how many were deleted.

    It holds the emulator's lock only to copy the table's item references and then for each chunk of
    deletions, never for the walk over the whole table: requests running beside a sweep of a large
    table wait at most for a chunk (python -m bench growth). An item changed since the walk found it
    expired is checked again before it is deleted."""
    moment = Decimal(repr(time.time() if now is None else now))
    deleted = 0
    for table in _tables(region):
        if table.ttl.get("TimeToLiveStatus") != "ENABLED":
            continue
        attribute = table.ttl["AttributeName"]
        expired = [(item.hash_key, item.range_key) for item in _snapshot(table) if _is_expired(item, attribute, moment)]
        for start in range(0, len(expired), DELETIONS_PER_LOCK):
            with serialized():
                for hash_key, range_key in expired[start : start + DELETIONS_PER_LOCK]:
                    current = table.get_item(hash_key, range_key)
                    if current is None or not _is_expired(current, attribute, moment):
                        continue
                    table.delete_item(hash_key, range_key)
                    deleted += 1
                    if table.stream_shard is not None and table.stream_shard.items:
                        table.stream_shard.items[-1].record["userIdentity"] = dict(TTL_IDENTITY)
    return deleted


def sweep_interval(environ: Mapping[str, str]) -> float:
    """LOCAL_TTL_SWEEP_SECONDS as a positive number of seconds; SWEEP_SECONDS when unset or invalid (warned)."""
    return seconds_setting(environ, SWEEP_VARIABLE, "sweeping every minute") or SWEEP_SECONDS


class TtlSweeper(BackgroundLoop):
    """Sweeps the emulator's tables (a region's, or every region's) every SWEEP_SECONDS, in a daemon thread.

    `local.aws.moto_fixes.adapt_moto` starts one per process, wherever moto runs: the dev server's
    emulator, the tests, the benchmarks.
    """

    join_seconds = 5.0

    def __init__(self, region: str | None = None, interval: float = SWEEP_SECONDS) -> None:
        super().__init__("ttl-sweeper")
        self.region, self.interval = region, interval

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                deleted = sweep(self.region)
            except Exception:  # a sweep that fails is tried again next time, as DynamoDB's TTL would
                LOG.exception("TTL sweep failed; retrying in %.0f s", self.interval)
                continue
            if deleted:
                LOG.info("ttl    %d expired item(s) deleted", deleted)

"""Every way moto is adapted to behave like DynamoDB where the service would notice, in one call.

Each adaptation names the moto behaviour it replaces, so it can be dropped when moto fixes it. They
patch moto's internals as MOTO_VERSION has them, so `adapt_moto` refuses any other moto: a patch
applied to code it was not written for could fail quietly, and the emulator stop being DynamoDB.
"""

from __future__ import annotations

import os
import threading
from importlib import metadata

from local.aws import (
    moto_conditions,
    moto_dispatch,
    moto_events,
    moto_expressions,
    moto_item_sizes,
    moto_numbers,
    moto_queries,
    moto_serialization,
    moto_sqs,
    moto_streams,
    moto_transactions,
    moto_updates,
)
from local.aws.moto_atomicity import make_dynamodb_atomic
from local.aws.moto_ttl import TtlSweeper, sweep_interval

# the moto the adaptations were written for: requirements-dev.txt pins it (a test holds the two together);
# raise it only once every module here has been checked against the new moto's code
MOTO_VERSION = "5.2.5"


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not the one the adaptations were written for."""


_adapting = threading.Lock()
_sweeper: TtlSweeper | None = None


def check_moto_version() -> None:
    """Refuse a moto other than MOTO_VERSION, naming both."""
    found = metadata.version("moto")
    if found != MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"moto {found} is installed, but local/aws adapts moto {MOTO_VERSION} (the version requirements-dev.txt "
            f"pins): run `make install`, or check every local/aws/moto_*.py against moto {found} and raise MOTO_VERSION"
        )


def adapt_moto(sweep_seconds: float | None = None) -> TtlSweeper:
    """Exact number arithmetic, transactions and queries that cost what they touch, bounded streams, items
    written into responses and update expressions walked without moto's repeated lookups, plain updates applied
    from a plan made once per expression, conditions parsed once per text, items sized once, requests dispatched
    (backend and action), EventBridge input paths parsed and SQS retention checked without moto's repeated
    work, every operation serialized, and a TTL sweeper deleting expired items every `sweep_seconds` (by
    default LOCAL_TTL_SWEEP_SECONDS, else a minute).
    Once per process: a later call changes nothing and returns the same running sweeper."""
    global _sweeper
    check_moto_version()
    with _adapting:
        if _sweeper is None:
            moto_numbers.install()
            moto_transactions.install()
            moto_updates.install()  # before moto_queries, which wraps it
            moto_queries.install()
            moto_streams.install()
            moto_serialization.install()
            moto_expressions.install()
            moto_conditions.install()
            moto_item_sizes.install()
            moto_dispatch.install()
            moto_events.install()
            moto_sqs.install()
            make_dynamodb_atomic()  # last: it wraps the implementations installed above
            sweeper = TtlSweeper(interval=sweep_seconds or sweep_interval(os.environ))
            sweeper.start()
            _sweeper = sweeper
        return _sweeper

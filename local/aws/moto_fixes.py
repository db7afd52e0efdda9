"""Every way moto is adapted to behave like DynamoDB where the service would notice, in one call.

Each adaptation names the moto behaviour it replaces, so it can be dropped when moto fixes it.
"""

from __future__ import annotations

from local.aws import moto_numbers, moto_queries, moto_streams, moto_transactions
from local.aws.moto_atomicity import make_dynamodb_atomic


def adapt_moto() -> None:
    """Exact number arithmetic, transactions and queries that cost what they touch, bounded streams, then
    every operation serialized."""
    moto_numbers.install()
    moto_transactions.install()
    moto_queries.install()
    moto_streams.install()
    make_dynamodb_atomic()  # last: it wraps the implementations installed above

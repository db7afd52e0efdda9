"""Time as the contract writes it: RFC 3339 UTC, millisecond precision, with a Z."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def parse_timestamp(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (any offset accepted, Z preferred)."""
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use Z for UTC)")
    return int(moment.timestamp() * 1000)

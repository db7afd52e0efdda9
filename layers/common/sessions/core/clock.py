"""Time as the contract writes it: RFC 3339 UTC, millisecond precision, with a Z."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
# the instants a timestamp can name (years 0001 … 9999, in UTC)
MIN_MS = (datetime(1, 1, 1) - _EPOCH) // _MS
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000) - _EPOCH) // _MS


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ms(epoch_ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def parse_timestamp(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (any offset accepted, Z preferred).

    Naive arithmetic, so an offset that moves the instant out of years 1 … 9999 cannot overflow.
    """
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("timestamp needs a time zone (use Z for UTC)")
    return (moment.replace(tzinfo=None) - _EPOCH) // _MS - offset // _MS


def clamp_ms(epoch_ms: int) -> int:
    return min(max(epoch_ms, MIN_MS), MAX_MS)

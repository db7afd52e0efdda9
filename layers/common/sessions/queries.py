"""Query-string rules shared by list and history."""

from __future__ import annotations

from sessions.clock import clamp_ms, format_ms, parse_timestamp
from sessions.errors import InvalidField


def timestamp_param(name: str, value: str | None) -> str | None:
    """An RFC 3339 query parameter, normalized to the stored form (UTC, milliseconds, Z).

    A bound past the years 1 … 9999 (a valid timestamp whose offset moves it there) is the first or
    last instant a timestamp can name: as an exclusive bound it selects the same sessions or events.
    """
    if value is None:
        return None
    try:
        return format_ms(clamp_ms(parse_timestamp(value)))
    except (ValueError, OverflowError, OSError):
        raise InvalidField(("query", name), "expected an RFC 3339 timestamp such as 2026-11-23T19:00:00.000Z") from None

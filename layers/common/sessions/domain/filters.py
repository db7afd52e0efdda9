"""Query-string rules shared by list and history: timestamps, metadata filters."""

from __future__ import annotations

from sessions.core.clock import clamp_ms, format_ms, parse_timestamp
from sessions.core.errors import InvalidField


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


# A metadata filter as the query states it: key:value (the key up to the first ':', the value may hold ':').
METADATA_FILTER_PATTERN = r"^[^:]{1,64}:[\s\S]{0,512}$"
METADATA_FILTERS_MAX = 16  # a session or an event holds at most 16 pairs (models.METADATA_MAX_PAIRS)


def metadata_filters(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    """`metadata=key:value` parameters as (key, value) pairs, sorted, each once; 422 for a malformed one.

    Two values for one key select nothing (a session's or event's key holds one value), as the filter says.
    """
    values = list(values or ())
    if len(values) > METADATA_FILTERS_MAX:
        raise InvalidField(("query", "metadata"), f"at most {METADATA_FILTERS_MAX} metadata filters")
    pairs = set()
    for value in values:
        key, colon, wanted = value.partition(":")
        if not colon or not 1 <= len(key) <= 64 or len(wanted) > 512:
            raise InvalidField(("query", "metadata"), "a metadata filter is key:value, its key 1-64 characters")
        pairs.add((key, wanted))
    return tuple(sorted(pairs))


def seq_range(from_seq: int | None, to_seq: int | None) -> tuple[int | None, int | None]:
    """`from_seq`/`to_seq` (each 1 … 9999999999, checked by the handler) as an inclusive range; 422 when they cross."""
    if from_seq is not None and to_seq is not None and from_seq > to_seq:
        raise InvalidField(("query", "from_seq"), "from_seq must not be greater than to_seq")
    return from_seq, to_seq

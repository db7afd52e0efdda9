"""Lambda's event filtering for an event-source mapping, locally: the FilterCriteria of the template.

Deployed, Lambda drops every stream record that matches none of the mapping's filter patterns
before it batches records, so the function never sees it (and the record counts as processed).
The patterns are EventBridge patterns applied to the record as Lambda delivers it. Only the
syntax the template uses is implemented: exact values (strings, numbers, booleans, null) and
`{"prefix": "..."}`. Any other operator is refused when the template is read, so a filter the dev
server cannot honour fails loudly instead of letting records through that AWS would drop.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

Pattern = dict[str, Any]


class UnsupportedPattern(ValueError):
    """A filter pattern uses syntax the dev server does not implement."""


@dataclass(frozen=True)
class EventFilter:
    pattern: str  # the JSON text, as FilterCriteria.Filters[].Pattern has it

    def __post_init__(self) -> None:
        _check(self.parsed, ())

    @functools.cached_property
    def parsed(self) -> Pattern:
        try:
            pattern = json.loads(self.pattern)
        except json.JSONDecodeError as exc:
            raise UnsupportedPattern(f"filter pattern is not JSON: {self.pattern!r}") from exc
        if not isinstance(pattern, dict):
            raise UnsupportedPattern(f"a filter pattern is a JSON object: {self.pattern!r}")
        return pattern

    def matches(self, record: dict[str, Any]) -> bool:
        return _matches(self.parsed, record)


def filters_of(filter_criteria: Any) -> tuple[EventFilter, ...]:
    """The filters of an event's FilterCriteria property (none: every record passes)."""
    if not filter_criteria:
        return ()
    return tuple(EventFilter(str(entry["Pattern"])) for entry in filter_criteria.get("Filters", []))


def accepted(filters: tuple[EventFilter, ...], record: dict[str, Any]) -> bool:
    """Whether Lambda would deliver the record: no filters, or any one of them matches."""
    return not filters or any(event_filter.matches(record) for event_filter in filters)


def _check(pattern: Any, path: tuple[str, ...]) -> None:
    where = ".".join(path) or "the pattern"
    if not isinstance(pattern, dict) or not pattern:
        raise UnsupportedPattern(f"{where}: a pattern is a non-empty JSON object")
    for key, value in pattern.items():
        if isinstance(value, dict):
            _check(value, (*path, key))
        elif isinstance(value, list) and value:
            for allowed in value:
                _check_value(allowed, ".".join((*path, key)))
        else:
            raise UnsupportedPattern(f"{'.'.join((*path, key))}: expected an object or a non-empty list of values")


def _check_value(allowed: Any, where: str) -> None:
    if isinstance(allowed, dict):
        if set(allowed) != {"prefix"} or not isinstance(allowed["prefix"], str):
            raise UnsupportedPattern(f"{where}: only exact values and {{'prefix': ...}} are supported, got {allowed}")
    elif allowed is not None and not isinstance(allowed, str | int | float | bool):
        raise UnsupportedPattern(f"{where}: unsupported value {allowed!r}")


def _matches(pattern: Pattern, data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    for key, expected in pattern.items():
        if key not in data:
            return False
        value = data[key]
        if isinstance(expected, dict):
            if not _matches(expected, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]  # an array matches if any element does
        if not any(_value_matches(allowed, item) for allowed in expected for item in values):
            return False
    return True


def _value_matches(allowed: Any, value: Any) -> bool:
    if isinstance(allowed, dict):
        return isinstance(value, str) and value.startswith(allowed["prefix"])
    if isinstance(allowed, bool) or isinstance(value, bool) or allowed is None or value is None:
        return allowed is value
    if isinstance(allowed, str) or isinstance(value, str):
        return isinstance(allowed, str) and isinstance(value, str) and allowed == value
    return bool(allowed == value)  # numbers compare as numbers

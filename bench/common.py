"""What every benchmark shares: the template's HTTP functions, statistics, tables (fake AWS: local.testing)."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence

from local.stack.template import FunctionSpec, function_specs, functions_environment, load_template, local_resolver
from local.testing import reset_sessions_caches


def use_functions_environment(names: Mapping[str, str] | None = None) -> None:
    """The variables the template gives the HTTP functions (with these resource names), in this process.

    For layer code a benchmark runs itself (a canned item, seeding): it reads its settings as the functions do.
    """
    os.environ.update(functions_environment(http_functions(names)))
    reset_sessions_caches()


# `python -m bench --smoke` sets it for cold and overhead, which go through every HTTP function: two do
SMOKE_ENV = "BENCH_SMOKE"
SMOKE_FUNCTIONS = ("CreateSessionFunction", "GetSessionFunction")


def http_functions(names: Mapping[str, str] | None = None) -> list[FunctionSpec]:
    """The template's functions that serve an HTTP route, by logical id (a smoke run: SMOKE_FUNCTIONS)."""
    template = load_template()
    specs = function_specs(template, local_resolver(dict(names or {}), template))
    smoke = os.environ.get(SMOKE_ENV) == "1"
    return sorted(
        (spec for spec in specs.values() if spec.routes and (not smoke or spec.logical_id in SMOKE_FUNCTIONS)),
        key=lambda spec: spec.logical_id,
    )


# --- statistics ---------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, base: float) -> float:
    return value / base if base else math.nan


# --- text output --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], title: str = "") -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(header) for header in headers], *([_cell(value) for value in row] for row in rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [line(cells[0]), rule, *(line(row) for row in cells[1:])]
    return "\n".join([title, *body] if title else body)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"

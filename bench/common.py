"""What every benchmark shares: the template's HTTP functions, statistics, tables (fake AWS: local.testing)."""

from __future__ import annotations

import http.client
import json
import math
import os
import statistics
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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


class DevServerApi:
    """The dev server's API as one user of a tenant calls it (its identity headers): one HTTP/1.1 connection
    per thread, reopened when the server closes it."""

    def __init__(self, base_url: str, tenant: str, user: str) -> None:
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port
        self._headers = {"X-Tenant-Id": tenant, "X-User-Id": user, "Content-Type": "application/json"}
        self._local = threading.local()  # each thread its own connection: requests on one are sequential

    def call(self, method: str, path: str, body: Any = None, user: str | None = None) -> tuple[int, Any]:
        """(status, JSON answer); `user` calls as another user of the tenant."""
        payload = json.dumps(body) if body is not None else None
        headers = self._headers if user is None else {**self._headers, "X-User-Id": user}
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._local.connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # the server closed a kept-alive connection before reading the request
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close" or response.version == 10:
                self.close()
            return response.status, json.loads(data) if data else None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

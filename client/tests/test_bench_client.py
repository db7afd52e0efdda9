"""bench client: every operation measured against the stub, and one HTTP call per operation on the dev server."""

from __future__ import annotations

import pytest

from bench import client as bench_client
from local.launcher import DevServerProcess


def test_overhead_measures_every_operation() -> None:
    figures = bench_client.overhead(iterations=50)
    assert set(bench_client.OPERATIONS) <= set(figures)
    for name in bench_client.OPERATIONS:
        assert figures[name]["client_us"] > 0 and figures[name]["raw_us"] > 0
    assert figures["target_us"] == 500.0


@pytest.mark.e2e
def test_one_http_call_per_operation_on_the_dev_server(client_dev_server: DevServerProcess) -> None:
    figures = bench_client._measure_dev_server(client_dev_server.api_url, samples=2)
    operations = {name: value for name, value in figures.items() if isinstance(value, dict)}
    assert set(operations) == {
        *("get", "update", "append", "append 5 (batch)", "get event", "app state patch", "user state get"),
        *("history", "list", "stats", "create", "delete", "rewind"),
    }
    assert {name: value["http_calls"] for name, value in operations.items()} == dict.fromkeys(operations, 1)

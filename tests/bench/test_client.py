"""bench client: what its figures mean, held against how they are made.

Overhead: the baseline ("raw") is the very request the client sent, sent bare (else the difference
would not be the client's cost); every operation is timed for as many rounds as the run says, the
client and the raw call alike; an operation's overhead is its client time less its raw time, and the
worst one is the largest of them. Calls: against the dev server each operation is one HTTP call, in
every sample the run asked for. `figures_hold` checks a whole run's figures (tests/bench/test_sections.py
runs the section as the README shows, at its smallest size, and hands its JSON here).
"""

from __future__ import annotations

from typing import Any

import pytest
from sessions_client import DevIdentity, SessionsClient

from bench import client as bench_client

DEV_SERVER_OPERATIONS = {
    *("get", "update", "append", "append 5 (batch)", "get event", "app state patch", "user state get"),
    *("history", "list", "stats", "create", "delete", "rewind"),
}


def overhead_holds(figures: dict[str, Any]) -> None:
    operations = {name: value for name, value in figures.items() if isinstance(value, dict)}
    assert set(operations) == set(bench_client.OPERATIONS)
    for name, figure in operations.items():
        assert figure["samples"] == {"client": figures["rounds"], "raw": figures["rounds"]}, name
        assert figure["overhead_us"] == figure["client_us"] - figure["raw_us"], name
        assert figure["raw_us"] > 0 and figure["client_us"] > 0, name  # medians of timed calls, not NaN
    assert figures["max_overhead_us"] == max(figure["overhead_us"] for figure in operations.values())


def dev_server_holds(figures: dict[str, Any]) -> None:
    operations = {name: value for name, value in figures.items() if isinstance(value, dict)}
    assert set(operations) == DEV_SERVER_OPERATIONS
    for name, figure in operations.items():
        assert figure["http_calls"] == 1, name  # the most any sample made: no retry, no second request
        assert figure["samples"] == dict.fromkeys(("client", "raw", "counted"), figures["samples"]), name
        assert figure["raw_ms_median"] > 0 and figure["client_ms_median"] > 0, name


def figures_hold(figures: dict[str, Any]) -> bool:
    overhead_holds(figures["overhead"])
    dev_server_holds(figures["dev_server"])
    return True


@pytest.mark.parametrize("operation", list(bench_client.OPERATIONS))
def test_the_raw_baseline_is_the_very_request_the_client_sent(operation: str) -> None:
    transport = bench_client.StubTransport()
    client = SessionsClient("http://bench.invalid", transport=transport, identity=DevIdentity("u-bench", "acme"))
    bench_client.OPERATIONS[operation](client)
    sent = transport.last
    assert sent is not None
    bench_client._raw_call(bench_client.bare_client(transport), sent)()
    raw = transport.last
    assert raw is not sent
    assert (raw.method, raw.url, raw.content) == (sent.method, sent.url, sent.content)
    assert dict(raw.headers) == dict(sent.headers)  # the Idempotency-Key and identity headers included


def test_the_overhead_figures_are_medians_of_the_rounds_asked_and_their_difference() -> None:
    figures = bench_client.overhead(iterations=50)
    assert figures["rounds"] == 10  # the fewest the bench times: 50 iterations are one round of 50 calls
    overhead_holds(figures)


@pytest.mark.e2e
def test_every_operation_is_one_http_call_on_the_dev_server(dev_server: Any) -> None:
    figures = bench_client._measure_dev_server(dev_server.api_url, samples=2)
    assert figures["samples"] == 2
    dev_server_holds(figures)

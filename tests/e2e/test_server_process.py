"""The dev server as a process: its log, its banner, and a clean stop on SIGTERM."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.client import Client
from tests.e2e.conftest import DevServer, launch


def wait_for(predicate: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_banner_names_the_three_urls(dev_server: DevServer) -> None:
    log = dev_server.stderr()
    for url in (dev_server.api_url, dev_server.lambda_url, dev_server.moto_url):
        assert url in log


def test_one_log_line_per_request_with_method_path_status_and_duration(dev_server: DevServer, api: Client) -> None:
    path = f"/no/such/route/{time.monotonic_ns()}"
    assert api.get(path).status == 404
    line = re.compile(rf"GET {re.escape(path)} 404 \d+(\.\d+)? ms$", re.MULTILINE)
    wait_for(lambda: line.search(dev_server.stderr()) is not None)
    assert dev_server.stderr().count(path) == 1  # werkzeug's own access log stays quiet


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    server = launch(tmp_path)
    assert Client(server.api_url).get("/openapi.json").status == 200
    assert server.stop(signal.SIGTERM) == 0, server.stderr()
    assert "stopped" in server.stderr()

"""The dev server (`python -m local`) as a subprocess on free ports, for tests over real HTTP.

A pytest plugin (tests/conftest.py and client/tests/conftest.py load it): its `dev_server`
fixture starts one server per test session (per xdist worker) for the end-to-end tests and the
client's tests alike; each test keeps to a tenant of its own. Tests that need a server configured
otherwise, or that stop it, `launch` their own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.launcher import DevServerFailed, DevServerProcess, launch_dev_server
from local.stack.template import function_specs, load_template, local_resolver
from local.testing import TESTS_TTL_SWEEP_SECONDS

STOP_TIMEOUT_SECONDS = 15


class DevServer(DevServerProcess):
    """The dev server under test: a stop that hangs fails the test."""

    def stop(self, signum: int = signal.SIGINT, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Send `signum`; the exit code (the server is killed, and the test fails, if it hangs)."""
        code = super().stop(signum, timeout)
        if code is None:
            pytest.fail(f"the dev server ignored {signal.Signals(signum).name}:\n{self.stderr()}")
        return code


def server_environment() -> dict[str, str]:
    """This environment without the template's function variables, so a developer's shell cannot change them."""
    template = load_template()
    template_variables = {
        name for spec in function_specs(template, local_resolver({}, template)).values() for name in spec.environment
    }
    environment = {name: value for name, value in os.environ.items() if name not in template_variables}
    environment["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return environment


def launch(log_dir: Path, **environment: str) -> DevServer:
    """Start `python -m local` on free ports (with these variables) and wait until both its HTTP endpoints answer."""
    try:
        started = launch_dev_server(log_dir, {**server_environment(), **environment})
    except DevServerFailed as failed:
        pytest.fail(str(failed))
    return DevServer(started.process, started.api_url, started.lambda_url, started.moto_url, started.log_dir)


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One dev server for the whole test session (per xdist worker); it must exit 0 on SIGINT at the end."""
    # no TTL sweep while the tests run: a sweep landing between a session's expiry and a cleanup run
    # would race the tests that have the cleanup expire sessions (tests/e2e/test_background_workers.py
    # runs the sweeper itself)
    server = launch(tmp_path_factory.mktemp("dev-server"), LOCAL_TTL_SWEEP_SECONDS=str(TESTS_TTL_SWEEP_SECONDS))
    try:
        yield server
    finally:
        exit_code = server.stop(signal.SIGINT)
    assert exit_code == 0, f"the dev server exited with {exit_code} on SIGINT:\n{server.stderr()}"

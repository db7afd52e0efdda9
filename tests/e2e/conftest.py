"""The dev server (`python -m local`) as a subprocess on free ports, for tests over real HTTP."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.launcher import DevServerFailed, DevServerProcess, launch_dev_server
from local.stack.template import function_specs, load_template, local_resolver
from tests.e2e.client import Client

E2E_DIR = Path(__file__).resolve().parent
STOP_TIMEOUT_SECONDS = 15


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


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


def launch(log_dir: Path) -> DevServer:
    """Start `python -m local` on free ports and wait until both its HTTP endpoints answer."""
    try:
        started = launch_dev_server(log_dir, server_environment())
    except DevServerFailed as failed:
        pytest.fail(str(failed))
    return DevServer(started.process, started.api_url, started.lambda_url, started.moto_url, started.log_dir)


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = launch(tmp_path_factory.mktemp("dev-server"))
    try:
        yield server
    finally:
        exit_code = server.stop(signal.SIGINT)
    assert exit_code == 0, f"the dev server exited with {exit_code} on SIGINT:\n{server.stderr()}"


@pytest.fixture
def api(dev_server: DevServer) -> Client:
    return Client(dev_server.api_url)


@pytest.fixture
def lambda_endpoint(dev_server: DevServer) -> Client:
    return Client(dev_server.lambda_url)


@pytest.fixture
def tenant() -> str:
    """A tenant no other test uses, so tests never see each other's sessions or caps."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"

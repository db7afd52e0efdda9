"""The dev server (`python -m local`) as a subprocess on free ports, for tests over real HTTP."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.stack.template import function_specs, load_template, local_resolver
from tests.e2e.client import Client

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 15


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    api_url: str
    lambda_url: str
    moto_url: str
    log_dir: Path

    def stderr(self) -> str:
        return (self.log_dir / "stderr.log").read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send `signum`; the exit code (the server is killed, and the test fails, if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the dev server ignored {signal.Signals(signum).name}:\n{self.stderr()}")


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on (held open together, so they differ); never a developer's 3000/3001/5000."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def server_environment(api: int, lambda_api: int, moto: int) -> dict[str, str]:
    """This environment without the template's function variables, so a developer's shell cannot change them."""
    template = load_template()
    template_variables = {
        name for spec in function_specs(template, local_resolver({}, template)).values() for name in spec.environment
    }
    environment = {name: value for name, value in os.environ.items() if name not in template_variables}
    environment.update(PORT=str(api), LAMBDA_PORT=str(lambda_api), MOTO_PORT=str(moto), POWERTOOLS_LOG_LEVEL="WARNING")
    return environment


def _answers(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def launch(log_dir: Path) -> DevServer:
    """Start `python -m local` and wait until both its HTTP endpoints answer."""
    api, lambda_api, moto = free_ports(3)
    with (log_dir / "stdout.log").open("wb") as stdout, (log_dir / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=server_environment(api, lambda_api, moto),
            stdout=stdout,
            stderr=stderr,
        )
    server = DevServer(
        process, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{lambda_api}", f"http://127.0.0.1:{moto}", log_dir
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not (_answers(server.api_url) and _answers(server.lambda_url)):
        if process.poll() is not None:
            pytest.fail(f"the dev server exited with {process.returncode}:\n{server.stderr()}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"the dev server did not answer within {READY_TIMEOUT_SECONDS} s:\n{server.stderr()}")
        time.sleep(0.1)
    return server


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

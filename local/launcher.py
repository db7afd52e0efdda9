"""Start `python -m local` as a child process on free ports and wait until it answers.

For what drives the dev server from outside, as a user would: the end-to-end tests and the
growth benchmark.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local.stack.template import ROOT

READY_TIMEOUT_SECONDS = 60  # 22+ functions warmed in parallel: ~12 s on a quiet 2-core machine, more under load


class DevServerFailed(RuntimeError):
    """The dev server exited or did not answer in time; the message ends with its stderr."""


@dataclass
class DevServerProcess:
    process: subprocess.Popen[bytes]
    api_url: str
    lambda_url: str
    moto_url: str
    log_dir: Path

    def stderr(self) -> str:
        return (self.log_dir / "stderr.log").read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT, timeout: float = 15) -> int | None:
        """Send `signum` and wait; the exit code, or None when it did not exit in time (it is killed then)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


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


def answers(url: str) -> bool:
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


def launch_dev_server(
    log_dir: Path, environment: Mapping[str, str] | None = None, root: Path | None = None
) -> DevServerProcess:
    """`python -m local` on free ports, its output in `log_dir`; returns once both HTTP endpoints answer.

    `root`: another checkout whose dev server to start (a benchmark's before/after), else this one."""
    api, lambda_api, moto = free_ports(3)
    env = {**(environment if environment is not None else os.environ)}
    env.update(PORT=str(api), LAMBDA_PORT=str(lambda_api), MOTO_PORT=str(moto))
    with (log_dir / "stdout.log").open("wb") as stdout, (log_dir / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"], cwd=root or ROOT, env=env, stdout=stdout, stderr=stderr
        )
    server = DevServerProcess(
        process, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{lambda_api}", f"http://127.0.0.1:{moto}", log_dir
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not (answers(server.api_url) and answers(server.lambda_url)):
        if process.poll() is not None:
            raise DevServerFailed(f"the dev server exited with {process.returncode}:\n{server.stderr()}")
        if time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise DevServerFailed(f"the dev server did not answer within {READY_TIMEOUT_SECONDS} s:\n{server.stderr()}")
        time.sleep(0.1)
    return server

"""The AWS emulator: moto's server, holding the table and bus that template.yaml defines, in a process of its own.

Boto3 reaches it through the standard AWS_ENDPOINT_URL variable, in the dev server's process and in
every execution environment started after it, so the functions have no local-only code paths.

Why a process of its own: every DynamoDB, EventBridge and SQS call of every function is parsed,
run and answered by moto in Python. Beside the API's gateway and the stream feeders, it shared one
interpreter lock with them, and under load the whole dev server ran on about one core
(`python -m bench load`, docs/architecture.md). Here moto has its own process (its own core), and the
dev server keeps what starts invocations.

moto's app is served by `KeptAliveServer` (local/aws/http_server.py) rather than moto's own werkzeug
server, which closes the connection after every response (and waits up to 10 ms for the client to
close its end first): each boto3 call of a function, the stream feeders and the publisher was a new
TCP connection and a new thread in the emulator, a sixth of its CPU and a connect() in every call.
Connections now stay alive, each served by a thread of its own (a long-polling ReceiveMessage holds
only its own connection's).

The emulator announces every stream record it adds (local/aws/moto_streams.py) over a pipe, one
byte per wake at most, and `AwsEmulator` announces them again in the dev server's process, so a
stream feeder still reads when something is written rather than polling. The emulator exits when
that pipe's other end or its stdin closes: it never outlives the dev server, even one killed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import IO

import boto3

from local.aws.fake_env import remove_unsafe_aws_env
from local.aws.moto_streams import NEW_RECORDS, RecordAnnouncements
from local.stack.template import ROOT

HOST = "127.0.0.1"
REGION = "us-east-1"
READY_TIMEOUT_SECONDS = 60
IDLE_CONNECTION_SECONDS = 60  # a kept-alive connection idle this long is closed (boto3 opens a new one)
LOG = logging.getLogger("local")


def point_boto3_at(endpoint_url: str) -> None:
    """Dummy credentials, no shared config files, every service at the emulator."""
    remove_unsafe_aws_env(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


class EmulatorFailed(RuntimeError):
    """The emulator's process exited or did not start in time; the message says which."""


class AwsEmulator:
    """Starts the emulator's process, points boto3 at it and learns the resource names it created.

    `new_records` is announced whenever the emulator adds stream records.
    """

    name = "aws-emulator"

    def __init__(self, port: int, new_records: RecordAnnouncements = NEW_RECORDS) -> None:
        self.url = f"http://{HOST}:{port}"
        self.names: dict[str, str] = {}
        self._port = port
        self._new_records = new_records
        self._process: subprocess.Popen[bytes] | None = None
        self._relay: threading.Thread | None = None

    def start(self) -> None:
        point_boto3_at(self.url)
        reading, writing = os.pipe()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "local.aws.emulator", str(self._port), str(writing)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                pass_fds=(writing,),
                start_new_session=False,
            )
        finally:
            os.close(writing)
        channel = os.fdopen(reading, "rb", buffering=0)
        self.names = self._handshake(channel)
        self._relay = threading.Thread(
            target=self._relay_announcements, args=(channel,), name="emulator-records", daemon=True
        )
        self._relay.start()

    def _handshake(self, channel: IO[bytes]) -> dict[str, str]:
        """The first line the emulator writes: the resources' names once they exist (EOF: it failed)."""
        timer = threading.Timer(READY_TIMEOUT_SECONDS, self.stop)
        timer.start()
        try:
            line = b""
            while not line.endswith(b"\n"):
                chunk = channel.read(1)
                if not chunk:
                    raise EmulatorFailed(f"the AWS emulator exited before it was ready (code {self._exit_code()})")
                line += chunk
        finally:
            timer.cancel()
        return dict(json.loads(line))

    def _exit_code(self) -> int | None:
        return self._process.wait(timeout=5) if self._process is not None else None

    def _relay_announcements(self, channel: IO[bytes]) -> None:
        with channel:
            while channel.read(1):
                self._new_records.announce()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdin is not None:
            process.stdin.close()


# --- inside the emulator's process --------------------------------------------------------------


def _announce_records(channel: IO[bytes], stopped: threading.Event) -> None:
    """One byte per wake: records added while the last byte was in flight are read with it."""
    seen = NEW_RECORDS.count()
    while not stopped.is_set():
        NEW_RECORDS.wait(seen, timeout=1.0)
        current = NEW_RECORDS.count()
        if current != seen:
            seen = current
            try:
                channel.write(b".")
            except OSError:  # the dev server is gone
                stopped.set()


def _until_closed(fd: int, stopped: threading.Event) -> None:
    # the raw descriptor: a daemon thread blocked in a buffered reader would stop the interpreter's exit
    while os.read(fd, 4096):
        pass
    stopped.set()


def serve(port: int, channel_fd: int) -> int:
    """moto's app served on `port`, adapted (moto_fixes) and holding the template's resources, until told to stop."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from local.aws.http_server import KeptAliveServer
    from local.aws.moto_fixes import adapt_moto
    from local.server import configure_logging
    from local.stack.template import create_aws_resources

    configure_logging()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the dev server decides
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopped.set())
    channel = os.fdopen(channel_fd, "wb", buffering=0)
    point_boto3_at(f"http://{HOST}:{port}")
    sweeper = adapt_moto()  # moto runs in this process: make it behave like DynamoDB (moto_fixes)
    server = KeptAliveServer((HOST, port), DomainDispatcherApplication(create_backend_app), IDLE_CONNECTION_SECONDS)
    threading.Thread(target=server.serve_forever, name="moto-server", daemon=True).start()  # listening already
    try:
        names = create_aws_resources(boto3.Session())
        channel.write(json.dumps(names).encode() + b"\n")
        threading.Thread(target=_announce_records, args=(channel, stopped), daemon=True).start()
        # the dev server gone (killed, even) closes this process's stdin
        threading.Thread(target=_until_closed, args=(sys.stdin.fileno(), stopped), daemon=True).start()
        while not stopped.wait(timeout=0.5):
            pass
    finally:
        sweeper.stop()
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    code = serve(int(sys.argv[1]), int(sys.argv[2]))
    sys.stdout.flush()
    # without waiting for a request in flight (a long poll holds its thread up to 20 s): the dev server is stopping
    os._exit(code)

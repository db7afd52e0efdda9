"""The dev server as a process: its log, its banner, and a clean stop on SIGTERM, idle or under load."""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from local.api.wsgi import port_is_free
from tests.e2e.client import Client, Reply
from tests.e2e.conftest import DevServer, launch

STOP_BUDGET_SECONDS = 5


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


def test_a_second_sigterm_does_not_cut_the_stop_short(tmp_path: Path) -> None:
    """A SIGTERM sent to the process group of `make dev` reaches the server twice: make passes it on too."""
    server = launch(tmp_path)
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: stopping" in server.stderr())
    assert server.stop(signal.SIGTERM) == 0, server.stderr()
    assert "stopped" in server.stderr()


# --- SIGTERM under load ------------------------------------------------------------------------

Process = tuple[int, int]  # (pid, start time in clock ticks): a pid alone may be reused


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def descendants(root: int) -> set[Process]:
    """Every process whose parent chain leads to `root` (fork server, environments, resource tracker …)."""
    children: dict[int, list[Process]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    found: set[Process] = set()
    parents = [root]
    while parents:
        for child in children.get(parents.pop(), []):
            found.add(child)
            parents.append(child[0])
    return found


def running(process: Process) -> bool:
    fields = _stat(process[0])
    return fields is not None and int(fields[19]) == process[1] and fields[0] not in ("Z", "X")


class Load:
    """`count` callers, each sending one request after another (creates, reads, patches, appends, lists)."""

    def __init__(self, api: Client, session_id: str, count: int) -> None:
        self.statuses: list[int] = []
        self._stopping = threading.Event()
        self._calls: list[Callable[[int], Reply]] = [
            lambda _: api.post("/v1/sessions", {"title": "load"}),
            lambda _: api.get(f"/v1/sessions/{session_id}"),
            lambda n: api.request("PATCH", f"/v1/sessions/{session_id}", {"metadata": {f"k{n}": "v"}}),
            lambda n: api.post(f"/v1/sessions/{session_id}/events", {"type": "message", "content": str(n)}),
            lambda _: api.get("/v1/sessions"),
        ]
        self._threads = [threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(count)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        deadline = time.monotonic() + 10  # a caller still waiting on a hung server is left behind (a daemon)
        for thread in self._threads:
            thread.join(timeout=max(0, deadline - time.monotonic()))

    def _run(self, index: int) -> None:
        call = self._calls[index % len(self._calls)]
        for round_ in itertools.count():
            if self._stopping.is_set():
                return
            try:
                self.statuses.append(call(index * 1000 + round_).status)
            except OSError:
                return  # the server has gone


def test_sigterm_under_load_stops_everything_within_five_seconds(tmp_path: Path) -> None:
    """Environments busy, requests in flight, the feeder publishing: SIGTERM still stops it all, and soon."""
    server = launch(tmp_path)
    pid = server.process.pid
    api = Client(server.api_url, timeout=60).as_(user="u-load", tenant=f"t-load-{pid}")
    created = api.post("/v1/sessions", {"title": "under load"})
    assert created.status == 201, created.body
    idle = descendants(pid)  # the fork server, the resource tracker and one warm environment per function
    seen = set(idle)

    try:
        with Load(api, created.json()["session_id"], count=30) as load:

            def loaded() -> bool:  # environments beyond the warm ones, and replies (so the stream has records)
                seen.update(descendants(pid))
                return len(seen) >= len(idle) + 4 and len(load.statuses) >= 10

            wait_for(loaded, timeout=60)
            assert {200, 201} & set(load.statuses), load.statuses
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            while server.process.poll() is None and time.monotonic() - started < STOP_BUDGET_SECONDS:
                seen.update(descendants(pid))  # an environment started while stopping counts too
                time.sleep(0.02)
            stopped_after = time.monotonic() - started
            exit_code = server.process.poll()
        while any(map(running, seen)) and time.monotonic() - started < STOP_BUDGET_SECONDS:
            time.sleep(0.02)
        left_behind = [process for process in seen if running(process)]
    finally:  # whatever failed, nothing of this server stays running
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        for process in seen:
            if running(process):
                os.kill(process[0], signal.SIGKILL)

    assert exit_code == 0, f"still running {STOP_BUDGET_SECONDS} s after SIGTERM:\n{server.stderr()[-5000:]}"
    assert stopped_after < STOP_BUDGET_SECONDS
    assert left_behind == [], "processes of the server outlived it"
    ports = [int(url.rpartition(":")[2]) for url in (server.api_url, server.lambda_url, server.moto_url)]
    assert [port for port in ports if not port_is_free(port)] == []
    log = server.stderr()
    assert "SIGTERM: stopping" in log
    assert "stopped" in log
    assert "Traceback" not in log, log[-5000:]


def test_the_emulator_keeps_a_connection_alive_across_calls(dev_server: DevServer) -> None:
    """Each boto3 call reuses its connection: a new connection per call cost the emulator a sixth of its CPU."""
    import http.client
    import json as json_module

    host, port = dev_server.moto_url.removeprefix("http://").split(":")
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    # as many as the dev server's environments, feeders and publisher threads keep (a server keeping only
    # some, as cheroot's default kept 10, closes the rest)
    connections = [http.client.HTTPConnection(host, int(port), timeout=10) for _ in range(40)]
    try:
        for _round in range(3):
            for connection in connections:
                connection.request("POST", "/", body="{}", headers=headers)
                response = connection.getresponse()
                body = json_module.loads(response.read())
                assert response.status == 200 and "TableNames" in body
                assert (response.getheader("Connection") or "").lower() != "close"
            time.sleep(0.2)  # a connection the server let go of is closed by now: the next round would fail on it
        assert all(connection.sock is not None for connection in connections)  # each socket served all three
    finally:
        for connection in connections:
            connection.close()


def test_the_emulator_serves_s3_as_moto_s_own_server_does(dev_server: DevServer) -> None:
    """Keys of any characters, metadata with underscores, large and unknown-length bodies, HEAD and 304."""
    import io

    import boto3
    import botocore.exceptions

    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=dev_server.moto_url)
    bucket = "emulator-http"
    s3.create_bucket(Bucket=bucket)
    for key in ["a b+c", "café/☕", "a%2Fb", "sl/ash?x=1#y", "t~!*'()"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode(), Metadata={"snake_case": "1", "kebab-case": "2"})
        got = s3.get_object(Bucket=bucket, Key=key)
        assert (got["Body"].read(), got["Metadata"]) == (key.encode(), {"snake_case": "1", "kebab-case": "2"})
    big = os.urandom(2 * 1024 * 1024)  # botocore sends it after "100 Continue" (the unit tests time that)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    s3.upload_fileobj(io.BytesIO(b"streamed"), bucket, "streamed")  # a body of unknown length
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(big)
    with pytest.raises(botocore.exceptions.ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="big", IfNoneMatch=head["ETag"])
    assert not_modified.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == b"streamed"  # the connection in step

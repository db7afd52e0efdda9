"""The dev server as the backend of a team's integration tests: many users, a mixed workload, nothing lost.

`make dev` is what a team points its own tests at, so it must hold a real workload. Each run starts
the dev server (multi-tenant: `DEFAULT_TENANT=`), adds an SQS target to its bus as a consumer would
(docs/events.md, "Trying it locally"), and lets `users` threads spread over TENANTS tenants run the
MIX on their own sessions for `seconds`. Each user keeps what it wrote (events, tokens, versions,
context), so every read is checked against it as it runs, and once the run ends: every session's
usage and version, each user's list and stats, and every lifecycle event on the bus. Reported:
throughput, p50/p95/p99 per operation, 5xx, and each event's lag from its write's response to its
arrival on the queue. `--root` runs another checkout's dev server (e.g. main's) for a before/after.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import DevServerApi, median, percentile, table
from local.launcher import launch_dev_server

TENANTS = 4
# the mix: weights in percent; a user replaces a session it deleted with a new one
MIX = {
    "append": 60,
    "append batch of 5": 10,
    "get": 10,
    "history page": 10,
    "context patch": 5,
    "list": 5,
    "delete": 1,
}
SESSIONS_PER_USER = 2  # live at any time: well under the open-session cap
IDLE_REPEAT = 20  # each operation's idle latency: the median of this many, one user alone, before the load
EVENTS_DRAIN_SECONDS = 30.0  # after the run, how long the events may take to reach the queue
QUEUE_NAME = "bench-load"
RECEIVERS = 4  # threads receiving from the queue


class LoadFailure(AssertionError):
    """A request or an event the contract promises is missing or wrong."""


@dataclass
class SessionModel:
    """What a user knows it wrote to one of its sessions."""

    session_id: str
    version: int = 1
    events: int = 0
    tokens: int = 0
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class UserRun:
    tenant: str
    user: str
    live: list[SessionModel] = field(default_factory=list)
    deleted: list[SessionModel] = field(default_factory=list)
    # (session_id, detail-type, version or None) → when the write that must publish it was answered
    expected_events: dict[tuple[str, str, int | None], float] = field(default_factory=dict)
    timings: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


class User:
    """Runs the mix on its own sessions and checks every answer against what it wrote."""

    def __init__(self, base_url: str, tenant: str, user: str, seed: int) -> None:
        self.run = UserRun(tenant, user)
        self._api = DevServerApi(base_url, tenant, user)
        self._random = random.Random(seed)
        self._operations = list(MIX)
        self._weights = list(MIX.values())

    def _timed(self, operation: str, expected: int, method: str, path: str, body: Any = None) -> Any:
        started = time.perf_counter()
        status, reply = self._api.call(method, path, body)
        self.run.timings.setdefault(operation, []).append((time.perf_counter() - started) * 1000)
        self.run.statuses[status] += 1
        if status != expected:
            raise LoadFailure(f"{operation} {method} {path}: {status} {reply}")
        return reply

    def _expect_event(self, session: SessionModel, detail_type: str, version: int | None) -> None:
        self.run.expected_events[(session.session_id, detail_type, version)] = time.time()

    def _check(self, what: str, ok: bool) -> None:
        if not ok:
            self.run.failures.append(what)

    def create(self) -> None:
        reply = self._timed("create", 201, "POST", "/v1/sessions", {"title": "load", "context": {}})
        session = SessionModel(reply["session_id"], version=reply["version"])
        self.run.live.append(session)
        self._expect_event(session, "session.created", session.version)

    def work_until(self, deadline: float) -> None:
        try:
            while len(self.run.live) < SESSIONS_PER_USER:
                self.create()
            while time.monotonic() < deadline:
                operation = self._random.choices(self._operations, self._weights)[0]
                getattr(self, "_" + operation.replace(" ", "_"))(self._random.choice(self.run.live))
        except (LoadFailure, OSError, ValueError) as error:
            self.run.failures.append(str(error))
        finally:
            self._api.close()

    def idle_round(self, repeat: int) -> None:
        """Each operation of the mix but delete, `repeat` times in turn on one session, alone on the server."""
        self.create()
        for _ in range(repeat):
            for operation in MIX:
                if operation != "delete":
                    getattr(self, "_" + operation.replace(" ", "_"))(self.run.live[0])
        timings = {operation: list(values) for operation, values in self.run.timings.items()}
        self.final_checks()  # what it wrote reads back exactly, as for the users under load
        self.run.timings = timings
        self._api.close()

    def _append(self, session: SessionModel) -> None:
        tokens = self._random.randint(1, 50)
        event = {"type": "message", "role": "user", "content": "turn " + "x" * 200, "usage": {"tokens": tokens}}
        reply = self._timed("append", 201, "POST", f"/v1/sessions/{session.session_id}/events", event)
        self._check(f"append seq {reply['seq']} != {session.events + 1}", reply["seq"] == session.events + 1)
        session.events, session.tokens, session.version = (
            session.events + 1,
            session.tokens + tokens,
            session.version + 1,
        )
        self._expect_event(session, "session.event_appended", session.version)

    def _append_batch_of_5(self, session: SessionModel) -> None:
        tokens = [self._random.randint(1, 50) for _ in range(5)]
        body = {
            "events": [
                {"type": "message", "role": "assistant", "content": "x" * 100, "usage": {"tokens": n}} for n in tokens
            ]
        }
        reply = self._timed("append batch of 5", 201, "POST", f"/v1/sessions/{session.session_id}/events", body)
        seqs = [event["seq"] for event in reply["events"]]
        self._check(f"batch seqs {seqs}", seqs == list(range(session.events + 1, session.events + 6)))
        session.events, session.tokens, session.version = (
            session.events + 5,
            session.tokens + sum(tokens),
            session.version + 1,
        )
        self._expect_event(session, "session.event_appended", session.version)

    def _get(self, session: SessionModel) -> None:
        reply = self._timed("get", 200, "GET", f"/v1/sessions/{session.session_id}")
        self._check_session(reply, session)

    def _history_page(self, session: SessionModel) -> None:
        reply = self._timed(
            "history page", 200, "GET", f"/v1/sessions/{session.session_id}/history?limit=20&order=desc"
        )
        seqs = [event["seq"] for event in reply["events"]]
        newest = list(range(session.events, max(0, session.events - 20), -1))
        self._check(
            f"history of {session.session_id}: total {reply['total']}, seqs {seqs[:3]}…",
            reply["total"] == session.events and seqs == newest,
        )

    def _context_patch(self, session: SessionModel) -> None:
        key = f"k{self._random.randint(0, 9)}"
        value = self._random.randint(0, 1_000_000)
        reply = self._timed(
            "context patch", 200, "PATCH", f"/v1/sessions/{session.session_id}", {"context": {key: value}}
        )
        changed = session.context.get(key) != value
        session.context[key] = value
        if changed:
            session.version += 1
            self._expect_event(session, "session.updated", session.version)
        self._check_session(reply, session)

    def _list(self, _session: SessionModel) -> None:
        reply = self._timed("list", 200, "GET", "/v1/sessions?limit=100")
        listed = sorted(item["session_id"] for item in reply["sessions"])
        self._check(f"list of {self.run.user}: {listed}", listed == sorted(s.session_id for s in self.run.live))

    def _delete(self, session: SessionModel) -> None:
        self._timed("delete", 204, "DELETE", f"/v1/sessions/{session.session_id}")
        self.run.live.remove(session)
        self.run.deleted.append(session)
        self._expect_event(session, "session.deleted", None)
        self.create()

    def _check_session(self, reply: dict[str, Any], session: SessionModel) -> None:
        usage = reply["usage"]
        seen = (reply["version"], usage["event_count"], usage["tokens_used"], reply.get("context"))
        wanted = (session.version, session.events, session.tokens, session.context)
        self._check(f"session {session.session_id}: {seen} != {wanted}", seen == wanted)

    def final_checks(self) -> None:
        """Every live session as written, every deleted one gone, the list and the stats exact."""
        try:
            for session in self.run.live:
                self._get(session)
            for session in self.run.deleted:
                status, _ = self._api.call("GET", f"/v1/sessions/{session.session_id}")
                self._check(f"deleted {session.session_id} reads {status}", status == 404)
            self._list(self.run.live[0])
            _, stats = self._api.call("GET", "/v1/sessions/stats")
            every = self.run.live + self.run.deleted
            seen = (
                stats["sessions"]["active"],
                stats["created_total"],
                stats["deleted_total"],
                stats["events_total"],
                stats["tokens_used_total"],
            )
            wanted = (
                len(self.run.live),
                len(every),
                len(self.run.deleted),
                sum(s.events for s in every),
                sum(s.tokens for s in every),
            )
            self._check(f"stats of {self.run.user}: {seen} != {wanted}", seen == wanted)
        finally:
            self._api.close()


class BusConsumer:
    """An SQS target on the dev server's bus; notes when each lifecycle event arrives."""

    def __init__(self, moto_url: str, queue_name: str = QUEUE_NAME) -> None:
        import boto3

        local = "local"  # the emulator's dummy credentials (local/aws/emulator.py)
        session = boto3.Session(aws_access_key_id=local, aws_secret_access_key=local, region_name="us-east-1")
        self._sqs = session.client("sqs", endpoint_url=moto_url)
        events = session.client("events", endpoint_url=moto_url)
        bus = next(b["Name"] for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default")
        self._queue_url = self._sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._events, self._bus, self._rule = events, bus, queue_name
        events.put_rule(Name=queue_name, EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule=queue_name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        self.arrived: dict[tuple[str, str, int | None], float] = {}
        # when the bus put each event on the queue (SQS's SentTimestamp): the lag without the consumer's own
        self.queued: dict[tuple[str, str, int | None], float] = {}
        self._stopping = threading.Event()
        # several receivers, as a consumer keeping up with a busy queue would run: one receive (10 messages at
        # most) and one delete per 10 events, each a round trip to the loaded emulator, fell behind ~60 events/s
        self._threads = [
            threading.Thread(target=self._receive, name=f"bus-consumer-{n}", daemon=True) for n in range(RECEIVERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop receiving, and take the rule off the bus (it would cost every later event a delivery)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._events.remove_targets(Rule=self._rule, EventBusName=self._bus, Ids=["q"])
        self._events.delete_rule(Name=self._rule, EventBusName=self._bus)

    def _receive(self) -> None:
        while not self._stopping.is_set():
            # long polling, as a consumer would: an empty queue costs a wait, not a receive every few ms
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, AttributeNames=["SentTimestamp"], WaitTimeSeconds=1
            ).get("Messages", [])
            now = time.time()
            for message in messages:
                event = json.loads(message["Body"])
                detail = event.get("detail", {})
                version = None if event["detail-type"] == "session.deleted" else detail.get("version")
                key = (detail.get("session_id", ""), event["detail-type"], version)
                self.arrived.setdefault(key, now)
                self.queued.setdefault(key, int(message["Attributes"]["SentTimestamp"]) / 1000)
            if messages:
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )


def _process_tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds so far of the dev server's processes by role, read from /proc (Linux); {} elsewhere.

    Where a request's CPU goes, whatever else runs on the machine: the throughput of a 2-core
    machine is bounded by the sum, and the emulator by its own share of one core (one interpreter).
    """
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, float, bytes]] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        pid, parent = int(entry.name), int(fields[1])
        stats[pid] = (parent, (int(fields[11]) + int(fields[12])) / tick, command)
        children.setdefault(parent, []).append(pid)
    cpu: dict[str, float] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        if pid not in stats:
            continue
        _, seconds, command = stats[pid]
        role = "dev server" if pid == root else "emulator" if b"local.aws.emulator" in command else "functions"
        cpu[role] = cpu.get(role, 0.0) + seconds
    if cpu:
        cpu["load client"] = time.process_time()  # the users' threads and the bus consumer
    return cpu


def _cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    per = {role: (after[role] - before.get(role, 0.0)) * 1000 / max(requests, 1) for role in after}
    return per | {"total": sum(per.values())} if per else {}


def run_load(users: int, seconds: float, root: Path | None = None) -> dict[str, Any]:
    """One dev server, `users` users for `seconds`, then the no-loss checks; the figures."""
    environment = {**os.environ, "DEFAULT_TENANT": "", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as log_dir:
        server = launch_dev_server(Path(log_dir), environment, root=root)
        try:
            consumer = BusConsumer(server.moto_url)
            consumer.start()
            tag = uuid.uuid4().hex[:6]
            alone = User(server.api_url, f"idle-{tag}", "u-idle", seed=-1)
            alone.idle_round(IDLE_REPEAT)
            people = [User(server.api_url, f"t{n % TENANTS}-{tag}", f"u{n}", seed=n) for n in range(users)]
            load_average = os.getloadavg()[0]
            cpu_before = _process_tree_cpu(server.process.pid)
            started = time.monotonic()
            threads = [threading.Thread(target=p.work_until, args=(started + seconds,)) for p in people]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            ended = time.time()
            expected = {key: at for p in people for key, at in p.run.expected_events.items()}
            on_time_at_end = sum(1 for key in expected if key in consumer.arrived)
            drain_deadline = time.monotonic() + EVENTS_DRAIN_SECONDS
            while time.monotonic() < drain_deadline and any(key not in consumer.arrived for key in expected):
                time.sleep(0.2)
            drained_after = max((consumer.arrived.get(key, ended) for key in expected), default=ended) - ended
            cpu_after = _process_tree_cpu(server.process.pid)  # the events' publishing included
            consumer.stop()
            for person in people:
                person.final_checks()
            load_average_after = os.getloadavg()[0]
        finally:
            log = server.stderr()
            server.stop(signal.SIGINT)
    figures = _figures(
        people, consumer.arrived, expected, elapsed, on_time_at_end, drained_after, (load_average, load_average_after)
    )
    queue_lags = [(consumer.queued[key] - at) * 1000 for key, at in expected.items() if key in consumer.queued]
    figures |= {"event_queued_lag_p50_ms": median(queue_lags), "event_queued_lag_p95_ms": percentile(queue_lags, 0.95)}
    figures["function_errors"] = function_errors(log)
    figures["cpu_ms_per_request"] = _cpu_per_request(cpu_before, cpu_after, figures["requests"])
    if alone.run.failures:
        figures["failures"] = [*alone.run.failures, *figures["failures"]][:20]
        figures["failure_count"] += len(alone.run.failures)
    figures["idle_p50_ms"] = {operation: median(values) for operation, values in alone.run.timings.items()}
    return figures


def function_errors(log: str) -> dict[str, int]:
    """What made the API answer 500, by Lambda error type, from the dev server's log (e.g. Sandbox.Timedout)."""
    errors: Counter[str] = Counter()
    for payload in re.findall(r"Function failed: (\{.*\})$", log, re.MULTILINE):
        try:
            errors[str(json.loads(payload).get("errorType", "unknown"))] += 1
        except ValueError:
            errors["unknown"] += 1
    return dict(errors)


def _figures(
    people: Sequence[User],
    arrived: dict[tuple[str, str, int | None], float],
    expected: dict[tuple[str, str, int | None], float],
    elapsed: float,
    on_bus_at_end: int,
    drained_after: float,
    load: tuple[float, float],
) -> dict[str, Any]:
    timings: dict[str, list[float]] = {}
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for person in people:
        for operation, values in person.run.timings.items():
            timings.setdefault(operation, []).extend(values)
        statuses.update(person.run.statuses)
        failures += person.run.failures
    lags = [(arrived[key] - at) * 1000 for key, at in expected.items() if key in arrived]
    requests = sum(len(values) for values in timings.values())
    return {
        "users": len(people),
        "seconds": elapsed,
        "requests": requests,
        "requests_per_s": requests / elapsed,
        "operations": {
            operation: {
                "count": len(values),
                "p50_ms": median(values),
                "p95_ms": percentile(values, 0.95),
                "p99_ms": percentile(values, 0.99),
                "max_ms": max(values),
            }
            for operation, values in sorted(timings.items(), key=lambda item: -len(item[1]))
        },
        "status_5xx": sum(count for status, count in statuses.items() if status >= 500),
        "failures": failures[:20],
        "failure_count": len(failures),
        "events_expected": len(expected),
        "events_lost": sum(1 for key in expected if key not in arrived),
        "events_on_bus_at_end": on_bus_at_end,
        "events_drained_after_s": max(0.0, drained_after),
        "event_lag_p50_ms": median(lags),
        "event_lag_p95_ms": percentile(lags, 0.95),
        "event_lag_max_ms": max(lags, default=float("nan")),
        "load_average": list(load),
    }


def no_loss(figures: dict[str, Any]) -> bool:
    return figures["failure_count"] == 0 and figures["status_5xx"] == 0 and figures["events_lost"] == 0


def report(label: str, figures: dict[str, Any]) -> str:
    rows = [
        [op, f["count"], f["p50_ms"], f["p95_ms"], f["p99_ms"], f["max_ms"]] for op, f in figures["operations"].items()
    ]
    title = (
        f"  {label}: {figures['users']} users, {figures['requests_per_s']:.1f} requests/s"
        f" over {figures['seconds']:.0f} s"
        f" (load average {figures['load_average'][0]:.2f} → {figures['load_average'][1]:.2f})"
    )
    lines = [
        table(["operation (ms)", "count", "p50", "p95", "p99", "max"], rows, title=title),
        f"  lifecycle events: {figures['events_expected']} expected, {figures['events_on_bus_at_end']} on the bus when "
        f"the run ended, {figures['events_lost']} lost; lag from the write p50 {figures['event_lag_p50_ms']:.0f} ms, "
        f"p95 {figures['event_lag_p95_ms']:.0f} ms, max {figures['event_lag_max_ms']:.0f} ms"
        + (
            f" (put on the queue by the bus: p50 {figures['event_queued_lag_p50_ms']:.0f} ms, "
            f"p95 {figures['event_queued_lag_p95_ms']:.0f} ms; the rest is the consumer's receiving)"
            if "event_queued_lag_p50_ms" in figures
            else ""
        ),
        *(
            [
                f"  idle (one user alone, before the load; median of {IDLE_REPEAT}, ms): "
                + ", ".join(f"{operation} {ms:.1f}" for operation, ms in figures["idle_p50_ms"].items())
            ]
            if figures.get("idle_p50_ms")
            else []
        ),
        *(
            [
                "  CPU per request (ms, each process's over the run and the events' publishing): "
                + ", ".join(f"{role} {ms:.1f}" for role, ms in figures["cpu_ms_per_request"].items())
            ]
            if figures.get("cpu_ms_per_request")
            else []
        ),
        f"  no-loss checks: {figures['status_5xx']} x 5xx"
        + (f" (function errors: {figures['function_errors']})" if figures.get("function_errors") else "")
        + f", {figures['failure_count']} wrong answers"
        + (f" (first: {figures['failures'][0]})" if figures["failures"] else "")
        + f": {'OK' if no_loss(figures) else 'FAILED'}",
    ]
    return "\n".join(lines)


def run(seconds: float = 60.0, users: Sequence[int] = (24, 48), baseline: Path | None = None) -> dict[str, Any]:
    """Each user count on this checkout's dev server (and, with `baseline`, on that checkout's, alternately)."""
    figures: dict[str, Any] = {"runs": {}}
    print(f"  the dev server under load: the issue's mix for {seconds:.0f} s, users over {TENANTS} tenants")
    for count in users:
        subjects = [("this", None)] + ([("baseline", baseline)] if baseline else [])
        for label, root in subjects:
            result = run_load(count, seconds, root)
            figures["runs"][f"{label} {count}"] = result
            name = "this checkout" if root is None else f"baseline ({root})"
            print(report(name, result), flush=True)
    return figures

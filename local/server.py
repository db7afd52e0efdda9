"""`make dev`: the API, Lambda's Invoke API and an AWS emulator, wired from template.yaml.

Everything that runs beside the main thread is a Worker (start/stop): the emulator, the two
HTTP servers, and the background event sources listed by `background_workers`; the functions run
in the runtime's worker processes. On Ctrl-C or SIGTERM everything stops within a few seconds,
even under load, and the process exits 0 with no child left: first what starts invocations (the
event sources and the HTTP servers stop taking work), then the runtime ends every environment
(busy ones are killed, so no invocation in flight holds the stop up), then the event sources'
threads are joined, then the emulator stops, and last the fork server and resource tracker that
multiprocessing started for the environments.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from local.api.docs import Docs
from local.api.http_api import HttpApi
from local.api.wsgi import HttpServer, LoggedApp, port_is_free
from local.aws.emulator import HOST, AwsEmulator
from local.aws.moto_streams import NEW_RECORDS
from local.event_sources.scheduler import Scheduler, schedule_override, scheduled_functions
from local.event_sources.stream_feeder import StreamFeeder, queue_sink, shared_table_streams, stream_sources
from local.functions.invoke_api import LambdaApi
from local.functions.runtime import LambdaRuntime, stop_process_servers
from local.stack.config import Ports, function_limits, with_shell_overrides
from local.stack.template import FunctionSpec, function_specs, load_template, local_resolver

LOG = logging.getLogger("local")


class Worker(Protocol):
    """Anything that runs for as long as the server does."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class EventSource(Worker, Protocol):
    """A worker that invokes functions by itself; `stop` waits for an invocation in flight."""

    def request_stop(self) -> None:
        """Start no invocation any more, without waiting."""


@dataclass(frozen=True)
class LocalStack:
    """What the background workers get: the template, the emulator's resources and the functions."""

    template: dict[str, Any]
    names: dict[str, str]  # logical id → physical name (table, bus)
    specs: dict[str, FunctionSpec]
    runtime: LambdaRuntime
    emulator_url: str


def background_workers(stack: LocalStack) -> list[EventSource]:
    """The event sources AWS runs for the deployed stack, run locally, all read from the template.

    A feeder per `Type: DynamoDB` event reads the table's stream as soon as the emulator announces a
    write and invokes the function as Lambda's event-source mapping would (so lifecycle events reach
    the local bus within a second); the feeders of one table read it once between them (SharedStream),
    and one scheduler runs every `Type: Schedule` event on its rate (LOCAL_SCHEDULE_SECONDS
    overrides every rate, for trying a schedule out).
    """
    resolver = local_resolver(stack.names, stack.template)
    sources = stream_sources(stack.template, resolver)
    streams = shared_table_streams(sources, stack.names)  # the feeders of one table share its reads
    workers: list[EventSource] = [
        StreamFeeder(
            source,
            streams[source.table].subscriber(),
            stack.runtime.invoke,
            on_failure=queue_sink(stack.names[source.on_failure]) if source.on_failure in stack.names else None,
            new_records=NEW_RECORDS,  # the emulator runs in this process: a write wakes the feeder
        )
        for source in sources
    ]
    schedules = scheduled_functions(stack.template, resolver, schedule_override(os.environ))
    if schedules:
        workers.append(Scheduler(schedules, stack.runtime.invoke))
    return workers


def configure_logging() -> None:
    """One line per request on stderr; stdout stays the functions' own (JSON) logs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    local = logging.getLogger("local")
    local.addHandler(handler)
    local.setLevel(logging.INFO)
    local.propagate = False
    for noisy in ("werkzeug", "moto"):  # their per-request logs would double ours
        logging.getLogger(noisy).setLevel(logging.WARNING)


def start(ports: Ports, running: ExitStack) -> tuple[LocalStack, list[Worker]]:
    """Start everything; `running` stops what started when it closes (in reverse order of the callbacks)."""
    running.callback(stop_process_servers)  # last, once no environment holds the fork server's pipes
    emulator = AwsEmulator(ports.moto)
    running.callback(emulator.stop)
    emulator.start()

    template = load_template()
    resolver = local_resolver(emulator.names, template)
    specs, overrides = with_shell_overrides(function_specs(template, resolver), emulator.names, os.environ)
    for key, value in sorted(overrides.items()):
        LOG.info("from the shell: %s=%s", key, value)
    runtime = LambdaRuntime(specs, function_limits(template, specs, resolver))
    stack = LocalStack(template, emulator.names, specs, runtime, emulator.url)
    sources = background_workers(stack)
    for source in sources:
        running.callback(source.stop)  # joined after the runtime closes, which ends what they wait for
    running.callback(runtime.close)
    for function, error in runtime.warm().items():
        LOG.warning("%s cannot start: %s", function, error)

    servers = [
        HttpServer("api", HOST, ports.api, LoggedApp("api", HttpApi(specs, runtime.invoke, Docs()))),
        HttpServer("lambda", HOST, ports.lambda_api, LoggedApp("lambda", LambdaApi(runtime.invoke, runtime.functions))),
    ]
    for server in servers:
        server.start()
        running.callback(server.stop)
    for source in sources:
        source.start()
        running.callback(source.request_stop)  # first of all: no new invocation from the event sources
    return stack, [emulator, *servers, *sources]


def banner(ports: Ports, stack: LocalStack, workers: list[Worker]) -> str:
    api = f"http://{HOST}:{ports.api}"
    names = ", ".join(f"{logical} = {physical}" for logical, physical in sorted(stack.names.items()))
    default_tenant = next((spec.environment.get("DEFAULT_TENANT") for spec in stack.specs.values() if spec.routes), "")
    # DEFAULT_TENANT= make dev refuses callers without X-Tenant-Id, as a multi-tenant stack does
    tenant = f"none: tenant {default_tenant!r}" if default_tenant else "required"
    return "\n".join(
        [
            "Session service, local",
            f"  API            {api}   (docs {api}/docs, OpenAPI {api}/openapi.json)",
            f"  Lambda invoke  http://{HOST}:{ports.lambda_api}   (functions: {', '.join(stack.runtime.functions)})",
            f"  AWS emulator   {stack.emulator_url}   ({names})",
            f"  running        {', '.join(worker.name for worker in workers)}",
            f"  Identity comes from X-User-Id, X-Tenant-Id ({tenant}) and X-Roles headers. Ctrl-C stops.",
        ]
    )


def main() -> int:
    configure_logging()
    try:
        ports = Ports.from_environ(os.environ)
    except ValueError as exc:
        LOG.error("%s", exc)
        return 2
    busy = [port for port in ports if not port_is_free(port)]
    if busy:
        LOG.error("port %s already in use; set PORT, LAMBDA_PORT or MOTO_PORT", ", ".join(map(str, busy)))
        return 1

    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("%s: stopping", signal.Signals(signum).name)
        stopping.set()
        # a second Ctrl-C stops at once; a second SIGTERM changes nothing, as it is often the same one
        # again: make passes on to its child (this process) a SIGTERM sent to the whole process group
        signal.signal(signum, signal.SIG_DFL if signum == signal.SIGINT else signal.SIG_IGN)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with ExitStack() as running:
        stack, workers = start(ports, running)
        print(banner(ports, stack, workers), file=sys.stderr, flush=True)
        while not stopping.wait(timeout=0.5):
            pass
    LOG.info("stopped")
    return 0

"""Lambda's execution model, locally: the template's functions run in worker processes.

Each process is one "execution environment": it imports the handler once (the init phase),
then serves one invocation at a time, and more are started on demand while all are busy,
as Lambda scales out. Processes rather than threads, because handler code may assume one
request at a time, as Lambda guarantees: Powertools' event handler keeps the current event in
a class attribute (BaseRouter.current_event), so two threads would read each other's event,
body and caller. Separate processes keep concurrent requests apart and still run in parallel.

Closing the runtime ends every environment at once: an idle one exits when its pipe closes, a busy
one is killed (its invocation ends as if the environment had crashed), and none starts afterwards.
`stop_process_servers` then stops the fork server and resource tracker that multiprocessing started.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import signal
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from local.api.gateway import Handler, LambdaContext, load_handler
from local.stack.template import FunctionSpec

# beyond this, invocations wait for a free environment (their timeout starts when one takes them).
# Lambda gives each environment its own CPU share; here they share the machine's cores, and more
# than a few busy processes per core only thrash: 40 writers racing on one session took twice
# the attempts with 16 environments as with 8 on 2 cores (python -m bench contention)
MAX_ENVIRONMENTS_PER_FUNCTION = max(8, 4 * (os.cpu_count() or 1))
INIT_TIMEOUT_SECONDS = 10  # Lambda's limit on the init phase
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's limit on a synchronous invocation's response
CLOSE_TIMEOUT_SECONDS = 2  # how long closing waits for environments to exit before killing them
# imported once in the fork server, so a new environment starts in milliseconds
_PRELOAD = ["boto3", "botocore.session", "aws_lambda_powertools.event_handler", "local.api.gateway"]


class FunctionNotFound(LookupError):
    """No function of the template has this logical id."""


@dataclass(frozen=True)
class Limits:
    timeout_seconds: int = 3  # Lambda's defaults
    memory_mb: int = 128


@dataclass(frozen=True)
class Invocation:
    """What a synchronous invoke returns: the JSON payload and whether it is a function error."""

    request_id: str
    payload: str
    function_error: bool = False

    def result(self) -> Any:
        return json.loads(self.payload)


def error_payload(error_type: str, message: str) -> str:
    """The body Lambda returns for an unhandled error (no stack trace leaves the function)."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []})


class _InitError(Exception):
    def __init__(self, payload: str) -> None:
        super().__init__(payload)
        self.payload = payload


# --- inside an execution environment -----------------------------------------------------------


def _serve(spec: FunctionSpec, limits: Limits, connection: Connection) -> None:
    """An environment's life: init once, then one invocation at a time until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the server decides
    # the HTTP functions publish only the cold-start metric, on purpose: Powertools' warning about it
    # would repeat in the dev server's log for every new environment
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    os.environ.update(spec.environment)
    try:
        handler = load_handler(spec)
    except Exception as exc:
        traceback.print_exc()
        _reply(connection, True, error_payload("Runtime.ImportModuleError", f"Unable to import module: {exc}"))
        return
    if not _reply(connection, False, ""):  # initialised
        return
    while True:
        try:
            request_id, event_json = connection.recv()
        except (EOFError, OSError):  # the server closed the pipe, or is gone: the environment ends
            return
        context = LambdaContext(spec.logical_id, limits.memory_mb, limits.timeout_seconds, request_id)
        if not _reply(connection, *_run(handler, event_json, context)):
            return


def _run(handler: Handler, event_json: str, context: LambdaContext) -> tuple[bool, str]:
    """(function error?, JSON payload) of one invocation."""
    try:
        result = handler(json.loads(event_json), context)
    except Exception as exc:
        traceback.print_exc()  # Lambda logs the trace; the caller only gets type and message
        return True, error_payload(type(exc).__name__, str(exc))
    try:
        payload = json.dumps(result, ensure_ascii=False)  # as Lambda's Python 3.12+ runtimes serialize it
    except (TypeError, ValueError) as exc:
        return True, error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}")
    if len(payload.encode("utf-8", errors="surrogatepass")) > MAX_RESPONSE_BYTES:
        # Lambda refuses to return it: the caller (API Gateway: a 500) gets this error instead
        message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        return True, error_payload("Function.ResponseSizeTooLarge", message)
    return False, payload


def _reply(connection: Connection, failed: bool, payload: str) -> bool:
    """Send a reply; False when nobody is listening any more (the server gave up or is gone)."""
    try:
        connection.send((failed, payload))
    except OSError:
        return False
    return True


# --- seen from the server ----------------------------------------------------------------------


class _Environment:
    """The server's handle on one execution environment (a process and its pipe).

    The thread that invokes it owns the pipe. Another thread only kills the process (which ends a wait
    on the pipe at once) or closes the pipe of an environment nobody invokes.
    """

    def __init__(self, context: BaseContext, spec: FunctionSpec, limits: Limits) -> None:
        self._limits = limits
        self._closed = False
        self._ending = threading.Lock()  # one thread at a time closes the pipe or waits for the process
        self._connection, child = context.Pipe()
        self._process = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(spec, limits, child), name=f"{spec.logical_id}-environment", daemon=True
        )
        self._process.start()
        child.close()

    def initialise(self) -> None:
        """Wait for the init phase; _InitError when it fails, outlasts its limit or the process dies."""
        failed, payload = self._receive(
            INIT_TIMEOUT_SECONDS, "Runtime.InitError", f"init timed out after {INIT_TIMEOUT_SECONDS} seconds"
        )
        if failed:
            self.close()
            raise _InitError(payload)

    @property
    def alive(self) -> bool:
        return not self._closed and self._process.is_alive()

    def invoke(self, request_id: str, event_json: str) -> tuple[bool, str]:
        """(function error?, JSON payload) of one invocation."""
        try:
            self._connection.send((request_id, event_json))
        except OSError:
            self.close()
            return True, error_payload("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited")
        timeout = self._limits.timeout_seconds
        return self._receive(
            timeout, "Sandbox.Timedout", f"RequestId: {request_id} Task timed out after {timeout:.2f} seconds"
        )

    def _receive(self, timeout: float, timeout_type: str, timeout_message: str) -> tuple[bool, str]:
        """The environment's reply; a timeout or a dead process ends the environment, as in Lambda."""
        try:
            if self._connection.poll(timeout):
                failed, payload = self._connection.recv()
                return bool(failed), str(payload)
        except (EOFError, OSError):
            self.close()
            return True, error_payload("Runtime.ExitError", "Error: Runtime exited")
        self.close(kill=True)
        return True, error_payload(timeout_type, timeout_message)

    def close(self, *, kill: bool = False) -> None:
        """An idle environment exits when its pipe closes; a busy or hung one is killed."""
        self.close_pipe()
        if kill:
            self.kill()
        self.wait(timeout=1)

    def close_pipe(self) -> None:
        """Tell the environment to exit, without waiting; only while nobody else uses the pipe."""
        with self._ending:
            self._closed = True
            self._connection.close()

    def kill(self) -> None:
        """End the process now, from any thread."""
        self._process.kill()

    def wait(self, timeout: float) -> None:
        """Wait at most `timeout` seconds for the process to exit, then kill it."""
        with self._ending:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


class _Closed(Exception):
    """The runtime is closed: no environment starts any more."""


class _Pool:
    """A function's environments: reuse an idle one, else start one (a cold start), up to a cap."""

    def __init__(self, start: Callable[[], _Environment], size: int) -> None:
        self._start = start
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Environment] = []
        self._every: set[_Environment] = set()
        self._closed = False
        self._starting = 0  # processes being started
        self._started = threading.Condition(self._lock)

    @contextmanager
    def environment(self) -> Iterator[_Environment]:
        with self._slots:
            with self._lock:
                environment = self._idle.pop() if self._idle else None
            if environment is None:
                environment = self._cold_start()
            try:
                yield environment
            finally:
                self._give_back(environment)

    def warm(self) -> None:
        with self.environment():
            pass

    def _cold_start(self) -> _Environment:
        with self._lock:
            if self._closed:
                raise _Closed
            self._starting += 1
        try:
            environment = self._start()
        finally:
            with self._lock:
                self._starting -= 1
                self._started.notify_all()
        with self._lock:
            closed = self._closed
            if not closed:
                self._every.add(environment)
        if closed:  # while it started: closing the pool did not see it
            environment.close(kill=True)
            raise _Closed
        try:
            environment.initialise()
        except _InitError:
            with self._lock:
                self._every.discard(environment)
            raise
        return environment

    def _give_back(self, environment: _Environment) -> None:
        with self._lock:
            if environment.alive and not self._closed:
                self._idle.append(environment)
                return
            self._every.discard(environment)
        environment.close()

    def close(self, deadline: float) -> list[_Environment]:
        """Start no more environments and end every one; returns them, to wait for.

        Waits only for processes being started (until `deadline`, a time.monotonic() value).

        An idle environment is told to exit; a busy one (or one in its init phase) is killed, so that
        the invocation waiting on it ends at once, as if the environment had crashed.
        """
        with self._lock:
            self._closed = True
            # no process start may outlast closing (it could restart a fork server stopped after it)
            self._started.wait_for(lambda: self._starting == 0, timeout=max(0.0, deadline - time.monotonic()))
            idle, busy = self._idle, [environment for environment in self._every if environment not in self._idle]
            self._idle, self._every = [], set()
        for environment in idle:
            environment.close_pipe()
        for environment in busy:
            environment.kill()
        return idle + busy


def _process_context() -> BaseContext:
    # a fork server forks from a clean, single-threaded process; forking this threaded one is unsafe
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


class LambdaRuntime:
    """Invokes the template's functions by logical id, each in its own execution environments.

    Environments inherit the process environment at the time the first one starts, then apply
    their function's variables: set AWS_* variables before the first invocation.
    """

    def __init__(
        self,
        specs: Mapping[str, FunctionSpec],
        limits: Mapping[str, Limits],
        max_environments: int = MAX_ENVIRONMENTS_PER_FUNCTION,
    ) -> None:
        context = _process_context()
        self._pools = {
            name: _Pool(functools.partial(_Environment, context, spec, limits.get(name, Limits())), max_environments)
            for name, spec in specs.items()
        }

    @property
    def functions(self) -> list[str]:
        return sorted(self._pools)

    def invoke(self, function: str, event: Any) -> Invocation:
        """Run one invocation; a function error is a result, not an exception (FunctionNotFound is)."""
        pool = self._pools.get(function)
        if pool is None:
            raise FunctionNotFound(function)
        request_id = str(uuid.uuid4())
        event_json = json.dumps(event)
        try:
            with pool.environment() as environment:
                function_error, payload = environment.invoke(request_id, event_json)
        except _InitError as failed:
            return Invocation(request_id, failed.payload, function_error=True)
        except _Closed:
            return Invocation(request_id, error_payload("Runtime.Closed", "the dev server is stopping"), True)
        return Invocation(request_id, payload, function_error)

    def warm(self) -> dict[str, str]:
        """Start one environment per function, in parallel; returns the init errors by function."""
        failures: dict[str, str] = {}

        def warm(name: str) -> None:
            try:
                self._pools[name].warm()
            except _InitError as failed:
                failures[name] = json.loads(failed.payload)["errorMessage"]

        with ThreadPoolExecutor(max_workers=max(1, len(self._pools))) as pool:
            list(pool.map(warm, self._pools))
        return failures

    def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """End every environment (idle ones exit, busy ones are killed) and start none afterwards.

        Waits at most `timeout` seconds in all for them to exit, then kills what is left: an invocation
        in flight ends with Runtime.ExitError rather than holding up whoever closes the runtime.
        """
        deadline = time.monotonic() + timeout
        environments = [environment for pool in self._pools.values() for environment in pool.close(deadline)]
        for environment in environments:
            environment.wait(max(0.0, deadline - time.monotonic()))


def stop_process_servers(timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
    """Stop the fork server and the resource tracker that multiprocessing started for the environments.

    Both exit by themselves once every process holding their pipes has, this one included, so they
    would outlive it for a moment. Call after closing every runtime of the process; waits at most
    `timeout` seconds.
    """

    def stop() -> None:
        # private methods (what CPython's own tests use), the only way to stop either; no-ops when not running
        multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]
        multiprocessing.resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]

    stopping = threading.Thread(target=stop, name="stop-process-servers", daemon=True)
    stopping.start()
    stopping.join(timeout)

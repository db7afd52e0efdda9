"""The dev server's execution environments, driven directly with throwaway handlers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local.functions.runtime import FunctionNotFound, LambdaRuntime, Limits
from local.stack.template import FunctionSpec, function_specs, load_template, local_resolver

ECHO = """
import os, time

CURRENT = None  # module state, as handlers keep it: safe only one request at a time


def lambda_handler(event, context):
    global CURRENT
    CURRENT = event
    action = event.get("action")
    if action == "raise":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    if action == "unmarshalable":
        return {"value": object()}
    return {
        "event": CURRENT,
        "greeting": os.environ.get("GREETING"),
        "function": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
    }
"""


def spec(directory: Path, name: str, source: str) -> FunctionSpec:
    directory.mkdir()
    (directory / "app.py").write_text(source)
    return FunctionSpec(name, directory, "app.lambda_handler", {"GREETING": f"hello from {name}"}, [])


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaRuntime]:
    root = tmp_path_factory.mktemp("functions")
    specs = {
        "EchoFunction": spec(root / "echo", "EchoFunction", ECHO),
        "BrokenFunction": spec(root / "broken", "BrokenFunction", "import no_such_module_anywhere\n"),
        "UnconfiguredFunction": unconfigured_get_session(),
    }
    runtime = LambdaRuntime(specs, {"EchoFunction": Limits(timeout_seconds=1)}, max_environments=8)
    yield runtime
    runtime.close()


def unconfigured_get_session() -> FunctionSpec:
    """The template's GetSessionFunction with TABLE_NAME blank (blank counts as unset; this process has it set)."""
    get_session = function_specs(load_template(), local_resolver({}))["GetSessionFunction"]
    return FunctionSpec(
        "UnconfiguredFunction",
        get_session.code_uri,
        get_session.handler,
        {**get_session.environment, "TABLE_NAME": " "},
        [],
    )


def error_of(payload: str) -> dict[str, Any]:
    body = json.loads(payload)
    assert set(body) == {"errorMessage", "errorType", "stackTrace"}
    assert body["stackTrace"] == []
    return body


def test_a_function_runs_with_its_environment_context_and_event(runtime: LambdaRuntime) -> None:
    invocation = runtime.invoke("EchoFunction", {"hello": "world"})
    assert not invocation.function_error
    result = invocation.result()
    assert result["event"] == {"hello": "world"}
    assert result["greeting"] == "hello from EchoFunction"
    assert result["function"] == "EchoFunction"
    assert 0 < result["remaining_ms"] <= 1000


def test_concurrent_invocations_run_in_parallel_each_with_its_own_module_state(runtime: LambdaRuntime) -> None:
    count = 6
    barrier = threading.Barrier(count)

    def call(index: int) -> Any:
        barrier.wait()
        return runtime.invoke("EchoFunction", {"action": "sleep", "seconds": 0.5, "index": index}).result()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(call, range(count)))
    assert time.monotonic() - started < 0.5 * count / 2, "the invocations did not overlap"
    assert [result["event"]["index"] for result in results] == list(range(count))
    assert len({result["pid"] for result in results}) == count  # one environment per concurrent request


def test_an_exception_is_an_unhandled_error_with_type_and_message(runtime: LambdaRuntime) -> None:
    invocation = runtime.invoke("EchoFunction", {"action": "raise"})
    assert invocation.function_error
    body = error_of(invocation.payload)
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "boom")


def test_a_result_that_is_not_json_is_a_marshal_error(runtime: LambdaRuntime) -> None:
    invocation = runtime.invoke("EchoFunction", {"action": "unmarshalable"})
    assert invocation.function_error
    assert error_of(invocation.payload)["errorType"] == "Runtime.MarshalError"


def test_a_timeout_or_a_dying_process_ends_that_environment_only(runtime: LambdaRuntime) -> None:
    timed_out = runtime.invoke("EchoFunction", {"action": "sleep", "seconds": 3})
    assert timed_out.function_error
    assert error_of(timed_out.payload)["errorType"] == "Sandbox.Timedout"
    exited = runtime.invoke("EchoFunction", {"action": "exit"})
    assert exited.function_error
    assert error_of(exited.payload)["errorType"] == "Runtime.ExitError"
    assert not runtime.invoke("EchoFunction", {}).function_error


def test_a_function_that_cannot_import_fails_each_invocation(runtime: LambdaRuntime) -> None:
    invocation = runtime.invoke("BrokenFunction", {})
    assert invocation.function_error
    body = error_of(invocation.payload)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_anywhere" in body["errorMessage"]


def test_a_function_without_its_table_fails_its_init_naming_the_variable(runtime: LambdaRuntime) -> None:
    for _ in range(2):  # every invocation, not only the first: no environment ever starts
        invocation = runtime.invoke("UnconfiguredFunction", {})
        assert invocation.function_error
        body = error_of(invocation.payload)
        assert body["errorType"] == "Runtime.ImportModuleError"
        assert "is misconfigured: TABLE_NAME is not set (the DynamoDB table of sessions" in body["errorMessage"]


def test_an_unknown_function_is_not_found(runtime: LambdaRuntime) -> None:
    with pytest.raises(FunctionNotFound):
        runtime.invoke("NoSuchFunction", {})

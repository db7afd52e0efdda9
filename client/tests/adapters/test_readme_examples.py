"""The client README's framework examples run as written, against the API in-process.

Each uses its framework's scripted model (no key, no network); only the client is swapped for
one whose transport answers in-process. The LangGraph example resumes its graph in a second
process, so it runs as the README says to run it: its commands, each a process of its own, against
the dev server.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from inprocess import AsyncInProcessTransport, InProcessApi, InProcessTransport

import sessions_client
from local.launcher import DevServerProcess
from sessions_client.adapters.langgraph import THREAD_ID_KEY

CLIENT = Path(__file__).resolve().parents[2]
README = CLIENT / "README.md"


def example(marker: str) -> str:
    """The README's one Python example that contains `marker`."""
    (code,) = [
        code for code in re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.DOTALL) if marker in code
    ]
    return code


def commands(marker: str) -> list[str]:
    """The command lines of the README's one shell block that contains `marker`."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text("utf-8"), re.DOTALL)
    (block,) = [block for block in blocks if marker in block]
    return block.splitlines()


def run_example(marker: str, api: InProcessApi, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Exec the example with both clients answering in-process; its module namespace afterwards."""

    class InProcessClient(sessions_client.SessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=InProcessTransport(api), **kwargs)

    class AsyncInProcessClient(sessions_client.AsyncSessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=AsyncInProcessTransport(api), **kwargs)

    monkeypatch.setattr(sessions_client, "SessionsClient", InProcessClient)
    monkeypatch.setattr(sessions_client, "AsyncSessionsClient", AsyncInProcessClient)
    names: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(example(marker), str(README), "exec"), names)  # noqa: S102 - the README's own example
    return names


def printed(capsys: Any) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]  # not metrics


@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
def test_the_langchain_example_runs(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    run_example("SessionsChatMessageHistory", inprocess_api, monkeypatch)
    assert printed(capsys) == ["You are Ada."]


def test_the_adk_example_runs_twice_on_one_conversation(
    inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    run_example("google.adk", inprocess_api, monkeypatch)
    assert printed(capsys) == ["assistant turn 1", "assistant turn 2"]


def test_the_openai_agents_example_runs(
    inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    names = run_example("from agents import", inprocess_api, monkeypatch)
    assert printed(capsys) == ["California"]
    assert "San Francisco" in str(names["model"].calls[-1].input)  # the second run saw the first


def test_the_strands_example_runs(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    run_example("from strands import", inprocess_api, monkeypatch)
    assert printed(capsys) == ["2"]  # the second agent came back with both messages


def test_the_langgraph_example_runs(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    run_example("AsyncSessionsSaver", inprocess_api, monkeypatch)
    assert printed(capsys) == ["['hi', 'echo 1']"]


@pytest.mark.e2e
def test_the_langgraph_example_resumes_in_a_second_process(client_dev_server: DevServerProcess, tmp_path: Path) -> None:
    (tmp_path / "approval.py").write_text(example("Command(resume="), encoding="utf-8")
    tenant = f"t-{uuid.uuid4().hex[:12]}"  # the dev server is shared: a tenant of this test's own
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SESSIONS_")}
    # this checkout's client; the dev server's address, which the README leaves to its default
    environment.update(PYTHONPATH=str(CLIENT / "src"), SESSIONS_URL=client_dev_server.api_url, SESSIONS_TENANT=tenant)
    outputs = []
    for line in commands("approval.py"):
        words = shlex.split(line)
        while "=" in words[0]:  # VARIABLE=value before the command
            name, value = words.pop(0).split("=", 1)
            environment[name] = value
        assert words[:2] == ["python", "approval.py"], line
        run = subprocess.run(  # the README's own command line
            [sys.executable, *words[1:]],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        outputs.append(run.stdout.splitlines())
    assert outputs == [
        ["waiting for approval: I will refund order 42 once a person approves."],
        ["Refund sent.", "7 checkpoints", "Refund cancelled.", "9 checkpoints", "5 7"],
    ]
    # both threads are sessions of the service, of the user the commands named
    with sessions_client.SessionsClient(
        client_dev_server.api_url, identity=sessions_client.DevIdentity("ada", tenant)
    ) as client:
        threads = {session.metadata.get(THREAD_ID_KEY) for session in client.iter_sessions()}
    assert threads == {"ada", "ada-copy"}

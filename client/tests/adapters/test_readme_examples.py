"""The client README's framework examples run as written, against the API in-process.

Each uses its framework's scripted model (no key, no network); only the client is swapped for
one whose transport answers in-process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from inprocess import AsyncInProcessTransport, InProcessApi, InProcessTransport

import sessions_client

README = Path(__file__).resolve().parents[2] / "README.md"


def example(marker: str) -> str:
    """The README's one Python example that contains `marker`."""
    (code,) = [
        code for code in re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.DOTALL) if marker in code
    ]
    return code


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
    run_example("langchain", inprocess_api, monkeypatch)
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

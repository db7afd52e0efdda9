"""The client README's OpenAI Agents SDK and Strands examples run as written (against the API in-process).

They use scripted models (no key, no network); the client is swapped for one whose transport
answers in-process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from inprocess import AsyncInProcessTransport, InProcessApi, InProcessTransport

import sessions_client

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Agent framework sessions: OpenAI Agents SDK and Strands Agents"


def examples() -> list[str]:
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def printed(capsys: Any) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]  # not metrics


def test_the_openai_agents_example_runs(
    inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    class InProcessClient(sessions_client.AsyncSessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=AsyncInProcessTransport(inprocess_api), **kwargs)

    monkeypatch.setattr(sessions_client, "AsyncSessionsClient", InProcessClient)
    (example,) = [code for code in examples() if "from agents import" in code]
    names: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(example, str(README), "exec"), names)  # noqa: S102 - the README's own example
    assert printed(capsys) == ["California"]
    assert "San Francisco" in str(names["model"].calls[-1].input)  # the second run saw the first


def test_the_strands_example_runs(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    class InProcessClient(sessions_client.SessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=InProcessTransport(inprocess_api), **kwargs)

    monkeypatch.setattr(sessions_client, "SessionsClient", InProcessClient)
    (example,) = [code for code in examples() if "from strands import" in code]
    exec(compile(example, str(README), "exec"), {"__name__": "readme_example"})  # noqa: S102 - the README's own example
    assert printed(capsys) == ["2"]  # the second agent came back with both messages

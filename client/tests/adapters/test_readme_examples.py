"""The client README's ADK and LangChain examples run as written (against the API in-process).

Both use scripted models (no key, no network).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from inprocess import AsyncInProcessTransport, InProcessApi, InProcessTransport

import sessions_client

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Session backends for Google ADK and LangChain", 1)[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
def test_the_langchain_example_runs(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    class InProcessClient(sessions_client.SessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=InProcessTransport(inprocess_api), **kwargs)

    monkeypatch.setattr(sessions_client, "SessionsClient", InProcessClient)
    (example,) = [code for code in examples() if "langchain" in code]
    exec(compile(example, str(README), "exec"), {})  # noqa: S102 - the README's own example
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]  # not metrics
    assert printed == ["You are Ada."]


def test_the_adk_example_runs_twice_on_one_conversation(
    inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    class InProcessClient(sessions_client.AsyncSessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=AsyncInProcessTransport(inprocess_api), **kwargs)

    monkeypatch.setattr(sessions_client, "AsyncSessionsClient", InProcessClient)
    (example,) = [code for code in examples() if "google.adk" in code]
    exec(compile(example, str(README), "exec"), {"__name__": "readme_example"})  # noqa: S102 - the README's own example
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    assert printed == ["assistant turn 1", "assistant turn 2"]

"""The README's Python client example runs as written (against the API in-process)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from inprocess import InProcessApi, InProcessTransport

import sessions_client

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_runs(inprocess_api: InProcessApi, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    section = README.read_text(encoding="utf-8").split("## Python client", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)

    class InProcessClient(sessions_client.SessionsClient):
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            super().__init__(base_url, transport=InProcessTransport(inprocess_api), **kwargs)

    monkeypatch.setattr(sessions_client, "SessionsClient", InProcessClient)
    exec(compile(example, str(README), "exec"), {})  # noqa: S102 - the README's own example
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]  # not metrics
    assert printed == ["1 user Review a.py"]

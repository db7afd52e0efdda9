"""LangGraph's public checkpointer conformance suite against AsyncSessionsSaver, in-process and over HTTP.

Run as its README says: a factory registered with `checkpointer_test`, then `validate()`. Every base
and every extended capability must be detected, run and pass: none skipped, none failed. Each
capability gets a saver of its own user (the suite reuses thread ids such as `thread-0` across
capabilities), on a `service` client acting for that user, as a deployment runs it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES, BASE_CAPABILITIES, EXTENDED_CAPABILITIES
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from sessions_client.adapters.langgraph import AsyncSessionsSaver

pytestmark = pytest.mark.anyio


async def test_every_base_and_extended_capability_passes(langgraph_backend: Any) -> None:
    failures: list[str] = []

    def record(capability: str, test: str, passed: bool, error: str | None) -> None:
        if not passed:
            failures.append(f"{capability}.{test}:\n{error}")

    @checkpointer_test(name=f"AsyncSessionsSaver[{langgraph_backend.kind}]")
    async def saver() -> AsyncIterator[AsyncSessionsSaver]:
        client = langgraph_backend.async_client(
            identity=langgraph_backend.identity(roles=("service",)), user_id=f"lg-{uuid.uuid4().hex[:12]}"
        )
        yield AsyncSessionsSaver(client)
        await client.aclose()

    report = await validate(saver, progress=ProgressCallbacks(on_test_result=record))
    assert not failures, "\n\n".join(failures)
    assert {capability.value for capability in ALL_CAPABILITIES} == set(report.results)
    for name, result in report.results.items():
        assert result.detected, f"{name} was not detected"
        assert result.passed, f"{name}: {result.failures}"
        assert result.tests_failed == 0 and result.tests_skipped == 0 and result.tests_passed > 0, name
    assert report.passed_all_base()
    assert {capability.value for capability in BASE_CAPABILITIES | EXTENDED_CAPABILITIES} == {
        name for name, result in report.results.items() if result.passed
    }

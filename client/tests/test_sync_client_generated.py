"""The sync client is generated from the async one (local/generators/sync_client.py), as openapi.json is
from the handlers: the committed _sync.py is what the generator makes, and the two clients offer the same calls."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import httpx
import pytest

from local.generators.sync_client import (
    COMMAND,
    RULES,
    SYNC_PATH,
    GenerationError,
    Rule,
    generate_sync_client,
    unasync,
)
from sessions_client import AsyncSessionsClient, SessionsClient

# the async client's names whose sync twins are named otherwise
SYNC_NAMES = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
PUBLIC_DUNDERS = {"__init__", "__enter__", "__exit__", "__aenter__", "__aexit__"}


def test_committed_sync_client_is_current() -> None:
    committed = SYNC_PATH.read_text(encoding="utf-8")
    assert committed == generate_sync_client(), f"client/src/sessions_client/_sync.py is stale: run {COMMAND}"


def test_the_sync_client_says_it_is_generated_and_how_to_regenerate() -> None:
    first, second = SYNC_PATH.read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("# GENERATED from _async.py") and "do not edit" in first
    assert second == f"# Regenerate: {COMMAND}"


def _calls(cls: type) -> dict[str, list[tuple[str, Any, Any]]]:
    """Each public call's parameters: name, kind and default (annotations name each client's own httpx types)."""
    return {
        SYNC_NAMES.get(name, name): [
            (parameter.name, parameter.kind, parameter.default)
            for parameter in inspect.signature(getattr(cls, name)).parameters.values()
        ]
        for name in vars(cls)
        if callable(getattr(cls, name)) and (not name.startswith("_") or name in PUBLIC_DUNDERS)
    }


def test_both_clients_offer_the_same_calls_with_the_same_parameters() -> None:
    sync_calls, async_calls = _calls(SessionsClient), _calls(AsyncSessionsClient)
    assert {"close", "__enter__", "iter_history", "from_env", "acting_for"} <= sync_calls.keys()
    assert sync_calls == async_calls


def test_a_rule_that_matches_nothing_fails_generation() -> None:
    with pytest.raises(GenerationError, match="matches nothing"):
        unasync("def f() -> None: ...\n", (Rule(r"\bawait ", "", "nothing is awaited"),))


def test_async_code_the_rules_do_not_rewrite_fails_generation() -> None:
    source = "async def f(lock: Any) -> int:\n    async with lock:\n        return await g()\n"
    only_def = (Rule(r"\basync (?=def\b)", "", "coroutines become functions"),)
    with pytest.raises(GenerationError) as failed:
        unasync(source, only_def)
    assert "line 2: async with lock:" in str(failed.value) and "line 3: return await g()" in str(failed.value)


def test_every_rule_says_why() -> None:
    assert all(rule.why for rule in RULES)


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(204)


class _Awaitable:
    """What an async token provider answers (not a coroutine: none is left unawaited)."""

    def __await__(self) -> Generator[Any, None, str]:
        yield from ()
        return "t"


def test_the_sync_client_refuses_an_async_token_provider() -> None:
    client = SessionsClient("http://api.test", token=_Awaitable, transport=httpx.MockTransport(_answer))
    with pytest.raises(TypeError, match="use AsyncSessionsClient for async providers"):
        client.delete_session("s-1")


@pytest.mark.anyio
async def test_the_async_client_awaits_an_async_token_provider() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(204)

    client = AsyncSessionsClient("http://api.test", token=_Awaitable, transport=httpx.MockTransport(answer))
    await client.delete_session("s-1")
    assert seen == ["Bearer t"]


@pytest.mark.anyio
@pytest.mark.parametrize("token", [lambda: 7, None])
async def test_a_token_provider_answering_no_str_is_refused(token: Any) -> None:
    async def answers_none() -> None:
        return None

    provider = token or answers_none
    client = AsyncSessionsClient("http://api.test", token=provider, transport=httpx.MockTransport(_answer))
    with pytest.raises(TypeError, match="must return a str"):
        await client.delete_session("s-1")

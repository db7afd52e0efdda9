"""What tests (the service's, the client's) and benchmarks need to run the service in-process safely.

- `use_fake_aws_env`: credentials that can never reach AWS, in this process's environment.
- `TESTS_TTL_SWEEP_SECONDS`: how rarely the emulator's TTL sweeper runs under the tests (in effect never).
- `reset_sessions_caches`: forget what the layer caches per execution environment (settings,
  clients, secrets, the store), as a fresh Lambda container would, so the next request reads the
  current environment and moto account.
- `record_store_calls`: the DynamoDB calls the in-process store makes, and what each Query read.

Thousands of events without a request per 20 (histories seeded as appends store them): `local.seeding`.
The emulator's own helpers live beside it: `local.aws.moto_fixes.adapt_moto` (moto behaving like
DynamoDB, the TTL sweeper included), `local.aws.shared_models` (botocore's models parsed once).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.aws.fake_env import FAKE_AWS_ENV, remove_unsafe_aws_env

# tests expire items themselves (local.aws.moto_ttl.sweep) when they mean to: a sweep of the emulator's
# own landing between an expiry a test sets up and what it then checks would race it
TESTS_TTL_SWEEP_SECONDS = 24 * 3600


def use_fake_aws_env(extra: Mapping[str, str] | None = None) -> None:
    """Point this process at fake credentials (plus `extra`), never at a real account."""
    remove_unsafe_aws_env(os.environ)
    os.environ.update(FAKE_AWS_ENV)
    os.environ.update(extra or {})


def reset_sessions_caches() -> None:
    """Forget cached settings, clients, secrets and store, so the next request reads the current environment."""
    from sessions import store
    from sessions.core import settings
    from sessions.http import idempotency
    from sessions.usecases import cursors  # the layer: on sys.path by then
    from sessions.usecases.access import use_store

    for cached in (
        settings.get_settings,
        store.dynamodb_client,
        store.aws_client,
        cursors._secret,
        idempotency._persistence,
    ):
        cached.cache_clear()
    use_store(None)


@dataclass
class StoreCalls:
    names: list[str] = field(default_factory=list)  # every DynamoDB operation, in order ("get_item", "query", ...)
    scanned: list[int] = field(default_factory=list)  # the items each Query read: ScannedCount, what it is charged


def record_store_calls(monkeypatch: Any) -> StoreCalls:
    """From now until the test ends (pytest's `monkeypatch` undoes it), record the in-process store's calls."""
    from sessions.store import SessionStore
    from sessions.usecases import access

    calls = StoreCalls()
    store = access.store()
    if not isinstance(store, SessionStore):
        raise TypeError("record_store_calls records the real store's DynamoDB client, not a stand-in's")
    real = store._client

    class Recording:
        def __getattr__(self, name: str) -> Any:
            calls.names.append(name)
            method = getattr(real, name)
            if name != "query":
                return method

            def query(**request: Any) -> Any:
                response = method(**request)
                calls.scanned.append(response["ScannedCount"])
                return response

            return query

    monkeypatch.setattr(store, "_client", Recording())
    return calls

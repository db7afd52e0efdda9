"""Fixtures for the client's tests (and the framework adapters' tests): the API in-process over moto, and over HTTP.

- `inprocess_api`: the template's handlers behind the dev server's HTTP API stand-in, in this
  process, against moto (fresh per test); `InProcessTransport` / `AsyncInProcessTransport` carry
  httpx requests to it without sockets.
- `client_dev_server`: `python -m local` on free ports, once per test session (per xdist worker), the
  same server as the e2e tests' `dev_server` (tests/dev_server.py).
- `sessions_backend`: either of the two (parametrized: `inprocess`, `dev_server`), with factories
  `client(**kwargs)` and `async_client(**kwargs)` for any identity; each test gets its own tenant.
- `sessions_client` / `async_sessions_client`: a client of that backend for a fresh tenant and user.
- `langgraph_backend`: `sessions_backend` as a LangGraph deployment runs the service: every thread is a
  session of its user, and a user's open sessions are capped (`MaxOpenSessionsPerUser`, default 10),
  so such a deployment sets the cap to fit its threads (0: none). No cap here: in-process (the variable
  set for the test) and over HTTP (a dev server of its own, `uncapped_dev_server`).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "layers" / "common", Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from local.testing import TESTS_TTL_SWEEP_SECONDS, reset_sessions_caches, use_fake_aws_env  # noqa: E402 - needs the path

use_fake_aws_env(
    {
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "sessions",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
    }
)

import httpx  # noqa: E402
from inprocess import AsyncInProcessTransport, InProcessApi, InProcessTransport  # noqa: E402
from moto import mock_aws  # noqa: E402

from local.aws.moto_fixes import adapt_moto  # noqa: E402
from local.aws.shared_models import ReusedClients, share_service_models  # noqa: E402
from local.launcher import DevServerProcess  # noqa: E402
from local.stack.template import (  # noqa: E402
    create_aws_resources,
    function_specs,
    functions_environment,
    load_template,
    local_resolver,
)
from sessions_client import AsyncSessionsClient, DevIdentity, Forbidden, SessionsClient  # noqa: E402
from tests.dev_server import DevServer, launch  # noqa: E402

adapt_moto(TESTS_TTL_SWEEP_SECONDS)
# every in-process test builds a moto account, and so boto3 sessions and clients: parse the service models once
share_service_models()
RESOURCE_CLIENTS = ReusedClients()  # creating the resources of each test's moto account

pytest_plugins = ["tests.dev_server", "tests.scheduling"]  # the shared `dev_server` fixture; longest test files first

INPROCESS_URL = "http://sessions.invalid"  # never resolved: the transport answers in-process


@pytest.fixture
def inprocess_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    """The template's HTTP API in this process over a fresh moto account (tables, bus, ... from template.yaml)."""
    with mock_aws():
        names = create_aws_resources(RESOURCE_CLIENTS)
        template = load_template()
        specs = function_specs(template, local_resolver(names, template))
        # every function's variables, with this account's names, as the dev server sets them
        for key, value in functions_environment(specs.values()).items():
            monkeypatch.setenv(key, value)
        reset_sessions_caches()
        yield InProcessApi(specs)
        reset_sessions_caches()


@pytest.fixture(scope="session")
def client_dev_server(dev_server: DevServerProcess) -> DevServerProcess:
    """`python -m local` on free ports for the whole test session: tests/dev_server.py's, which the e2e tests share."""
    return dev_server


@dataclass
class SessionsBackend:
    """Where clients talk to (in-process or the dev server) and a tenant of the test's own."""

    kind: str
    base_url: str
    api: InProcessApi | None = None
    tenant: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:12]}")
    user: str = field(default_factory=lambda: f"u-{uuid.uuid4().hex[:12]}")
    _clients: list[Any] = field(default_factory=list)

    def identity(self, user: str | None = None, roles: tuple[str, ...] = (), tenant: str | None = None) -> DevIdentity:
        return DevIdentity(user or self.user, tenant or self.tenant, roles)

    def transport(self) -> httpx.BaseTransport:
        """A fresh sync transport to this backend (to wrap, e.g. in a CountingTransport)."""
        return InProcessTransport(self.api) if self.api is not None else httpx.HTTPTransport()

    def client(self, **kwargs: Any) -> SessionsClient:
        """A sync client of this backend; `identity` defaults to the test's tenant and user."""
        kwargs.setdefault("identity", self.identity())
        if self.api is not None:
            kwargs.setdefault("transport", InProcessTransport(self.api))
        client = SessionsClient(self.base_url, **kwargs)
        self._clients.append(client)
        return client

    def async_client(self, **kwargs: Any) -> AsyncSessionsClient:
        kwargs.setdefault("identity", self.identity())
        if self.api is not None:
            kwargs.setdefault("transport", AsyncInProcessTransport(self.api))
        client = AsyncSessionsClient(self.base_url, **kwargs)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            if isinstance(client, SessionsClient):
                client.close()


def check_who_sees_a_job(
    backend: SessionsBackend,
    job_id: str,
    get: Callable[[SessionsClient, str], Any],
    start: Callable[[SessionsClient, str], Any],
    not_found: type[Exception],
) -> None:
    """A job of the backend's user's data (an erasure, an export): a stranger neither sees it (`not_found`) nor
    starts one for that user (Forbidden); a service of the tenant sees it."""
    stranger = backend.client(identity=backend.identity(user="u-stranger"))
    with pytest.raises(not_found):
        get(stranger, job_id)
    with pytest.raises(Forbidden):
        start(stranger, backend.user)
    service = backend.client(identity=backend.identity(user="svc", roles=("service",)))
    assert get(service, job_id).user_id == backend.user


def when_done(poll: Callable[[], Any], seconds: float = 30) -> Any:
    """What `poll` answers (a job) once it no longer runs, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while (job := poll()).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    return job


@pytest.fixture(params=["inprocess", pytest.param("dev_server", marks=pytest.mark.e2e)])
def sessions_backend(request: pytest.FixtureRequest) -> Iterator[SessionsBackend]:
    if request.param == "inprocess":
        backend = SessionsBackend("inprocess", INPROCESS_URL, request.getfixturevalue("inprocess_api"))
    else:
        server: DevServerProcess = request.getfixturevalue("client_dev_server")
        backend = SessionsBackend("dev_server", server.api_url)
    yield backend
    backend.close()


@pytest.fixture
def sessions_client(sessions_backend: SessionsBackend) -> SessionsClient:
    """A sync client for a fresh tenant and user, in-process and over the dev server."""
    return sessions_backend.client()


@pytest.fixture
async def async_sessions_client(sessions_backend: SessionsBackend) -> AsyncIterator[AsyncSessionsClient]:
    client = sessions_backend.async_client()
    yield client
    await client.aclose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


NO_OPEN_SESSION_CAP = {"MAX_OPEN_SESSIONS_PER_USER": "0"}


@pytest.fixture(scope="session")
def uncapped_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A dev server of its own whose users may hold any number of open sessions (threads)."""
    server = launch(
        tmp_path_factory.mktemp("dev-server-uncapped"),
        LOCAL_TTL_SWEEP_SECONDS=str(TESTS_TTL_SWEEP_SECONDS),
        **NO_OPEN_SESSION_CAP,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["inprocess", pytest.param("dev_server", marks=pytest.mark.e2e)])
def langgraph_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionsBackend]:
    if request.param == "inprocess":
        api = request.getfixturevalue("inprocess_api")
        for name, value in NO_OPEN_SESSION_CAP.items():
            monkeypatch.setenv(name, value)
        reset_sessions_caches()
        backend = SessionsBackend("inprocess", INPROCESS_URL, api)
    else:
        server: DevServer = request.getfixturevalue("uncapped_dev_server")
        backend = SessionsBackend("dev_server", server.api_url)
    yield backend
    backend.close()

"""Tests over real HTTP against the dev server (`python -m local`), whose fixture is in tests/dev_server.py."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.dev_server import DevServer, launch, server_environment
from tests.e2e.client import Client

__all__ = ["DevServer", "launch", "server_environment"]  # what the e2e and fuzz tests import from here

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def api(dev_server: DevServer) -> Client:
    return Client(dev_server.api_url)


@pytest.fixture
def lambda_endpoint(dev_server: DevServer) -> Client:
    return Client(dev_server.lambda_url)


@pytest.fixture
def tenant() -> str:
    """A tenant no other test uses, so tests never see each other's sessions or caps."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def user() -> str:
    return f"u-{uuid.uuid4().hex[:12]}"


def job_once_done(caller: Client, job_path: str, deadline: float) -> dict[str, Any]:
    """A job of a user's data (an erasure, an export), polled until it no longer runs or the deadline passed."""
    job: dict[str, Any] = caller.get(job_path).json()
    while job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        job = caller.get(job_path).json()
    return job

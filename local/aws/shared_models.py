"""One botocore data loader for every session of the process: service models are read once.

Each botocore session gets its own loader, whose cache is its own: a fresh `boto3.Session()`,
and boto3's default session (which `mock_aws()` replaces on every start), parse the JSON service
models, endpoint rules and partitions again, some 20-40 ms per service. The tests create a
moto account, and so fresh sessions and clients, for every test: sharing the loader makes each
of those a cache hit. The loader is read-only apart from its cache, and the models it returns are
already shared by every client of a session, so sharing them between sessions changes nothing else.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.loaders
import botocore.session

_original = botocore.loaders.create_loader


class _UniquePaths(list[str]):
    """Search paths that take each path once: every boto3.Session() appends boto3's data path to its loader's."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Any:
    loader = _original(search_path_string)
    loader._search_paths = _UniquePaths(loader.search_paths)  # type: ignore[attr-defined]
    return loader


def share_service_models() -> None:
    """Make every botocore session of this process use one loader per data path (idempotent)."""
    botocore.session.create_loader = _shared_loader


class ReusedClients:
    """A boto3 session whose clients are made once: as moto intercepts every client while a mock is
    active, they reach whichever moto account is current (pass it where a session's `client` is used)."""

    def __init__(self) -> None:
        import boto3

        self._session: Any = boto3.Session()
        self._clients: dict[str, Any] = {}

    def client(self, service_name: str) -> Any:
        if service_name not in self._clients:
            self._clients[service_name] = self._session.client(service_name)
        return self._clients[service_name]

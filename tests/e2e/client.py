"""A small HTTP client over http.client, so the e2e tests see exactly what a real client sees."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class Client:
    """Requests to one base URL; `as_()` gives a client that sends another local identity."""

    base_url: str
    identity: dict[str, str] = field(default_factory=dict)
    timeout: float = 30

    def as_(self, user: str | None = None, tenant: str | None = None, roles: str | None = None) -> Client:
        headers = {"X-User-Id": user, "X-Tenant-Id": tenant, "X-Roles": roles}
        return replace(self, identity={name: value for name, value in headers.items() if value is not None})

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {**self.identity, **({"Content-Type": "application/json"} if payload is not None else {})}
        all_headers.update(headers or {})
        url = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)

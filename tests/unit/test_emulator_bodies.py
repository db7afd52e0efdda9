"""The emulator hands moto only whole requests (local/aws/emulator.py, WholeBodies)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from local.aws.emulator import WholeBodies


class App:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("200 OK", [])
        return [b"ok"]


def _call(app: Any, body: bytes, length: int | None) -> tuple[str, list[bytes]]:
    statuses: list[str] = []
    environ = {"wsgi.input": io.BytesIO(body), **({"CONTENT_LENGTH": str(length)} if length is not None else {})}
    answer = app(environ, lambda status, _headers: statuses.append(status))
    return statuses[0], list(answer)


def test_a_whole_body_reaches_moto_as_sent() -> None:
    moto = App()
    assert _call(WholeBodies(moto), b'{"TableName": "t"}', 18) == ("200 OK", [b"ok"])
    assert moto.bodies == [b'{"TableName": "t"}']


@pytest.mark.parametrize("received", [b"", b'{"Table'])
def test_a_body_cut_short_by_a_client_gone_away_never_reaches_moto(received: bytes) -> None:
    moto = App()
    status, _ = _call(WholeBodies(moto), received, 18)
    assert status.startswith("400") and moto.bodies == []


def test_a_request_without_a_body_goes_through() -> None:
    moto = App()
    assert _call(WholeBodies(moto), b"", None)[0] == "200 OK"
    assert moto.bodies == [b""]

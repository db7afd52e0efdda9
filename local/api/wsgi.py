"""What the dev server's HTTP endpoints share: a threaded server, one log line per request, problems."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

LOG = logging.getLogger("local")
PROBLEM_JSON = "application/problem+json"
Endpoint = Callable[[Request], Response]


def json_response(body: Any, status: int = 200, content_type: str = "application/json", **headers: str) -> Response:
    return Response(json.dumps(body), status=status, content_type=content_type, headers=headers)


def problem(status: int, code: str, title: str, detail: str) -> Response:
    """An RFC 9457 problem in the same shape as the handlers' own (sessions.http.problems.problem)."""
    body = {"type": f"urn:sessions:problem:{code}", "title": title, "status": status, "detail": detail, "code": code}
    return json_response(body, status, PROBLEM_JSON)


class LoggedApp:
    """A WSGI app around an endpoint: logs method, path, status and duration of every request."""

    def __init__(self, label: str, endpoint: Endpoint) -> None:
        self._label = label
        self._endpoint = endpoint

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request = Request(environ)
        try:
            response = self._endpoint(request)
        except Exception:
            LOG.exception("%s %s %s failed", self._label, request.method, request.full_path)
            response = problem(500, "internal_error", "Internal error", "the dev server failed; see its log")
        elapsed_ms = (time.perf_counter() - started) * 1000
        path = request.full_path.rstrip("?")
        LOG.info("%-6s %s %s %d %.1f ms", self._label, request.method, path, response.status_code, elapsed_ms)
        return response(environ, start_response)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class HttpServer:
    """A threaded WSGI server (a thread per request, so requests run concurrently) in a thread of its own."""

    def __init__(self, name: str, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        self.name = name
        self.url = f"http://{host}:{port}"
        self._server = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must be running
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

"""The emulator's HTTP server: a WSGI app served one thread per kept-alive connection.

Every caller of the emulator (each function environment, each stream feeder, the publisher's
threads) keeps one connection and sends one request at a time on it, so a thread that blocks on
its connection is all a connection needs. The servers tried before handed each request between
threads instead: werkzeug's (moto's own) closes every connection, and cheroot's and waitress's
selector thread passes each request of a kept-alive connection to a pool thread and takes the
connection back after it; every pass is a wake-up and a handover of the interpreter lock. Here the
connection's own thread reads the request, calls the app and writes the status, headers and body in
one send. `python -m bench load`, side by side with cheroot: 9-11 % more requests/s (architecture.md).

What a client can send that this refuses (and then closes the connection): a malformed request
line or header (400), more than MAX_HEADERS headers (431), a Transfer-Encoding other than
chunked (501). A body cut short by a client gone away never reaches the app.
"""

from __future__ import annotations

import io
import logging
import socketserver
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

MAX_LINE = 65536  # bytes in the request line or a header line
MAX_HEADERS = 100
HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}  # this server writes these
LOG = logging.getLogger("local")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Refused(Exception):
    """A request this server answers itself, with `status`, and then closes the connection."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class ClientGone(Exception):
    """The connection ended before a whole request arrived: nothing to answer."""


class _Connection(socketserver.StreamRequestHandler):
    rbufsize = MAX_LINE
    disable_nagle_algorithm = True  # a response is one send; nothing gains from waiting
    server: KeptAliveServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_seconds)  # idle this long: closed (boto3 opens a new one)

    def handle(self) -> None:
        try:
            while self._serve_one():
                pass
        except Refused as refused:
            self._send(self._answer(f"{refused.status.value} {refused.status.phrase}", [], b"", close=True))
        except (ClientGone, OSError):  # the peer went away or stayed idle too long: nothing to say to it
            pass

    def _serve_one(self) -> bool:
        """Serves the next request; False once the connection is to close."""
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        if len(line) > MAX_LINE:
            raise Refused(HTTPStatus.REQUEST_URI_TOO_LONG)
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise Refused(HTTPStatus.BAD_REQUEST)
        method, target, version = parts
        headers = self._headers()
        connection = headers.get("HTTP_CONNECTION", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("HTTP_EXPECT", "").lower() == "100-continue":
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._body(headers)
        path, _, query = target.partition("?")
        environ = {
            **headers,
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote(path, "latin-1"),  # PEP 3333: the path's bytes as latin-1
            "QUERY_STRING": query,
            "RAW_URI": target,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        status, response_headers, data = self._call_app(environ)
        if status is None:  # the app failed: it was logged
            self._send(self._answer("500 Internal Server Error", [], b"", close=True))
            return False
        self._send(self._answer(status, response_headers, data, close, head=method == "HEAD"))
        return not close

    def _headers(self) -> dict[str, str]:
        """The request's headers as WSGI names them (repeated ones joined by commas)."""
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise ClientGone
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip() or len(line) > MAX_LINE:
                raise Refused(HTTPStatus.BAD_REQUEST)
            key = name.upper().replace("-", "_")
            key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
            value = value.strip()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    def _body(self, headers: dict[str, str]) -> bytes:
        encoding = headers.pop("HTTP_TRANSFER_ENCODING", "").lower()
        if encoding == "chunked":
            return self._chunks()
        if encoding:
            raise Refused(HTTPStatus.NOT_IMPLEMENTED)
        length = headers.get("CONTENT_LENGTH", "0") or "0"
        if not length.isdigit():
            raise Refused(HTTPStatus.BAD_REQUEST)
        return self._exactly(int(length))

    def _chunks(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(MAX_LINE + 1)
            if not size_line:
                raise ClientGone
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise Refused(HTTPStatus.BAD_REQUEST) from None
            if size == 0:
                while self.rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):  # trailers, unused
                    pass
                return bytes(body)
            body += self._exactly(size)
            if self.rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
                raise Refused(HTTPStatus.BAD_REQUEST)

    def _exactly(self, length: int) -> bytes:
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise ClientGone
        return data

    def _call_app(self, environ: dict[str, Any]) -> tuple[str | None, list[tuple[str, str]], bytes]:
        started: list[Any] = [None, []]
        written: list[bytes] = []  # what the app gave PEP 3333's write() (moto never does), sent first

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started[:] = [status, headers]
            return written.append

        try:
            result = self.server.app(environ, start_response)
            try:
                data = b"".join([*written, *result])
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            LOG.exception("the emulator failed to answer %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            return None, [], b""
        return started[0], started[1], data

    @staticmethod
    def _answer(status: str, headers: list[tuple[str, str]], data: bytes, close: bool, head: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in HOP_BY_HOP]
        if head:  # no body; the length is the app's (an S3 object's size, say)
            lines += [f"Content-Length: {value}" for name, value in headers if name.lower() == "content-length"]
        else:
            lines.append(f"Content-Length: {len(data)}")
        if close:
            lines.append("Connection: close")
        return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (b"" if head else data)

    def _send(self, data: bytes) -> None:
        self.connection.sendall(data)


class KeptAliveServer(socketserver.ThreadingTCPServer):
    """Serves `app` on `address` until `shutdown()`; connections idle `idle_seconds` are closed."""

    daemon_threads = True  # a connection's thread never holds up the emulator's exit
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: WsgiApp, idle_seconds: float) -> None:
        self.app, self.idle_seconds = app, idle_seconds
        super().__init__(address, _Connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.exception("the emulator's connection from %s failed", client_address)

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
chunked (501). A body cut short by a client gone away never reaches the app. Headers are handed
on as moto's own request handler hands them: a name with an underscore is dropped (WSGI cannot tell
`X_A` from `X-A`, so one could pass for the other), except S3 metadata (`x-amz-meta-a_b`), kept
under its own spelling.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import socketserver
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from moto.core.request import (
    PRESERVED_HEADER_NAMES_ENVIRON_KEY,
    environ_key_for_header,
    should_preserve_original_header_name,
)

MAX_LINE = 65536  # bytes in the request line or a header line
MAX_HEADERS = 100
HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}  # this server writes these
WITHOUT_BODY = ("1", "204", "304")  # statuses that have no body, so no Content-Length of theirs
DIGITS, HEX_DIGITS = re.compile(rb"[0-9]+"), re.compile(rb"[0-9A-Fa-f]+")
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
        self.server.opened(self.connection)

    def finish(self) -> None:
        self.server.closed(self.connection)
        super().finish()

    def handle(self) -> None:
        try:
            while self._serve_one():
                pass
        except Refused as refused:
            self._send(_answer(f"{refused.status.value} {refused.status.phrase}", [], b"", close=True))
        except (ClientGone, OSError):  # the peer went away or stayed idle too long: nothing to say to it
            pass

    def _serve_one(self) -> bool:
        """Serves the next request; False once the connection is to close."""
        line = self.rfile.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):  # RFC 9112: an empty line before a request is ignored
            line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        if len(line) > MAX_LINE:
            raise Refused(HTTPStatus.REQUEST_URI_TOO_LONG)
        parts = line.rstrip(b"\r\n").decode("latin-1").split(" ")
        if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1") or not parts[0] or not parts[1]:
            raise Refused(HTTPStatus.BAD_REQUEST)
        method, target, version = parts
        headers, preserved = self._headers()
        tokens = {token.strip().lower() for token in headers.get("HTTP_CONNECTION", "").split(",")}
        close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        expects_continue = version == "HTTP/1.1" and headers.get("HTTP_EXPECT", "").lower() == "100-continue"
        body = self._body(headers, expects_continue)
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
            PRESERVED_HEADER_NAMES_ENVIRON_KEY: preserved,
        }
        answer = self._call_app(environ, close, head=method == "HEAD")
        self._send(answer if answer is not None else _answer("500 Internal Server Error", [], b"", close=True))
        return answer is not None and not close

    def _headers(self) -> tuple[dict[str, str], dict[str, str]]:
        """The request's headers as WSGI names them (repeated ones joined by commas), and the preserved names.

        As moto's request handler does: a name with an underscore is dropped, unless it is S3
        metadata's and no dashed name stands for the same key; those keep their spelling.
        """
        fields: list[tuple[str, str]] = []
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ClientGone
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip(" \t") or " " in name or len(line) > MAX_LINE:
                raise Refused(HTTPStatus.BAD_REQUEST)
            fields.append((name, value.strip(" \t\r\n")))
        else:
            raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        dashed = {environ_key_for_header(name) for name, _ in fields if "_" not in name}
        headers: dict[str, str] = {}
        preserved: dict[str, str] = {}
        for name, value in fields:
            key = environ_key_for_header(name)
            if "_" in name:
                if not should_preserve_original_header_name(name) or key in dashed:
                    continue
                preserved.setdefault(key, name)
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        return headers, preserved

    def _body(self, headers: dict[str, str], expects_continue: bool) -> bytes:
        encoding = headers.pop("HTTP_TRANSFER_ENCODING", "").lower()
        length = headers.get("CONTENT_LENGTH", "0") or "0"
        if encoding not in ("", "chunked"):
            raise Refused(HTTPStatus.NOT_IMPLEMENTED)
        if not encoding and not DIGITS.fullmatch(length.encode("latin-1")):
            raise Refused(HTTPStatus.BAD_REQUEST)
        if expects_continue:  # framing is known to be good: the client may send the body
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        return self._chunks() if encoding else self._exactly(int(length))

    def _chunks(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(MAX_LINE + 1)
            if not size_line:
                raise ClientGone
            digits = size_line.split(b";", 1)[0].strip(b" \t\r\n")
            if not HEX_DIGITS.fullmatch(digits):
                raise Refused(HTTPStatus.BAD_REQUEST)
            size = int(digits, 16)
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

    def _call_app(self, environ: dict[str, Any], close: bool, head: bool) -> bytes | None:
        """The app's answer as it goes on the wire, or None if the app failed (logged)."""
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
                end = getattr(result, "close", None)
                if end is not None:
                    end()
            if started[0] is None:
                raise RuntimeError("the app did not start a response")
            return _answer(started[0], started[1], data, close, head)
        except Exception:
            LOG.exception("the emulator failed to answer %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            return None

    def _send(self, data: bytes) -> None:
        self.connection.sendall(data)


def _answer(status: str, headers: list[tuple[str, str]], data: bytes, close: bool, head: bool = False) -> bytes:
    """Status line, headers and body, framed by this server (raises UnicodeEncodeError on a header not latin-1)."""
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name}: {value}" for name, value in headers if name.lower() not in HOP_BY_HOP]
    if status.startswith(WITHOUT_BODY) or head:  # no body: the length, if any, is the app's (an S3 object's size)
        if not status.startswith(("1", "204")):
            lines += [f"Content-Length: {value}" for name, value in headers if name.lower() == "content-length"]
        data = b""
    else:
        lines.append(f"Content-Length: {len(data)}")
    if close:
        lines.append("Connection: close")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + data


class KeptAliveServer(socketserver.ThreadingTCPServer):
    """Serves `app` on `address`; connections idle `idle_seconds` are closed.

    `shutdown()` stops accepting connections; `server_close()` then ends the open ones too.
    """

    daemon_threads = True  # a connection's thread never holds up the emulator's exit
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: WsgiApp, idle_seconds: float) -> None:
        self.app, self.idle_seconds = app, idle_seconds
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Connection)

    def opened(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(connection)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            open_connections, self._open = list(self._open), set()
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by its peer
                connection.shutdown(socket.SHUT_RDWR)  # its thread's next read ends, and the thread with it

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.exception("the emulator's connection from %s failed", client_address)

"""The emulator's HTTP server (local/aws/http_server.py): kept-alive connections, whole requests, clear refusals."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local.aws.http_server import MAX_HEADERS, KeptAliveServer


class App:
    """Echoes what it got; records each request's environ and the thread that served it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        self.seen.append({**environ, "body": body, "thread": threading.get_ident()})
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("moto failed")
        if environ["PATH_INFO"] == "/not-latin-1":
            start_response("200 OK", [("X-K", "café ☕")])
            return [b""]
        if environ["PATH_INFO"] in ("/204", "/304"):
            code = environ["PATH_INFO"][1:]
            start_response(f"{code} Whatever", [("Content-Length", "1234")] if code == "304" else [])
            return [b""]
        if environ["REQUEST_METHOD"] == "HEAD":
            start_response("200 OK", [("Content-Length", "1234"), ("ETag", '"e"')])
            return [b""]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "999")])
        return [b'{"got": ', str(len(body)).encode(), b"}"]


@pytest.fixture
def served() -> Iterator[tuple[KeptAliveServer, App]]:
    app = App()
    server = KeptAliveServer(("127.0.0.1", 0), app, idle_seconds=5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _port(server: KeptAliveServer) -> int:
    return int(server.server_address[1])


def _raw(server: KeptAliveServer, data: bytes) -> bytes:
    """Sends `data`, then reads until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_requests_on_one_connection_are_all_served_by_its_own_thread(served: tuple[KeptAliveServer, App]) -> None:
    server, app = served
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    for body in (b"{}", b'{"TableName": "t"}', b""):
        connection.request("POST", "/", body=body, headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"})
        response = connection.getresponse()
        # the app's own Content-Length (wrong here) is replaced by the body's
        assert (response.status, response.read()) == (200, b'{"got": ' + str(len(body)).encode() + b"}")
        assert response.getheader("Content-Type") == "application/json"
    assert [seen["body"] for seen in app.seen] == [b"{}", b'{"TableName": "t"}', b""]
    assert len({seen["thread"] for seen in app.seen}) == 1
    assert app.seen[0]["HTTP_X_AMZ_TARGET"] == "DynamoDB_20120810.GetItem"
    assert connection.sock is not None  # still open
    connection.close()


def test_the_environ_is_pep_3333s(served: tuple[KeptAliveServer, App]) -> None:
    server, app = served
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    connection.putrequest("PUT", "/bucket/caf%C3%A9%20key?uploadId=1&partNumber=2", skip_accept_encoding=True)
    for name, value in [("Content-Type", "text/plain"), ("Content-Length", "2"), ("X-Twice", "a"), ("X-Twice", "b")]:
        connection.putheader(name, value)
    connection.endheaders(b"hi")
    assert connection.getresponse().read() == b'{"got": 2}'
    environ = app.seen[0]
    assert environ["PATH_INFO"] == "/bucket/café key".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "uploadId=1&partNumber=2"
    assert environ["REQUEST_METHOD"] == "PUT"
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("text/plain", "2")
    assert environ["HTTP_X_TWICE"] == "a,b"
    assert environ["HTTP_HOST"] == f"127.0.0.1:{_port(server)}"
    assert environ["wsgi.url_scheme"] == "http" and environ["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_a_chunked_body_reaches_the_app_whole(served: tuple[KeptAliveServer, App]) -> None:
    server, app = served
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    connection.request("PUT", "/b/k", body=iter([b"hello ", b"world"]), encode_chunked=True)
    assert connection.getresponse().read() == b'{"got": 11}'
    assert app.seen[0]["body"] == b"hello world" and app.seen[0]["CONTENT_LENGTH"] == "11"
    assert "HTTP_TRANSFER_ENCODING" not in app.seen[0]


def test_expect_100_continue_is_answered_before_the_body_is_sent(served: tuple[KeptAliveServer, App]) -> None:
    # botocore sends S3 bodies of 1 MB or more only after "100 Continue" (or a 1 s wait without it)
    server, app = served
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK\r\n")
    assert app.seen[0]["body"] == b"abc"


def test_head_keeps_the_apps_length_and_sends_no_body(served: tuple[KeptAliveServer, App]) -> None:
    server, _ = served
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    connection.request("HEAD", "/b/k")
    response = connection.getresponse()
    assert (response.status, response.getheader("Content-Length"), response.getheader("ETag")) == (200, "1234", '"e"')
    assert response.read() == b""
    connection.request("GET", "/b/k")  # the connection is still in step
    assert connection.getresponse().read() == b'{"got": 0}'


def test_a_body_cut_short_by_a_client_gone_away_never_reaches_the_app(served: tuple[KeptAliveServer, App]) -> None:
    server, app = served
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{"Table')
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1000) == b""  # closed without an answer
    assert app.seen == []


def test_http_1_0_closes_after_the_answer_unless_kept_alive(served: tuple[KeptAliveServer, App]) -> None:
    server, _ = served
    answer = _raw(server, b"GET / HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close\r\n" in answer
    assert answer.endswith(b'{"got": 0}')
    answer = _raw(server, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert b"Connection: close\r\n" in answer and answer.endswith(b'{"got": 0}')


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"\x16\x03\x01\x02\x00 \x01\x00\x01\xfc\x03\x03\r\n\r\n", b"400"),  # binary garbage
        (b"GET /\r\n\r\n", b"400"),  # HTTP/0.9
        (b"GET / SPDY/3\r\n\r\n", b"400"),
        (b"GET  / HTTP/1.1\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n folded: header\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n", b"400"),  # a digit to str.isdigit, not to HTTP
        (b"POST / HTTP/1.1\r\nContent-Length: \xd9\xa3\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
        # what int(x, 16) takes but HTTP does not: -1 would read to the end of the stream
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\nabc\r\n0\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n", b"431"),
    ],
)
def test_what_is_not_http_is_refused_and_the_connection_closed(
    served: tuple[KeptAliveServer, App], request_bytes: bytes, status: bytes
) -> None:
    server, app = served
    answer = _raw(server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status + b" ") and b"Connection: close\r\n" in answer
    assert app.seen == []


def test_an_app_that_fails_answers_500_and_the_server_serves_on(
    served: tuple[KeptAliveServer, App], caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = served
    answer = _raw(server, b"GET /fail HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 500 ") and b"Connection: close\r\n" in answer
    assert "moto failed" in caplog.text
    assert _raw(server, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").endswith(b'{"got": 0}')


def test_an_answer_that_cannot_be_written_is_a_500_not_a_dropped_connection(
    served: tuple[KeptAliveServer, App], caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = served
    answer = _raw(server, b"GET /not-latin-1 HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 500 ") and b"Connection: close\r\n" in answer
    assert "/not-latin-1" in caplog.text


def test_204_and_304_carry_no_body_and_the_connection_stays_in_step(served: tuple[KeptAliveServer, App]) -> None:
    server, _ = served
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"GET /204 HTTP/1.1\r\n\r\nGET /304 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    no_content, not_modified, ok = received.split(b"HTTP/1.1 ")[1:]
    assert no_content == b"204 Whatever\r\n\r\n"  # no Content-Length on a 204 (RFC 9110)
    assert not_modified == b"304 Whatever\r\nContent-Length: 1234\r\n\r\n"  # the app's: the object's size
    assert ok.endswith(b'{"got": 0}')


def test_pipelined_requests_are_answered_in_order(served: tuple[KeptAliveServer, App]) -> None:
    server, app = served
    answer = _raw(
        server,
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\na"
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nbb"
        b"\r\nPOST / HTTP/1.1\r\nConnection: keep-alive, close\r\nContent-Length: 3\r\n\r\nccc",
    )
    assert [seen["body"] for seen in app.seen] == [b"a", b"bb", b"ccc"]
    assert answer.count(b"HTTP/1.1 200 OK") == 3 and answer.endswith(b'{"got": 3}')


def test_chunk_extensions_and_trailers_are_read_past(served: tuple[KeptAliveServer, App]) -> None:
    server, app = served
    answer = _raw(
        server,
        b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5;name=value\r\nhello\r\nA\r\n world!!!!\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n",
    )
    assert answer.endswith(b'{"got": 15}') and app.seen[0]["body"] == b"hello world!!!!"


def test_headers_are_named_as_moto_s_own_server_names_them(served: tuple[KeptAliveServer, App]) -> None:
    """An underscore in a name is dropped (X_A could pass for X-A), but S3 metadata keeps its spelling."""
    server, app = served
    _raw(
        server,
        b"PUT /b/k HTTP/1.1\r\nConnection: close\r\nContent-Length: 1\r\nContent_Length: 3\r\n"
        b"X_Forwarded_For: 6.6.6.6\r\nX-Amz-Meta-Snake_Case: kept\r\n"
        b"X-Amz-Meta-A_B: spoof\r\nX-Amz-Meta-A-B: real\r\nX-Padded: \t a\xa0 \r\n\r\nabc",
    )
    environ = app.seen[0]
    assert environ["body"] == b"a" and environ["CONTENT_LENGTH"] == "1"  # framed by Content-Length alone
    assert "HTTP_X_FORWARDED_FOR" not in environ
    assert environ["HTTP_X_AMZ_META_SNAKE_CASE"] == "kept"
    assert environ["HTTP_X_AMZ_META_A_B"] == "real"
    assert environ["moto.preserved_header_names"] == {"HTTP_X_AMZ_META_SNAKE_CASE": "X-Amz-Meta-Snake_Case"}
    assert environ["HTTP_X_PADDED"] == "a\xa0"  # only spaces and tabs are trimmed


def test_closing_the_server_ends_its_kept_alive_connections(served: tuple[KeptAliveServer, App]) -> None:
    server, _ = served
    connection = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=5)
    connection.request("GET", "/")
    assert connection.getresponse().read() == b'{"got": 0}'
    server.shutdown()
    server.server_close()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.request("GET", "/")
        connection.getresponse().read()

"""The limits of the real server, over raw sockets: an oversized header, an oversized JSON body and an
oversized multipart body are each refused while they are read, and the process does not grow by more
than the limit; connections that never send a request are closed."""

import select
import socket
import time

import pytest

from tests.app_server import served

pytestmark = pytest.mark.slow

MB = 1024 * 1024


def rss(process) -> int:
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send(url: str, head: bytes, body_chunks=(), timeout: float = 60) -> tuple[int, bytes]:
    """Sends the head, then the body chunks while the server reads them; the status and answer (0: the
    server closed the connection without one)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        try:
            conn.sendall(head)
            for chunk in body_chunks:
                if select.select([conn], [], [], 0)[0]:
                    break  # the server answered before the end: it stopped reading
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer (if any) is waiting
        data = b""
        try:
            while chunk := conn.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def chunked(total: int, piece: bytes):
    """A body in HTTP chunks (no Content-Length: the server only learns its size by reading it)."""
    sent = 0
    while sent < total:
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
        sent += len(piece)
    yield b"0\r\n\r\n"


@pytest.fixture
def server(settings):
    with served(settings, MAX_QUERY_BODY_MB="8", MAX_BODY_MB="8", MAX_HEADER_KB="32", IDLE_TIMEOUT="2") as both:
        yield both


def test_an_oversized_header_and_too_many_headers_are_refused_without_growing(server):
    url, process = server
    before = rss(process)
    status, _ = send(url, b"GET /index HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (64 * MB) + b"\r\n\r\n")
    assert status in (0, 400, 431)
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(100_000))
    status, _ = send(url, b"GET /index HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n")
    assert status in (0, 400, 431)
    assert rss(process) - before < 16 * MB
    status, _ = send(url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status == 200


def test_oversized_json_and_multipart_bodies_get_413_while_streaming(server):
    url, process = server
    before = rss(process)
    json_head = (b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    status, answer = send(url, json_head, chunked(64 * MB, b'{"parts": [{"text": "' + b"x" * MB))
    assert status == 413 and b"8 MB" in answer
    boundary = b"b0undary"
    multipart_head = (b"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n")
    part = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
    status, answer = send(url, multipart_head, chunked(64 * MB, part + b"\0" * MB))
    assert status == 413
    # Declared too large: refused before a byte of the body is read.
    status, _ = send(url, b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 536870912\r\n\r\n")
    assert status == 413
    assert rss(process) - before < 8 * MB + 16 * MB  # the limit, and what parsing up to it may hold


def test_a_connection_that_never_sends_a_request_is_closed(server):
    url, _process = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        started = time.monotonic()
        assert conn.recv(1) == b""  # closed by the server, after IDLE_TIMEOUT
        assert time.monotonic() - started < 20

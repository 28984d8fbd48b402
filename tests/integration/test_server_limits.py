"""The limits of the real server, over raw sockets: an oversized header, too many headers, an oversized
JSON body and an oversized multipart body are each refused while they are read, and the process does not
grow by more than the limit; connections beyond MAX_CONNECTIONS are answered 503 at once; connections
that never send a request are closed, and a request head or body that trickles in gets 408.

One server serves the module (starting one takes about 10 s); each test leaves it with no connection open."""

import os
import select
import socket
import time

import pytest

from src.settings import Settings
from tests.app_server import served
from tests.helpers import make_image

pytestmark = pytest.mark.slow

MB = 1024 * 1024
MAX_CONNECTIONS = 8
IDLE_TIMEOUT = 3


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
        data = read_to_end(conn)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


class chunked:  # noqa: N801 (used like a generator)
    """A body in HTTP chunks (no Content-Length: the server only learns its size by reading it); `taken`
    counts the bytes the sender asked for, so a test can tell the server stopped reading early."""

    def __init__(self, total: int, piece: bytes):
        self.total, self.piece, self.taken = total, piece, 0

    def __iter__(self):
        while self.taken < self.total:
            self.taken += len(self.piece)
            yield b"%x\r\n" % len(self.piece) + self.piece + b"\r\n"
        yield b"0\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip):
    root = tmp_path_factory.mktemp("limits")
    for seed, name in enumerate(["a.jpg", "b.png"]):
        make_image(root / "images" / name, seed)
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=root / "images",
                             qdrant_path=root / "qdrant", cache_dir=root / "cache", text_dir=root / "text")
    with served(settings, MAX_QUERY_BODY_MB="8", MAX_BODY_MB="8", MAX_HEADER_KB="32", MAX_HEADERS="100",
                MAX_CONNECTIONS=str(MAX_CONNECTIONS), IDLE_TIMEOUT=str(IDLE_TIMEOUT), MIN_BODY_RATE_KB="1") as both:
        yield both


def connect(url: str, timeout: float = 30) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_to_end(conn: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def trickle(conn: socket.socket, piece: bytes, every: float, seconds: float) -> tuple[bytes, float]:
    """Sends piece every `every` seconds until the server answers or closes, or `seconds` pass; what it
    answered and when (seconds from the start)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if select.select([conn], [], [], every)[0]:
            break
        try:
            conn.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
    else:
        return b"(still open)", time.monotonic() - started
    return read_to_end(conn), time.monotonic() - started


def open_files(process) -> int:
    return len(os.listdir(f"/proc/{process.pid}/fd"))


def healthz(url: str) -> int:
    return send(url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")[0]


def test_an_oversized_header_and_too_many_headers_are_refused_without_growing(server):
    url, process = server
    before = rss(process)
    status, _ = send(url, b"GET /index HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (64 * MB) + b"\r\n\r\n")
    assert status in (0, 431)  # 0: the server stopped reading after its answer, and the rest reset the connection
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(100_000))
    status, answer = send(url, b"GET /index HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n")
    assert status == 431 and b"MAX_HEADER_KB" in answer
    assert rss(process) - before < 16 * MB
    status, _ = send(url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status == 200


def test_oversized_json_and_multipart_bodies_get_413_while_streaming(server):
    url, process = server
    before = rss(process)
    json_head = (b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    body = chunked(64 * MB, b'{"parts": [{"text": "' + b"x" * MB)
    status, answer = send(url, json_head, body)
    assert status == 413 and b"8 MB" in answer
    assert body.taken < 32 * MB  # refused as it streamed, long before the end
    boundary = b"b0undary"
    multipart_head = (b"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n")
    part = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
    body = chunked(64 * MB, part + b"\0" * MB)
    status, answer = send(url, multipart_head, body)
    assert status == 413 and b"8 MB" in answer
    assert body.taken < 32 * MB  # nowhere near the whole body went to the temporary folder
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


def test_a_head_just_over_max_header_kb_gets_431_saying_so(server):
    url, _process = server
    status, answer = send(url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (40 * 1024)
                          + b"\r\n\r\n")
    assert status == 431
    assert b"larger than 32 KB" in answer and b"MAX_HEADER_KB" in answer


def test_more_than_max_headers_get_431_and_max_headers_are_served(server):
    url, _process = server

    def head(count: int) -> bytes:  # a request with count headers, Host and Connection among them
        extra = b"".join(b"X-%d: 1\r\n" % i for i in range(count - 2))
        return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n"

    assert send(url, head(100))[0] == 200
    status, answer = send(url, head(101))
    assert status == 431
    assert b"101 headers" in answer and b"at most 100" in answer and b"MAX_HEADERS" in answer


def test_connections_beyond_max_connections_get_503_with_retry_after_at_once(server):
    url, process = server
    files_before = open_files(process)
    held = [connect(url) for _ in range(MAX_CONNECTIONS)]  # idle: they send nothing
    try:
        time.sleep(0.3)  # accepted by the server
        answers = []
        for _ in range(4 * MAX_CONNECTIONS):
            with connect(url, timeout=IDLE_TIMEOUT - 1) as extra:  # answered before any deadline: at once
                answers.append(read_to_end(extra))
        for answer in answers:
            assert status_of(answer) == 503, answer[:200]
            assert b"\r\nretry-after: 5\r\n" in answer.lower()
            assert b"limit of 8 connections" in answer and b"MAX_CONNECTIONS" in answer
        # The refused ones hold no file: the server holds the 8 and what it held before.
        assert open_files(process) <= files_before + MAX_CONNECTIONS + 2
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 5
    while (status := healthz(url)) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the closed connections
    assert status == 200


def test_a_request_head_that_trickles_in_gets_408_after_idle_timeout(server):
    url, _process = server
    with connect(url) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer, seconds = trickle(conn, b"X-Slow: 1\r\n", every=0.5, seconds=4 * IDLE_TIMEOUT)
    assert status_of(answer) == 408, answer[:200]
    assert b"IDLE_TIMEOUT" in answer
    assert IDLE_TIMEOUT - 0.5 < seconds < IDLE_TIMEOUT + 2


def test_a_kept_alive_connection_trickling_its_next_head_gets_408(server):
    url, _process = server
    with connect(url) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or len(first.partition(b"\r\n\r\n")[2]) < content_length(first):
            first += conn.recv(65536)
        assert status_of(first) == 200
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request: its head never ends
        answer, seconds = trickle(conn, b"X-Slow: 1\r\n", every=0.5, seconds=4 * IDLE_TIMEOUT)
    assert status_of(answer) == 408, answer[:200]
    assert seconds < IDLE_TIMEOUT + 2


def content_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


QUERY = b'{"parts": [{"text": "red car"}]}'


def query_head(length: int) -> bytes:
    return (b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % length)


def test_a_body_slower_than_min_body_rate_gets_408(server):
    url, _process = server
    with connect(url) as conn:
        conn.sendall(query_head(100_000) + b" ")
        answer, seconds = trickle(conn, b"  ", every=0.5, seconds=5 * IDLE_TIMEOUT)  # 4 bytes a second
    assert status_of(answer) == 408, answer[:200]
    assert b"MIN_BODY_RATE_KB" in answer and b"too slowly" in answer
    assert seconds < 2 * IDLE_TIMEOUT + 2


def test_a_body_at_a_few_kb_a_second_is_read_to_the_end(server):
    url, _process = server
    padding = 2 * IDLE_TIMEOUT * 8 * 1024  # 8 KB/s for two windows
    body = QUERY + b" " * padding
    with connect(url) as conn:
        conn.sendall(query_head(len(body)))
        for start in range(0, len(body), 2048):
            conn.sendall(body[start:start + 2048])
            time.sleep(0.25)
        answer = read_to_end(conn)
    assert status_of(answer) == 200, answer[:300]


def upload_head(length: int) -> bytes:
    return (b"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: %d\r\n\r\n" % length)


def test_a_client_beyond_uploads_per_client_gets_429_while_its_uploads_run(server):
    url, _process = server
    part = b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
    running = [connect(url) for _ in range(2)]  # UPLOADS_PER_CLIENT: 2, each still sending its body
    try:
        for conn in running:
            conn.sendall(upload_head(1_000_000) + part)
        time.sleep(0.5)  # both admitted, both waiting for the rest of their bodies
        status, answer = send(url, upload_head(len(part)) + part)
        assert status == 429, answer[:300]
        assert b"\r\nretry-after: 5\r\n" in answer.lower() and b"uploads at once" in answer
    finally:
        for conn in running:
            conn.close()

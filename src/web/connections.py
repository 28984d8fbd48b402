"""The limits of each HTTP connection, enforced while it is read, as uvicorn's h11 protocol with checks
added: how many connections at once, how large and how many request headers, how long the request head
may take to arrive (on a new connection and between requests on a kept-alive one), and how slowly a body
may arrive. Each refusal is an answer with a message, never a bare reset.

uvicorn's own limits stop short of this: its concurrency limit answers only once a request has arrived
(idle connections still pile up until the process runs out of file descriptors) and says neither why nor
when to come back; every oversized head gets a generic 400; header count, slow heads after the first
request and slow bodies are not limited at all."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

# After an error answer the rest of what the client sends is read and dropped for a moment: closing a
# socket with unread data resets it, and the client may lose the answer before reading it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = 5
LOG_EVERY_SECONDS = 10.0  # refusals of a flood are logged once in a while, not once each

logger = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    max_header_kb: int
    max_headers: int
    head_seconds: float  # for the request line and headers to arrive
    min_body_rate_kb: int  # per second, judged over each head_seconds once the head is in


class _CheckedConnection(h11.Connection):
    """h11's server side, which bounds the size of a request head, also bounding the number of its
    headers; it keeps the answer a refused head should get (h11 says only "431" or "400")."""

    def __init__(self, limits: ConnectionLimits):
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.max_header_kb * 1024)
        self.limits = limits
        self.refusal: tuple[int, str] | None = None

    def next_event(self):
        too_large = (431, f"The request line and headers are larger than {self.limits.max_header_kb} KB, the limit "
                          "(MAX_HEADER_KB). Send fewer or shorter headers and cookies.")
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            invalid = (400, f"Not a valid HTTP/1.1 request ({exc}).")
            self.refusal = too_large if exc.error_status_hint == 431 else invalid
            raise
        if isinstance(event, h11.Request):
            # h11 bounds only a head still incomplete: one that came whole in a single read may be larger.
            if _head_size(event) > self.limits.max_header_kb * 1024:
                self.refusal = too_large
            elif len(event.headers) > self.limits.max_headers:
                self.refusal = (431, f"The request has {len(event.headers)} headers; at most "
                                     f"{self.limits.max_headers} are accepted (MAX_HEADERS). Send fewer headers.")
            if self.refusal:
                raise h11.RemoteProtocolError(self.refusal[1], error_status_hint=431)
        return event


def _head_size(request: h11.Request) -> int:
    """The size of a request line and headers as sent (give or take the spaces h11 strips)."""
    line = len(request.method) + len(request.target) + len(b"  HTTP/1.1\r\n")
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers.raw_items()) + 2


class _Throttled:
    """Logs a kind of refusal at most once every LOG_EVERY_SECONDS, with the count since."""

    def __init__(self):
        self.last: dict[int, float] = {}
        self.count: dict[int, int] = {}

    def log(self, status: int, client, message: str) -> None:
        now = time.monotonic()
        self.count[status] = self.count.get(status, 0) + 1
        if now - self.last.get(status, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            times = self.count.pop(status)
            where = f"{client[0]}:{client[1]}" if client else "a client"
            logger.warning("%d to %s%s: %s", status, where, f" (and {times - 1} more)" if times > 1 else "", message)
            self.last[status] = now


def limited_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the limits: pass it as uvicorn's `http`, with limit_concurrency None."""
    refusals = _Throttled()

    class LimitedH11(H11Protocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conn: _CheckedConnection = _CheckedConnection(limits)
            self._timer: asyncio.TimerHandle | None = None  # the one pending check: head, body or lingering
            self._waiting_for: str | None = None  # "head", "body" or None (the app is answering)
            self._received = 0  # bytes, all told
            self._mark = 0  # bytes received when the current body window began
            self._held = False  # reading was paused on this side during the current body window
            self._answered = False  # an error answer went out: what still comes is dropped
            self._dropped = 0

        # -- the protocol's events ------------------------------------------------------------------
        def connection_made(self, transport):
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections or len(self.tasks) >= limits.max_connections:
                self.connections.discard(self)  # on its way out: it must not turn the next one away
                self._refuse(503, f"The server is at its limit of {limits.max_connections} connections at once "
                                  f"(MAX_CONNECTIONS). Try again in {RETRY_AFTER_SECONDS} s.",
                             [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())])
                return
            self._follow()

        def data_received(self, data: bytes) -> None:
            if self._answered:
                self._dropped += len(data)
                if self._dropped > LINGER_BYTES:
                    self.transport.close()
                return
            self._received += len(data)
            super().data_received(data)
            self._held |= self.flow.read_paused
            self._follow()

        def connection_lost(self, exc):
            self._cancel_timer()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._held |= self.flow.read_paused
            self._follow()

        def shutdown(self) -> None:
            if self._answered:  # its answer is out: nothing to finish
                self.transport.close()
            else:
                super().shutdown()

        def send_400_response(self, msg: str) -> None:
            # uvicorn calls this on every error h11 finds in a request head, ours included.
            status, message = self.conn.refusal or (400, msg)
            self._refuse(status, message)

        # -- what the connection waits for, and its deadline ----------------------------------------
        def _follow(self) -> None:
            """Sets the check that fits what the connection waits for now: a request head, a body, or
            nothing (the app is answering: its own limits apply)."""
            if self._answered or self.transport.is_closing():
                return
            state = self.conn.their_state
            waiting = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
            if waiting == self._waiting_for:
                return
            self._waiting_for = waiting
            self._cancel_timer()
            if waiting == "head":
                self._timer = self.loop.call_later(limits.head_seconds, self._head_overdue)
            elif waiting == "body":
                self._mark, self._held = self._received, False
                self._timer = self.loop.call_later(limits.head_seconds, self._check_body)

        def _head_overdue(self) -> None:
            self._timer = None
            if self.conn.their_state is not h11.IDLE:
                return
            if self.conn.trailing_data[0]:  # part of a head came, the rest did not
                self._refuse(408, f"The request line and headers did not arrive within {limits.head_seconds:g} s "
                                  "(IDLE_TIMEOUT); send the whole request head at once.")
            else:  # an idle connection: nothing to answer
                self.transport.close()

        def _check_body(self) -> None:
            """Every head_seconds while a body comes in: at least min_body_rate_kb a second must have
            come, unless reading is paused on this side (the app has not taken what came) or the client
            waits for a 100 Continue the app has not asked for."""
            self._timer = None
            if self.conn.their_state is not h11.SEND_BODY or self._answered:
                return
            cycle = self.cycle
            arrived = self._received - self._mark
            held_up_here = self._held or self.flow.read_paused or (
                cycle is not None and cycle.waiting_for_100_continue)
            if not held_up_here and arrived < limits.min_body_rate_kb * 1024 * limits.head_seconds:
                message = (f"The request body arrived too slowly: {arrived / limits.head_seconds / 1024:.2f} KB/s over "
                           f"the last {limits.head_seconds:g} s, below {limits.min_body_rate_kb} KB/s "
                           "(MIN_BODY_RATE_KB). Send it again over a faster connection.")
                if cycle is not None and not cycle.response_started:
                    cycle.disconnected = True  # the app's receive gets a disconnect; what it sends is dropped
                    cycle.message_event.set()
                    self._refuse(408, message)
                else:  # the app has answered already: no second answer, just the end
                    refusals.log(408, self.client, message)
                    self.transport.close()
                return
            self._mark, self._held = self._received, self.flow.read_paused
            self._timer = self.loop.call_later(limits.head_seconds, self._check_body)

        def _cancel_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        # -- refusing ----------------------------------------------------------------------------
        def _refuse(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
            """Answers status with the message as plain text, then closes the connection after lingering."""
            refusals.log(status, self.client, message)
            body = (message + "\n").encode()
            head = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                    (b"x-content-type-options", b"nosniff"), (b"connection", b"close"), *(headers or [])]
            try:
                for event in (h11.Response(status_code=status, headers=head, reason=STATUS_PHRASES[status]),
                              h11.Data(data=body), h11.EndOfMessage()):
                    output = self.conn.send(event)
                    if output:
                        self.transport.write(output)
            except h11.LocalProtocolError:
                pass  # an answer had begun already: the connection just ends
            self._linger()

        def _linger(self) -> None:
            self._answered = True
            self._cancel_timer()
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer is all; the client sees its end at once
            self.flow.resume_reading()
            self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    return LimitedH11

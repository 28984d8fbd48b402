"""The server around the app: uvicorn with its limits set (request header size, connections, idle and slow
connections), and the first lines `serve` prints, which say who may change what."""

from __future__ import annotations

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from src.settings import Settings
from src.web.guard import is_loopback


def first_lines(settings: Settings, host: str, port: int) -> list[str]:
    """What `serve` prints before anything else: the address, and whether changes are open."""
    lines = [f"Serving on http://{host}:{port}/index"]
    if settings.admin_token:
        lines.append("Changes (uploads, removal) need ADMIN_TOKEN: sign in on the page, or send "
                     "Authorization: Bearer <token> to the API.")
    elif not is_loopback(host):
        lines.append(f"Read-only: this server listens on {host}, beyond this computer, and no ADMIN_TOKEN is set, "
                     "so uploads and removal are off. To enable them, restart with ADMIN_TOKEN set to a long random "
                     "secret, e.g. ADMIN_TOKEN=$(openssl rand -hex 32).")
    if settings.read_token:
        lines.append("Searching needs READ_TOKEN (or ADMIN_TOKEN).")
    return lines


def protocol_with_header_timeout(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request head within seconds of
    opening: uvicorn times out idle connections only after a first response, so connections that never
    send (or send a header a minute) used to pile up until the process ran out of file descriptors."""

    class HeaderTimeoutH11(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._head_deadline = self.loop.call_later(seconds, self._close_if_no_request)

        def _close_if_no_request(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc):
            self._head_deadline.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutH11


def serve(app, settings: Settings, host: str, port: int) -> None:
    uvicorn.run(
        app, host=host, port=port, log_level="info",
        # h11 rather than httptools: h11 bounds the request line and headers (httptools read a 200 MB header whole).
        http=protocol_with_header_timeout(settings.idle_timeout),
        h11_max_incomplete_event_size=settings.max_header_kb * 1024,
        limit_concurrency=settings.max_connections,  # beyond: 503 at once, instead of every request slowing
        timeout_keep_alive=settings.idle_timeout,
        backlog=min(2048, settings.max_connections * 4),
    )

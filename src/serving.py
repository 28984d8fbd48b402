"""The server around the app: uvicorn with the connection limits of src/web/connections.py (connections at
once, request head size and header count, slow heads and bodies), and the first lines `serve` prints,
which say who may change what."""

from __future__ import annotations

import resource

import uvicorn

from src.settings import Settings
from src.web.connections import ConnectionLimits, limited_protocol
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


def serve(app, settings: Settings, host: str, port: int) -> None:
    limits = ConnectionLimits(max_connections=settings.max_connections, max_header_kb=settings.max_header_kb,
                              max_headers=settings.max_headers, head_seconds=settings.idle_timeout,
                              min_body_rate_kb=settings.min_body_rate_kb)
    enough_file_descriptors(settings.max_connections)
    uvicorn.run(
        app, host=host, port=port, log_level="info",
        # h11 rather than httptools: h11 bounds the request line and headers (httptools read a 200 MB header
        # whole); src/web/connections.py adds the other limits, the connection count among them (uvicorn's
        # limit_concurrency would answer a plainer 503, and only once a request has come).
        http=limited_protocol(limits),
        h11_max_incomplete_event_size=settings.max_header_kb * 1024,
        limit_concurrency=None,
        timeout_keep_alive=settings.idle_timeout,
        backlog=min(2048, settings.max_connections * 4),
    )


# Files the process holds besides its connections: the store's segments, the model, logs, the worker pool.
SPARE_FILE_DESCRIPTORS = 512


def enough_file_descriptors(max_connections: int) -> None:
    """Raises the soft limit on open files as far as MAX_CONNECTIONS needs (never above the hard limit),
    so connections are refused with 503 at MAX_CONNECTIONS rather than reset when the descriptors run out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections * 2 + SPARE_FILE_DESCRIPTORS  # twice: those being refused still hold one a moment
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            print(f"Warning: this process may open only {target} files; MAX_CONNECTIONS={max_connections} "
                  f"needs about {needed}. Lower MAX_CONNECTIONS or raise the limit (ulimit -n).", flush=True)

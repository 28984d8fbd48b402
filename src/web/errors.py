"""One error shape for the API ({"error": {"status", "message"}}), a readable page elsewhere, and the
OpenAPI entries that document both."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from src.disk import DiskError, disk_error, is_disk_error
from src.embedding import ModelUnavailable
from src.search import QueryError
from src.store import StoreFull, StoreUnavailable
from src.uploads import UploadError
from src.web.middleware import SECURITY_HEADERS
from src.web.rendering import is_partial, templates

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    """The API's one error shape."""

    error: ErrorDetail


ERROR_TEXTS = {400: "Malformed request", 401: "A token is needed (ADMIN_TOKEN for changes)",
               403: "Refused: from another site, without the form's token, or changes turned off",
               413: "The request body is over its limit", 429: "Too many uploads at once from this client",
               404: "Not found", 415: "Not an image it can read",
               422: "The request cannot be used; the message says why", 503: "The store or the model is unavailable",
               507: "No space left on the server's disk; nothing was half-written"}


def api_errors(*statuses: int) -> dict:
    """The OpenAPI entries of an API route's error responses: JSON in the one error shape."""
    return {status: {"model": ErrorBody, "description": ERROR_TEXTS[status]} for status in statuses}


def page_errors(*statuses: int) -> dict:
    """The OpenAPI entries of a page's error responses: the HTML error page."""
    return {status: {"description": ERROR_TEXTS[status], "content": {"text/html": {"schema": {"type": "string"}}}}
            for status in statuses}


def _routes(routes: list) -> list:
    """The app's routes, those of included routers too (FastAPI wraps each included router in one route)."""
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)
        found += _routes(included.routes) if included is not None else [route]
    return found


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path."""
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def render_error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None):
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)
    return templates.TemplateResponse(request, "_error.html" if is_partial(request) else "error.html",
                                      {"status": status, "message": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    # Errors whose message is written for users, and the status each stands for.
    for error, status in ((QueryError, 422), (UploadError, 422), (StoreUnavailable, 503), (ModelUnavailable, 503)):

        async def known_error(request: Request, exc: Exception, status: int = status):
            # Connect afresh on the next request; a store refusing a write for want of space still reads.
            if isinstance(exc, StoreUnavailable) and not isinstance(exc, StoreFull):
                request.app.state.backend.forget_store()
            return render_error(request, getattr(exc, "status", status), str(exc))

        app.add_exception_handler(error, known_error)

    @app.exception_handler(OSError)
    async def disk_trouble(request: Request, exc: OSError):
        """A full disk (507) or a read-only folder (503) anywhere a request writes: one clear message."""
        if not is_disk_error(exc):
            return await unexpected(request, exc)
        error = exc if isinstance(exc, DiskError) else disk_error(exc, "the request's data")
        log.error("%s", error)
        return render_error(request, error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return render_error(request, 422, f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        headers: Mapping[str, str] | None = exc.headers
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers = {**(headers or {}), "Allow": allowed}  # Starlette names one route's; /index has two
        return render_error(request, exc.status_code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        response = render_error(request, 500, "something went wrong on the server; the details are in its log")
        response.headers.update(SECURITY_HEADERS)  # Starlette answers a 500 outside the middleware that adds them
        return response

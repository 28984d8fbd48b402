"""Request guards, as plain ASGI middleware in front of the app: which hosts it answers to, which
requests may change something (same origin, form token, admin token), how large a body may be, how many
uploads one client may run at once, and HEAD answered wherever GET is.

Each guard decides before the body is read, so a refused request costs nothing; a body is counted as it
streams and cut off at its limit. Refusals carry a message saying what to do, as JSON on /api/ and as the
app's error page elsewhere (the app's render function is handed in)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
FORM_TOKEN_COOKIE = "adsearch_form"  # the double-submit token; the pages' forms carry the same value
FORM_TOKEN_FIELD = "csrf_token"
SESSION_COOKIE = "adsearch_session"  # set by /signin: proof that the browser was given a token
MEGABYTE = 1024 * 1024

# The routes that change something (files, the collection); every other route only reads.
_WRITES = [("POST", re.compile(r"^/upload$")), ("POST", re.compile(r"^/api/images$")),
           ("DELETE", re.compile(r"^/api/images/.+")), ("POST", re.compile(r"^/view/.+/remove$"))]
_UPLOADS = [("POST", re.compile(r"^/upload$")), ("POST", re.compile(r"^/api/images$"))]
# Routes whose body carries a query image (multipart or base64 in JSON).
_QUERIES = [("POST", re.compile(r"^/index$")), ("POST", re.compile(r"^/api/search$")),
            ("POST", re.compile(r"^/api/query$"))]
# Open with READ_TOKEN set: the health check (for monitors), the sign-in page and its styles.
_OPEN = re.compile(r"^/(healthz|signin|signout|static/.*)$")

Render = Callable[[Request, int, str], Awaitable]  # the app's error response: JSON on /api/, a page elsewhere


def _matches(routes, scope) -> bool:
    return any(scope["method"] == method and pattern.match(scope["path"]) for method, pattern in routes)


def is_write(scope) -> bool:
    return _matches(_WRITES, scope)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The host of a Host header or URL netloc, without port, lower case ([::1]:8000 -> ::1)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def session_value(token: str) -> str:
    """The sign-in cookie's value for a token: derived from it, so the cookie never holds the token."""
    return hmac.new(token.encode(), b"adsearch session v1", hashlib.sha256).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())  # constant time: no guessing a token byte by byte


@dataclass(frozen=True)
class Access:
    """Who may change and who may search. admin/read: the tokens (None: not set); served_host: the
    address the server listens on, which decides whether changes are open without a token."""

    admin: str | None
    read: str | None
    served_host: str

    @property
    def changes(self) -> str:
        """open (no token, loopback only), token (ADMIN_TOKEN set) or off (beyond loopback, no token)."""
        if self.admin:
            return "token"
        return "open" if is_loopback(self.served_host) else "off"

    @property
    def off_message(self) -> str:
        return (f"changes are turned off: this server listens on {self.served_host}, beyond this computer, and "
                "no ADMIN_TOKEN is set. To upload or remove images, restart it with ADMIN_TOKEN set to a long "
                "random secret (for example: ADMIN_TOKEN=$(openssl rand -hex 32)) and sign in with it.")

    def role(self, scope) -> str | None:
        """admin, reader, or None, from the request's bearer token or sign-in cookie."""
        headers = Headers(scope=scope)
        offered = []
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            offered.append(("token", credential.strip()))
        cookie = _cookies(headers).get(SESSION_COOKIE)
        if cookie:
            offered.append(("session", cookie))
        for kind, value in offered:
            for role, token in (("admin", self.admin), ("reader", self.read)):
                if token and same_secret(value, token if kind == "token" else session_value(token)):
                    return role
        return None

    def signed_in(self, request: Request) -> bool:
        return self.role(request.scope) is not None


def _cookies(headers: Headers) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie at all
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


class _Refuse:
    """Sends the app's error response for a request the guard stops before the app sees it."""

    def __init__(self, render: Render):
        self.render = render

    async def __call__(self, scope, receive, send, status: int, message: str, headers: dict | None = None):
        response = await self.render(Request(scope, receive), status, message)
        for name, value in (headers or {}).items():
            response.headers[name] = value
        await response(scope, receive, send)


class RequestGuard:
    """All the checks of one request, in order: host, origin, tokens, body size, upload slots."""

    def __init__(self, app, *, render: Render, access: Access, allowed_hosts: set[str], max_body: int,
                 max_query_body: int, uploads_per_client: int):
        self.app = app
        self.refuse = _Refuse(render)
        self.access = access
        self.allowed_hosts = {host_name(h) for h in allowed_hosts if h.strip()}
        self.max_body, self.max_query_body = max_body, max_query_body
        self.uploads_per_client = uploads_per_client
        self.uploads: Counter[str] = Counter()  # client address -> uploads running (one event loop: no lock)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self.check(scope, headers)
        if refusal:
            return await self.refuse(scope, receive, send, *refusal)
        limit = self.body_limit(scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self.refuse(scope, receive, send, 413, _too_large(limit), {"Connection": "close"})
        receive = _counted(receive, limit)
        if not _matches(_UPLOADS, scope):
            return await self._run(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        if self.uploads[client] >= self.uploads_per_client:
            return await self.refuse(scope, receive, send, 429,
                                     f"this client already runs {self.uploads[client]} uploads at once, the limit; "
                                     "wait for one to finish, then send this one again", {"Retry-After": "5"})
        self.uploads[client] += 1
        try:
            await self._run(scope, receive, send)
        finally:
            self.uploads[client] -= 1
            if not self.uploads[client]:
                del self.uploads[client]

    async def _run(self, scope, receive, send):
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except BodyTooLarge as exc:  # read outside a route's own error handling
            if started:
                raise
            await self.refuse(scope, receive, send, 413, exc.detail, {"Connection": "close"})

    def check(self, scope, headers: Headers) -> tuple[int, str] | None:
        """(status, message) when the request must be refused before the app sees it."""
        host = host_name(headers.get("host", ""))
        server = host_name((scope.get("server") or ("", 0))[0] or "")
        if host not in self.allowed_hosts and host != server:
            shown = host[:80] or "(none)"
            return 400, (f"this server does not answer to the host name {shown!r}; if that name is yours, add it "
                         "to ALLOWED_HOSTS (comma-separated) and restart")
        if scope["method"] not in SAFE_METHODS and not _same_origin(headers):
            return 403, ("refused: this request to change something came from another web site. Use this "
                         "app's own pages, or an API client that sends no Origin header")
        role = self.access.role(scope)
        if self.access.read and role is None and not _OPEN.match(scope["path"]):
            return 401, "this server needs a token for searching: sign in at /signin, or send Authorization: Bearer"
        if is_write(scope):
            changes = self.access.changes
            if changes == "off":
                return 403, self.access.off_message
            if changes == "token" and role != "admin":
                wrong = "the token sent is not the admin token" if role or headers.get("authorization") else \
                    "changes need the admin token"
                return 401, f"{wrong}: sign in at /signin, or send Authorization: Bearer <ADMIN_TOKEN>"
        return None

    def body_limit(self, scope) -> int:
        if _matches(_UPLOADS, scope):
            return self.max_body
        if _matches(_QUERIES, scope):
            return self.max_query_body
        return MEGABYTE  # forms of a few fields; GETs send none


def _same_origin(headers: Headers) -> bool:
    """Whether a state-changing request comes from this app's own pages: its Origin (or, without one, its
    Referer) names the host the request is addressed to. Neither: not a browser's form or fetch (browsers
    send Origin on every cross-site POST), so an API client, whose writes the tokens guard."""
    source = headers.get("origin") or headers.get("referer")
    if source is None:
        return True
    if source == "null":  # sandboxed frames and some redirects: a page of no known origin
        return False
    parts = urlsplit(source)
    return bool(parts.netloc) and parts.netloc.lower() == headers.get("host", "").lower()


class BodyTooLarge(HTTPException):
    """Raised while the body streams in: FastAPI lets an HTTPException through its body parsing, so the
    app's own handler answers 413 with the message."""

    def __init__(self, limit: int):
        super().__init__(413, _too_large(limit), headers={"Connection": "close"})  # the rest is not read


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit / MEGABYTE:g} MB, the limit here; send less at a time"


def _counted(receive, limit: int):
    seen = 0

    async def counting():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counting


class FormTokens:
    """Gives each browser a random form token in a SameSite=Strict cookie; the pages put the same value in
    their forms (form_token_input), and form_token_checked compares the two on submit. Another site can
    neither read the cookie nor make the browser send it, so it cannot fill in the field."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = _cookies(Headers(scope=scope)).get(FORM_TOKEN_COOKIE)
        fresh = not token or len(token) < 32
        if fresh:
            token = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["form_token"] = token

        async def send_with_cookie(message):
            if fresh and message["type"] == "http.response.start":
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                MutableHeaders(scope=message).append(
                    "Set-Cookie", f"{FORM_TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def form_token_input(request: Request):
    """The hidden field every page form carries (a Jinja global)."""
    from markupsafe import Markup, escape

    token = request.scope.get("state", {}).get("form_token", "")
    return Markup(f'<input type="hidden" name="{FORM_TOKEN_FIELD}" value="{escape(token)}">')


async def form_token_checked(request: Request) -> None:
    """A route dependency of the pages' forms: the form's token must equal the cookie's."""
    form = await request.form()
    sent = form.get(FORM_TOKEN_FIELD)
    cookie = _cookies(request.headers).get(FORM_TOKEN_COOKIE)
    if not (isinstance(sent, str) and cookie and same_secret(sent, cookie)):
        raise HTTPException(403, "this form's security token is missing or out of date (it protects you from "
                                 "other web sites submitting it); reload the page and submit the form again")


class HeadAsGet:
    """HEAD wherever GET works: the GET route answers, and its body is dropped."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headers_only)


def access_context(request: Request) -> dict:
    """What the templates need of the guards (a Jinja context processor): whether changes are open, need a
    token or are off, and whether this request is signed in."""
    access: Access | None = getattr(request.app.state, "access", None)
    if access is None:
        return {}
    return {"changes": access.changes, "changes_off_message": access.off_message,
            "tokens_set": bool(access.admin or access.read), "signed_in": access.signed_in}


def install_guards(app, render, access: Access, settings, host: str) -> None:
    """The guards around the app: HEAD, then the request checks, then form tokens."""
    app.state.access = access

    async def render_refusal(request: Request, status: int, message: str):
        return render(request, status, message)

    hosts = set(LOOPBACK_HOSTS) | {host} | {name.strip() for name in settings.allowed_hosts.split(",")}
    app.add_middleware(FormTokens)
    app.add_middleware(RequestGuard, render=render_refusal, access=access, allowed_hosts=hosts,
                       max_body=settings.max_body_mb * MEGABYTE, max_query_body=settings.max_query_body_mb * MEGABYTE,
                       uploads_per_client=settings.uploads_per_client)
    app.add_middleware(HeadAsGet)

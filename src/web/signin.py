"""The pages' sign-in: a form that takes ADMIN_TOKEN (or READ_TOKEN) and sets an HTTP-only cookie derived
from it, and a sign-out. The API sends the token itself, as Authorization: Bearer."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from src.web.guard import SESSION_COOKIE, Access, form_token_checked, same_secret, session_value


def _local_path(target: str) -> str:
    """Where to go after signing in: a path of this app only (no //host, no scheme), else the search page."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/index"


def add_signin_routes(app: FastAPI, templates: Jinja2Templates, access: Access) -> None:
    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    def signin_page(request: Request, next: str = "/index"):
        return templates.TemplateResponse(request, "signin.html", {"next": _local_path(next), "error": None})

    @app.post("/signin", response_class=HTMLResponse, include_in_schema=False,
              dependencies=[Depends(form_token_checked)])
    def signin(request: Request, token: str = Form(""), next: str = Form("/index")):
        if not (access.admin or access.read):
            raise HTTPException(404, "this server has no tokens set: nothing to sign in to")
        known = [t for t in (access.admin, access.read) if t]
        if not any(same_secret(token, t) for t in known):
            context = {"next": _local_path(next), "error": "that token is not right; check it and try again"}
            return templates.TemplateResponse(request, "signin.html", context, status_code=401)
        response = RedirectResponse(_local_path(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/signout", include_in_schema=False, dependencies=[Depends(form_token_checked)])
    def signout():
        response = RedirectResponse("/index", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

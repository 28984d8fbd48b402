"""/docs: Swagger UI from the vendored files in static/swagger-ui/ (its licence beside them), started by a
script file, so it runs under the same CSP as every page and on a machine with no internet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from src.web.rendering import templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request):
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/redoc")
def redoc() -> RedirectResponse:
    # ReDoc's standalone bundle writes inline <style> elements, which the CSP refuses: one reference page.
    return RedirectResponse("/docs")

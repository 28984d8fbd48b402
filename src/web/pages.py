"""The HTML pages: search, one image, upload and remove, /EDA, and the image files they show."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from src.disk import disk_error, is_disk_error
from src.images import ImageError, format_of, sniff_format
from src.thumbnails import thumbnail
from src.uploads import UploadError
from src.web import rendering, services
from src.web.backend import Backend, get_backend
from src.web.cpu_pool import CpuPool, get_cpu
from src.web.errors import page_errors
from src.web.forms import SearchForm, read_query_image, read_uploads, search_state
from src.web.guard import form_token_checked
from src.web.rendering import ROOT, templates

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/index")


@router.get("/index", response_class=HTMLResponse, summary="Search page", responses=page_errors(422, 503))
def index_page(request: Request, form: SearchForm = Depends(), backend: Backend = Depends(get_backend)):
    return rendering.search_page(request, backend, form)


@router.post("/index", response_class=HTMLResponse, summary="Search page, querying with an image",
             responses=page_errors(400, 413, 422, 503))
async def index_image_query(request: Request, form: SearchForm = Depends(), image: UploadFile | None = None,
                            backend: Backend = Depends(get_backend), cpu: CpuPool = Depends(get_cpu)):
    query_image = await read_query_image(image)
    return await cpu.run(rendering.search_page, request, backend, form, query_image,
                         missing_image=query_image is None)


@router.get("/view/{path:path}", response_class=HTMLResponse, summary="One image: the words found, its text",
            responses=page_errors(404, 422, 503))
def view_page(request: Request, path: str, form: SearchForm = Depends(), backend: Backend = Depends(get_backend)):
    # The search it was opened from comes along, so its links lead back to exactly that search.
    return templates.TemplateResponse(request, "view.html", services.image_view(backend, path, form))


@router.post("/upload", response_class=HTMLResponse, summary="The page's upload form",
             responses=page_errors(400, 401, 403, 413, 422, 429, 503), dependencies=[Depends(form_token_checked)])
async def upload_page(request: Request, files: list[UploadFile], search: str = Form(""),
                      backend: Backend = Depends(get_backend), cpu: CpuPool = Depends(get_cpu)):
    context: dict[str, object]
    try:
        outcomes = await cpu.run(lambda: backend.add_images(read_uploads(request, files)))
        context = {"outcomes": outcomes, "error": None}
        status = 200
    except UploadError as exc:
        context, status = {"outcomes": [], "error": str(exc)}, 422
    partial = request.headers.get("HX-Request")
    # The page's "N images indexed" is swapped along with the outcomes (htmx out-of-band).
    context |= {"oob": bool(partial), "points": backend.read(lambda store: store.count(), None),
                "search": search_state(search)}
    return templates.TemplateResponse(request, "_uploads.html" if partial else "uploaded.html", context,
                                      status_code=status)


@router.post("/view/{path:path}/remove", response_class=HTMLResponse, summary="The page's remove button",
             responses=page_errors(400, 401, 403, 404, 422, 503), dependencies=[Depends(form_token_checked)])
def remove_page(request: Request, path: str, delete_files: str = Form(""), search: str = Form(""),
                backend: Backend = Depends(get_backend)):
    done = services.remove(backend, path, bool(delete_files))
    # POST, then redirect, then GET: reloading the answer does not send the removal again. The search the
    # image was opened from comes along, for the way back.
    outcome = {"path": path, "deleted": done.deleted, "kept": [name for name, _ in done.kept],
               "why": [reason for _, reason in done.kept], "search": search_state(search)}
    return RedirectResponse("/removed?" + urlencode(outcome, doseq=True), status_code=303)


@router.get("/removed", response_class=HTMLResponse, summary="What a removal did, and its undo")
def removed_page(request: Request, path: str = "", deleted: list[str] = Query([]), kept: list[str] = Query([]),
                 why: list[str] = Query([]), search: str = "", backend: Backend = Depends(get_backend)):
    context = {"path": path, "deleted": deleted, "kept": list(zip(kept, why, strict=False)),
               "undo": services.can_restore(backend, path), "search": search_state(search)}
    return templates.TemplateResponse(request, "removed.html", context)


@router.post("/removed/undo", summary="Put a removed image back in the index (its file is still in the folder)",
             responses=page_errors(401, 403, 404, 422, 503), dependencies=[Depends(form_token_checked)])
def undo_remove(path: str = Form(...), search: str = Form(""), backend: Backend = Depends(get_backend)
                ) -> RedirectResponse:
    services.restore(backend, path)
    state = search_state(search)
    return RedirectResponse("/view/" + quote(path) + (f"?{state}" if state else ""), status_code=303)


@router.get("/images/{path:path}", summary="The full image file", response_class=FileResponse,
            responses={200: {"content": {"image/*": {}}}} | page_errors(404, 415))
def full_image(path: str, backend: Backend = Depends(get_backend)):
    source = services.dataset_file(backend.settings, path)
    try:  # the type the content has, whatever the name says; with nosniff, the browser keeps to it
        media_type = format_of(sniff_format(source)).media_type
    except ImageError as exc:
        raise HTTPException(415, f"this file cannot be shown: {exc}") from None
    return FileResponse(source, media_type=media_type)


@router.get("/thumbs/{path:path}", summary="A small JPEG of the image", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}} | page_errors(404, 415))
async def thumb(path: str, backend: Backend = Depends(get_backend), cpu: CpuPool = Depends(get_cpu)):
    source = services.dataset_file(backend.settings, path)
    try:
        cached = await cpu.run(thumbnail, source, backend.settings.cache_dir)
    except ImageError as exc:
        raise HTTPException(415, f"cannot make a thumbnail: {exc}") from None
    except OSError as exc:  # a full or read-only cache folder: the grid shows the full image instead
        if not is_disk_error(exc):
            raise
        log.warning("%s", disk_error(exc, "a thumbnail", backend.settings.cache_dir))
        return FileResponse(source, media_type=format_of(sniff_format(source)).media_type,
                            headers={"Cache-Control": "no-store"})
    return FileResponse(cached, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/query-images/{key}", summary="An image searched with on the page, kept under its sha256",
            response_class=FileResponse, responses={200: {"content": {"image/*": {}}}} | page_errors(404, 415))
def query_image(key: str, backend: Backend = Depends(get_backend)):
    source = backend.query_images.path(key)
    if source is None:
        raise HTTPException(404, "this image is no longer kept; search with it again")
    try:  # it came from a user: served as the type its content has, never as the name or client said
        media_type = format_of(sniff_format(source)).media_type
    except ImageError as exc:
        raise HTTPException(415, f"this file cannot be shown: {exc}") from None
    return FileResponse(source, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


# -- /EDA: what is in the collection; src/eda_page.py computes, draws and caches it ---------------
@router.get("/eda", include_in_schema=False)
def eda_alias() -> RedirectResponse:
    return RedirectResponse("/EDA")


@router.get("/EDA", response_class=HTMLResponse, summary="What is in the collection: figures and key numbers",
            responses=page_errors(422, 503))
def eda_page(request: Request, refresh: bool = False, search: str = Query("", include_in_schema=False),
             backend: Backend = Depends(get_backend)):
    # search: the search page's state when it was left for this one, for the way back.
    return rendering.eda_page(request, backend, refresh, partial=False, search=search_state(search))


@router.get("/EDA/sections", response_class=HTMLResponse, summary="The /EDA sections, computed afresh (HTMX)",
            responses=page_errors(503))
def eda_sections(request: Request, backend: Backend = Depends(get_backend)):
    return rendering.eda_page(request, backend, refresh=True, partial=True)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    # Browsers and bookmark tools ask for this path whatever the page's <link rel="icon"> says.
    return FileResponse(ROOT / "static" / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})

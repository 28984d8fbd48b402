"""The HTML pages: search, one image, upload and remove, /EDA, and the image files they show."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from src.disk import disk_error, is_disk_error
from src.images import ImageError
from src.thumbnails import thumbnail
from src.uploads import UploadError
from src.web import rendering, services
from src.web.backend import Backend, get_backend
from src.web.errors import page_errors
from src.web.forms import SearchForm, read_query_image, read_uploads
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
             responses=page_errors(400, 422, 503))
async def index_image_query(request: Request, form: SearchForm = Depends(), image: UploadFile | None = None,
                            backend: Backend = Depends(get_backend)):
    query_image = await read_query_image(image)
    return rendering.search_page(request, backend, form, query_image, missing_image=query_image is None)


@router.get("/view/{path:path}", response_class=HTMLResponse, summary="One image: the words found, its text",
            responses=page_errors(404, 422, 503))
def view_page(request: Request, path: str, form: SearchForm = Depends(), backend: Backend = Depends(get_backend)):
    # The search it was opened from comes along, so its links lead back to exactly that search.
    return templates.TemplateResponse(request, "view.html", services.image_view(backend, path, form))


@router.post("/upload", response_class=HTMLResponse, summary="The page's upload form",
             responses=page_errors(400, 422, 503))
def upload_page(request: Request, files: list[UploadFile], backend: Backend = Depends(get_backend)):
    context: dict[str, object]
    try:
        context = {"outcomes": backend.add_images(read_uploads(request, files)), "error": None}
        status = 200
    except UploadError as exc:
        context, status = {"outcomes": [], "error": str(exc)}, 422
    partial = request.headers.get("HX-Request")
    # The page's "N images indexed" is swapped along with the outcomes (htmx out-of-band).
    context |= {"oob": bool(partial), "points": backend.read(lambda store: store.count(), None)}
    return templates.TemplateResponse(request, "_uploads.html" if partial else "uploaded.html", context,
                                      status_code=status)


@router.post("/view/{path:path}/remove", response_class=HTMLResponse, summary="The page's remove button",
             responses=page_errors(400, 404, 422, 503))
def remove_page(request: Request, path: str, delete_files: str = Form(""), backend: Backend = Depends(get_backend)):
    done = services.remove(backend, path, bool(delete_files))
    # POST, then redirect, then GET: reloading the answer does not send the removal again.
    outcome = {"path": path, "deleted": done.deleted, "kept": [name for name, _ in done.kept],
               "why": [reason for _, reason in done.kept]}
    return RedirectResponse("/removed?" + urlencode(outcome, doseq=True), status_code=303)


@router.get("/removed", response_class=HTMLResponse, summary="What a removal did, and its undo")
def removed_page(request: Request, path: str = "", deleted: list[str] = Query([]), kept: list[str] = Query([]),
                 why: list[str] = Query([]), backend: Backend = Depends(get_backend)):
    context = {"path": path, "deleted": deleted, "kept": list(zip(kept, why, strict=False)),
               "undo": services.can_restore(backend, path)}
    return templates.TemplateResponse(request, "removed.html", context)


@router.post("/removed/undo", summary="Put a removed image back in the index (its file is still in the folder)",
             responses=page_errors(404, 422, 503))
def undo_remove(path: str = Form(...), backend: Backend = Depends(get_backend)) -> RedirectResponse:
    services.restore(backend, path)
    return RedirectResponse("/view/" + quote(path), status_code=303)


@router.get("/images/{path:path}", summary="The full image file", response_class=FileResponse,
            responses={200: {"content": {"image/*": {}}}} | page_errors(404))
def full_image(path: str, backend: Backend = Depends(get_backend)):
    return FileResponse(services.dataset_file(backend.settings, path))


@router.get("/thumbs/{path:path}", summary="A small JPEG of the image", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}} | page_errors(404, 415))
def thumb(path: str, backend: Backend = Depends(get_backend)):
    source = services.dataset_file(backend.settings, path)
    try:
        cached = thumbnail(source, backend.settings.cache_dir)
    except ImageError as exc:
        raise HTTPException(415, f"cannot make a thumbnail: {exc}") from None
    except OSError as exc:  # a full or read-only cache folder: the grid shows the full image instead
        if not is_disk_error(exc):
            raise
        log.warning("%s", disk_error(exc, "a thumbnail", backend.settings.cache_dir))
        return FileResponse(source, headers={"Cache-Control": "no-store"})
    return FileResponse(cached, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


# -- /EDA: what is in the collection; src/eda_page.py computes, draws and caches it ---------------
@router.get("/eda", include_in_schema=False)
def eda_alias() -> RedirectResponse:
    return RedirectResponse("/EDA")


@router.get("/EDA", response_class=HTMLResponse, summary="What is in the collection: figures and key numbers",
            responses=page_errors(422, 503))
def eda_page(request: Request, refresh: bool = False, backend: Backend = Depends(get_backend)):
    return rendering.eda_page(request, backend, refresh, partial=False)


@router.get("/EDA/sections", response_class=HTMLResponse, summary="The /EDA sections, computed afresh (HTMX)",
            responses=page_errors(503))
def eda_sections(request: Request, backend: Backend = Depends(get_backend)):
    return rendering.eda_page(request, backend, refresh=True, partial=True)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    # Browsers and bookmark tools ask for this path whatever the page's <link rel="icon"> says.
    return FileResponse(ROOT / "static" / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})

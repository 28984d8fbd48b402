"""The web app: thin routes that parse the request, call the search, and render a page or JSON."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import shutil
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match

from src import eda
from src.disk import DiskError, disk_error, is_disk_error
from src.embedding import ClipEmbedder, ModelUnavailable
from src.images import ImageError, decode_image, resolve_inside
from src.indexing import index_folder
from src.search import (
    DEFAULT_K,
    DEFAULT_MODE,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    MODES,
    Part,
    QueryError,
    Searcher,
    SearchResult,
    clean_query,
    matching_words,
)
from src import ocr
from src.recovery import finish_interrupted
from src.removal import NotIndexed, RemovalError, remove_image
from src.settings import Settings
from src.store import Store, StoreFull, StoreUnavailable
from src.text_cache import TextCache
from src.text_reading import TextReader
from src.thumbnails import thumbnail
from src.uploads import MAX_FILES_PER_UPLOAD, MAX_UPLOAD_BYTES, MEGABYTE, UploadError, UploadOutcome, add_images

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
K_CHOICES = (12, 24, 48, 96)
NEGATIVE_WEIGHT = 0.5  # "minus night": pull away from it, but less than towards what is asked for
MAX_QUERY_IMAGE_BYTES = 20_000_000
NEIGHBOURS = 6  # look-alikes on the result view
SECURITY_HEADERS = {
    # Only this app's own scripts, styles and images: a query or file name can never run code.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    """The API's one error shape."""

    error: ErrorDetail


ERROR_TEXTS = {400: "Malformed request", 404: "Not found", 415: "Not an image it can read",
               422: "The request cannot be used; the message says why", 503: "The store or the model is unavailable",
               507: "No space left on the server's disk; nothing was half-written"}


def api_errors(*statuses: int) -> dict:
    """The OpenAPI entries of an API route's error responses: JSON in the one error shape."""
    return {status: {"model": ErrorBody, "description": ERROR_TEXTS[status]} for status in statuses}


def page_errors(*statuses: int) -> dict:
    """The OpenAPI entries of a page's error responses: the HTML error page."""
    return {status: {"description": ERROR_TEXTS[status], "content": {"text/html": {"schema": {"type": "string"}}}}
            for status in statuses}


class SecurityHeaders:
    """Puts SECURITY_HEADERS on every response. A plain ASGI middleware: @app.middleware("http") would
    run each request in an extra task and copy its body through a stream."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Backend:
    """The model and the store behind the app. The store is reopened on demand, so the app recovers
    when Qdrant comes back without a restart."""

    def __init__(self, settings: Settings, embedder: ClipEmbedder | None = None):
        self.settings = settings
        self.embedder = embedder or ClipEmbedder.from_settings(settings)
        self.model_error: str | None = None
        self._store: Store | None = None
        self._searcher: Searcher | None = None
        self._reader: TextReader | None = None
        self._lock = threading.Lock()
        self.indexing: dict = {"state": "idle", "summary": None}  # an index run inside the app

    def load_model(self) -> None:
        try:
            self.embedder.load()
            self.model_error = None
        except ModelUnavailable as exc:
            self.model_error = str(exc)
            log.error("%s", exc)

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings)
            return self._store

    def searcher(self) -> Searcher:
        store = self.store()
        with self._lock:
            if self._searcher is None or self._searcher.store is not store:
                self._searcher = Searcher(self.embedder, store)
            return self._searcher

    def reader(self) -> TextReader | None:
        """OCR for uploads, when it is on and tesseract is installed; its workers start on first use."""
        if not self.settings.ocr or shutil.which(ocr.TESSERACT_CMD) is None:
            return None
        with self._lock:
            if self._reader is None:
                self._reader = TextReader(TextCache(self.settings.text_dir, self.settings.ocr_langs))
            return self._reader

    def add_images(self, files: list[tuple[str, bytes]]) -> list[UploadOutcome]:
        if not self.embedder.loaded and not self.model_error:
            self.load_model()
        embedder = None if self.model_error else self.embedder
        return add_images(files, self.settings, embedder, self.store(), self.reader())

    def read(self, ask, default):
        """ask(store), or default when the store cannot answer: for the parts of a page that can do
        without it (the page's own search reports the failure)."""
        try:
            return ask(self.store())
        except StoreUnavailable:
            self.forget_store()
            return default

    def forget_store(self) -> None:
        """After a store failure: drop the client so the next request connects afresh. Failures that
        reach the error handler do this there; code that catches StoreUnavailable does it itself."""
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None

    def index_in_background(self) -> None:
        """The index step in a thread of the app, so searches go on while it writes: the embedded
        store belongs to one process, so the app itself must be the writer."""
        self.indexing = {"state": "running", "summary": None}
        threading.Thread(target=self._index, name="index", daemon=True).start()

    def open_store(self) -> None:
        """At start: take the store (and the embedded store's lock) now, not on the first request, and
        finish what a killed process left half-done. A store that is down is retried on demand."""
        try:
            finish_interrupted(self.settings, self.store(), notify=log.warning)
        except StoreUnavailable as exc:
            self.forget_store()
            log.error("%s", exc)

    def _index(self) -> None:
        try:
            self.load_model()
            embedder = None if self.model_error else self.embedder
            report = index_folder(self.settings.dataset_dir, embedder, self.store(), self.settings.batch_size,
                                  progress=False, notify=log.info, reader=self.reader())
            self.indexing = {"state": "done", "summary": report.summary()}
            log.info("index: %s", report.summary())
        except (StoreUnavailable, ModelUnavailable, FileNotFoundError, ValueError, OSError) as exc:
            if isinstance(exc, OSError) and is_disk_error(exc):
                exc = disk_error(exc, "the index run")
            self.indexing = {"state": "failed", "summary": str(exc)}
            log.error("index: %s", exc)

    def close(self) -> None:
        self.forget_store()
        if self._reader is not None:
            self._reader.close()


def create_app(
    settings: Settings | None = None, embedder: ClipEmbedder | None = None, index_on_start: bool = False
) -> FastAPI:
    """index_on_start: run the index step over the image folder in the background (`serve --index`)."""
    backend = Backend(settings or Settings.load(), embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backend.open_store()
        # Load the model in the background: pages answer at once, the first search waits for it.
        threading.Thread(target=backend.load_model, name="load-model", daemon=True).start()
        if index_on_start:
            backend.index_in_background()
        yield
        backend.close()

    # No /docs or /redoc: their pages load scripts from a CDN, which the CSP (and an offline machine) refuses.
    app = FastAPI(title="adsearch", summary="Semantic search for advertisement images", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.backend = backend
    templates = Jinja2Templates(directory=ROOT / "templates")
    templates.env.filters["path_url"] = lambda path: quote(path, safe="/")
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")

    app.add_middleware(SecurityHeaders)

    def run_search(
        form: "SearchForm", image: bytes | None = None, parts: list[Part] = (), images_ok: bool | None = None
    ) -> list[SearchResult]:
        """The one search call behind the page and the API; raises the errors both render.
        images_ok: whether picture search works, when the caller already knows (one store look-up)."""
        if not backend.embedder.loaded and not backend.model_error:
            backend.load_model()  # waits for the start-up load, so the first search knows how it went
        # Without a model, or with a collection indexed without one, the words of the ads still match.
        words_only = not (_images_usable(backend, strict=True) if images_ok is None else images_ok)
        parts = form.parts() + list(parts) + ([Part(vector=_image_query_vector(backend, image))] if image else [])
        return backend.searcher().search(
            form.q, form.k_value(), form.mode, where=form.where(), words_only=words_only, parts=parts,
            offset=form.offset_value(), min_score=form.min_score_value(),
            collapse=None if form.show_duplicates or words_only else backend.settings.collapse_cosine,
        )

    def search_page(request: Request, form: "SearchForm", image: bytes | None = None):
        images_ok = _images_usable(backend)
        context = {"f": form, "k_choices": K_CHOICES, "modes": MODES, "results": [], "error": None,
                   "searched": form.searched or bool(image), "images_ok": images_ok}
        status = 200
        try:
            context["results"] = run_search(form, image, images_ok=images_ok)
        except QueryError as exc:
            status, context["error"] = 422, str(exc)
        except StoreUnavailable as exc:
            backend.forget_store()
            status, context["error"] = 503, str(exc)
        except ModelUnavailable as exc:
            status, context["error"] = 503, str(exc)
        k = form.k_value() if status == 200 else DEFAULT_K
        if len(context["results"]) == k and not image:
            context["more_url"] = "/index?" + form.query_string(offset=form.offset_value() + k)
        if request.headers.get("X-Results") == "more":  # "load more": just the next cards
            return templates.TemplateResponse(request, "_cards.html", context, status_code=status)
        partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
        if not partial:
            context["model_error"] = backend.model_error or _text_only_reason(backend)
            context["points"] = backend.read(lambda store: store.count(), None)
            context["categories"] = backend.read(lambda store: store.facet("category"), [])
        return templates.TemplateResponse(
            request, "_results.html" if partial else "index.html", context, status_code=status
        )

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/index")

    @app.get("/index", response_class=HTMLResponse, summary="Search page", responses=page_errors(422, 503))
    def index_page(request: Request, form: SearchForm = Depends()):
        return search_page(request, form)

    @app.post("/index", response_class=HTMLResponse, summary="Search page, querying with an image",
              responses=page_errors(400, 422, 503))
    async def index_image_query(request: Request, form: SearchForm = Depends(), image: UploadFile | None = None):
        return search_page(request, form, await _read_query_image(image))

    def api_results(form: "SearchForm", results: list[SearchResult]) -> JSONResponse:
        # Plain JSON types already: a JSONResponse skips FastAPI's generic encoder, and vars() the deep
        # copy of asdict(), which together took a third of a cached query's time.
        return JSONResponse({
            "query": form.q,
            "k": form.k_value(),
            "offset": form.offset_value(),
            "mode": form.mode,
            "filters": {"category": form.category or None, "has_text": bool(form.has_text)},
            "results": [
                vars(r) | {"image_url": f"/images/{quote(r.path)}", "thumbnail_url": f"/thumbs/{quote(r.path)}",
                           "view_url": f"/view/{quote(r.path)}"}
                for r in results
            ],
        })

    @app.get("/api/search", summary="Search by text and/or an indexed image (like=point id); JSON",
             responses=api_errors(422, 503))
    def api_search(form: SearchForm = Depends()):
        return api_results(form, run_search(form))

    @app.post("/api/search", summary="Search with an image file, plus the same fields as GET",
              responses=api_errors(400, 422, 503))
    async def api_image_search(form: SearchForm = Depends(), image: UploadFile | None = None):
        query_image = await _read_query_image(image)
        return api_results(form, run_search(form, query_image))

    @app.get("/healthz", summary="Model, store and point count",
             responses={503: {"description": "The store cannot be reached: the same fields, reachable false"}})
    def healthz():
        store_info = {"location": backend.settings.describe_store(), "collection": backend.settings.collection}
        try:
            store_info |= {"reachable": True, "points": backend.store().count()}
        except StoreUnavailable as exc:
            backend.forget_store()
            store_info |= {"reachable": False, "error": str(exc)}
        model_info = {
            "id": backend.settings.clip_model,
            "loaded": backend.embedder.loaded,
            "device": backend.embedder.device,
            "precision": backend.embedder.precision.precision if backend.embedder.precision else None,
            "error": backend.model_error,
            "search": "words in the ads only" if backend.model_error else "picture and text",
        }
        healthy = store_info["reachable"] and not backend.model_error
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "model": model_info, "store": store_info,
             "indexing": backend.indexing},
            status_code=200 if store_info["reachable"] else 503,
        )

    @app.get("/view/{path:path}", response_class=HTMLResponse, summary="One image: the words found, its text",
             responses=page_errors(404, 422, 503))
    def view_page(request: Request, path: str, q: str = ""):
        _dataset_file(backend.settings, path)
        hit = _indexed(backend, path)
        cached = TextCache(backend.settings.text_dir, backend.settings.ocr_langs).get(path, hit.payload.get("sha256", ""))
        marks = matching_words(cached.words, q) if cached and q else []
        context = {"path": path, "q": q, "p": hit.payload, "id": hit.id, "marks": marks,
                   "neighbours": _neighbours(backend, hit.id)}
        return templates.TemplateResponse(request, "view.html", context)

    @app.post("/api/query", summary="A combined query: weighted texts, images and indexed images; JSON in and out",
              responses=api_errors(400, 422, 503))
    def api_query(body: CombinedQuery):
        form = SearchForm(q="", negative="", like="", k=str(body.k), offset=str(body.offset), mode=body.mode,
                          category=body.category, has_text="1" if body.has_text else "",
                          min_score="" if body.min_score is None else str(body.min_score),
                          show_duplicates="1" if body.show_duplicates else "")
        parts = [_query_part(backend, part) for part in body.parts]
        return api_results(form, run_search(form, parts=parts))

    @app.post("/api/images", summary="Add images: each is checked, saved into the dataset folder and indexed",
              responses=api_errors(400, 422, 503, 507))
    def api_add_images(request: Request, files: list[UploadFile]):
        outcomes = backend.add_images(_read_uploads(request, files))
        return {"outcomes": [asdict(o) for o in outcomes]}

    @app.post("/upload", response_class=HTMLResponse, summary="The page's upload form",
              responses=page_errors(400, 422, 503))
    def upload_page(request: Request, files: list[UploadFile]):
        try:
            context = {"outcomes": backend.add_images(_read_uploads(request, files)), "error": None}
            status = 200
        except UploadError as exc:
            context, status = {"outcomes": [], "error": str(exc)}, 422
        partial = request.headers.get("HX-Request")
        return templates.TemplateResponse(request, "_uploads.html" if partial else "uploaded.html", context,
                                          status_code=status)

    @app.get("/api/images/{path:path}", summary="One indexed image: details, OCR text and nearest neighbours",
             responses=api_errors(404, 503))
    def api_image(path: str):
        hit = _indexed(backend, path)
        neighbours = [{"path": r.path, "score": r.score, "id": r.id} for r in _neighbours(backend, hit.id)]
        return {"id": hit.id, **hit.payload, "neighbours": neighbours}

    @app.delete("/api/images/{path:path}", summary="Remove an image from the index, and its files with delete_files",
                responses=api_errors(404, 422, 503))
    def api_remove(path: str, delete_files: bool = False):
        done = _remove(backend, path, delete_files)
        return {"removed": path, "deleted_files": done.deleted,
                "kept_files": [{"path": name, "reason": reason} for name, reason in done.kept]}

    @app.post("/view/{path:path}/remove", response_class=HTMLResponse, summary="The page's remove button",
              responses=page_errors(400, 404, 422, 503))
    def remove_page(request: Request, path: str, delete_files: str = Form("")):
        done = _remove(backend, path, bool(delete_files))
        return templates.TemplateResponse(request, "removed.html", {"path": path, "deleted": done.deleted,
                                                                    "kept": done.kept})

    @app.get("/images/{path:path}", summary="The full image file", response_class=FileResponse,
             responses={200: {"content": {"image/*": {}}}} | page_errors(404))
    def full_image(path: str):
        return FileResponse(_dataset_file(backend.settings, path))

    @app.get("/thumbs/{path:path}", summary="A small JPEG of the image", response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}} | page_errors(404, 415))
    def thumb(path: str):
        source = _dataset_file(backend.settings, path)
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

    # -- /EDA: what is in the collection; src/eda.py computes, draws and caches it ---------------
    @app.get("/eda", include_in_schema=False)
    def eda_alias() -> RedirectResponse:
        return RedirectResponse("/EDA")

    @app.get("/EDA", response_class=HTMLResponse, summary="What is in the collection: figures and key numbers",
             responses=page_errors(422, 503))
    def eda_page(request: Request, refresh: bool = False):
        return render_eda(request, refresh, partial=False)

    @app.get("/EDA/sections", response_class=HTMLResponse, summary="The /EDA sections, computed afresh (HTMX)",
             responses=page_errors(503))
    def eda_sections(request: Request):
        return render_eda(request, refresh=True, partial=True)

    def render_eda(request: Request, refresh: bool, partial: bool):
        page = eda.page(backend.settings, backend.store(), refresh=refresh)
        return templates.TemplateResponse(request, "eda.html", {"p": page, "s": page.summary, "partial": partial})

    _install_error_handlers(app, templates)
    return app


@dataclass
class SearchForm:
    """The search fields of the page and the API, as sent: parsed on use, so a bad value is a 422 with a
    message rather than a framework error."""

    q: str = ""
    negative: str = Query("", alias="not", description="text whose meaning the results should avoid")
    like: str = Query("", description="an indexed image's id: more like this")
    k: str = str(DEFAULT_K)
    offset: str = "0"
    mode: str = DEFAULT_MODE
    category: str = ""
    has_text: str = ""
    min_score: str = Query("", description="lowest cosine similarity of a result, 0 to 1")
    show_duplicates: str = Query("", description="1: list near-duplicates one by one instead of folding them")

    @property
    def searched(self) -> bool:
        return bool(self.q.strip() or self.like)

    def k_value(self) -> int:
        return _whole_number("k", self.k, DEFAULT_K)

    def offset_value(self) -> int:
        return _whole_number("offset", self.offset, 0)

    def min_score_value(self) -> float | None:
        if not self.min_score.strip():
            return None
        try:
            value = float(self.min_score)
        except ValueError:
            raise QueryError(f"min_score must be a number from 0 to 1, not {self.min_score[:20]!r}") from None
        if not 0 <= value <= 1:
            raise QueryError(f"min_score must be from 0 to 1, not {value}")
        return value

    def where(self) -> dict:
        return ({"category": self.category} if self.category else {}) | ({"has_text": True} if self.has_text else {})

    def parts(self) -> list[Part]:
        parts = []
        if self.negative.strip():
            parts.append(Part(text=clean_query(self.negative), weight=-NEGATIVE_WEIGHT))
        if self.like:
            try:
                parts.append(Part(point_id=str(uuid.UUID(self.like))))
            except ValueError:
                raise QueryError("like must be the id of an indexed image") from None
        return parts

    def query_string(self, **changes) -> str:
        fields = {"q": self.q, "not": self.negative, "like": self.like, "k": self.k, "offset": self.offset,
                  "mode": self.mode, "category": self.category, "has_text": self.has_text,
                  "min_score": self.min_score, "show_duplicates": self.show_duplicates} | changes
        return urlencode({key: value for key, value in fields.items() if value not in ("", None)})


class QueryPartIn(BaseModel):
    """One part of a combined query: exactly one of text, like (an indexed image's id) or image (base64)."""

    text: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    like: str | None = None
    image: str | None = Field(None, description="an image file, base64-encoded", max_length=MAX_QUERY_IMAGE_BYTES * 2)
    weight: float = Field(1.0, ge=-10, le=10, description="negative: results should not look like this part")


class CombinedQuery(BaseModel):
    parts: list[QueryPartIn] = Field(min_length=1, max_length=10)
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    mode: str = DEFAULT_MODE
    category: str = ""
    has_text: bool = False
    min_score: float | None = Field(None, ge=0, le=1)
    show_duplicates: bool = False


def _query_part(backend: "Backend", part: QueryPartIn) -> Part:
    given = [name for name in ("text", "like", "image") if getattr(part, name)]
    if len(given) != 1:
        raise QueryError("each part needs exactly one of text, like or image")
    if part.text:
        return Part(text=clean_query(part.text), weight=part.weight)
    if part.like:
        try:
            return Part(point_id=str(uuid.UUID(part.like)), weight=part.weight)
        except ValueError:
            raise QueryError("like must be the id of an indexed image") from None
    try:
        data = base64.b64decode(part.image, validate=True)
    except (binascii.Error, ValueError):
        raise QueryError("image must be a base64-encoded image file") from None
    return Part(vector=_image_query_vector(backend, data), weight=part.weight)


def _whole_number(name: str, value: str, default: int) -> int:
    if value is None or str(value).strip() == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        limit = f"between 1 and {MAX_K}" if name == "k" else "0 or more"
        raise QueryError(f"{name} must be a whole number {limit}, not {str(value)[:20]!r}") from None


def _read_uploads(request: Request, files: list[UploadFile]) -> list[tuple[str, bytes]]:
    """(name, bytes) of each uploaded file; a body larger than any valid upload is refused."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_FILES_PER_UPLOAD * (MAX_UPLOAD_BYTES + 1024):
        raise UploadError(f"the upload is {declared / 1e6:.0f} MB; at most {MAX_FILES_PER_UPLOAD} files of "
                          f"{MAX_UPLOAD_BYTES // 1_000_000} MB each at a time")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise UploadError(f"too many files: {len(files)}; at most {MAX_FILES_PER_UPLOAD} at a time")
    # One byte past the limit is enough to know a file is too large, and keeps memory bounded.
    read = [(f.filename or "image", f.file.read(MAX_UPLOAD_BYTES + 1)) for f in files if f.filename]
    for name, data in read:
        if len(data) > MAX_UPLOAD_BYTES:  # a limit of the request, like the file count: nothing is added
            raise UploadError(f"{name} is larger than {MAX_UPLOAD_BYTES // MEGABYTE} MB, the limit for one file; "
                              "nothing was added")
    return read


async def _read_query_image(image: UploadFile | None) -> bytes | None:
    if image is None or not image.filename:
        return None
    data = await image.read(MAX_QUERY_IMAGE_BYTES + 1)
    if len(data) > MAX_QUERY_IMAGE_BYTES:
        raise QueryError(f"the query image is larger than {MAX_QUERY_IMAGE_BYTES // 1_000_000} MB")
    if not data:
        raise QueryError("the query image is empty")
    return data


def _image_query_vector(backend: "Backend", data: bytes) -> tuple[float, ...]:
    """An uploaded query image as a CLIP vector; it is not stored."""
    if backend.model_error:
        raise QueryError("searching by image needs the image model, which is not loaded")
    try:
        decoded = decode_image(io.BytesIO(data), min_side=backend.embedder.input_size)
    except ImageError as exc:
        raise QueryError(f"the query image cannot be used: {exc}") from None
    return tuple(backend.embedder.embed_images([decoded.image])[0].tolist())


def _images_usable(backend: Backend, strict: bool = False) -> bool:
    """Whether searching by picture works now: a model, and image vectors in the collection.
    An unreachable store counts as no, or (strict) raises StoreUnavailable."""
    if backend.model_error:
        return False
    if strict:
        return backend.store().state().has_images
    return backend.read(lambda store: store.state().has_images, False)


def _text_only_reason(backend: Backend) -> str | None:
    state = backend.read(lambda store: store.state(), None)
    if state is not None and state.exists and not state.has_images:
        return "the collection was indexed without an image model; run index again with CLIP_MODEL set."
    return None


def _indexed(backend: Backend, path: str):
    """The point showing path, or a 404."""
    hit = backend.store().by_path(path)
    if hit is None:
        raise HTTPException(404, "this image is not in the index (run index)")
    return hit


def _neighbours(backend: Backend, point_id: str, count: int = NEIGHBOURS) -> list[SearchResult]:
    """The images that look most like this one (none without image vectors)."""
    if backend.model_error or not backend.store().state().has_images:
        return []
    found = backend.searcher().search(None, k=count + 1, mode="image", parts=[Part(point_id=point_id)])
    return [r for r in found if r.id != point_id][:count]


def _remove(backend: Backend, path: str, delete_files: bool):
    try:
        return remove_image(backend.settings, backend.store(), path, delete_files)
    except NotIndexed:
        raise HTTPException(404, "this image is not in the index") from None
    except RemovalError as exc:  # a read-only image folder: nothing was changed
        raise HTTPException(503, exc.strerror) from None


def _dataset_file(settings: Settings, path: str) -> Path:
    resolved = resolve_inside(settings.dataset_dir, path)
    if resolved is None:
        raise HTTPException(404, "no such image")
    return resolved


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path."""
    methods = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _install_error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    """One error shape for the API ({"error": {"status", "message"}}), a readable page elsewhere."""

    def render(request: Request, status: int, message: str, headers: dict | None = None):
        if request.url.path.startswith("/api/") or request.url.path == "/healthz":
            return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)
        partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
        return templates.TemplateResponse(request, "_error.html" if partial else "error.html",
                                          {"status": status, "message": message}, status_code=status, headers=headers)

    # Errors whose message is written for users, and the status each stands for.
    for error, status in ((QueryError, 422), (UploadError, 422), (StoreUnavailable, 503), (ModelUnavailable, 503)):

        async def known_error(request: Request, exc: Exception, status: int = status):
            # Connect afresh on the next request; a store refusing a write for want of space still reads.
            if isinstance(exc, StoreUnavailable) and not isinstance(exc, StoreFull):
                request.app.state.backend.forget_store()
            return render(request, getattr(exc, "status", status), str(exc))

        app.add_exception_handler(error, known_error)

    @app.exception_handler(OSError)
    async def disk_trouble(request: Request, exc: OSError):
        """A full disk (507) or a read-only folder (503) anywhere a request writes: one clear message."""
        if not is_disk_error(exc):
            return await unexpected(request, exc)
        error = exc if isinstance(exc, DiskError) else disk_error(exc, "the request's data")
        log.error("%s", error)
        return render(request, error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return render(request, 422, f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        headers = exc.headers
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers = (headers or {}) | {"Allow": allowed}  # Starlette names one route's; /index has two
        return render(request, exc.status_code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        response = render(request, 500, "something went wrong on the server; the details are in its log")
        response.headers.update(SECURITY_HEADERS)  # Starlette answers a 500 outside the middleware that adds them
        return response

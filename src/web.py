"""The web app: thin routes that parse the request, call the search, and render a page or JSON."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from src import eda
from src.embedding import ClipEmbedder, ModelUnavailable
from src.images import ImageError, resolve_inside
from src.search import DEFAULT_K, DEFAULT_MODE, MAX_K, MODES, QueryError, Searcher, SearchResult, matching_words
from src.settings import Settings
from src.store import Store, StoreUnavailable
from src.text_cache import TextCache
from src.thumbnails import thumbnail

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
K_CHOICES = (12, 24, 48, 96)
SECURITY_HEADERS = {
    # Only this app's own scripts, styles and images: a query or file name can never run code.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class Backend:
    """The model and the store behind the app. The store is reopened on demand, so the app recovers
    when Qdrant comes back without a restart."""

    def __init__(self, settings: Settings, embedder: ClipEmbedder | None = None):
        self.settings = settings
        self.embedder = embedder or ClipEmbedder.from_settings(settings)
        self.model_error: str | None = None
        self._store: Store | None = None
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

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

    def forget_store(self) -> None:
        """After a store failure: drop the client so the next request connects afresh."""
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None

    def close(self) -> None:
        self.forget_store()


def create_app(settings: Settings | None = None, embedder: ClipEmbedder | None = None) -> FastAPI:
    backend = Backend(settings or Settings.load(), embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Load the model in the background: pages answer at once, the first search waits for it.
        threading.Thread(target=backend.load_model, name="load-model", daemon=True).start()
        yield
        backend.close()

    app = FastAPI(title="adsearch", summary="Semantic search for advertisement images", lifespan=lifespan)
    app.state.backend = backend
    templates = Jinja2Templates(directory=ROOT / "templates")
    templates.env.filters["path_url"] = lambda path: quote(path, safe="/")
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def run_search(
        q: str | None, k: str | int | None, mode: str | None, category: str = "", has_text: bool = False
    ) -> list[SearchResult]:
        """The one search call behind the page and the API; raises the errors both render."""
        k_value = _parse_k(k)
        where = ({"category": category} if category else {}) | ({"has_text": True} if has_text else {})
        if not backend.embedder.loaded and not backend.model_error:
            backend.load_model()  # waits for the start-up load, so the first search knows how it went
        try:
            # Without a model, or with a collection indexed without one, the words of the ads still match.
            words_only = bool(backend.model_error) or not backend.store().state().has_images
            return backend.searcher().search(q, k_value, mode, where=where, words_only=words_only)
        except StoreUnavailable:
            backend.forget_store()
            raise

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/index")

    @app.get("/index", response_class=HTMLResponse, summary="Search page")
    def index_page(request: Request, q: str = "", k: str = str(DEFAULT_K), mode: str = DEFAULT_MODE,
                   category: str = "", has_text: str = ""):
        context = {"q": q, "k": k, "k_choices": K_CHOICES, "mode": mode, "modes": MODES, "category": category,
                   "has_text": bool(has_text), "results": [], "error": None, "searched": False}
        status = 200
        try:
            context["results"] = run_search(q, k, mode, category, bool(has_text))
            context["searched"] = bool(q.strip())
        except QueryError as exc:
            status, context["error"] = 422, str(exc)
        except (StoreUnavailable, ModelUnavailable) as exc:
            status, context["error"] = 503, str(exc)
        partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
        if not partial:
            context["model_error"] = backend.model_error or _text_only_reason(backend)
            context["points"] = _count_or_none(backend)
            context["categories"] = _facet_or_empty(backend, "category")
        return templates.TemplateResponse(
            request, "_results.html" if partial else "index.html", context, status_code=status
        )

    @app.get("/api/search", summary="Search by text; the same results as /index, as JSON")
    def api_search(q: str = "", k: int = DEFAULT_K, mode: str = DEFAULT_MODE, category: str = "",
                   has_text: bool = False):
        results = run_search(q, k, mode, category, has_text)
        return {
            "query": q,
            "k": k,
            "mode": mode,
            "filters": {"category": category or None, "has_text": has_text},
            "results": [
                asdict(r) | {"image_url": f"/images/{quote(r.path)}", "thumbnail_url": f"/thumbs/{quote(r.path)}"}
                for r in results
            ],
        }

    @app.get("/healthz", summary="Model, store and point count")
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
            {"status": "ok" if healthy else "degraded", "model": model_info, "store": store_info},
            status_code=200 if store_info["reachable"] else 503,
        )

    @app.get("/view/{path:path}", response_class=HTMLResponse, summary="One image: the words found, its text")
    def view_page(request: Request, path: str, q: str = ""):
        _dataset_file(backend.settings, path)
        try:
            hit = backend.store().by_path(path)
        except StoreUnavailable:
            backend.forget_store()
            raise
        if hit is None:
            raise HTTPException(404, "this image is not in the index (run index)")
        cached = TextCache(backend.settings.text_dir, backend.settings.ocr_langs).get(path, hit.payload.get("sha256", ""))
        marks = matching_words(cached.words, q) if cached and q else []
        return templates.TemplateResponse(request, "view.html", {"path": path, "q": q, "p": hit.payload, "marks": marks})

    @app.get("/images/{path:path}", summary="The full image file")
    def full_image(path: str):
        return FileResponse(_dataset_file(backend.settings, path))

    @app.get("/thumbs/{path:path}", summary="A small JPEG of the image")
    def thumb(path: str):
        source = _dataset_file(backend.settings, path)
        try:
            cached = thumbnail(source, backend.settings.cache_dir)
        except ImageError as exc:
            raise HTTPException(415, f"cannot make a thumbnail: {exc}") from None
        return FileResponse(cached, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})

    # -- /EDA: what is in the collection; src/eda.py computes, draws and caches it ---------------
    @app.get("/eda", include_in_schema=False)
    def eda_alias() -> RedirectResponse:
        return RedirectResponse("/EDA")

    @app.get("/EDA", response_class=HTMLResponse, summary="What is in the collection: figures and key numbers")
    def eda_page(request: Request, refresh: bool = False):
        return render_eda(request, refresh, partial=False)

    @app.get("/EDA/sections", response_class=HTMLResponse, summary="The /EDA sections, computed afresh (HTMX)")
    def eda_sections(request: Request):
        return render_eda(request, refresh=True, partial=True)

    def render_eda(request: Request, refresh: bool, partial: bool):
        try:
            page = eda.page(backend.settings, backend.store(), refresh=refresh)
        except StoreUnavailable:
            backend.forget_store()
            raise
        return templates.TemplateResponse(request, "eda.html", {"p": page, "s": page.summary, "partial": partial})

    _install_error_handlers(app, templates)
    return app


def _parse_k(k: str | int | None) -> int:
    if k is None or k == "":
        return DEFAULT_K
    try:
        return int(k)
    except (TypeError, ValueError):
        raise QueryError(f"k must be a whole number between 1 and {MAX_K}, not {str(k)[:20]!r}") from None


def _count_or_none(backend: Backend) -> int | None:
    try:
        return backend.store().count()
    except StoreUnavailable:
        backend.forget_store()
        return None


def _text_only_reason(backend: Backend) -> str | None:
    try:
        state = backend.store().state()
    except StoreUnavailable:
        return None
    if state.exists and not state.has_images:
        return "the collection was indexed without an image model; run index again with CLIP_MODEL set."
    return None


def _facet_or_empty(backend: Backend, field: str) -> list[tuple[str, int]]:
    try:
        return backend.store().facet(field)
    except StoreUnavailable:
        backend.forget_store()
        return []


def _dataset_file(settings: Settings, path: str) -> Path:
    resolved = resolve_inside(settings.dataset_dir, path)
    if resolved is None:
        raise HTTPException(404, "no such image")
    return resolved


def _install_error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    """One error shape for the API ({"error": {"status", "message"}}), a readable page elsewhere."""

    def render(request: Request, status: int, message: str):
        if request.url.path.startswith("/api/") or request.url.path == "/healthz":
            return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status
        )

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError):
        return render(request, 422, str(exc))

    @app.exception_handler(StoreUnavailable)
    async def store_error(request: Request, exc: StoreUnavailable):
        return render(request, 503, str(exc))

    @app.exception_handler(ModelUnavailable)
    async def model_error(request: Request, exc: ModelUnavailable):
        return render(request, 503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return render(request, 422, f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return render(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return render(request, 500, "something went wrong on the server; the details are in its log")

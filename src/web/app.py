"""create_app: the FastAPI app, its lifespan (model load, optional index run), middleware and routers."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from src.embedding import ClipEmbedder
from src.runtime import configure
from src.settings import Settings
from src.web import api, docs, pages
from src.web.backend import Backend
from src.web.cpu_pool import CpuPool
from src.web.errors import install_error_handlers, render_error
from src.web.guard import Access, install_guards
from src.web.middleware import SecurityHeaders
from src.web.rendering import ROOT, templates
from src.web.signin import add_signin_routes


def create_app(
    settings: Settings | None = None, embedder: ClipEmbedder | None = None, index_on_start: bool = False,
    host: str = "127.0.0.1",
) -> FastAPI:
    """index_on_start: run the index step over the image folder in the background (`serve --index`).
    host: the address the server listens on; beyond loopback, changes need ADMIN_TOKEN (src/web/guard.py)."""
    configure()
    backend = Backend(settings or Settings.load(), embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backend.open_store()  # the store's lock is held from the first moment
        # Load the model in the background: pages answer at once, the first search waits for it.
        threading.Thread(target=backend.load_model, name="load-model", daemon=True).start()
        if index_on_start:
            backend.index_in_background()
        yield
        backend.close()

    # FastAPI's own /docs and /redoc load scripts from a CDN, which the CSP (and an offline machine)
    # refuses: docs.py serves Swagger UI from vendored files instead.
    app = FastAPI(title="adsearch", summary="Semantic search for advertisement images", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.backend = backend
    app.state.cpu = CpuPool()
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(docs.router)
    install_error_handlers(app)
    access = Access(backend.settings.admin_secret, backend.settings.read_secret, host)
    add_signin_routes(app, templates, access)
    install_guards(app, render_error, access, backend.settings, host)
    app.add_middleware(SecurityHeaders)  # outermost: the guards' refusals carry the headers too
    return app

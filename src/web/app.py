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
from src.web.errors import install_error_handlers
from src.web.middleware import SecurityHeaders
from src.web.rendering import ROOT


def create_app(
    settings: Settings | None = None, embedder: ClipEmbedder | None = None, index_on_start: bool = False
) -> FastAPI:
    """index_on_start: run the index step over the image folder in the background (`serve --index`)."""
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
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(docs.router)
    install_error_handlers(app)
    return app

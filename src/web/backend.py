"""The model and the store behind the app, shared by every request."""

from __future__ import annotations

import logging
import threading

from fastapi import Request

from src.disk import disk_error, is_disk_error
from src.eda_page import EdaPages
from src.embedding import ClipEmbedder, ModelUnavailable
from src.indexing import index_folder
from src.recovery import finish_interrupted
from src.search import Searcher
from src.settings import Settings
from src.store import Store, StoreUnavailable, open_store
from src.text_reading import TextReader, open_reader
from src.uploads import UploadOutcome, add_images
from src.web.query_images import QueryImages

log = logging.getLogger(__name__)


class Backend:
    """The model and the store behind the app. The store is reopened on demand, so the app recovers
    when Qdrant comes back without a restart."""

    def __init__(self, settings: Settings, embedder: ClipEmbedder | None = None):
        self.settings = settings
        self.embedder = embedder or ClipEmbedder.from_settings(settings)
        self.model_error: str | None = None
        self._store: Store | None = None
        self._searcher: Searcher | None = None
        self._reader: TextReader | bool | None = None  # False: no OCR engine can run here
        self._lock = threading.Lock()
        self.indexing: dict = {"state": "idle", "summary": None}  # an index run inside the app
        self.eda_pages = EdaPages()
        self.query_images = QueryImages(settings.cache_dir / "query-images")

    def load_model(self) -> None:
        try:
            self.embedder.load()
            self.model_error = None
        except ModelUnavailable as exc:
            self.model_error = str(exc)
            log.error("%s", exc)

    def ensure_model(self) -> None:
        """Wait for the model's start-up load (or load it), so a page knows whether picture search works."""
        if not self.embedder.loaded and not self.model_error:
            self.load_model()

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    @property
    def store_is_open(self) -> bool:
        """Whether store() answers without opening the store (or connecting to the server)."""
        return self._store is not None

    def searcher(self) -> Searcher:
        store = self.store()
        with self._lock:
            if self._searcher is None or self._searcher.store is not store:
                self._searcher = Searcher(self.embedder, store)
            return self._searcher

    def reader(self) -> TextReader | None:
        """OCR for uploads, with the engines OCR_ENGINES names that are installed; its workers start on
        first use."""
        with self._lock:
            if self._reader is None:
                self._reader = open_reader(self.settings, log.warning) or False
            return self._reader if isinstance(self._reader, TextReader) else None

    def add_images(self, files: list[tuple[str, bytes]]) -> list[UploadOutcome]:
        self.ensure_model()
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

    def index_now(self):
        """The index step over the image folder, in this thread; its report."""
        self.ensure_model()
        embedder = None if self.model_error else self.embedder
        return index_folder(self.settings.dataset_dir, embedder, self.store(), self.settings.batch_size,
                            progress=False, notify=log.info, reader=self.reader())

    def _index(self) -> None:
        try:
            report = self.index_now()
            self.indexing = {"state": "done", "summary": report.summary()}
            log.info("index: %s", report.summary())
        except (StoreUnavailable, ModelUnavailable, FileNotFoundError, ValueError, OSError) as exc:
            if isinstance(exc, OSError) and is_disk_error(exc):
                exc = disk_error(exc, "the index run")
            self.indexing = {"state": "failed", "summary": str(exc)}
            log.error("index: %s", exc)

    def close(self) -> None:
        self.forget_store()
        if isinstance(self._reader, TextReader):
            self._reader.close()


async def get_backend(request: Request) -> Backend:
    """The routes' dependency: the app's one Backend (async: a plain function would be called in the
    thread pool, a hop per request for reading an attribute)."""
    return request.app.state.backend

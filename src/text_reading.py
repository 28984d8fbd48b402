"""OCR during indexing: the cache first, then tesseract in worker processes, so reading text overlaps
with embedding images in the main process and both cores stay busy."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from src.ocr import OcrError, OcrResult, read_text
from src.text_cache import TextCache
from src.worker_pool import WorkerPool

PARENT_CHECK_SECONDS = 1.0
# A worker still reading one image after this long counts as hung: it is replaced and the image retried
# once. Far above the few seconds a large ad takes on a busy machine.
OCR_TIMEOUT_SECONDS = 120.0


@dataclass
class Pending:
    rel_path: str
    sha256: str
    cached: OcrResult | None = None
    future: Future | None = None


def _start_worker(parent: int) -> None:
    # One tesseract thread per worker: the workers are the parallelism, threads would only contend.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    threading.Thread(target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True).start()


def _exit_with(parent: int) -> None:
    """A parent killed with SIGKILL cannot stop its workers, which would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


class TextReader:
    def __init__(self, cache: TextCache, workers: int | None = None):
        self.cache = cache
        self.langs = cache.langs
        self.version = cache.version
        self._workers = workers or max(1, (os.cpu_count() or 2))
        self._pool: WorkerPool | None = None

    def submit(self, rel_path: str, abs_path: Path, sha256: str) -> Pending:
        pending = Pending(rel_path, sha256, cached=self.cache.get(rel_path, sha256))
        if pending.cached is None:
            pending.future = self._executor().submit(read_text, abs_path, self.langs)
        return pending

    def result(self, pending: Pending) -> OcrResult:
        """The text of a submitted image, cached for next time; raises OcrError."""
        if pending.cached is not None:
            return pending.cached
        try:
            result = pending.future.result()
        except OcrError:
            raise
        except Exception as exc:  # a worker that died (out of memory, killed) is this image's failure only
            raise OcrError(f"OCR worker failed: {type(exc).__name__}: {exc}") from None
        self.cache.put(pending.rel_path, pending.sha256, result)
        return result

    def _executor(self) -> WorkerPool:
        if self._pool is None:
            # Supervised: a worker that dies or hangs costs one image (retried once), never the pool.
            self._pool = WorkerPool(self._workers, initializer=_start_worker, initargs=(os.getpid(),),
                                    timeout=OCR_TIMEOUT_SECONDS)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "TextReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""OCR during indexing: the cache first, then the engines in worker processes, so reading text overlaps
with embedding images in the main process and both cores stay busy.

Only the engines whose readings the cache lacks read an image; the readings of all the engines asked
are merged into its text (src/ocr/merge.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from src.ocr import DEFAULT_ENGINES, EngineSpec, OcrError, OcrResult, Reading, merge, missing, read_file
from src.ocr.engines import engine
from src.ocr.ppocr import onnx_cuda_available
from src.settings import Settings
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
    cached: dict[str, Reading] = field(default_factory=dict)  # engine key -> reading, from the cache
    future: Future | None = None  # the readings of the engines the cache lacked
    asked: tuple[str, ...] = ()  # the keys of those engines, in the order of the future's readings
    result: OcrResult | None = None  # everything was cached


def _start_worker(parent: int) -> None:
    # One tesseract thread per worker: the workers are the parallelism, threads would only contend.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    threading.Thread(target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True).start()


def _exit_with(parent: int) -> None:
    """A parent killed with SIGKILL cannot stop its workers, which would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def open_reader(settings: Settings, warn: Callable[[str], None]) -> TextReader | None:
    """The reader OCR_ENGINES asks for, without the engines this machine lacks (each one warned about);
    None when OCR is off or no engine can run."""
    engines = []
    for name in settings.engines:
        why = missing(name)
        if why:
            warn(f"OCR engine {name} left out: {why}")
        else:
            engines.append(name)
    if not engines:
        return None
    device = settings.device
    use_cuda = (device == "auto" or device.startswith("cuda")) and onnx_cuda_available()
    return TextReader(TextCache(settings.text_dir, settings.ocr_langs), engines=engines, use_cuda=use_cuda)


class TextReader:
    def __init__(self, cache: TextCache, workers: int | None = None, engines: Sequence[str] = DEFAULT_ENGINES,
                 use_cuda: bool = False):
        """engines: in order of trust (OCR_ENGINES). use_cuda: PP-OCR on the GPU (DEVICE found CUDA)."""
        if not engines:
            raise ValueError("no OCR engine to read with")
        self.cache = cache
        self.langs = cache.langs
        self._workers = workers or max(1, (os.cpu_count() or 2))
        # Each worker process runs its own engines: ONNX Runtime gets an equal share of the cores.
        threads = max(1, (os.cpu_count() or 1) // self._workers)
        self.specs = tuple(EngineSpec(name, cache.langs, threads, use_cuda) for name in engines)
        self.keys = tuple(engine(spec).key for spec in self.specs)  # cheap: engines load their models lazily
        # What the collection records as having made a point's text (the payload's "ocr").
        self.version = "+".join(self.keys)
        self._pool: WorkerPool | None = None

    def submit(self, rel_path: str, abs_path: Path, sha256: str) -> Pending:
        found = self.cache.readings(rel_path, sha256)
        pending = Pending(rel_path, sha256, cached={k: found[k] for k in self.keys if k in found})
        lacking = [(spec, key) for spec, key in zip(self.specs, self.keys) if key not in pending.cached]
        if lacking:
            pending.asked = tuple(key for _, key in lacking)
            pending.future = self._executor().submit(read_file, abs_path, tuple(spec for spec, _ in lacking))
        else:
            pending.result = merge([pending.cached[k] for k in self.keys])
            stored = self.cache.result(rel_path, sha256)
            if stored is None or stored.engines != pending.result.engines:  # what the result view shows
                self.cache.put(rel_path, sha256, [], pending.result)
        return pending

    def result(self, pending: Pending) -> OcrResult:
        """The merged text of a submitted image, cached for next time; raises OcrError when no engine
        could read it. When some engines failed, the text of the others is returned with the failure in
        its error, and the collection records the text as made without them (so the next index retries)."""
        if pending.result is not None:
            return pending.result
        assert pending.future is not None  # submit() gives a pending read a future or a result
        try:
            outcomes = pending.future.result()
        except OcrError:
            raise
        except Exception as exc:  # a worker that died (out of memory, killed) is this image's failure only
            raise OcrError(f"OCR worker failed: {type(exc).__name__}: {exc}") from None
        fresh = {key: o for key, o in zip(pending.asked, outcomes) if isinstance(o, Reading)}
        failures = [o for o in outcomes if isinstance(o, OcrError)]
        readings = [r for r in (pending.cached.get(k) or fresh.get(k) for k in self.keys) if r is not None]
        if not readings:
            raise failures[0]
        result = merge(readings)
        if fresh:
            self.cache.put(pending.rel_path, pending.sha256, fresh.values(), result)
        if failures:
            result.error = "; ".join(filter(None, [result.error, *map(str, failures)]))
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

    def __enter__(self) -> TextReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

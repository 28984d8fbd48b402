"""The CPU work of requests (decoding images, embedding a query image, OCR of uploads, thumbnails) runs
here, off the event loop and a few at a time: one request's 100-megapixel image cannot stall the others,
and a burst of them queues instead of taking every core."""

from __future__ import annotations

import os
from functools import partial

import anyio
from anyio import to_thread
from fastapi import Request

# One worker per core, at most 4: more would only share the same cores, each holding a decoded image.
WORKERS = max(1, min(4, os.cpu_count() or 1))


class CpuPool:
    def __init__(self, workers: int = WORKERS):
        self.workers = workers
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, inside the event loop

    async def run(self, function, *args, **kwargs):
        """function(*args, **kwargs) in a worker thread; its result or its exception."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        return await to_thread.run_sync(partial(function, *args, **kwargs), limiter=self._limiter)


async def get_cpu(request: Request) -> CpuPool:
    """The routes' dependency: the app's one pool."""
    return request.app.state.cpu

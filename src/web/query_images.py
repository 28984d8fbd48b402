"""Images searched with, kept a while under their content's hash, so a search by image is a URL like any
other: Load more, Back and reload repeat it. A folder with a size cap; the oldest go first."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

from src.atomic import write_atomically

MAX_BYTES = 100_000_000  # at most 20 MB each: the last five or more searches by image, usually hundreds
VECTORS = 256  # CLIP vectors of recent ones kept in memory: paging does not embed the image again
KEY = re.compile(r"[0-9a-f]{64}")


class QueryImages:
    def __init__(self, folder: Path, max_bytes: int = MAX_BYTES):
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._vectors: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def remember(self, key: str, vector: tuple[float, ...]) -> None:
        with self._lock:
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
            while len(self._vectors) > VECTORS:
                self._vectors.popitem(last=False)

    def vector(self, key: str) -> tuple[float, ...] | None:
        """The vector remembered for key (its model is the app's one: the app never changes model)."""
        with self._lock:
            if key in self._vectors:
                self._vectors.move_to_end(key)
            return self._vectors.get(key)

    def put(self, data: bytes) -> str:
        """Keep data (if it is not kept already); its key, the sha256 of its bytes."""
        key = hashlib.sha256(data).hexdigest()
        path = self.folder / key
        with self._lock:
            if path.exists():
                os.utime(path)  # used again: kept longest
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                write_atomically(path, data)
                self._trim(keep=path)
        return key

    def path(self, key: str) -> Path | None:
        """The file of the image kept under key, or None."""
        path = self.folder / key
        return path if KEY.fullmatch(key) and path.is_file() else None

    def get(self, key: str) -> bytes | None:
        """The image kept under key, or None (never kept, or dropped to stay under the cap)."""
        if not KEY.fullmatch(key):
            return None
        try:
            data = (self.folder / key).read_bytes()
        except FileNotFoundError:
            return None
        return data if hashlib.sha256(data).hexdigest() == key else None

    def _trim(self, keep: Path) -> None:
        """Drop the least recently used images until the folder is under its cap (never the newest)."""
        kept = []
        for path in self.folder.iterdir():
            if KEY.fullmatch(path.name):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                kept.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in kept)
        for _, size, path in sorted(kept, key=lambda k: k[0]):
            if total <= self.max_bytes:
                return
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size

"""The /EDA page: the overview's numbers (src/eda.py) with its figures (src/eda_figures.py), kept per state
of the index, in memory and under CACHE_DIR/eda/, so only a changed index is computed again.

Two keys say whether the kept page still holds: the store's write stamp (O(1): the page is reused in well
under a millisecond until a point is written) and, once that changes, a fingerprint of every point's file
fields (one streamed scroll of the payloads, which the overview then reuses), so that a write which changes nothing
the page shows (a graph build, a re-run of index) does not redraw it. The disk cache is keyed by the
fingerprint alone: a write stamp does not outlive its process."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from src import eda
from src.atomic import write_atomically
from src.settings import Settings
from src.store import Store


@dataclass
class EdaPage:
    """What the /EDA page shows; plain JSON-able values, so it can be cached on disk."""

    points: int
    summary: dict = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)  # section -> inline SVG
    duplicates: list[tuple[str, str, float]] = field(default_factory=list)
    seconds: float = 0.0  # how long computing it took
    source: str = "computed"  # or "memory" / "disk": where this answer came from


class EdaPages:
    """The page for the index as it is now; one per app (its memory holds only the latest state)."""

    def __init__(self) -> None:
        self._page: EdaPage | None = None
        self._key = ""  # the fingerprint of the page in memory
        self._stamp = ""  # the quick key it was last found valid at
        self._lock = threading.Lock()  # one computation at a time: a second request waits, then hits the cache

    def page(self, settings: Settings, store: Store, refresh: bool = False) -> EdaPage:
        """From memory, else from CACHE_DIR/eda/, else computed (and drawn) afresh; refresh=True always
        computes. Raises StoreUnavailable."""
        stamp = quick_key(settings, store)  # before anything is read: a write from now on shows as a change
        with self._lock:
            if not refresh and self._page is not None and stamp == self._stamp:
                return _with_source(self._page, "memory")
            points = eda.read_points(store) if store.count() else None  # for the fingerprint and the overview
            if points is None or not points.ids:
                return EdaPage(points=0)
            key = fingerprint(settings, store, points)
            disk = Path(settings.cache_dir) / "eda" / f"{key}.json"
            if not refresh and self._page is not None and key == self._key:
                self._stamp = stamp
                return _with_source(self._page, "memory")
            if not refresh and (cached := _read(disk)) is not None:
                self._remember(key, stamp, cached)
                return _with_source(cached, "disk")
            from src import eda_figures  # matplotlib only when something is drawn

            started = time.perf_counter()
            overview = eda.collect(settings, store, points=points)
            del points
            result = EdaPage(
                points=overview.count,
                summary=eda.summary(overview),
                figures=eda_figures.page_figures(overview),
                duplicates=overview.duplicates[:24],
            )
            result.seconds = round(time.perf_counter() - started, 2)
            for old in disk.parent.glob("*.json"):  # an older state's page is never shown again
                old.unlink(missing_ok=True)
            write_atomically(disk, json.dumps(asdict(result)).encode())
            self._remember(key, stamp, result)
            return result

    def forget(self) -> None:
        with self._lock:
            self._page, self._key, self._stamp = None, "", ""

    def _remember(self, key: str, stamp: str, page: EdaPage) -> None:
        self._page, self._key, self._stamp = page, key, stamp


def quick_key(settings: Settings, store: Store) -> str:
    """Changes whenever the store is written, the labels change or the overview's version does: what
    the page shows may then differ (the fingerprint then says whether it does)."""
    labels = Path(settings.dataset_dir) / "labels.csv"
    stamp = (labels.stat().st_size, labels.stat().st_mtime_ns) if labels.is_file() else None
    return json.dumps([eda.EDA_VERSION, eda.samples(), settings.collection, str(settings.dataset_dir), stamp,
                       store.write_stamp()])


def fingerprint(settings: Settings, store: Store, points: eda.Points) -> str:
    """Changes whenever what the page shows could: the points' files, content and OCR version (their
    payloads' FILE_FIELDS, digested as they were read), the model, the labels, and the overview's version."""
    state = store.state()
    labels = Path(settings.dataset_dir) / "labels.csv"
    stamp = (labels.stat().st_size, labels.stat().st_mtime_ns) if labels.is_file() else None
    described = [eda.EDA_VERSION, eda.samples(), settings.collection, str(Path(settings.dataset_dir).resolve()),
                 state.model, state.dim, stamp, points.files_digest]
    return hashlib.sha256(json.dumps(described, default=str).encode()).hexdigest()[:32]


def _read(path: Path) -> EdaPage | None:
    try:
        return EdaPage(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # missing or damaged: computed again


def _with_source(cached: EdaPage, source: str) -> EdaPage:
    return EdaPage(**{**cached.__dict__, "source": source})

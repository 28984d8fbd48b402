"""The /EDA page: the overview's numbers (src/eda.py) with its figures (src/eda_figures.py), kept per state
of the index, in memory and under CACHE_DIR/eda/, so only a changed index is computed again."""

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
        self._memory: dict[str, EdaPage] = {}  # fingerprint -> page
        self._lock = threading.Lock()  # one computation at a time: a second request waits, then hits the cache

    def page(self, settings: Settings, store: Store, refresh: bool = False) -> EdaPage:
        """From memory, else from CACHE_DIR/eda/, else computed (and drawn) afresh; refresh=True always
        computes. Raises StoreUnavailable."""
        records = store.file_records() if store.count() else {}
        if not records:
            return EdaPage(points=0)
        key = fingerprint(settings, store, records)
        disk = Path(settings.cache_dir) / "eda" / f"{key}.json"
        with self._lock:
            if not refresh and key in self._memory:
                return _with_source(self._memory[key], "memory")
            if not refresh and (cached := _read(disk)) is not None:
                self._remember(key, cached)
                return _with_source(cached, "disk")
            from src import eda_figures  # matplotlib only when something is drawn

            started = time.perf_counter()
            overview = eda.collect(settings, store)
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
            self._remember(key, result)
            return result

    def forget(self) -> None:
        with self._lock:
            self._memory.clear()

    def _remember(self, key: str, page: EdaPage) -> None:
        self._memory.clear()
        self._memory[key] = page


def fingerprint(settings: Settings, store: Store, records: dict[str, dict]) -> str:
    """Changes whenever what the page shows could: the points' files, content and OCR version (from
    their payloads), the model, the labels, and the overview's version."""
    state = store.state()
    labels = Path(settings.dataset_dir) / "labels.csv"
    stamp = (labels.stat().st_size, labels.stat().st_mtime_ns) if labels.is_file() else None
    described = json.dumps(
        [eda.EDA_VERSION, settings.collection, str(Path(settings.dataset_dir).resolve()), state.model, state.dim,
         stamp, sorted(records.items())],
        sort_keys=True, default=str,
    )
    return hashlib.sha256(described.encode()).hexdigest()[:32]


def _read(path: Path) -> EdaPage | None:
    try:
        return EdaPage(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # missing or damaged: computed again


def _with_source(cached: EdaPage, source: str) -> EdaPage:
    return EdaPage(**{**cached.__dict__, "source": source})

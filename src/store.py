"""The Qdrant collection that holds one point per distinct image content.

`Store(settings)` opens the right engine behind one interface:
- embedded (a folder on disk, no server): Qdrant Edge, Qdrant's own engine in this process
  (src/store_edge.py); or qdrant-client's local mode with EMBEDDED_ENGINE=qdrant-client
- a Qdrant server in Docker, a cluster or Qdrant Cloud when QDRANT_URL is set (src/store_client.py).
Everything else in the program talks to Qdrant only through this interface.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

from src.settings import Settings

# Bump when the collection layout changes; `index` rebuilds collections of another version.
# 1: image vector only. 2: image and OCR-text vectors, BM25 sparse vector, payload indexes.
SCHEMA_VERSION = 2
IMAGE_VECTOR = "image"  # CLIP image embedding
TEXT_VECTOR = "text"  # CLIP text embedding of the ad's OCR text
BM25_VECTOR = "bm25"  # sparse term weights of the OCR text; Qdrant applies IDF
DENSE_VECTORS = (IMAGE_VECTOR, TEXT_VECTOR)
# Payload fields the indexer compares to decide what changed on disk.
FILE_FIELDS = ["path", "folder", "category", "duplicates", "bytes", "mtime_ns", "sha256", "ocr"]
# Payload fields a search result carries: what a result shows and filters on. Asking for these rather
# than the whole payload halved the engine's time for a page of results at 100k points.
RESULT_FIELDS = ["path", "width", "height", "text", "category", "has_text"]
# Payload fields filters and lookups use; indexed so they stay fast at any size.
KEYWORD_FIELDS = ("folder", "category", "path")
BOOL_FIELDS = ("has_text",)
# How many candidates each channel hands to the fusion step.
PREFETCH_DEPTH = 100
# Reciprocal Rank Fusion's constant: score = sum of 1 / (rank + RRF_K - 1); Qdrant's own default.
RRF_K = 2


class StoreUnavailable(Exception):
    """Qdrant cannot be reached or opened; the message is meant for users."""

    status = 503  # the web layer's answer


class StoreFull(StoreUnavailable):
    """Too little free disk space to write to the store safely; nothing was written."""

    status = 507


class StoreDamaged(StoreUnavailable):
    """The store's files are damaged; the message names the command that repairs them."""


@dataclass(frozen=True)
class CollectionState:
    exists: bool
    schema_version: int | None = None
    model: str | None = None
    dim: int | None = None

    @property
    def has_images(self) -> bool:
        return self.exists and self.model is not None

    def matches(self, model: str | None, dim: int | None) -> bool:
        return self.exists and (self.schema_version, self.model, self.dim) == (SCHEMA_VERSION, model, dim)

    def mismatch(self, model: str | None, dim: int | None) -> str:
        """Why an existing collection cannot take vectors of this model, in words."""
        if self.schema_version != SCHEMA_VERSION:
            return f"it has layout version {self.schema_version}, this program writes version {SCHEMA_VERSION}"
        if self.model is None:
            return f"it holds text only; adding image vectors of '{model}' (the OCR text comes from its cache)"
        return f"it holds {self.dim}-d vectors of model '{self.model}', not {dim}-d vectors of '{model}'"


@dataclass(frozen=True)
class Point:
    id: str
    vectors: dict  # name -> dense list, or (indices, values) for BM25_VECTOR; missing names are allowed
    payload: dict


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict
    vector: list[float] | None = None  # the image vector, when asked for


class Store:
    """One collection. `Store(settings)` returns the engine's subclass (as pathlib.Path returns a
    PosixPath); each subclass implements every method below."""

    def __new__(cls, settings: Settings):
        if cls is Store:
            if settings.uses_server or settings.embedded_engine == "qdrant-client":
                from src.store_client import ClientStore as cls
            else:
                from src.store_edge import EdgeStore as cls
        return super().__new__(cls)

    def __init__(self, settings: Settings):
        self.settings = settings
        self.collection = settings.collection

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    # -- collection ----------------------------------------------------------------------------
    def state(self) -> CollectionState:
        raise NotImplementedError

    def create(self, model: str | None, dim: int | None) -> None:
        """(Re)create the collection for vectors of this model; existing points are dropped.
        Without a model (None) the collection holds the BM25 text vectors alone."""
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def build_index(self, notify=print) -> bool:
        """Make searches fast after a bulk load; True if anything was built. A server does this itself."""
        return False

    # -- points --------------------------------------------------------------------------------
    def file_records(self) -> dict[str, dict]:
        """point id -> the payload fields that describe its files on disk."""
        raise NotImplementedError

    def points(self, vector: str | None = None) -> list[tuple[str, dict, list[float] | None]]:
        """Every point as (id, payload, its dense `vector` or None): the collection overview (/EDA)."""
        raise NotImplementedError

    def paths_of(self, point_ids: list[str]) -> dict[str, str]:
        """point id -> shown path, for those of the ids that are in the collection."""
        raise NotImplementedError

    def by_path(self, path: str) -> Hit | None:
        """The point whose shown file is path (the result view)."""
        raise NotImplementedError

    def facet(self, field: str, limit: int = 100) -> list[tuple[str, int]]:
        """(value, count) of a keyword payload field, most common first: the choices of a filter."""
        raise NotImplementedError

    def upsert(self, points: list[Point]) -> None:
        raise NotImplementedError

    def update_text(self, point_id: str, vectors: dict, payload: dict) -> None:
        """New OCR text for a known image: replace its text vectors and text payload, keep its image vector."""
        raise NotImplementedError

    def update_payload(self, point_id: str, payload: dict) -> None:
        raise NotImplementedError

    def delete(self, point_ids: list[str]) -> None:
        raise NotImplementedError

    def search(
        self,
        channels: dict,
        limit: int,
        offset: int = 0,
        where: dict | None = None,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """One query in the engine. channels: vector name -> query vector (dense list, or (indices, values)
        for BM25_VECTOR). One channel ranks by its own score (cosine for dense); several are fused by
        Reciprocal Rank Fusion in the engine. where: payload field -> required value. min_score: the
        lowest cosine a dense channel lets through (BM25 scores have no fixed scale and are not cut)."""
        raise NotImplementedError

    def vector(self, point_id: str, name: str = IMAGE_VECTOR) -> list[float]:
        """A point's stored vector ("more like this"); raises KeyError if there is none."""
        raise NotImplementedError

    def vector_names(self, point_id: str) -> set[str]:
        """Which vectors a point has (an image without text has no text vectors)."""
        raise NotImplementedError

    # -- errors --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the many ways a store can fail into one exception with a readable message."""
        try:
            yield
        except (StoreUnavailable, TypeError, AttributeError, NameError):
            raise  # ours, or a bug in this program: not the store's fault
        except Exception as exc:  # connection refused, timeouts, HTTP errors, a damaged folder
            text = str(exc).strip()
            if "already accessed" in text or "WouldBlock" in text:
                raise self.in_use() from None
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise StoreUnavailable(f"could not {action} in {self.settings.describe_store()}: {reason[:300]}") from None

    def in_use(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the embedded store at {self.settings.qdrant_path} is in use by another adsearch process "
            "(stop `serve` before running `index`, or use a Qdrant server via QDRANT_URL)"
        )


def dense_threshold(name: str, min_score: float | None) -> float | None:
    """min_score applies to cosine channels only."""
    return min_score if name in DENSE_VECTORS else None


def prefetch_depth(limit: int, offset: int) -> int:
    """How many candidates each channel hands to the fusion: RRF needs each list deeper than the page."""
    return max(PREFETCH_DEPTH, 2 * (limit + offset))


def hit_of(point, with_vectors: bool) -> Hit:
    """A Hit from an engine's scored point (both engines' points have id, score, payload and vector)."""
    image = (point.vector or {}).get(IMAGE_VECTOR) if with_vectors else None
    return Hit(str(point.id), float(point.score), point.payload or {}, image)

"""What the collection holds, in the program's own types: vector names, points, hits, the collection's
state, and the one error a store raises. Both engines translate from and to these types."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

# Bump when the collection layout changes; `index` rebuilds collections of another version.
# 1: image vector only. 2: image and OCR-text vectors, BM25 sparse vector, payload indexes.
SCHEMA_VERSION = 2
IMAGE_VECTOR = "image"  # CLIP image embedding
TEXT_VECTOR = "text"  # CLIP text embedding of the ad's OCR text
BM25_VECTOR = "bm25"  # sparse term weights of the OCR text; Qdrant applies IDF
DENSE_VECTORS = (IMAGE_VECTOR, TEXT_VECTOR)
# Payload fields the indexer compares to decide what changed on disk, and which OCR settings ("ocr") and
# term rules ("terms", src/terms.py's VERSION) made a point's text and BM25 vector.
FILE_FIELDS = ["path", "folder", "category", "duplicates", "bytes", "mtime_ns", "sha256", "ocr", "terms"]
# Payload fields a search result carries: what a result shows and filters on. Asking for these rather
# than the whole payload halved the engine's time for a page of results at 100k points.
RESULT_FIELDS = ["path", "width", "height", "text", "category", "has_text"]
# Payload fields filters and lookups use; indexed so they stay fast at any size.
KEYWORD_FIELDS = ("folder", "category", "path")
BOOL_FIELDS = ("has_text",)
# The field the collection is browsed by, newest first (an empty query shows the collection): the file's
# modification time. Ordering by a field needs an integer (range) index on it.
NEWEST_FIELD = "mtime_ns"
INTEGER_FIELDS = (NEWEST_FIELD,)

DenseVector = list[float]
Where = dict[str, str | bool]  # payload field -> the value it must have


class SparseVector(NamedTuple):
    """Term ids (sorted) and their weights: the BM25 channel."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Vectors:
    """A point's named vectors, or the channels of a query; a missing one is None (an image without
    text has no text vectors; an image-only query has no BM25 channel)."""

    image: DenseVector | None = None
    text: DenseVector | None = None
    bm25: SparseVector | None = None

    def named(self) -> dict[str, DenseVector | SparseVector]:
        """vector name -> vector, for those present (the field names are the collection's names)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __or__(self, other: Vectors) -> Vectors:
        """Both sets of vectors; other's win where both have one."""
        return Vectors(image=other.image if other.image is not None else self.image,
                       text=other.text if other.text is not None else self.text,
                       bm25=other.bm25 if other.bm25 is not None else self.bm25)

    def __bool__(self) -> bool:
        return bool(self.named())


assert {f.name for f in fields(Vectors)} == {IMAGE_VECTOR, TEXT_VECTOR, BM25_VECTOR}


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
    vectors: Vectors
    payload: dict


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict
    vector: DenseVector | None = None  # the image vector, when asked for


class Record(NamedTuple):
    """A point as the collection overview (/EDA) reads it: its payload, and one dense vector if asked."""

    id: str
    payload: dict
    vector: DenseVector | None = None

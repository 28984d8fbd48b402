"""The Qdrant collection that holds one point per distinct image content.

Embedded (a folder on disk, no server) by default; a Qdrant server in Docker or Qdrant Cloud when a URL
is set. Everything else in the program talks to Qdrant only through this class.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

from qdrant_client import QdrantClient, models

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
# Payload fields filters use; indexed so filtering stays fast on a server.
KEYWORD_FIELDS = ("folder", "category")
BOOL_FIELDS = ("has_text",)
# How many candidates each channel hands to the fusion step.
PREFETCH_DEPTH = 100


class StoreUnavailable(Exception):
    """Qdrant cannot be reached or opened; the message is meant for users."""


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
    def __init__(self, settings: Settings):
        self.settings = settings
        self.collection = settings.collection
        with self._errors("open"):
            if settings.uses_server:
                self.client = QdrantClient(
                    url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=10, check_compatibility=False
                )
            else:
                settings.qdrant_path.mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=str(settings.qdrant_path))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- collection ----------------------------------------------------------------------------
    def state(self) -> CollectionState:
        with self._errors("read the collection"):
            if not self.client.collection_exists(self.collection):
                return CollectionState(exists=False)
            meta = self.client.get_collection(self.collection).config.metadata or {}
        return CollectionState(True, meta.get("schema_version"), meta.get("model"), meta.get("dim"))

    def create(self, model: str | None, dim: int | None) -> None:
        """(Re)create the collection for vectors of this model; existing points are dropped.
        Without a model (None) the collection holds the BM25 text vectors alone."""
        dense = models.VectorParams(size=dim, distance=models.Distance.COSINE, **self._scale()) if model else None
        with self._errors("create the collection"):
            if self.client.collection_exists(self.collection):
                self.client.delete_collection(self.collection)
            self.client.create_collection(
                self.collection,
                vectors_config={name: dense for name in DENSE_VECTORS} if dense else {},
                sparse_vectors_config={BM25_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                metadata={"schema_version": SCHEMA_VERSION, "model": model, "dim": dim},
                **self._layout(),
            )
            if self.settings.uses_server:  # the embedded engine scans payloads and ignores indexes
                for name in KEYWORD_FIELDS:
                    self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD)
                for name in BOOL_FIELDS:
                    self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.BOOL)

    def _layout(self) -> dict:
        """Shards and replicas on a server or cluster (QDRANT_SHARDS, QDRANT_REPLICAS)."""
        if not self.settings.uses_server:
            return {}
        return {"shard_number": self.settings.qdrant_shards, "replication_factor": self.settings.qdrant_replicas}

    def _scale(self) -> dict:
        """Dense-vector storage for large collections on a server: quantized copies searched in RAM,
        originals (optionally on disk) used to rescore the best candidates."""
        if not self.settings.uses_server:
            return {}
        kind = self.settings.qdrant_quantization
        quantization = {
            "none": None,
            "scalar": models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)),
            "binary": models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True)),
        }[kind]
        return {"on_disk": self.settings.qdrant_on_disk, "quantization_config": quantization}

    def _search_params(self) -> models.SearchParams | None:
        """Rescore quantized candidates with the original vectors; binary codes need more candidates."""
        if not self.settings.uses_server or self.settings.qdrant_quantization == "none":
            return None
        oversampling = 3.0 if self.settings.qdrant_quantization == "binary" else 1.5
        return models.SearchParams(quantization=models.QuantizationSearchParams(rescore=True, oversampling=oversampling))

    def count(self) -> int:
        with self._errors("count points"):
            if not self.client.collection_exists(self.collection):
                return 0
            return self.client.count(self.collection, exact=True).count

    # -- points --------------------------------------------------------------------------------
    def file_records(self) -> dict[str, dict]:
        """point id -> the payload fields that describe its files on disk."""
        with self._errors("read the indexed files"):
            return {str(p.id): p.payload or {} for p in self._scroll(with_payload=FILE_FIELDS, with_vectors=False)}

    def points(self, vector: str | None = None) -> list[tuple[str, dict, list[float] | None]]:
        """Every point as (id, payload, its dense `vector` or None): the collection overview (/EDA)."""
        with self._errors("read the collection"):
            if not self.client.collection_exists(self.collection):
                return []
            found = self._scroll(with_payload=True, with_vectors=[vector] if vector else False)
            return [(str(p.id), p.payload or {}, (p.vector or {}).get(vector) if vector else None) for p in found]

    def _scroll(self, **what) -> Iterator[models.Record]:
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, limit=1000, offset=offset, **what)
            yield from points
            if offset is None:
                return

    def paths_of(self, point_ids: list[str]) -> dict[str, str]:
        """point id -> shown path, for those of the ids that are in the collection."""
        with self._errors("look up images"):
            if not point_ids or not self.client.collection_exists(self.collection):
                return {}
            found = self.client.retrieve(self.collection, ids=point_ids, with_payload=["path"], with_vectors=False)
        return {str(p.id): (p.payload or {}).get("path", "") for p in found}

    def by_path(self, path: str) -> Hit | None:
        """The point whose shown file is path (the result view)."""
        with self._errors("look up an image"):
            if not self.client.collection_exists(self.collection):
                return None
            points, _ = self.client.scroll(self.collection, scroll_filter=_filter({"path": path}), limit=1)
        return Hit(str(points[0].id), 1.0, points[0].payload or {}) if points else None

    def facet(self, field: str, limit: int = 100) -> list[tuple[str, int]]:
        """(value, count) of a keyword payload field, most common first: the choices of a filter."""
        with self._errors("count categories"):
            if not self.client.collection_exists(self.collection):
                return []
            response = self.client.facet(self.collection, key=field, limit=limit)
        return [(str(hit.value), hit.count) for hit in response.hits if hit.value != ""]

    def upsert(self, points: list[Point]) -> None:
        if not points:
            return
        with self._errors("write points"):
            self.client.upsert(
                self.collection,
                points=[models.PointStruct(id=p.id, vector=_vectors(p.vectors), payload=p.payload) for p in points],
                wait=True,
            )

    def update_text(self, point_id: str, vectors: dict, payload: dict) -> None:
        """New OCR text for a known image: replace its text vectors and text payload, keep its image vector."""
        with self._errors("update a point"):
            self.client.delete_vectors(self.collection, vectors=[TEXT_VECTOR, BM25_VECTOR], points=[point_id], wait=True)
            if vectors:
                self.client.update_vectors(
                    self.collection, points=[models.PointVectors(id=point_id, vector=_vectors(vectors))], wait=True
                )
            self.client.set_payload(self.collection, payload=payload, points=[point_id], wait=True)

    def update_payload(self, point_id: str, payload: dict) -> None:
        with self._errors("update a point"):
            self.client.set_payload(self.collection, payload=payload, points=[point_id], wait=True)

    def delete(self, point_ids: list[str]) -> None:
        if not point_ids:
            return
        with self._errors("delete points"):
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=point_ids), wait=True)

    def search(
        self,
        channels: dict,
        limit: int,
        offset: int = 0,
        where: dict | None = None,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """One query_points call. channels: vector name -> query vector (dense list, or (indices, values)
        for BM25_VECTOR). One channel ranks by its own score (cosine for dense); several are fused by
        Reciprocal Rank Fusion in the engine. where: payload field -> required value. min_score: the
        lowest cosine a dense channel lets through (BM25 scores have no fixed scale and are not cut)."""
        query_filter = _filter(where)

        def threshold(name: str) -> float | None:
            return min_score if name in DENSE_VECTORS else None

        vectors = [IMAGE_VECTOR] if with_vectors else False
        with self._errors("search"):
            if not self.client.collection_exists(self.collection) or not channels:
                return []
            if len(channels) == 1:
                (name, vector), = channels.items()
                response = self.client.query_points(
                    self.collection, query=_query_vector(vector), using=name, query_filter=query_filter,
                    score_threshold=threshold(name), limit=limit, offset=offset, with_payload=True,
                    with_vectors=vectors, search_params=self._search_params() if name in DENSE_VECTORS else None,
                )
            else:
                depth = max(PREFETCH_DEPTH, 2 * (limit + offset))  # RRF needs each list deeper than the page
                response = self.client.query_points(
                    self.collection,
                    prefetch=[
                        models.Prefetch(query=_query_vector(vector), using=name, filter=query_filter, limit=depth,
                                        score_threshold=threshold(name),
                                        params=self._search_params() if name in DENSE_VECTORS else None)
                        for name, vector in channels.items()
                    ],
                    query=models.FusionQuery(fusion=models.Fusion.RRF),
                    limit=limit, offset=offset, with_payload=True, with_vectors=vectors,
                )
        return [Hit(str(p.id), float(p.score), p.payload or {}, (p.vector or {}).get(IMAGE_VECTOR) if vectors else None)
                for p in response.points]

    def vector(self, point_id: str, name: str = IMAGE_VECTOR) -> list[float]:
        """A point's stored vector ("more like this"); raises KeyError if there is none."""
        with self._errors("read a point"):
            found = self.client.retrieve(self.collection, ids=[point_id], with_payload=False, with_vectors=[name])
        if not found or not (found[0].vector or {}).get(name):
            raise KeyError(point_id)
        return found[0].vector[name]

    # -- errors --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the many ways a store can fail into one exception with a readable message."""
        try:
            yield
        except (StoreUnavailable, TypeError, AttributeError, NameError):
            raise  # ours, or a bug in this program: not the store's fault
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreUnavailable(
                    f"the embedded store at {self.settings.qdrant_path} is in use by another adsearch process "
                    "(stop `serve` before running `index`, or use a Qdrant server via QDRANT_URL)"
                ) from None
            raise StoreUnavailable(f"could not {action} in {self.settings.describe_store()}: {exc}") from None
        except Exception as exc:  # connection refused, timeouts, HTTP errors, a damaged folder
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"could not {action} in {self.settings.describe_store()}: {reason[:300]}") from None


def _vectors(vectors: dict) -> dict:
    return {name: _query_vector(vector) for name, vector in vectors.items()}


def _query_vector(vector):
    """Qdrant's form of a vector: sparse ones come as (indices, values)."""
    if isinstance(vector, tuple):
        indices, values = vector
        return models.SparseVector(indices=list(indices), values=list(values))
    return vector


def _filter(where: dict | None) -> models.Filter | None:
    if not where:
        return None
    return models.Filter(
        must=[models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in where.items()]
    )

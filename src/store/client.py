"""The store on qdrant-client: a Qdrant server (Docker, a cluster, Qdrant Cloud) when QDRANT_URL is set,
or qdrant-client's local mode (EMBEDDED_ENGINE=qdrant-client: pure Python, brute force; fine for small
collections and for testing this code without a server). Each search is one query_points call."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence

from qdrant_client import QdrantClient, models

from src.settings import Settings
from src.store.base import Store
from src.store.conversions import (
    dense_of,
    dense_threshold,
    engine_filter,
    engine_vectors,
    hit_of,
    named_vectors,
    prefetch_depth,
)
from src.store.schema import (
    BM25_VECTOR,
    BOOL_FIELDS,
    DENSE_VECTORS,
    FILE_FIELDS,
    IMAGE_VECTOR,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    LOOK_FIELDS,
    NEWEST_FIELD,
    RESULT_FIELDS,
    SCHEMA_VERSION,
    TEXT_VECTOR,
    CollectionState,
    Hit,
    Point,
    Record,
    SparseVector,
    Vectors,
    Where,
)

LAYOUT_BATCH = 256  # points whose vectors one retrieve reads back (`index --check`)


class ClientStore(Store):
    IN_USE_SIGNS = ("already accessed",)  # local mode: another client holds the folder

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._order_index = False  # the server's collection has its index for newest()
        self._indexed: set[str] = set()  # payload fields the server's collection is known to index
        # Writes made through this store: the engine keeps no write counter that a client can read.
        self._session = uuid.uuid4().hex[:8]
        self._writes_made = 0
        with self._errors("open"):
            if settings.uses_server:
                self.client = QdrantClient(
                    url=settings.qdrant_url, api_key=settings.api_key, timeout=settings.qdrant_timeout,
                    check_compatibility=False,
                )
            else:
                settings.qdrant_path.mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=str(settings.qdrant_path))

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[None]:
        """A write: counted once it is done (or failed half-way), so a reader never pairs the new stamp
        with the old points."""
        try:
            with self._errors(action):
                yield
        finally:
            self._writes_made += 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    # -- collection ----------------------------------------------------------------------------
    def state(self) -> CollectionState:
        with self._errors("read the collection"):
            if not self.client.collection_exists(self.collection):
                return CollectionState(exists=False)
            meta = self.client.get_collection(self.collection).config.metadata or {}
        return CollectionState(True, meta.get("schema_version"), meta.get("model"), meta.get("dim"))

    def create(self, model: str | None, dim: int | None) -> None:
        dense = models.VectorParams(size=dim, distance=models.Distance.COSINE, **self._scale()) if model else None
        with self._writing("create the collection"):
            if self.client.collection_exists(self.collection):
                self.client.delete_collection(self.collection)
            self.client.create_collection(
                self.collection,
                vectors_config={name: dense for name in DENSE_VECTORS} if dense else {},
                sparse_vectors_config={BM25_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                metadata={"schema_version": SCHEMA_VERSION, "model": model, "dim": dim},
                **self._layout(),
            )
            self._create_indexes(set())

    def ensure_indexes(self) -> None:
        with self._errors("read the collection"):
            if not self.settings.uses_server or not self.client.collection_exists(self.collection):
                return
            present = set(self.client.get_collection(self.collection).payload_schema or {})
        with self._writing("index the payload fields"):
            self._create_indexes(present)

    def _create_indexes(self, present: set[str]) -> None:
        """The payload indexes missing from those present; the local mode scans payloads and ignores them."""
        if not self.settings.uses_server:
            return
        kinds = [(KEYWORD_FIELDS, models.PayloadSchemaType.KEYWORD), (BOOL_FIELDS, models.PayloadSchemaType.BOOL),
                 (INTEGER_FIELDS, models.PayloadSchemaType.INTEGER)]
        for names, kind in kinds:
            for name in names:
                if name not in present:
                    self.client.create_payload_index(self.collection, name, kind, wait=True)

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
        quantization = models.QuantizationSearchParams(rescore=True, oversampling=oversampling)
        return models.SearchParams(quantization=quantization)

    @property
    def sees_every_write(self) -> bool:
        return not self.settings.uses_server  # local mode: one process per folder, its writes counted

    def count(self) -> int:
        with self._errors("count points"):
            if not self.client.collection_exists(self.collection):
                return 0
            return self.client.count(self.collection, exact=True).count

    # -- points --------------------------------------------------------------------------------
    def file_records(self) -> dict[str, dict]:
        with self._errors("read the indexed files"):
            return {str(p.id): p.payload or {} for p in self._scroll(with_payload=FILE_FIELDS + LOOK_FIELDS,
                                                          with_vectors=False)}

    def points(self, vector: str | None = None) -> list[Record]:
        with self._errors("read the collection"):
            if not self.client.collection_exists(self.collection):
                return []
            found = self._scroll(with_payload=True, with_vectors=[vector] if vector else False)
            return [Record(str(p.id), p.payload or {}, dense_of(p, vector))
                    for p in found]

    def scan(self, fields: Sequence[str]) -> Iterator[list[Record]]:
        offset = None
        while True:
            with self._errors("read the collection"):
                if offset is None and not self.client.collection_exists(self.collection):
                    return
                points, offset = self.client.scroll(self.collection, limit=1000, offset=offset,
                                                    with_payload=list(fields), with_vectors=False)
            yield [Record(str(p.id), p.payload or {}) for p in points]
            if offset is None:
                return

    def write_stamp(self) -> str:
        """This process's writes, and on a server its count of points and segments. Local mode allows one
        process per folder, so its count of writes sees every one. On a server another process's write
        shows when it changes the count of points or segments (new or removed points do, and the
        optimizer's merges); a payload edited by another process alone shows after this process's next
        write or restart, or the page's Refresh."""
        own = f"{self._session}-{self._writes_made}"
        if not self.settings.uses_server:
            return own
        with self._errors("read the collection"):
            if not self.client.collection_exists(self.collection):
                return f"{own}-none"
            info = self.client.get_collection(self.collection)
        return f"{own}-{info.points_count}-{info.segments_count}-{info.indexed_vectors_count}"

    def sample(self, vector: str, count: int) -> list[Record]:
        with self._errors("read a sample of the collection"):
            if not self.client.collection_exists(self.collection):
                return []
            found = self.client.query_points(self.collection, query=models.SampleQuery(sample=models.Sample.RANDOM),
                                             limit=count, with_payload=["path"], with_vectors=[vector]).points
        return [Record(str(p.id), p.payload or {}, dense_of(p, vector)) for p in found]

    def _scroll(self, **what) -> Iterator[models.Record]:
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, limit=1000, offset=offset, **what)
            yield from points
            if offset is None:
                return

    def payloads_of(self, point_ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        found: list[Record] = []
        for start in range(0, len(point_ids), 1000):
            with self._errors("read points"):
                if not self.client.collection_exists(self.collection):
                    return []
                records = self.client.retrieve(self.collection, ids=list(point_ids[start:start + 1000]),
                                               with_payload=list(fields), with_vectors=False)
            found += [Record(str(r.id), r.payload or {}) for r in records]
        return found

    def paths_of(self, point_ids: list[str]) -> dict[str, str]:
        with self._errors("look up images"):
            if not point_ids or not self.client.collection_exists(self.collection):
                return {}
            found = self.client.retrieve(self.collection, ids=point_ids, with_payload=["path"], with_vectors=False)
        return {str(p.id): (p.payload or {}).get("path", "") for p in found}

    def by_path(self, path: str) -> Hit | None:
        with self._errors("look up an image"):
            if not self.client.collection_exists(self.collection):
                return None
            points, _ = self.client.scroll(self.collection, scroll_filter=_filter({"path": path}), limit=1)
        return Hit(str(points[0].id), 1.0, points[0].payload or {}) if points else None

    def facet(self, field: str, limit: int = 100) -> list[tuple[str, int]]:
        with self._errors("count categories"):
            if not self.client.collection_exists(self.collection):
                return []
            if self.settings.uses_server and field not in self._indexed:
                # A server counts only indexed fields; one indexed since the collection was made has no
                # values to offer until the next `index` adds them.
                self._indexed = set(self.client.get_collection(self.collection).payload_schema or {})
                if field not in self._indexed:
                    return []
            response = self.client.facet(self.collection, key=field, limit=limit)
        return [(str(hit.value), hit.count) for hit in response.hits if hit.value != ""]

    def upsert(self, points: list[Point]) -> None:
        if not points:
            return
        with self._writing("write points"):
            self.client.upsert(
                self.collection,
                points=[models.PointStruct(id=p.id, vector=_vectors(p.vectors), payload=p.payload) for p in points],
                wait=True,
            )

    def update_text(self, point_id: str, vectors: Vectors, payload: dict) -> None:
        with self._writing("update a point"):
            self.client.delete_vectors(
                self.collection, vectors=[TEXT_VECTOR, BM25_VECTOR], points=[point_id], wait=True)
            if vectors:
                self.client.update_vectors(
                    self.collection, points=[models.PointVectors(id=point_id, vector=_vectors(vectors))], wait=True
                )
            self.client.set_payload(self.collection, payload=payload, points=[point_id], wait=True)

    def update_words(self, words: dict[str, SparseVector | None], payload: dict) -> None:
        if not words:
            return
        with self._errors("update points"):
            vectors = [models.PointVectors(id=pid, vector=_vectors(Vectors(bm25=vector)))
                       for pid, vector in words.items() if vector is not None]
            if vectors:
                self.client.update_vectors(self.collection, points=vectors, wait=True)
            self.client.set_payload(self.collection, payload=payload, points=list(words), wait=True)

    def update_payload(self, point_id: str, payload: dict) -> None:
        with self._writing("update a point"):
            self.client.set_payload(self.collection, payload=payload, points=[point_id], wait=True)

    def update_payloads(self, point_ids: Sequence[str], payload: dict) -> None:
        if not point_ids:
            return
        with self._writing("update points"):
            self.client.set_payload(self.collection, payload=payload, points=list(point_ids), wait=True)

    def delete(self, point_ids: list[str]) -> None:
        if not point_ids:
            return
        with self._writing("delete points"):
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=point_ids), wait=True)

    def search(
        self,
        query: Vectors,
        limit: int,
        offset: int = 0,
        where: Where | None = None,
        min_score: float | None = None,
        with_vectors: bool = False,
        exclude: Sequence[str] = (),
    ) -> list[Hit]:
        channels = _vectors(query)
        query_filter = _filter(where, exclude)
        vectors = [IMAGE_VECTOR] if with_vectors else False
        with self._errors("search"):
            if not self.client.collection_exists(self.collection) or not channels:
                return []
            if len(channels) == 1:
                (name, vector), = channels.items()
                response = self.client.query_points(
                    self.collection, query=vector, using=name, query_filter=query_filter,
                    score_threshold=dense_threshold(name, min_score), limit=limit, offset=offset,
                    with_payload=RESULT_FIELDS, with_vectors=vectors,
                    search_params=self._search_params() if name in DENSE_VECTORS else None,
                )
            else:
                depth = prefetch_depth(limit, offset)
                response = self.client.query_points(
                    self.collection,
                    prefetch=[
                        models.Prefetch(query=vector, using=name, filter=query_filter, limit=depth,
                                        score_threshold=dense_threshold(name, min_score),
                                        params=self._search_params() if name in DENSE_VECTORS else None)
                        for name, vector in channels.items()
                    ],
                    query=models.FusionQuery(fusion=models.Fusion.RRF),  # k = RRF_K, the default
                    limit=limit, offset=offset, with_payload=RESULT_FIELDS, with_vectors=vectors,
                )
        return [hit_of(p, with_vectors) for p in response.points]

    def newest(self, limit: int, offset: int = 0, where: Where | None = None) -> list[Hit]:
        order = models.OrderByQuery(order_by=models.OrderBy(key=NEWEST_FIELD, direction=models.Direction.DESC))
        with self._errors("list the newest images"):
            if not self.client.collection_exists(self.collection):
                return []
            if not self._order_index:
                self.ensure_indexes()  # a server orders only by an indexed field: older collections get it
                self._order_index = True
            response = self.client.query_points(self.collection, query=order, query_filter=_filter(where),
                                                limit=limit, offset=offset, with_payload=RESULT_FIELDS,
                                                with_vectors=False)
        return [Hit(str(p.id), 0.0, p.payload or {}) for p in response.points]

    def vector(self, point_id: str, name: str = IMAGE_VECTOR) -> list[float]:
        with self._errors("read a point"):
            found = self.client.retrieve(self.collection, ids=[point_id], with_payload=False, with_vectors=[name])
        vector = dense_of(found[0], name) if found else None
        if not vector:
            raise KeyError(point_id)
        return vector

    def vector_layouts(self, point_ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for start in range(0, len(point_ids), LAYOUT_BATCH):
            with self._errors("read points"):
                records = self.client.retrieve(self.collection, ids=list(point_ids[start:start + LAYOUT_BATCH]),
                                               with_payload=False, with_vectors=True)
            found |= {str(r.id): set(named_vectors(r)) for r in records}
        return found


def _vectors(vectors: Vectors) -> dict:
    return engine_vectors(vectors, lambda indices, values: models.SparseVector(indices=indices, values=values))


def _filter(where: Where | None, exclude: Sequence[str] = ()) -> models.Filter | None:
    built = engine_filter(where,
                          lambda key, value: models.FieldCondition(key=key, match=models.MatchValue(value=value)),
                          lambda must: models.Filter(must=must))
    if not exclude:
        return built
    return models.Filter(must=built.must if built else None, must_not=[models.HasIdCondition(has_id=list(exclude))])

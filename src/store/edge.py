"""The embedded store on Qdrant Edge: Qdrant's own engine (segments, WAL, HNSW, sparse IDF, RRF) in this
process, no server.

On disk, `<QDRANT_PATH>/<collection>/` holds `shard/` (the engine's segments and write-ahead log) and
`meta.json` (layout version, model, dimension); `<collection>.lock` beside it says which process owns it.

New points land in plain segments that the engine searches exhaustively (fast up to ~10k points).
`build_index()` builds HNSW graphs for the rest: in this process when nothing else searches meanwhile
(`index`), or in a child process on a copy when searches must go on (`serve --index`,
src/store/background_build.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import qdrant_edge as edge

from src.atomic import write_atomically
from src.settings import Settings
from src.store import background_build
from src.store.background_build import SHARD, SwapGate
from src.store.base import Notify, Store
from src.store.conversions import (
    PREFETCH_DEPTH,
    RRF_K,
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
    StoreDamaged,
    StoreFull,
    StoreUnavailable,
    Vectors,
    Where,
)

META = "meta.json"
# Below this many vectors not yet in an HNSW graph, exhaustive search in the engine is fast enough and a
# build is not worth it.
MIN_VECTORS_TO_BUILD = 5000
# The engine builds a graph for a segment once its vectors take this much space (Qdrant's default).
INDEXING_THRESHOLD_KB = 10_000
SCROLL_PAGE = 1000
LAYOUT_BATCH = 256  # points whose vectors one retrieve reads back (`index --check`): ~1 MB of floats
# The engine writes through memory-mapped files that it grows sparse (its write-ahead log in 32 MB
# segments, vectors in 32 MB chunks): a write that lands on a page the full disk cannot back kills the
# process with SIGBUS, with no error to catch. So every write first checks that the disk can back what
# the files already claim, plus a new log segment and a new chunk of each dense vector, plus the write.
SPACE_MARGIN_BYTES = 128 * 1024 * 1024
REPAIR = "python main.py index --repair"
# HNSW's candidate list for dense channels (the engine widens it to the channel's limit when that is
# larger), by the collection's size. On clustered vectors, int8 with rescoring, recall@24 of the image
# channel against exact search: at 100k points 64 kept 0.997 and took ~0.93 of the engine's 100's time
# (benchmarks/store_speed.py); at 1M 64 kept only 0.881, 128 0.971, 256 0.988 for 1.26x the time of 64
# (benchmarks/scale.py). Between the two sizes nothing was measured, so the wider list starts early.
HNSW_EF_SMALL, HNSW_EF_LARGE, LARGE_COLLECTION = 64, 256, 200_000


def hnsw_ef_for(points: int) -> int:
    """The candidate list that keeps recall@24 >= 0.98 at this many points."""
    return HNSW_EF_LARGE if points > LARGE_COLLECTION else HNSW_EF_SMALL


class EdgeStore(Store):
    IN_USE_SIGNS = ("WouldBlock", "already accessed")

    def __init__(self, settings: Settings, build_in_background: bool = True):
        """build_in_background: build graphs in a child process so that searches in this process go on
        meanwhile (costs a copy of the shard on disk); off, the build runs here and blocks searches."""
        super().__init__(settings)
        self.folder = settings.qdrant_path / settings.collection
        self.build_in_background = build_in_background
        self._shard: edge.EdgeShard | None = None
        self._meta: dict = {}
        self._writes = threading.Lock()  # one writer at a time; held while the shard is copied or swapped
        self._gate = SwapGate()  # searches run together, but never on a shard being swapped out
        self._replay: list | None = None  # writes made while a copy is being indexed
        self._generation = 0  # bumped by create(): a copy of an older collection is never swapped in
        self._session = uuid.uuid4().hex[:8]
        self._writes_made = 0  # writes, creates and swaps so far: write_stamp()
        # Query-time levers (benchmarks/store_speed.py measures each): HNSW's candidate list, how deep each
        # channel feeds the fusion at least, and how deep the BM25 channel does (None: as the others).
        self.hnsw_ef: int | None = HNSW_EF_SMALL  # set by the collection's size: _fit_search_to_size
        self.fusion_depth = PREFETCH_DEPTH
        self.bm25_depth: int | None = None
        with self._errors("open"):
            settings.qdrant_path.mkdir(parents=True, exist_ok=True)
            # held open for the store's life: the lock lasts as long as the file is open
            self._lock_file = open(settings.qdrant_path / f"{settings.collection}.lock", "a+")  # noqa: SIM115
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                raise self.in_use() from None
            try:
                background_build.recover(self.folder)
                self._open()
            except BaseException:
                self._lock_file.close()  # a store that failed to open must not stay locked
                raise

    def _open(self) -> None:
        meta_file = self.folder / META
        if meta_file.exists() and (self.folder / SHARD).exists():
            self._meta = _read_meta(meta_file)
            self._check_space("open the store")  # loading writes too: a new log segment
            try:
                self._shard = edge.EdgeShard.load(str(self.folder / SHARD))
            except Exception as exc:  # the engine's files are damaged
                raise StoreDamaged(f"the store at {self.folder} cannot be loaded ({str(exc)[:200]}); run "
                                   f"`{REPAIR}` to rebuild it (the OCR text is reused from its cache)") from None
            self._fit_search_to_size()

    def _fit_search_to_size(self) -> None:
        """HNSW's candidate list for the collection as it is now: at open and once a graph is built, the
        two moments its size matters (points added since search an exhaustive segment)."""
        if self._shard is not None:
            self.hnsw_ef = hnsw_ef_for(self._shard.count(edge.CountRequest(exact=True)))

    def close(self) -> None:
        with self._writes, self._gate.swapping():
            if self._shard is not None:
                with contextlib.suppress(Exception):
                    self._shard.close()
                self._shard = None
        with contextlib.suppress(Exception):
            self._lock_file.close()  # releases the lock

    # -- collection ----------------------------------------------------------------------------
    def state(self) -> CollectionState:
        if self._shard is None:
            return CollectionState(exists=False)
        meta = self._meta
        return CollectionState(True, meta.get("schema_version"), meta.get("model"), meta.get("dim"))

    def create(self, model: str | None, dim: int | None) -> None:
        dense = edge.EdgeVectorParams(
            size=dim, distance=edge.Distance.Cosine, quantization_config=self._quantization(),
            on_disk=self.settings.qdrant_on_disk or None,
        ) if model and dim else None
        config = edge.EdgeConfig(
            vectors={name: dense for name in DENSE_VECTORS} if dense else {},
            sparse_vectors={BM25_VECTOR: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
            optimizers=edge.EdgeOptimizersConfig(indexing_threshold=INDEXING_THRESHOLD_KB),
        )
        with self._errors("create the collection"), self._writes, self._gate.swapping(), self._counted():
            self._check_space("create the collection")
            self._generation += 1
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            # meta.json is written last: a shard without it (a create cut short) is ignored on open.
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            shard = edge.EdgeShard.create(str(self.folder / SHARD), config)
            for operation in _index_operations(set()):
                shard.update(operation)
            shard.flush()
            # The quantization is the collection's own, fixed when it is made: searches ask for rescoring
            # by what the collection holds, not by the setting, which may have changed since.
            self._meta = {"schema_version": SCHEMA_VERSION, "model": model, "dim": dim,
                          "quantization": self.settings.qdrant_quantization if dense else "none"}
            write_atomically(self.folder / META, json.dumps(self._meta).encode())
            self._shard = shard

    def _quantization(self) -> edge.ScalarQuantizationConfig | edge.BinaryQuantizationConfig | None:
        """Quantized copies of the dense vectors, kept in RAM and searched first (QDRANT_QUANTIZATION);
        the originals rescore the best candidates."""
        kind = self.settings.qdrant_quantization
        if kind == "scalar":
            return edge.ScalarQuantizationConfig(type=edge.ScalarType.Int8, quantile=0.99, always_ram=True)
        if kind == "binary":
            return edge.BinaryQuantizationConfig(always_ram=True)
        return None

    @property
    def quantization(self) -> str:
        """The quantization the collection was made with: none, scalar or binary. One made before
        meta.json recorded it (when none was the default) reads as none; should it hold quantized copies
        all the same, the engine searches them with its own defaults (it rescores)."""
        return self._meta.get("quantization", "none")

    def _search_params(self) -> edge.SearchParams | None:
        """Dense channels' search: the HNSW candidate list, and rescoring quantized candidates."""
        kind = self.quantization
        quantization = None
        if kind != "none":
            quantization = edge.QuantizationSearchParams(rescore=True, oversampling=3.0 if kind == "binary" else 1.5)
        if self.hnsw_ef is None and quantization is None:
            return None
        return edge.SearchParams(hnsw_ef=self.hnsw_ef, quantization=quantization)

    @property
    def answers_quickly(self) -> bool:
        # In this process, no network; but while a graph is built in the background its shard is swapped
        # in at the end, and a search then waits for the swap (seconds at 100k points).
        return self._shard is not None and self._replay is None

    @property
    def sees_every_write(self) -> bool:
        return True  # the folder is locked to this process, which counts its writes and swaps

    def count(self) -> int:
        with self._reading("count points") as shard:
            return shard.count(edge.CountRequest(exact=True)) if shard else 0

    # -- building the HNSW index ---------------------------------------------------------------
    def build_index(self, notify: Notify = print) -> bool:
        with self._reading("build the search index") as shard:
            if shard is None:
                return False
            waiting = self._vectors_to_index(shard)
        if waiting < MIN_VECTORS_TO_BUILD:
            return False
        if not self.build_in_background:
            notify(f"building the search index (HNSW) for {waiting} vectors")
            with self._errors("build the search index"), self._writes:
                if self._shard is not shard:
                    return False  # the collection was recreated meanwhile
                changed = shard.optimize()
                shard.flush()
                self._fit_search_to_size()
            return bool(changed)
        notify(f"building the search index (HNSW) for {waiting} vectors; searches go on meanwhile")
        with self._errors("build the search index"):
            with self._writes:
                if self._shard is not shard:
                    return False
                generation = self._generation
                shard.flush()
                build = background_build.copy_shard(self.folder)
                self._replay = []
            try:
                outcome = background_build.optimize_in_child(build)
                if outcome != background_build.OPTIMIZED:
                    if outcome != background_build.UNCHANGED:  # every point is written: only speed is lost
                        notify(f"warning: building the search index failed ({outcome}); searches stay "
                               "exhaustive until the next index run builds it")
                    return False
                with self._writes, self._gate.swapping(), self._counted():
                    if generation != self._generation:
                        return False  # the collection was recreated meanwhile
                    shard.close()
                    self._shard = None
                    self._shard = background_build.swap_in(self.folder, build, self._replay)
                    self._fit_search_to_size()
            finally:
                self._replay = None
                shutil.rmtree(build, ignore_errors=True)
        return True

    def _vectors_to_index(self, shard: edge.EdgeShard) -> int:
        """Vectors not yet in an HNSW graph (the engine counts sparse vectors as indexed too)."""
        names = [*self._dense_names(), BM25_VECTOR]
        stored = sum(
            shard.count(edge.CountRequest(filter=edge.Filter(must=[edge.HasVectorCondition(name)]), exact=True))
            for name in names
        )
        return stored - shard.info().indexed_vectors_count

    def _dense_names(self) -> tuple[str, ...]:
        return DENSE_VECTORS if self._meta.get("model") else ()

    def ensure_indexes(self) -> None:
        with self._reading("read the collection") as shard:
            if shard is None:
                return
            operations = _index_operations(set(shard.info().payload_schema or {}))
        if operations:
            self._write("index the payload fields", *operations)

    # -- points --------------------------------------------------------------------------------
    def file_records(self) -> dict[str, dict]:
        with self._reading("read the indexed files") as shard:
            return {str(r.id): r.payload or {} for r in self._scroll(shard, with_payload=FILE_FIELDS + LOOK_FIELDS)}

    def points(self, vector: str | None = None) -> list[Record]:
        with self._reading("read the collection") as shard:
            found = self._scroll(shard, with_payload=True, with_vector=[vector] if vector else False)
            return [Record(str(r.id), r.payload or {}, dense_of(r, vector))
                    for r in found]

    def scan(self, fields: Sequence[str]) -> Iterator[list[Record]]:
        offset, selected = None, list(fields)
        while True:
            # The gate per page, not for the whole scan: a graph's shard can be swapped in between pages
            # (the ids, and so the offset, are the same in both) while the caller folds the last one.
            with self._reading("read the collection") as shard:
                if shard is None:
                    return
                records, offset = shard.scroll(edge.ScrollRequest(offset=offset, limit=SCROLL_PAGE,
                                                                  with_payload=selected))
                page = [Record(str(r.id), r.payload or {}) for r in records]
            yield page
            if offset is None:
                return

    def write_stamp(self) -> str:
        # The folder is locked to this process, so its own count of writes sees every one; a restart
        # starts a new count under a new session (the page cache then checks its fingerprint).
        return f"{self._session}-{self._writes_made}"

    def sample(self, vector: str, count: int) -> list[Record]:
        request = edge.QueryRequest(query=edge.Sample.Random, limit=count, with_payload=["path"], with_vector=[vector])
        with self._reading("read a sample of the collection") as shard:
            found = shard.query(request) if shard else []
        return [Record(str(r.id), r.payload or {}, dense_of(r, vector)) for r in found]

    @staticmethod
    def _scroll(shard: edge.EdgeShard | None, **what) -> Iterator[edge.Record]:
        offset = None
        while shard is not None:
            records, offset = shard.scroll(edge.ScrollRequest(offset=offset, limit=SCROLL_PAGE, **what))
            yield from records
            if offset is None:
                return

    def payloads_of(self, point_ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        found: list[Record] = []
        for start in range(0, len(point_ids), SCROLL_PAGE):
            batch = list[int | uuid.UUID | str](point_ids[start:start + SCROLL_PAGE])
            with self._reading("read points") as shard:
                records = shard.retrieve(batch, with_payload=list(fields), with_vector=False) if shard else []
            found += [Record(str(r.id), r.payload or {}) for r in records]
        return found

    def paths_of(self, point_ids: list[str]) -> dict[str, str]:
        with self._reading("look up images") as shard:
            if not point_ids or shard is None:
                return {}
            found = shard.retrieve(list[int | uuid.UUID | str](point_ids), with_payload=["path"], with_vector=False)
        return {str(r.id): (r.payload or {}).get("path", "") for r in found}

    def by_path(self, path: str) -> Hit | None:
        with self._reading("look up an image") as shard:
            if shard is None:
                return None
            records, _ = shard.scroll(edge.ScrollRequest(limit=1, filter=_filter({"path": path}), with_payload=True))
        return Hit(str(records[0].id), 1.0, records[0].payload or {}) if records else None

    def facet(self, field: str, limit: int = 100) -> list[tuple[str, int]]:
        with self._reading("count categories") as shard:
            # A field the collection has no index for yet (made before it was a filter) has no values
            # to offer until the next `index` adds them; the engine would refuse to count it.
            if shard is None or field not in (shard.info().payload_schema or {}):
                return []
            response = shard.facet(edge.FacetRequest(key=field, limit=limit, exact=True))
        return [(str(hit.value), hit.count) for hit in response.hits if hit.value != ""]

    def upsert(self, points: list[Point]) -> None:
        if points:
            self._write("write points", edge.UpdateOperation.upsert_points(
                [edge.Point(id=p.id, vector=_vectors(p.vectors), payload=p.payload) for p in points]))

    def update_text(self, point_id: str, vectors: Vectors, payload: dict) -> None:
        text_vectors = [BM25_VECTOR, *([TEXT_VECTOR] if self._dense_names() else [])]  # text-only: no dense ones
        operations = [edge.UpdateOperation.delete_vectors([point_id], text_vectors)]
        if vectors:
            operations.append(edge.UpdateOperation.update_vectors([edge.PointVectors(point_id, _vectors(vectors))]))
        operations.append(edge.UpdateOperation.set_payload([point_id], payload))
        self._write("update a point", *operations)

    def update_words(self, words: dict[str, SparseVector | None], payload: dict) -> None:
        if not words:
            return
        vectors = [edge.PointVectors(pid, _vectors(Vectors(bm25=vector))) for pid, vector in words.items()
                   if vector is not None]
        operations = [edge.UpdateOperation.update_vectors(vectors)] if vectors else []
        operations.append(edge.UpdateOperation.set_payload(list[int | uuid.UUID | str](words), payload))
        self._write("update points", *operations)

    def update_payload(self, point_id: str, payload: dict) -> None:
        self._write("update a point", edge.UpdateOperation.set_payload([point_id], payload))

    def update_payloads(self, point_ids: Sequence[str], payload: dict) -> None:
        if point_ids:
            ids = list[int | uuid.UUID | str](point_ids)
            self._write("update points", edge.UpdateOperation.set_payload(ids, payload))

    def delete(self, point_ids: list[str]) -> None:
        if point_ids:
            self._write("delete points", edge.UpdateOperation.delete_points(list[int | uuid.UUID | str](point_ids)))

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
        params = self._search_params()
        if len(channels) == 1:
            (name, vector), = channels.items()
            request = edge.QueryRequest(
                query=edge.Query.Nearest(vector, using=name), filter=query_filter,
                score_threshold=dense_threshold(name, min_score), limit=limit, offset=offset,
                with_payload=RESULT_FIELDS, with_vector=vectors, params=params if name in DENSE_VECTORS else None,
            )
        else:
            depth = prefetch_depth(limit, offset, self.fusion_depth)
            request = edge.QueryRequest(
                prefetches=[
                    edge.Prefetch(query=edge.Query.Nearest(vector, using=name), filter=query_filter,
                                  limit=self._depth(name, depth), score_threshold=dense_threshold(name, min_score),
                                  params=params if name in DENSE_VECTORS else None)
                    for name, vector in channels.items()
                ],
                query=edge.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the 0.9.0 stub omits Rrf
                limit=limit, offset=offset, with_payload=RESULT_FIELDS, with_vector=vectors,
            )
        with self._reading("search") as shard:
            if shard is None or not channels:
                return []
            found = shard.query(request)
        return [hit_of(p, with_vectors) for p in found]

    def newest(self, limit: int, offset: int = 0, where: Where | None = None) -> list[Hit]:
        self.ensure_indexes()  # the engine orders only by an indexed field: older collections get it
        request = edge.QueryRequest(
            query=edge.OrderBy(NEWEST_FIELD, direction=edge.Direction.Desc), filter=_filter(where),
            limit=limit, offset=offset, with_payload=RESULT_FIELDS, with_vector=False,
        )
        with self._reading("list the newest images") as shard:
            found = shard.query(request) if shard else []
        return [Hit(str(p.id), 0.0, p.payload or {}) for p in found]

    def _depth(self, name: str, depth: int) -> int:
        """A channel's prefetch depth: the BM25 channel's may be capped."""
        return min(depth, self.bm25_depth) if name == BM25_VECTOR and self.bm25_depth else depth

    def vector(self, point_id: str, name: str = IMAGE_VECTOR) -> list[float]:
        with self._reading("read a point") as shard:
            found = shard.retrieve([point_id], with_payload=False, with_vector=[name]) if shard else []
        vector = dense_of(found[0], name) if found else None
        if not vector:
            raise KeyError(point_id)
        return vector

    def vector_layouts(self, point_ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for start in range(0, len(point_ids), LAYOUT_BATCH):
            batch = list[int | uuid.UUID | str](point_ids[start:start + LAYOUT_BATCH])
            with self._reading("read points") as shard:
                records = shard.retrieve(batch, with_payload=False, with_vector=True) if shard else []
            found |= {str(r.id): set(named_vectors(r)) for r in records}
        return found

    # -- access --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self, action: str) -> Iterator[edge.EdgeShard | None]:
        with self._errors(action), self._gate.reading():
            yield self._shard

    def _write(self, action: str, *operations) -> None:
        with self._errors(action), self._writes, self._counted():
            if self._shard is None:
                raise StoreUnavailable(f"could not {action}: the collection does not exist; run `index` first")
            self._check_space(action)
            for operation in operations:
                self._shard.update(operation)
                if self._replay is not None:
                    self._replay.append(operation)


    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        """A change to the points: counted once it is done (or failed half-way), so that a reader never
        pairs the new stamp with the old points."""
        try:
            yield
        finally:
            self._writes_made += 1

    def _check_space(self, action: str) -> None:
        """Raise StoreFull, before anything is written, when the disk cannot back a write (a batch is
        far smaller than the margin)."""
        needed = _sparse_debt(self.folder) + SPACE_MARGIN_BYTES
        free = shutil.disk_usage(self.folder if self.folder.exists() else self.settings.qdrant_path).free
        if free < needed:
            raise StoreFull(
                f"could not {action}: the disk holding the store at {self.settings.qdrant_path} has "
                f"{free / 2**20:.0f} MB free and the store needs {needed / 2**20:.0f} MB to write safely; "
                "free some space, then run `python main.py index` again (nothing was written)"
            )


def _read_meta(meta_file) -> dict:
    """meta.json's layout, or StoreDamaged naming the command that repairs it."""
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        meta, reason = None, str(exc)[:100]
    else:
        reason = "it holds no layout"
    if not isinstance(meta, dict) or not isinstance(meta.get("schema_version"), int):
        raise StoreDamaged(f"the store's {meta_file} is damaged ({reason}); run `{REPAIR}` to rebuild "
                           "the collection (the OCR text is reused from its cache)")
    return meta


def _sparse_debt(folder) -> int:
    """Bytes the engine's files claim but the disk has not allocated yet (they fill in as it writes)."""
    debt = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            try:
                stat = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            debt += max(0, stat.st_size - stat.st_blocks * 512)
    return debt


def _index_operations(present: set[str]) -> list[edge.UpdateOperation]:
    """The operations that create the payload indexes missing from those present."""
    kinds = [(KEYWORD_FIELDS, edge.PayloadSchemaType.Keyword), (BOOL_FIELDS, edge.PayloadSchemaType.Bool),
             (INTEGER_FIELDS, edge.PayloadSchemaType.Integer)]
    return [edge.UpdateOperation.create_field_index(name, kind)
            for names, kind in kinds for name in names if name not in present]


def _vectors(vectors: Vectors) -> dict:
    return engine_vectors(vectors, lambda indices, values: edge.SparseVector(indices=indices, values=values))


def _filter(where: Where | None, exclude: Sequence[str] = ()) -> edge.Filter | None:
    built = engine_filter(where,
                          lambda key, value: edge.FieldCondition(key, match=edge.MatchValue(_match_value(value))),
                          lambda must: edge.Filter(must=must))
    if not exclude:
        return built
    return edge.Filter(must=built.must if built else [], must_not=[edge.HasIdCondition(set(exclude))])


def _match_value(value):
    # qdrant-edge-py 0.9.0 reads a Python bool as the integer 0 or 1 (bool is an int subclass), which
    # never matches a boolean payload; numpy's bool is not an int and arrives as a boolean.
    return np.bool_(value) if isinstance(value, bool) else value

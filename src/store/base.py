"""The interface every engine implements: one collection, its points, and searches over them."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence

from src.settings import Settings
from src.store.schema import (
    IMAGE_VECTOR,
    CollectionState,
    Hit,
    Point,
    Record,
    SparseVector,
    StoreUnavailable,
    Vectors,
    Where,
)

Notify = Callable[[str], None]


class Store(abc.ABC):
    """One collection in one engine; open one with `src.store.open_store(settings)`."""

    # Words in an engine's error that mean another process holds the embedded folder.
    IN_USE_SIGNS: tuple[str, ...] = ()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.collection = settings.collection

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- collection ----------------------------------------------------------------------------
    @abc.abstractmethod
    def state(self) -> CollectionState: ...

    @abc.abstractmethod
    def create(self, model: str | None, dim: int | None) -> None:
        """(Re)create the collection for vectors of this model; existing points are dropped.
        Without a model (None) the collection holds the BM25 text vectors alone."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @property
    def answers_quickly(self) -> bool:
        """Whether a search answers now in about a millisecond, never waiting on a network or a swap of
        the engine's files: the web app then runs a repeated query on its event loop instead of a worker
        thread. A server (any network) may stall, so by default not."""
        return False

    @property
    def sees_every_write(self) -> bool:
        """Whether write_stamp() changes with every write to the collection, whoever makes it, and costs no
        round trip: an embedded folder is locked to one process. A searcher may then keep its answers
        until the stamp changes. A server can be written by other processes: no."""
        return False

    def build_index(self, notify: Notify = print) -> bool:
        """Make searches fast after a bulk load; True if anything was built. A server does this itself."""
        return False

    # -- points --------------------------------------------------------------------------------
    @abc.abstractmethod
    def ensure_indexes(self) -> None:
        """Give a collection made before a payload field was indexed the indexes it lacks (filters and
        facets on the new fields); creating one that exists changes nothing."""

    @abc.abstractmethod
    def file_records(self) -> dict[str, dict]:
        """point id -> the payload fields that describe its files on disk (FILE_FIELDS) and what it looks
        like (LOOK_FIELDS)."""

    @abc.abstractmethod
    def points(self, vector: str | None = None) -> list[Record]:
        """Every point with its payload and its dense `vector` (None: no vector)."""

    def payloads(self, fields: Sequence[str]) -> list[Record]:
        """Every point with these fields of its payload and no vector."""
        return [record for page in self.scan(fields) for record in page]

    @abc.abstractmethod
    def scan(self, fields: Sequence[str]) -> Iterator[list[Record]]:
        """Every point with these fields of its payload and no vector, a page (a thousand) at a time, in
        the order of their ids: the collection overview folds each page into its counts, so that
        memory holds one page of payloads at any size rather than every point's."""

    @abc.abstractmethod
    def write_stamp(self) -> str:
        """A short string that changes whenever points are written, changed or removed, and stays the same
        otherwise; O(1) at any size, so a page drawn from the collection (/EDA) can be reused until it
        changes. Each opened store has its own (a restart gives a new one)."""

    @abc.abstractmethod
    def sample(self, vector: str, count: int) -> list[Record]:
        """Up to count points drawn at random, with their path and their dense `vector`: the overview's
        map and near-duplicates of a collection too large to read whole."""

    @abc.abstractmethod
    def payloads_of(self, point_ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        """These fields of the payloads of those of the ids that are in the collection, no vectors (the
        overview's sample of texts)."""

    @abc.abstractmethod
    def paths_of(self, point_ids: list[str]) -> dict[str, str]:
        """point id -> shown path, for those of the ids that are in the collection."""

    def texts_of(self, point_ids: list[str]) -> dict[str, str]:
        """point id -> its stored OCR text ("" when it has none), for those of the ids in the collection."""
        return {r.id: r.payload.get("text") or "" for r in self.payloads_of(point_ids, ["text"])}

    @abc.abstractmethod
    def by_path(self, path: str) -> Hit | None:
        """The point whose shown file is path (the result view)."""

    @abc.abstractmethod
    def facet(self, field: str, limit: int = 100) -> list[tuple[str, int]]:
        """(value, count) of a keyword payload field, most common first: the choices of a filter."""

    @abc.abstractmethod
    def upsert(self, points: list[Point]) -> None: ...

    @abc.abstractmethod
    def update_text(self, point_id: str, vectors: Vectors, payload: dict) -> None:
        """New OCR text for a known image: replace its text vectors and text payload, keep its image vector."""

    @abc.abstractmethod
    def update_words(self, words: dict[str, SparseVector | None], payload: dict) -> None:
        """New BM25 vectors for known points (the term rules changed): point id -> its vector (None: it has
        no text, so no vector), its other vectors kept; payload is set on every one of them."""

    @abc.abstractmethod
    def update_payload(self, point_id: str, payload: dict) -> None: ...

    @abc.abstractmethod
    def update_payloads(self, point_ids: Sequence[str], payload: dict) -> None:
        """Set the same payload fields on many points in one write, their vectors untouched."""

    @abc.abstractmethod
    def delete(self, point_ids: list[str]) -> None: ...

    @abc.abstractmethod
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
        """One query in the engine. Each vector of the query is a channel: one channel ranks by its own
        score (cosine for dense); several are fused by Reciprocal Rank Fusion in the engine. where:
        payload field -> required value. min_score: the lowest cosine a dense channel lets through (BM25
        scores have no fixed scale and are not cut). with_vectors: hits carry their image vector.
        exclude: point ids left out (the image a "more like this" starts from)."""

    @abc.abstractmethod
    def newest(self, limit: int, offset: int = 0, where: Where | None = None) -> list[Hit]:
        """The collection's points with the files modified last first (NEWEST_FIELD), those where says;
        offset skips that many. Hits carry RESULT_FIELDS and a score of 0: nothing was matched."""

    @abc.abstractmethod
    def vector(self, point_id: str, name: str = IMAGE_VECTOR) -> list[float]:
        """A point's stored vector ("more like this"); raises KeyError if there is none."""

    def vector_names(self, point_id: str) -> set[str]:
        """Which vectors a point has (an image without text has no text vectors)."""
        return self.vector_layouts([point_id]).get(point_id, set())

    @abc.abstractmethod
    def vector_layouts(self, point_ids: Sequence[str]) -> dict[str, set[str]]:
        """point id -> the vectors it has, for those of the ids that are in the collection; read in
        batches (`index --check` reads every point's, and every vector is read back, so a damaged
        vector file shows)."""

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
            if any(sign in text for sign in self.IN_USE_SIGNS):
                raise self.in_use() from None
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise StoreUnavailable(f"could not {action} in {self.settings.describe_store()}: {reason[:300]}; "
                                   f"{self.settings.store_remedy()}") from None

    def in_use(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the embedded store at {self.settings.qdrant_path} is in use by another adsearch process "
            "(stop `serve` before running `index`, or use a Qdrant server via QDRANT_URL)"
        )

"""The Qdrant collection that holds one point per distinct image content.

    from src.store import open_store, Vectors, Point
    with open_store(settings) as store:
        hits = store.search(Vectors(image=vector), limit=12)

Modules:
- schema.py: the program's own types (Vectors, SparseVector, Point, Hit, Record, CollectionState),
  vector names and payload fields, StoreUnavailable.
- base.py: `Store`, the interface every engine implements, and its error translation.
- conversions.py: what both engines do alike (filters, vectors, fusion depth, hits).
- edge.py: the embedded engine, Qdrant Edge, in this process (the default).
- background_build.py: the edge engine's graph build in a child process while searches go on.
- client.py: qdrant-client, for a Qdrant server (QDRANT_URL) or its pure-Python local mode
  (EMBEDDED_ENGINE=qdrant-client).
Everything else in the program talks to Qdrant only through `Store`.
"""

from __future__ import annotations

from src.settings import Settings
from src.store.base import Notify, Store
from src.store.conversions import PREFETCH_DEPTH, RRF_K
from src.store.edge import EdgeStore
from src.store.schema import (
    BM25_VECTOR,
    BOOL_FIELDS,
    DENSE_VECTORS,
    FILE_FIELDS,
    IMAGE_VECTOR,
    KEYWORD_FIELDS,
    LOOK_FIELDS,
    RESULT_FIELDS,
    SCHEMA_VERSION,
    TEXT_VECTOR,
    CollectionState,
    DenseVector,
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


def open_store(settings: Settings, build_in_background: bool = True) -> Store:
    """The store the settings name: a Qdrant server when QDRANT_URL is set, else the embedded folder at
    QDRANT_PATH in the EMBEDDED_ENGINE. build_in_background (embedded Qdrant Edge only): build search
    graphs in a child process so that searches in this process go on meanwhile."""
    if settings.uses_server or settings.embedded_engine == "qdrant-client":
        # Imported here, not above: qdrant-client adds ~2 s to every start-up (measured on top of the
        # app's own imports), and the default engine never needs it.
        from src.store.client import ClientStore

        return ClientStore(settings)
    return EdgeStore(settings, build_in_background=build_in_background)


__all__ = [
    "BM25_VECTOR", "BOOL_FIELDS", "DENSE_VECTORS", "FILE_FIELDS", "IMAGE_VECTOR", "KEYWORD_FIELDS", "LOOK_FIELDS",
    "PREFETCH_DEPTH", "RESULT_FIELDS", "RRF_K", "SCHEMA_VERSION", "TEXT_VECTOR", "CollectionState", "DenseVector",
    "Hit", "Notify",
    "Point", "Record", "SparseVector", "Store", "StoreDamaged", "StoreFull", "StoreUnavailable", "Vectors", "Where",
    "open_store",
]

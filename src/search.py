"""Search: a text query in, ranked images out."""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from src.embedding import ClipEmbedder
from src.store import Store

MAX_QUERY_CHARS = 300
MAX_K = 100
DEFAULT_K = 12


class QueryError(ValueError):
    """A query the search cannot take; the message says what to change."""


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float
    id: str
    path: str
    width: int | None
    height: int | None


def clean_query(text: str | None) -> str:
    """The query as searched: control characters dropped, white space folded, length bounded."""
    text = "".join(ch for ch in (text or "") if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    return text


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, not {k}")
    return k


class Searcher:
    def __init__(self, embedder: ClipEmbedder, store: Store, cache_size: int = 512):
        self.embedder = embedder
        self.store = store
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    def search(self, query: str | None, k: int = DEFAULT_K) -> list[SearchResult]:
        query = clean_query(query)
        k = check_k(k)
        if not query:
            return []
        hits = self.store.search(self._text_vector(query), limit=k)
        return [
            SearchResult(
                rank=rank,
                score=hit.score,
                id=hit.id,
                path=hit.payload.get("path", ""),
                width=hit.payload.get("width"),
                height=hit.payload.get("height"),
            )
            for rank, hit in enumerate(hits, start=1)
        ]

    def _text_vector(self, query: str) -> list[float]:
        """Text vectors of recent queries are kept: a repeated query skips the text encoder."""
        with self._lock:
            if query in self._cache:
                self._cache.move_to_end(query)
                return self._cache[query]
        vector = self.embedder.embed_texts([query])[0].tolist()
        with self._lock:
            self._cache[query] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

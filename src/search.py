"""Search: a text query in, ranked images out."""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from src.embedding import ClipEmbedder
from src.store import BM25_VECTOR, IMAGE_VECTOR, TEXT_VECTOR, Store
from src.terms import query_vector, terms

MAX_QUERY_CHARS = 300
MAX_K = 100
DEFAULT_K = 12
SNIPPET_CHARS = 140
# image: what the picture shows (CLIP). text: what the ad says (OCR: exact words and their meaning).
# hybrid: all three channels fused by the engine (Reciprocal Rank Fusion).
MODES = ("hybrid", "image", "text")
DEFAULT_MODE = "hybrid"


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
    text: str = ""
    snippet: tuple[tuple[str, bool], ...] = ()  # (piece of OCR text, matches a query word)


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


def check_mode(mode: str | None) -> str:
    mode = (mode or DEFAULT_MODE).strip().lower()
    if mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(MODES)}, not {mode[:20]!r}")
    return mode


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> tuple[tuple[str, bool], ...]:
    """A window of the OCR text around the first query word it holds, split into (piece, is_match)."""
    if not text:
        return ()
    wanted = set(terms(query))
    spans = [m.span() for m in re.finditer(r"\S+", text) if set(terms(m.group())) & wanted]
    start = max(0, spans[0][0] - 24) if spans else 0  # a little context before the first match
    end = min(len(text), start + width)
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = start
    for a, b in spans:
        if a < start or b > end:
            continue
        pieces += [(text[cursor:a], False), (text[a:b], True)]
        cursor = b
    pieces.append((text[cursor:end] + ("…" if end < len(text) else ""), False))
    return tuple((piece, match) for piece, match in pieces if piece)


def matching_words(words: list, query: str) -> list:
    """The OCR words (with their boxes) that are query words, to mark them on the image."""
    wanted = set(terms(clean_query(query)))
    return [word for word in words if wanted & set(terms(word.text))]


class Searcher:
    def __init__(self, embedder: ClipEmbedder, store: Store, cache_size: int = 512):
        self.embedder = embedder
        self.store = store
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    def search(
        self,
        query: str | None,
        k: int = DEFAULT_K,
        mode: str | None = DEFAULT_MODE,
        where: dict | None = None,
        words_only: bool = False,
    ) -> list[SearchResult]:
        """where: payload filters, e.g. {"category": "coffee", "has_text": True}.
        words_only: match the words of the ads alone (BM25), for when there is no CLIP model."""
        query = clean_query(query)
        k = check_k(k)
        mode = check_mode(mode)
        if not query:
            return []
        channels = self._words(query) if words_only else self._channels(query, mode)
        hits = self.store.search(channels, limit=k, where=where)
        return [
            SearchResult(
                rank=rank,
                score=hit.score,
                id=hit.id,
                path=hit.payload.get("path", ""),
                width=hit.payload.get("width"),
                height=hit.payload.get("height"),
                text=hit.payload.get("text", ""),
                snippet=snippet(hit.payload.get("text", ""), query),
            )
            for rank, hit in enumerate(hits, start=1)
        ]

    def _channels(self, query: str, mode: str) -> dict:
        """The query vectors for each channel of the mode: one text encoding serves both dense ones."""
        vector = self._text_vector(query)
        channels = {}
        if mode in ("image", "hybrid"):
            channels[IMAGE_VECTOR] = vector
        if mode in ("text", "hybrid"):
            channels[TEXT_VECTOR] = vector
            channels |= self._words(query)
        return channels

    @staticmethod
    def _words(query: str) -> dict:
        words = query_vector(query)
        return {BM25_VECTOR: words} if words[0] else {}

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

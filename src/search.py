"""Search: a text query in, ranked images out."""

from __future__ import annotations

import collections
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock

import numpy as np

from src.appearance import COLOURS, ORIENTATIONS, SIZES
from src.embedding import ClipEmbedder
from src.images import FORMATS
from src.snippets import snippet
from src.store import SparseVector, Store, Vectors
from src.terms import query_vector, terms

MAX_QUERY_CHARS = 300
MAX_K = 100
MAX_OFFSET = 1000  # paging deeper than this is not browsing any more
PAGES_KEPT = 256  # result pages of recent queries kept until the store changes
DEFAULT_K = 12
# image: what the picture shows (CLIP). text: what the ad says (OCR: exact words and their meaning).
# hybrid: all three channels fused by the engine (Reciprocal Rank Fusion).
MODES = ("hybrid", "image", "text")
DEFAULT_MODE = "hybrid"
# What a search that needs the image model says when there is none (the model failed to load, or the
# collection was indexed without one), with the way out.
NO_IMAGE_MODEL = ("needs the image model, which is not loaded: set CLIP_MODEL to a CLIP model this machine can "
                  "load (/healthz says why the last one failed), restart serve and run `python main.py index`; "
                  "until then the words of the ads are searched without it")


class QueryError(ValueError):
    """A query the search cannot take; the message says what to change."""


# The filters on what an image looks like (src/appearance.py) and its format: field -> the values a
# query may ask for. The payload holds formats as the reader names them (JPEG); queries say jpeg.
LOOK_FILTERS: dict[str, tuple[str, ...]] = {
    "orientation": ORIENTATIONS, "size": SIZES, "colour": COLOURS, "format": tuple(f.lower() for f in FORMATS),
}


def look_filter(field: str, value: str | None) -> dict[str, str]:
    """{payload field: stored value} for one of LOOK_FILTERS as sent ("" or None: no filter); a value it
    does not offer is a QueryError naming those it does."""
    wanted = (value or "").strip().lower()
    if not wanted:
        return {}
    if wanted not in LOOK_FILTERS[field]:
        raise QueryError(f"{field} must be one of {', '.join(LOOK_FILTERS[field])}, not {str(value)[:20]!r}; or leave "
                         f"it out for all")
    return {field: wanted.upper() if field == "format" else wanted}


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
    similar: int = 0  # near-duplicates folded into this result


@dataclass(frozen=True)
class Part:
    """One part of a combined query: a text, an image's CLIP vector (embedded by the caller), or an
    indexed image by point id. A negative weight pulls the results away from the part."""

    text: str | None = None
    vector: tuple[float, ...] | None = None
    point_id: str | None = None
    weight: float = 1.0


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


def matching_words(words: list, query: str) -> list:
    """The OCR words (with their boxes) that are query words, to mark them on the image."""
    wanted = set(terms(clean_query(query)))
    return [word for word in words if wanted & set(terms(word.text))]


def near_duplicate_leaders(hits: list, threshold: float) -> list[int]:
    """For each hit, the index of the hit it folds into: the first earlier hit that leads a group and
    whose image vector is at least threshold similar, or its own index (it leads a group). A hit without
    a vector leads its own. One matrix product for the page, instead of a dot product per pair in Python."""
    leaders = list(range(len(hits)))
    rows = [n for n, hit in enumerate(hits) if hit.vector is not None]
    if len(rows) < 2:
        return leaders
    vectors = np.asarray([hits[n].vector for n in rows], dtype=np.float64)
    similar = (vectors @ vectors.T) >= threshold
    leading: list[int] = []  # positions in rows of the hits that lead a group, in order
    for position, n in enumerate(rows):
        match = next((lead for lead in leading if similar[lead, position]), None)
        if match is None:
            leading.append(position)
        else:
            leaders[n] = rows[match]
    return leaders


def collapse_near_duplicates(hits: list, threshold: float, leaders: list[int] | None = None) -> list[tuple]:
    """(hit, how many near-duplicates were folded into it), keeping the best of each group in order.
    leaders: near_duplicate_leaders of these hits or of a longer list they begin (a hit's leader
    depends only on the hits before it)."""
    leaders = near_duplicate_leaders(hits, threshold) if leaders is None else leaders
    folded = collections.Counter(leaders[n] for n in range(len(hits)) if leaders[n] != n)
    return [(hit, folded[n]) for n, hit in enumerate(hits) if leaders[n] == n]


@dataclass(frozen=True)
class ResultPage:
    results: list[SearchResult]
    next_offset: int | None  # where the next page starts in the store's ranking; None: this is the last


def fold_page(hits: list, k: int, collapse: float | None) -> tuple[list[tuple], int]:
    """The page's first k results, each with the near-duplicates folded into it, and how many of the
    store's hits they used: the next page starts after them, so no result shows on two pages."""
    if collapse is None:
        return [(hit, 0) for hit in hits[:k]], min(k, len(hits))
    leaders = near_duplicate_leaders(hits, collapse)
    groups = collapse_near_duplicates(hits, collapse, leaders)
    if len(groups) <= k:
        return groups, len(hits)
    first_unused = next(n for n, hit in enumerate(hits) if hit is groups[k][0])  # the next page starts here
    # Count only the duplicates folded in before the next page starts: later ones show on it.
    return collapse_near_duplicates(hits[:first_unused], collapse, leaders), first_unused


@lru_cache(maxsize=512)
def _query_words(query: str) -> Vectors:
    """The BM25 channel of a query's words (none when they have no terms), kept for repeated queries as
    their text vectors are; nothing changes a Vectors or the lists in it once made."""
    words = SparseVector(*query_vector(query))
    return Vectors(bm25=words) if words.indices else Vectors()


class Searcher:
    def __init__(self, embedder: ClipEmbedder, store: Store, cache_size: int = 512):
        self.embedder = embedder
        self.store = store
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        # Result pages of recent queries, until the store is written (a page of 12 holds ~10 KB of text).
        self._pages: OrderedDict[tuple, ResultPage] = OrderedDict()
        self._pages_kept = PAGES_KEPT
        self._lock = Lock()

    def search(
        self, query: str | None, k: int = DEFAULT_K, mode: str | None = DEFAULT_MODE, **options
    ) -> list[SearchResult]:
        """The results of search_page alone."""
        return self.search_page(query, k, mode, **options).results

    def search_page(
        self,
        query: str | None,
        k: int = DEFAULT_K,
        mode: str | None = DEFAULT_MODE,
        where: dict | None = None,
        words_only: bool = False,
        parts: Sequence[Part] = (),
        offset: int = 0,
        min_score: float | None = None,
        collapse: float | None = None,
    ) -> ResultPage:
        """Ranked results of a text query and/or weighted parts (texts, images, indexed images; a negative
        weight pulls away from a part), and where the next page starts.

        where: payload filters, e.g. {"category": "coffee", "has_text": True}. words_only: match the
        words of the ads alone (BM25), for when there is no CLIP model. offset: the store's results to
        skip (paging: the next page's offset is the page's next_offset). min_score: a cosine cut-off, for
        mode="image" alone, where the score shown is that cosine. collapse: fold results whose image
        vectors are at least this similar to a better result into it, with a count. An indexed image
        searched with (a positive point_id part) is left out of its own results.
        """
        parts = ([Part(text=clean_query(query))] if clean_query(query) else []) + list(parts)
        k = check_k(k)
        mode = check_mode(mode)
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset must be between 0 and {MAX_OFFSET}, not {offset}")
        if min_score is not None and (mode != "image" or words_only):
            raise QueryError("min_score works with mode=image only, where the score is the picture's cosine "
                             "similarity; leave it out for hybrid and text searches, whose scores rank but do "
                             "not measure")
        if not parts:
            return ResultPage([], None)
        if not any(part.weight > 0 for part in parts):
            raise QueryError("a query needs at least one part with a positive weight")
        words = " ".join(part.text for part in parts if part.text and part.weight > 0)
        if words_only:
            if any(part.text is None for part in parts):
                raise QueryError(f"searching by image {NO_IMAGE_MODEL}")
            if any(part.weight < 0 for part in parts):
                raise QueryError(f"“not” (text to avoid) {NO_IMAGE_MODEL}; or leave “not” out")
        # Read before the search: a write that lands meanwhile changes the stamp, so the page made from
        # the older points is never handed out again.
        key = self._page_key(parts, k, mode, where, words_only, offset, min_score, collapse)
        kept = self._kept_page(key)
        if kept is not None:
            return kept
        channels = self._words(words) if words_only else self._channels(parts, words, mode)
        # One more than the page shows, so the page knows whether there is a next one; folding
        # near-duplicates shortens the page, so then ask for more.
        limit = min(2 * k, MAX_K) + 1 if collapse is not None else k + 1
        sources = [part.point_id for part in parts if part.point_id and part.weight > 0]
        hits = self.store.search(channels, limit=limit, offset=offset, where=where, min_score=min_score,
                                 with_vectors=collapse is not None, exclude=sources)
        grouped, used = fold_page(hits, k, collapse)
        more = used < len(hits) or (len(hits) == limit and collapse is not None)
        results = [
            SearchResult(
                rank=offset + rank,
                score=hit.score,
                id=hit.id,
                path=hit.payload.get("path", ""),
                width=hit.payload.get("width"),
                height=hit.payload.get("height"),
                text=hit.payload.get("text", ""),
                snippet=snippet(hit.payload.get("text", ""), words),
                similar=similar,
            )
            for rank, (hit, similar) in enumerate(grouped, start=1)
        ]
        page = ResultPage(results, offset + used if more and offset + used <= MAX_OFFSET else None)
        self._keep_page(key, page)
        return page

    def _page_key(self, parts: Sequence[Part], k: int, mode: str, where: dict | None, words_only: bool,
                  offset: int, min_score: float | None, collapse: float | None) -> tuple | None:
        """What a page of results depends on besides the model: the query, its options and the store's
        write stamp; None when the stamp may miss a write (a server other processes write to)."""
        if not self.store.sees_every_write:
            return None
        filters = tuple(sorted(where.items())) if where else ()
        return (self.store.write_stamp(), tuple(parts), k, mode, filters, words_only, offset, min_score, collapse)

    def _kept_page(self, key: tuple | None) -> ResultPage | None:
        """The page kept for this key: a repeated query (Back, a reload, a shared link, the API asked
        again) then costs no text encoding, store query, folding or snippets."""
        if key is None:
            return None
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def _keep_page(self, key: tuple | None, page: ResultPage) -> None:
        if key is None:
            return
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self._pages_kept:
                self._pages.popitem(last=False)

    def browse(self, k: int = DEFAULT_K, where: dict | None = None, offset: int = 0) -> ResultPage:
        """The collection without a query, the files modified last first (as a photo library opens), those
        where says, one page of k from offset."""
        k = check_k(k)
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset must be between 0 and {MAX_OFFSET}, not {offset}")
        hits = self.store.newest(k + 1, offset=offset, where=where)  # one more: is there a next page?
        results = [
            SearchResult(rank=offset + rank, score=hit.score, id=hit.id, path=hit.payload.get("path", ""),
                         width=hit.payload.get("width"), height=hit.payload.get("height"),
                         text=hit.payload.get("text", ""), snippet=snippet(hit.payload.get("text", ""), ""))
            for rank, hit in enumerate(hits[:k], start=1)
        ]
        more = len(hits) > k and offset + k <= MAX_OFFSET
        return ResultPage(results, offset + k if more else None)

    def _channels(self, parts: Sequence[Part], words: str, mode: str) -> Vectors:
        """The query vectors for each channel of the mode: the parts' weighted sum of CLIP vectors serves
        both dense channels (one text encoding a query); BM25 takes the positive words."""
        vector = self._combined_vector(parts)
        image = vector if mode in ("image", "hybrid") else None
        # "text" with an image alone: its likeness to the ads' texts (hybrid has the image channel for that).
        text = vector if mode == "text" or (mode == "hybrid" and words) else None
        if mode in ("text", "hybrid") and words:
            return Vectors(image=image, text=text) | self._words(words)
        return Vectors(image=image, text=text)

    def _combined_vector(self, parts: Sequence[Part]) -> list[float]:
        total: np.ndarray | None = None
        for part in parts:
            if part.text is not None:
                vector = np.asarray(self._text_vector(part.text))
            elif part.point_id is not None:
                vector = np.asarray(self.store.vector(part.point_id))
            else:
                vector = np.asarray(part.vector)
            total = part.weight * vector if total is None else total + part.weight * vector
        assert total is not None  # a query has at least one part (checked by the caller)
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise QueryError("the parts of the query cancel each other out")
        return (total / norm).tolist()

    @staticmethod
    def _words(query: str) -> Vectors:
        return _query_words(query)

    def knows(self, texts: Sequence[str]) -> bool:
        """Whether the text vectors of all these query texts are kept, so searching with them needs no
        text encoding (texts as clean_query gives them)."""
        with self._lock:
            return all(text in self._cache for text in texts)

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

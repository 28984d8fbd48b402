"""Runs every query through the real search, once per mode, and scores the rankings.

It evaluates the collection `python main.py index` built and never indexes. Each query is searched once
per mode to the search's full depth (MAX_K results), enough for the precision-recall curve and for
average precision; the @k metrics take the first k of that list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evaluation.metrics import Scores, mean_scores, score_query
from evaluation.queries import QUERY_TYPES, Query
from src.embedding import ClipEmbedder, ModelUnavailable
from src.search import MAX_K, MODES, Searcher
from src.settings import Settings
from src.store import open_store

DEPTH = MAX_K
WORDS_ONLY = "text (words only)"
ALL = "all"  # the group of every query


class EvaluationError(Exception):
    """The evaluation cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class Channel:
    """One way of searching, as the report names it."""

    name: str
    mode: str
    words_only: bool = False


@dataclass(frozen=True)
class QueryResult:
    query: Query
    scores: Scores | None  # None: the query has no relevant file
    top: tuple[tuple[str, bool], ...]  # (path, relevant) of the first k results


@dataclass
class ChannelResult:
    channel: Channel
    queries: list[QueryResult]

    def groups(self) -> dict[str, tuple[int, Scores | None]]:
        """Query type (in QUERY_TYPES order, those present) and "all" -> (queries scored, mean scores)."""
        kinds = [kind for kind in QUERY_TYPES if any(r.query.type == kind for r in self.queries)]
        groups = {}
        for kind in kinds + [ALL]:
            scores = [r.scores for r in self.queries if kind in (ALL, r.query.type) and r.scores is not None]
            groups[kind] = (len(scores), mean_scores(scores))
        return groups


@dataclass
class Evaluation:
    k: int
    channels: list[ChannelResult]
    notes: list[str] = field(default_factory=list)  # what the reader of the report must know
    not_indexed: list[str] = field(default_factory=list)  # relevant files the collection lacks
    unjudged: list[str] = field(default_factory=list)  # ids of queries with no relevant file
    store: str = ""
    model: str | None = None  # the image model the collection was built with
    points: int = 0


def choose_channels(modes: Sequence[str], model_problem: str | None) -> tuple[list[Channel], list[str]]:
    """The modes asked for, or, when the model cannot serve them, the words-only text search alone."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise EvaluationError(f"unknown mode {unknown[0]!r}; use {', '.join(MODES)}")
    if model_problem is None:
        return [Channel(mode, mode) for mode in modes], []
    note = (f"{model_problem} Only the words read in the ads (BM25 over the OCR text) are evaluated, as "
            f"'{WORDS_ONLY}'; {', '.join(m for m in modes if m != 'text') or 'no other mode'} skipped.")
    return [Channel(WORDS_ONLY, "text", words_only=True)], [note]


def evaluate(
    settings: Settings,
    queries: list[Query],
    modes: Sequence[str],
    k: int,
    embedder: ClipEmbedder | None = None,
    notify: Callable[[str], None] = print,
) -> Evaluation:
    if not 1 <= k <= MAX_K:
        raise EvaluationError(f"k must be between 1 and {MAX_K}, not {k}")
    with open_store(settings) as store:
        state, points = store.state(), store.count()
        if not state.exists or points == 0:
            raise EvaluationError(
                f"the collection '{settings.collection}' in {settings.describe_store()} is "
                f"{'empty' if state.exists else 'missing'}: run `python main.py index` first "
                "(with the same DATASET_DIR, QDRANT_PATH and COLLECTION)"
            )
        embedder = embedder or ClipEmbedder.from_settings(settings)
        channels, notes = choose_channels(modes, _model_problem(state, embedder))
        file_ids = _file_ids(store.file_records())
        result = Evaluation(k, [], notes, store=settings.describe_store(), model=state.model, points=points)
        result.not_indexed = sorted({f for q in queries for f in q.relevant if f not in file_ids})
        result.unjudged = [q.id for q in queries if not q.relevant]
        searcher = Searcher(embedder, store)
        for channel in channels:
            notify(f"Searching {len(queries)} queries in mode '{channel.name}'...")
            result.channels.append(ChannelResult(channel, [_run(searcher, channel, q, k, file_ids) for q in queries]))
    return result


def _run(searcher: Searcher, channel: Channel, query: Query, k: int, file_ids: dict[str, str]) -> QueryResult:
    hits = searcher.search(query.text, DEPTH, channel.mode, words_only=channel.words_only)
    # Judged by content: a file and its duplicates are one point, and the search returns each point once.
    relevant = {file_ids.get(name, f"not indexed: {name}") for name in query.relevant}
    ranked = [hit.id for hit in hits]
    top = tuple((hit.path, hit.id in relevant) for hit in hits[:k])
    return QueryResult(query, score_query(ranked, relevant, k), top)


def _model_problem(state, embedder: ClipEmbedder) -> str | None:
    """Why the image channels cannot be searched, or None when they can."""
    if not state.has_images:
        return "The collection was indexed without an image model (index again once CLIP_MODEL loads)."
    if state.model != embedder.model_id:
        return (f"The collection holds vectors of model '{state.model}', not of CLIP_MODEL '{embedder.model_id}' "
                "(set CLIP_MODEL to the model it was indexed with).")
    try:
        embedder.load()
    except ModelUnavailable as exc:
        return f"The CLIP model cannot be loaded: {str(exc).rstrip('.')}."
    return None


def _file_ids(records: dict[str, dict]) -> dict[str, str]:
    """file path -> id of the point showing it (its own, or the one it duplicates)."""
    ids = {}
    for pid, record in records.items():
        for name in [record.get("path")] + list(record.get("duplicates") or []):
            if name:
                ids[name] = pid
    return ids

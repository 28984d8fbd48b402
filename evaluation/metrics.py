"""Retrieval metrics of one ranked list, their means over queries, and the precision-recall curve.

Binary relevance. `ranked` is the result list as the search returned it, best first; it is never
re-sorted, so results with equal scores keep the engine's order, the order a user sees. `relevant` is
every relevant item, retrieved or not (a relevant file missing from the index is simply never
retrieved). The @k metrics look at the first k results; average precision, reciprocal rank and the
curve look at the whole list retrieved (the search depth). The conventions are trec_eval's, which the
tests use as an oracle: P@k divides by k even when fewer than k results came back, and a query with no
relevant items has no recall, AP, RR or nDCG, so it is left out of every mean.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields

RECALL_LEVELS = tuple(i / 10 for i in range(11))  # the standard 11-point interpolated curve: 0, 0.1, ... 1


@dataclass(frozen=True)
class Scores:
    precision: float  # P@k
    recall: float  # R@k
    f1: float  # F1@k
    ap: float  # average precision over the whole list retrieved; its mean is mAP
    rr: float  # reciprocal rank of the first relevant result; its mean is MRR
    ndcg: float  # nDCG@k
    curve: tuple[float, ...]  # interpolated precision at RECALL_LEVELS


METRICS = tuple(f.name for f in fields(Scores) if f.name != "curve")


def score_query(ranked: Sequence[str], relevant: Collection[str], k: int) -> Scores | None:
    """All metrics of one query; None when it has no relevant items (nothing to find)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if len(set(ranked)) != len(ranked):
        raise ValueError("the ranking lists an item twice")
    relevant = set(relevant)
    if not relevant:
        return None
    hits = [item in relevant for item in ranked]
    found_at_k = sum(hits[:k])
    precision, recall = found_at_k / k, found_at_k / len(relevant)
    return Scores(
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if found_at_k else 0.0,
        ap=_average_precision(hits, len(relevant)),
        rr=next((1 / rank for rank, hit in enumerate(hits, start=1) if hit), 0.0),
        ndcg=_ndcg(hits[:k], min(k, len(relevant))),
        curve=_interpolated_precision(hits, len(relevant)),
    )


def mean_scores(scores: Sequence[Scores | None]) -> Scores | None:
    """The mean of each metric (and of the curve, point by point) over the queries that have one."""
    scored = [s for s in scores if s is not None]
    if not scored:
        return None
    means = {name: math.fsum(getattr(s, name) for s in scored) / len(scored) for name in METRICS}
    curve = tuple(math.fsum(points) / len(scored) for points in zip(*(s.curve for s in scored)))
    return Scores(**means, curve=curve)


def _average_precision(hits: list[bool], relevant: int) -> float:
    """Mean over all relevant items of the precision at the rank where each was found (0 if never)."""
    found, total = 0, 0.0
    for rank, hit in enumerate(hits, start=1):
        if hit:
            found += 1
            total += found / rank
    return total / relevant


def _ndcg(hits: list[bool], ideal_hits: int) -> float:
    """Binary gains, discount log2(rank + 1), normalised by the best possible top-k."""
    dcg = math.fsum(1 / math.log2(rank + 1) for rank, hit in enumerate(hits, start=1) if hit)
    ideal = math.fsum(1 / math.log2(rank + 1) for rank in range(1, ideal_hits + 1))
    return dcg / ideal


def _interpolated_precision(hits: list[bool], relevant: int) -> tuple[float, ...]:
    """At each recall level, the best precision at any rank reaching that recall (0 if none does).
    Reaching recall i/10 means finding ceil(i * relevant / 10) items: whole numbers, no rounding."""
    precision_at_found: list[float] = []  # precision when the 1st, 2nd, ... relevant item is found
    for rank, hit in enumerate(hits, start=1):
        if hit:
            precision_at_found.append((len(precision_at_found) + 1) / rank)
    curve = []
    for level in range(len(RECALL_LEVELS)):
        needed = max(1, -(-level * relevant // (len(RECALL_LEVELS) - 1)))
        curve.append(max(precision_at_found[needed - 1 :], default=0.0))
    return tuple(curve)

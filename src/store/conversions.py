"""What both engines do alike to a query and its answer: which channels a score cut-off applies to,
how deep each channel feeds the fusion, filters as conditions that must all hold, vectors in the engine's
form, hits in ours. Each engine passes its own constructors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from src.store.schema import DENSE_VECTORS, IMAGE_VECTOR, DenseVector, Hit, SparseVector, Vectors, Where

# How many candidates each channel hands to the fusion step, at least: twice the page asked for, so
# RRF sees each channel well past the page. 100 before; 50 took ~0.64 of the time at 100k points and the
# page of 25 kept 0.966 of its results (0.988 of the first 12), the lost ones at its tail
# (benchmarks/store_speed.py).
PREFETCH_DEPTH = 50
# Reciprocal Rank Fusion's constant: score = sum of 1 / (rank + RRF_K - 1); Qdrant's own default.
RRF_K = 2


def dense_threshold(name: str, min_score: float | None) -> float | None:
    """min_score applies to cosine channels only."""
    return min_score if name in DENSE_VECTORS else None


def prefetch_depth(limit: int, offset: int, floor: int = PREFETCH_DEPTH) -> int:
    """How many candidates each channel hands to the fusion: RRF needs each list deeper than the page."""
    return max(floor, 2 * (limit + offset))


def engine_vectors(vectors: Vectors, sparse: Callable[[list[int], list[float]], Any]) -> dict[str, Any]:
    """name -> the engine's form of each vector; `sparse(indices, values)` builds its sparse vector."""
    return {name: engine_vector(vector, sparse) for name, vector in vectors.named().items()}


def engine_vector(vector: DenseVector | SparseVector, sparse: Callable[[list[int], list[float]], Any]) -> Any:
    if isinstance(vector, SparseVector):
        return sparse(list(vector.indices), [float(v) for v in vector.values])
    return list(vector)


def engine_filter(where: Where | None, condition: Callable[[str, str | bool], Any],
                  all_of: Callable[[list[Any]], Any]) -> Any | None:
    """The engine's filter for `where` (every field must have its value), or None for no filter;
    `condition(field, value)` and `all_of(conditions)` build the engine's objects."""
    if not where:
        return None
    return all_of([condition(field, value) for field, value in where.items()])


def named_vectors(point: Any) -> dict[str, Any]:
    """name -> vector of an engine's point or record (an unnamed or absent vector counts as none)."""
    vector = point.vector  # read once: each read converts every returned vector to Python objects again
    return vector if isinstance(vector, dict) else {}


def dense_of(point: Any, name: str | None) -> DenseVector | None:
    """The point's dense vector of this name, as a list, or None."""
    vector = named_vectors(point).get(name) if name else None
    if vector is None or isinstance(vector, SparseVector):
        return None
    return vector if isinstance(vector, list) else list(vector)


def hit_of(point: Any, with_vectors: bool) -> Hit:
    """A Hit from an engine's scored point (both engines' points have id, score, payload and vector)."""
    image = dense_of(point, IMAGE_VECTOR) if with_vectors else None
    return Hit(str(point.id), float(point.score), point.payload or {}, image)

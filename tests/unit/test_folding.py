"""Folding near-duplicates into the best result of their group, page by page (src/search.py)."""

from types import SimpleNamespace

import numpy as np

from src.search import collapse_near_duplicates, fold_page, near_duplicate_leaders


def hit(name: str, vector) -> SimpleNamespace:
    return SimpleNamespace(id=name, vector=None if vector is None else list(vector))


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v / np.linalg.norm(v)


A, B = unit(1, 0, 0), unit(0, 1, 0)
NEAR_A, NEAR_B = unit(1, 0.05, 0), unit(0.05, 1, 0)
HITS = [hit("a", A), hit("b", B), hit("a2", NEAR_A), hit("x", None), hit("b2", NEAR_B), hit("a3", A),
        hit("c", unit(0, 0, 1))]


def test_each_hit_folds_into_the_first_group_leader_it_is_near_and_one_without_a_vector_leads_its_own():
    assert near_duplicate_leaders(HITS, 0.99) == [0, 1, 0, 3, 1, 0, 6]
    assert [(h.id, n) for h, n in collapse_near_duplicates(HITS, 0.99)] == [("a", 2), ("b", 1), ("x", 0), ("c", 0)]
    assert [n for _, n in collapse_near_duplicates(HITS, 1.01)] == [0] * 7  # nothing is that near
    assert len(collapse_near_duplicates(HITS, -1.0)) == 2  # everything with a vector folds into "a"; "x" leads


def test_a_page_counts_only_the_duplicates_folded_in_before_the_next_page_starts():
    page, used = fold_page(HITS, 2, 0.99)
    assert [(h.id, n) for h, n in page] == [("a", 1), ("b", 0)] and used == 3  # "x" starts the next page
    assert fold_page(HITS, 10, 0.99)[1] == len(HITS)
    assert fold_page(HITS, 3, None) == ([(h, 0) for h in HITS[:3]], 3)

"""Exact-word matching: text -> terms -> a sparse BM25 vector that Qdrant scores with its IDF modifier.

Qdrant multiplies each term's weight by the term's inverse document frequency (Modifier.IDF), so only
the term-frequency half of BM25 is computed here, and the query side is a plain 1 per term.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter

# BM25's usual constants; ads are short, so the average length is that of a typical ad's text.
K1 = 1.2
B = 0.75
AVERAGE_TERMS = 16

# A word, a number with its decimals ("4.99", "1,999"), optionally with a currency sign or a percent.
_TOKEN = re.compile(r"[$€£¥]?\d+(?:[.,]\d+)*%?|\w+(?:['’]\w+)*", re.UNICODE)


def terms(text: str) -> list[str]:
    """Lower-case terms; "$4.99" and "50%" also yield their bare numbers, so "50 off" finds "50% OFF"."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    found: list[str] = []
    for token in _TOKEN.findall(text):
        token = token.replace("’", "'")
        found.append(token)
        bare = token.strip("$€£¥%")
        if bare != token and bare:
            found.append(bare)
    return found


def term_id(term: str) -> int:
    """A stable 32-bit index per term (Qdrant's sparse indices are u32): no vocabulary to keep."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


def document_vector(text: str) -> tuple[list[int], list[float]]:
    """(indices, values) of an OCR text: BM25's saturated, length-normalised term frequency."""
    counts = Counter(terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
    return _sparse({term: tf * (K1 + 1) / (tf + norm) for term, tf in counts.items()})


def query_vector(text: str) -> tuple[list[int], list[float]]:
    return _sparse({term: 1.0 for term in terms(text)})


def _sparse(weights: dict[str, float]) -> tuple[list[int], list[float]]:
    by_id: dict[int, float] = {}
    for term, weight in weights.items():
        index = term_id(term)
        by_id[index] = by_id.get(index, 0.0) + weight  # a hash collision adds up rather than overwrites
    indices = sorted(by_id)
    return indices, [by_id[i] for i in indices]

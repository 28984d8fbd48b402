"""Exact-word matching: text -> terms -> a sparse BM25 vector that Qdrant scores with its IDF modifier.

Qdrant multiplies each term's weight by the term's inverse document frequency (Modifier.IDF), so only
the term-frequency half of BM25 is computed here, and the query side is a plain 1 per term.

Ad text and queries go through the same steps, so that what a person types meets what an ad prints:
  - lower case, Unicode compatibility forms folded ("ﬁ" -> "fi", full-width digits -> digits);
  - stop words dropped: "woman running in the hills" must not match ads on "in" and "the";
  - English stems (Snowball): "running shoes" finds "RUN" and "SHOE";
  - words run together split as extra terms, the original kept: OCR (PP-OCR most of all) often drops the
    spaces of stylised type, and "UPTO50%OFF" must match "up to 50% off", "freeshipping" "free shipping";
  - prices and percentages also give their bare number: "50 off" finds "50% OFF";
  - letter trigrams of each longer word's stem, as extra terms of their own, so that a word OCR misread
    still meets the word typed: a query gives every trigram of its words (grams()), an ad every third of
    its words', at most GRAM_CAP of them (document_grams()); "SAMSUNC" keeps "^sa", "msu", "nc$", and
    shares "^sa" and "msu" with "samsung".
Only the vectors use the trigrams: highlights and snippets match on terms() alone.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from functools import lru_cache

import Stemmer
import wordninja

# BM25's usual constants. AVERAGE_TERMS is the mean number of terms of an ad's OCR text, measured on the
# 60 labelled real ads (ppocr,tesseract, terms as made here: 46). A constant, not each collection's own
# mean: on that dev set mAP was 0.493 with the old constant 16 and 0.492 with 46 (B 0.5: 0.480, 0.3:
# 0.475), so the exact figure does not matter, and a constant spares rewriting every vector as a
# collection grows.
K1 = 1.2
B = 0.75
AVERAGE_TERMS = 46

# A word (with its inner apostrophes and ampersands: "anne's", "at&t", "a&w"), or a number with its
# decimals ("4.99", "1,999"), optionally with a currency sign or a percent.
_TOKEN = re.compile(r"[$€£¥]?\d+(?:[.,]\d+)*%?|\w+(?:['’&]\w+)*", re.UNICODE)

# Function words only: articles, pronouns, auxiliaries, prepositions, conjunctions. General stop lists
# (e.g. the stop-words package's 1,300 English words) also hold "free", "new", "off", "save", "buy" and
# "best", which are what ads say and people search for.
STOP_WORDS = frozenset([
    "a", "an", "the", "and", "or", "nor", "but", "if", "then", "so", "as", "than", "that", "this",
    "these", "those", "there", "here", "i", "me", "my", "mine", "we", "us", "our", "ours", "you",
    "your", "yours", "he", "him", "his", "she", "her", "hers", "it", "its", "they", "them", "their",
    "theirs", "am", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "doing",
    "have", "has", "had", "having", "will", "would", "shall", "should", "can", "could", "may", "might",
    "must", "of", "in", "on", "at", "to", "for", "from", "by", "with", "into", "onto", "about", "over",
    "under", "within", "without", "between", "through", "during", "before", "after", "above", "below",
    "upon", "via", "per", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "s",
    "t", "d", "ll", "m", "re", "ve",
])

# Run-together words: a token this long that the segmenter splits into parts that are each a word among
# the SEGMENT_VOCABULARY most frequent (of at least MIN_PART letters, or of two among the COMMON_SHORT
# most frequent: "up", "go"), a number or a stop word gives its parts as extra terms. Shorter or rarer
# parts are how a segmenter explains a brand it does not know ("glacielle" -> "gla ciel le", "zenfone" ->
# "zen f one"), and such a split would only add noise.
MIN_SEGMENT_LENGTH = 6
MIN_PART = 3
COMMON_SHORT = 1_000
SEGMENT_VOCABULARY = 50_000

_stemmer = Stemmer.Stemmer("english")
_model = wordninja.DEFAULT_LANGUAGE_MODEL
_RANK = {word: rank for rank, word in enumerate(_model._wordcost)} if hasattr(_model, "_wordcost") else {}


# The version of the rules above that made a BM25 vector, stored with each point ("terms"): `index`
# rewrites the BM25 vectors of points made by an older version from their stored text, without OCR.
# 2: stems, stop words, run-together splits. 3: letter trigrams added. 4: an ad's trigrams thinned (every
# third, at most GRAM_CAP).
VERSION = 4

# Letter trigrams, for the words OCR misreads ("AD1DAS", "COFFE", "SAMSUNC" for "adidas", "coffee",
# "samsung"): each word whose stem has at least GRAM_MIN_LETTERS letters gives the trigrams of the stem,
# padded with "^" and "$" so that where a word starts and ends counts. They are terms of their own,
# prefixed so that no trigram is ever a word's term. In an ad each trigram counts GRAM_WEIGHT of a word
# occurrence, so a word's own term outweighs its trigrams; in a query the trigrams of one word share a
# weight of 1, so a long word does not outweigh a short one.
# A query takes every trigram of its words; an ad only every GRAM_STEP-th of each word's, from its start
# (non-overlapping: "^samsunc$" -> "^sa", "msu", "nc$"), and of those at most GRAM_CAP per ad, the
# rarest in English first (_commonness). A misread letter still leaves the word's other trigrams, which
# the query's full set meets wherever they fall, and the ad carries a quarter of the trigrams.
# Why, measured on the 60 labelled real ads (text mode, words only; benchmarks/trigram_variants.py,
# benchmarks/results/trigram_variants.md): every trigram of every word gave mAP 0.544 against 0.493
# without trigrams, but 136 terms an ad instead of 31 and 21.8 results a query instead of 2.5; every
# third trigram and at most 40 an ad: mAP 0.535, 58 terms, 10.1 results (a BM25-only bulk load of 100k
# ad-like points: 35 s without trigrams, 102 s with all, 68 s thinned). Alone, each cut either kept more
# than half the terms or lost more mAP: trigrams only of the words beyond the language model's 10,000
# most common (misreads and rare brands) 0.533 with 109 terms, no "^"/"$" padding 0.530 with 107,
# dropping trigrams in over 10% of the ads 0.533 with 106, every third trigram 0.535 with 76, a cap of
# 40 alone 0.529 with 66. Keeping the rarest in English rather than the first in the text: the same mAP,
# 10.1 results a query instead of 12.5 (their table takes 0.6 s to build, once a process, at its first
# long ad). A caution on these mAPs: on 60 ads a longer result list earns AP by itself (the trigram-less
# ranking with every other ad appended in random order scores 0.562), so the file also gives each
# variant's mAP with that random tail, where every third trigram capped at 40 (0.583) is as good as all
# of them (0.579). Counting the word's letters rather than its stem's measured 0.534.
GRAM_PREFIX = "#"
GRAM_MIN_LETTERS = 4
GRAM_WEIGHT = 0.3
GRAM_STEP = 3
GRAM_CAP = 40


def terms(text: str) -> list[str]:
    """The search terms of a text, in order, with repeats (the term frequencies of BM25)."""
    found: list[str] = []
    for cased, token in _tokens(text):
        found.append(_stem(token))
        bare = token.strip("$€£¥%")
        if bare != token and bare:
            found.append(bare)
        found += [_stem(part) for part in run_together(cased) if part not in STOP_WORDS]
    return found


def grams(text: str, step: int = 1) -> list[list[str]]:
    """The letter trigrams of each word of the text whose stem has at least GRAM_MIN_LETTERS letters, one
    list per word, in order: the stem padded with "^" and "$" ("shoes" -> shoe -> "^sh", "sho", "hoe",
    "oe$", each with GRAM_PREFIX), every step-th from the start. Terms for the BM25 vectors alone, never
    for highlights."""
    found = []
    for _, token in _tokens(text):
        stem = _stem(token)
        if sum(c.isalpha() for c in stem) >= GRAM_MIN_LETTERS:
            found.append(_trigrams(stem, step))
    return found


def _trigrams(stem: str, step: int = 1) -> list[str]:
    """Every step-th trigram of the stem padded with "^" and "$", each with GRAM_PREFIX."""
    padded = f"^{stem}$"
    return [GRAM_PREFIX + padded[i : i + 3] for i in range(0, len(padded) - 2, step)]


def document_grams(text: str) -> Counter[str]:
    """An ad's trigrams with their counts: every GRAM_STEP-th of each word's, at most GRAM_CAP distinct
    ones, those rarest in English kept (ties: the first in the text)."""
    found: Counter[str] = Counter(gram for word in grams(text, GRAM_STEP) for gram in word)
    if len(found) > GRAM_CAP:
        common = _commonness()
        kept = sorted(found, key=lambda gram: common.get(gram, 0.0))[:GRAM_CAP]  # a stable sort
        found = Counter({gram: found[gram] for gram in kept})
    return found


@lru_cache(maxsize=1)
def _commonness() -> dict[str, float]:
    """How common each trigram is in English text: the sum, over the segmenter's vocabulary of stems with
    GRAM_MIN_LETTERS letters or more, of the Zipf frequency 1 / rank of the words holding it. Trigrams of
    misreadings and unknown brands are rare or absent: those are the ones worth keeping."""
    words = sorted(_RANK, key=_RANK.__getitem__)
    found: dict[str, float] = {}
    for rank, stem in enumerate(_stemmer.stemWords(words), start=1):
        if sum(c.isalpha() for c in stem) >= GRAM_MIN_LETTERS:
            for gram in set(_trigrams(stem)):
                found[gram] = found.get(gram, 0.0) + 1 / rank
    return found


def _tokens(text: str) -> list[tuple[str, str]]:
    """The words and numbers of a text, stop words left out: (as written, lower case). run_together needs
    the case: it marks where words ran together."""
    found = []
    for cased in _TOKEN.findall(unicodedata.normalize("NFKC", text or "")):
        token = cased.lower().replace("’", "'")
        if token not in STOP_WORDS:
            found.append((cased, token))
    return found


# Where the case changes inside a token ("AuntieAnne's", "ThenewAudiA4"), a new word starts.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def run_together(cased: str) -> list[str]:
    """The words of a token OCR ran together, lower case: the segmenter's split of the whole, and the
    pieces where the case or digits change with their own splits; an "&" brand keeps its "&" ("THEAT&T"
    -> the, at&t). [] when it is one word."""
    token = cased.lower().replace("’", "'")
    if "&" in token:
        left, _, right = token.partition("&")
        pieces = list(_segments(left)) if len(left) > 2 and left.isalpha() else []
        return [*pieces[:-1], f"{pieces[-1]}&{right}"] if pieces else []
    parts = list(segments(token))
    pieces = [p.lower() for p in _CAMEL.split(cased) if p]
    if len(pieces) > 1:
        for piece in pieces:
            parts += [part for part in (piece, *segments(piece)) if part not in parts]
    return parts


def segments(token: str) -> tuple[str, ...]:
    """The words of a run-together token ("freeshipping" -> free, shipping), or () when it is one word or
    the split is not believable."""
    if len(token) < MIN_SEGMENT_LENGTH or not any(c.isalpha() for c in token) or not token.isascii():
        return ()
    return _segments(token)


@lru_cache(maxsize=65536)
def _segments(token: str) -> tuple[str, ...]:
    parts = [p for p in wordninja.split(token) if p]
    if len(parts) < 2 or "".join(parts) != re.sub(r"[^a-z0-9]", "", token):
        return ()
    for part in parts:
        if part.isdigit() or part in STOP_WORDS:
            continue
        rank = _RANK.get(part, SEGMENT_VOCABULARY)
        short = len(part) < MIN_PART and (rank >= COMMON_SHORT or not set(part) & set("aeiouy"))
        if rank >= SEGMENT_VOCABULARY or len(part) < 2 or short:
            return ()
    return tuple(parts)


def _stem(token: str) -> str:
    """English words are stemmed ("anne's" -> "anne", "running" -> "run"); numbers, prices and words
    with "&" are kept as they are."""
    return _stemmer.stemWord(token) if token.replace("'", "").isalpha() else token


def term_id(term: str) -> int:
    """A stable 32-bit index per term (Qdrant's sparse indices are u32): no vocabulary to keep."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


def document_vector(text: str) -> tuple[list[int], list[float]]:
    """(indices, values) of an OCR text: BM25's saturated, length-normalised term frequency, of its words'
    terms and (each occurrence counting GRAM_WEIGHT) of their trigrams (document_grams()). The length is
    the words' terms alone, so a word's own weight is what it was without trigrams."""
    words = Counter(terms(text))
    length = sum(words.values())
    counts: dict[str, float] = dict(words)
    for gram, count in document_grams(text).items():
        counts[gram] = counts.get(gram, 0.0) + count * GRAM_WEIGHT
    norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
    return _sparse({term: tf * (K1 + 1) / (tf + norm) for term, tf in counts.items()})


def query_vector(text: str) -> tuple[list[int], list[float]]:
    """A query's terms weigh 1 each; the trigrams of one of its words 1 together."""
    weights = dict.fromkeys(terms(text), 1.0)
    for word in grams(text):
        for gram in word:
            weights[gram] = weights.get(gram, 0.0) + 1 / len(word)
    return _sparse(weights)


def _sparse(weights: dict[str, float]) -> tuple[list[int], list[float]]:
    by_id: dict[int, float] = {}
    for term, weight in weights.items():
        index = term_id(term)
        by_id[index] = by_id.get(index, 0.0) + weight  # a hash collision adds up rather than overwrites
    indices = sorted(by_id)
    return indices, [by_id[i] for i in indices]

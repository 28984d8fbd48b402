"""The snippet of an ad's text on a result card: a window around the query's words, marked, cut only
between words; none when the text is neither a match nor readable (OCR noise such as "Ww LL")."""

from __future__ import annotations

import re
from functools import lru_cache

from src.terms import terms

SNIPPET_CHARS = 110  # about three lines of a card; the card shows the whole snippet, it clips nothing
CONTEXT_CHARS = 24  # text kept before the first matched word
STRETCH_CHARS = 50  # how far past SNIPPET_CHARS the window may reach to show the second matched word whole
_WORD = re.compile(r"\S+")
_LETTERS = re.compile(r"[^\W\d_]{3,}")  # a run of three letters or more, in any script
_VOWEL = re.compile(r"[aeiouyAEIOUY]")

Snippet = tuple[tuple[str, bool], ...]  # (piece of the text, is a query word)


def reads_as_words(text: str) -> bool:
    """Whether OCR text looks like words rather than noise: mostly letters, in words that could be words
    (three letters or more, with a vowel where the script has them), at least two of them or one long one."""
    words = [w for w in _LETTERS.findall(text) if not w.isascii() or _VOWEL.search(w)]
    if not words or (len(words) == 1 and len(words[0]) < 4):
        return False
    return 2 * sum(len(w) for w in words) >= len("".join(text.split()))


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> Snippet:
    """A window of the text from a little before its first query word, split into (piece, is_match): a
    matched word is never cut, the window stretches to hold the second one whole, and it ends between
    words. Without a query word in it, the text's start, if it reads as words; else nothing."""
    if not text:
        return ()
    wanted = word_terms(query)
    spans = [m.span() for m in _WORD.finditer(text) if wanted and not wanted.isdisjoint(word_terms(m.group()))]
    if not spans and not reads_as_words(text):
        return ()
    start = _word_start(text, max(0, spans[0][0] - CONTEXT_CHARS)) if spans else 0
    end = min(len(text), start + width)
    shown = [span for span in spans[:2] if span[1] <= start + width + STRETCH_CHARS]
    end = max([end, *(b for _, b in shown)])  # the first two matches, whole
    while cut := [b for a, b in spans if a < end < b]:  # and no match cut at the end
        end = max(cut)
    end = _word_end(text, start, end)
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = start
    for a, b in spans:
        if start <= a and b <= end:
            pieces += [(text[cursor:a], False), (text[a:b], True)]
            cursor = b
    pieces.append((text[cursor:end].rstrip() + ("…" if end < len(text) else ""), False))
    return tuple((piece, match) for piece, match in pieces if piece)


@lru_cache(maxsize=65536)
def word_terms(word: str) -> frozenset[str]:
    """The search terms of a word of a text (or of the query), kept: the words of ads repeat, and stemming
    each word of every result's text again was most of a repeated query's time in the app
    (benchmarks/results/request_profile.md)."""
    return frozenset(terms(word))


def _word_start(text: str, at: int) -> int:
    """at, moved back to the start of the word it falls in."""
    while at > 0 and not text[at - 1].isspace():
        at -= 1
    return at


def _word_end(text: str, start: int, end: int) -> int:
    """end, moved back to the space before the word it would cut (unless that word is all the window has)."""
    if end >= len(text) or text[end].isspace() or text[end - 1].isspace():
        return end
    cut = end
    while cut > start and not text[cut - 1].isspace():
        cut -= 1
    return cut if cut > start else end

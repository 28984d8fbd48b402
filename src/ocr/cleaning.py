"""Cleaning shared by every engine: junk tokens dropped, prices and percentages kept, words broken at
line ends joined, low-confidence words dropped."""

from __future__ import annotations

import re
from dataclasses import replace

from src.ocr.base import Word

_LEAD_KEEP = "$€£¥#(+-"  # "$4.99", "#1", "(19.9)", "+44", "-50%"
_TRAIL_KEEP = "%$€£).,!?:;'-"  # "50%", "19€", "fast!", hyphen at a line end (joined later)
_REPEAT = re.compile(r"([^\dw])\1\1", re.IGNORECASE)  # "aaa", "///"; digits ("1000") and "www" are fine
_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")  # "adver-\ntisement"; "Coca-\nCola" keeps its hyphen
_PRICE = re.compile(r"^[$€£¥]?\d[\d.,]*[%$€£¥]?$")


def clean_token(token: str) -> str | None:
    """The token without junk at its edges, or None if it is junk: no letters or digits, runs of one
    character, or mostly symbols. Prices and percentages such as "$4.99", "50%" and "€19" are kept."""
    if token == "&":
        return token
    start, end = 0, len(token)
    while start < end and not token[start].isalnum() and token[start] not in _LEAD_KEEP:
        start += 1
    while end > start and not token[end - 1].isalnum() and token[end - 1] not in _TRAIL_KEEP:
        end -= 1
    token = token[start:end]
    core = token.strip("".join(c for c in set(token) if not c.isalnum()))
    if not core or _REPEAT.search(core):
        return None
    if _PRICE.match(token):
        return token
    alnum = sum(c.isalnum() for c in token)
    return token if alnum * 2 >= len(token) else None


def clean_text(text: str) -> str:
    """Join words broken at line ends, drop junk tokens, fold whitespace; one line per text line."""
    text = _HYPHEN_BREAK.sub(r"\1", text)
    lines = []
    for line in text.splitlines():
        tokens = [t for t in (clean_token(t) for t in line.split()) if t]
        if tokens:
            lines.append(" ".join(tokens))
    return "\n".join(lines)


def keep_words(words: list[Word], min_conf: float) -> list[Word]:
    """The words at least this confident, cleaned; junk words go."""
    kept = []
    for word in words:
        text = clean_token(word.text) if word.conf >= min_conf else None
        if text:
            kept.append(replace(word, text=text))
    return kept


def lines_text(lines: list[list[Word]]) -> str:
    return clean_text("\n".join(" ".join(w.text for w in line) for line in lines))

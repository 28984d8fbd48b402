"""Several engines' readings of one ad -> one text, with what they both read kept once.

The first engine's lines come first, whole. A word of a later engine is a duplicate when it lies on a
word of an engine before it (their boxes overlap) and has the same letters and digits. What is left of a
later engine's line is added as a line of its own: words the earlier engines missed or read differently,
which is what a second engine is for. That includes words read apart where an earlier engine ran them
together ("RESERVE IN STORE" beside PP-OCR's "RESERVEINSTORE"): the spaced reading tells where the words
break, which a made-up brand name ("BrewhavenCoffee") needs. Every word keeps its box, so the result view
marks matches of either engine.
"""

from __future__ import annotations

from src.ocr.base import OcrResult, Reading, Word
from src.ocr.cleaning import lines_text

MIN_OVERLAP = 0.3  # of the smaller box: boxes of one word drawn by two engines differ at the edges


def merge(readings: list[Reading]) -> OcrResult:
    """readings: in the order of OCR_ENGINES (the first is trusted most)."""
    lines: list[list[Word]] = []
    kept: list[Word] = []
    for reading in readings:
        earlier = list(kept)
        for line in reading.lines:
            new = [word for word in line if not any(_same(word, other) for other in earlier)]
            if new:
                lines.append(new)
                kept += new
    errors = [f"{r.engine}: {r.error}" for r in readings if r.error]
    rotation = next((r.rotation for r in readings if r.rotation), 0)
    return OcrResult(lines_text(lines), kept, rotation, "; ".join(errors) or None,
                     tuple(r.engine for r in readings))


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _same(word: Word, other: Word) -> bool:
    mine, theirs = _letters(word.text), _letters(other.text)
    if not mine or mine != theirs:
        return False
    return _overlap(word, other) >= MIN_OVERLAP


def _overlap(a: Word, b: Word) -> float:
    width = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    height = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / max(1, min(a.width * a.height, b.width * b.height))

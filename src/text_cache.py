"""The OCR cache in dataset_text/: `<image path>.txt` (the merged text, for people and grep) and
`<image path>.json` (each engine's reading with its word boxes, and the merged text and words), reused
while the image is unchanged.

Readings are kept per engine key (the engine's name and a digest of its settings): changing OCR_ENGINES
re-reads only with the engines whose readings are missing, and switching back costs nothing. An entry
that cannot be understood (hand-edited, truncated, written by another version) counts as missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from src.atomic import write_atomically
from src.ocr import OcrResult, Reading, Word

FORMAT = 2  # 1: one tesseract reading per file (before engines were kept apart)
_WORD_FIELDS = {f.name: f.type for f in fields(Word)}


class TextCache:
    def __init__(self, text_dir: Path, langs: str):
        self.text_dir = Path(text_dir)
        self.langs = langs

    def _paths(self, rel_path: str) -> tuple[Path, Path]:
        base = self.text_dir / rel_path
        return base.with_name(base.name + ".txt"), base.with_name(base.name + ".json")

    def readings(self, rel_path: str, sha256: str) -> dict[str, Reading]:
        """Engine key -> its cached reading of this content; {} when missing, stale or unreadable."""
        meta = self._meta(rel_path, sha256)
        found = {}
        for key, entry in (meta or {}).get("readings", {}).items():
            reading = _reading(key, entry)
            if reading is not None:
                found[key] = reading
        return found

    def result(self, rel_path: str, sha256: str) -> OcrResult | None:
        """The merged text and words last written for this content (what the result view marks)."""
        meta = self._meta(rel_path, sha256)
        if meta is None:
            return None
        words = _words(meta.get("words"))
        text, engines = meta.get("text"), meta.get("engines")
        if words is None or not isinstance(text, str) or not isinstance(engines, list) or not _strings(engines):
            return None
        return OcrResult(text, words, _int(meta.get("rotation")), _text_or_none(meta.get("error")), tuple(engines))

    def put(self, rel_path: str, sha256: str, readings: Iterable[Reading], result: OcrResult) -> None:
        """Store new readings beside the cached ones of other engines, and the merged result."""
        text_path, meta_path = self._paths(rel_path)
        kept = {key: _entry(r) for key, r in self.readings(rel_path, sha256).items()}
        kept |= {r.engine: _entry(r) for r in readings}
        meta = {
            "format": FORMAT,
            "sha256": sha256,
            "readings": kept,
            "engines": list(result.engines),
            "text": result.text,
            "rotation": result.rotation,
            "error": result.error,
            "words": [asdict(w) for w in result.words],
        }
        # JSON last: a run killed between the two files leaves a cache entry that is simply redone.
        write_atomically(text_path, (result.text + ("\n" if result.text else "")).encode())
        write_atomically(meta_path, json.dumps(meta, ensure_ascii=False).encode())

    def _meta(self, rel_path: str, sha256: str) -> dict[str, Any] | None:
        _, meta_path = self._paths(rel_path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("sha256") != sha256:
            return None
        if not isinstance(meta.get("readings", {}), dict):
            return None
        return meta

    def remove(self, rel_path: str) -> None:
        for path in self._paths(rel_path):
            path.unlink(missing_ok=True)

    def remove_except(self, rel_paths: set[str]) -> int:
        """Delete cache files of images no longer in the folder; returns how many images' files went."""
        removed = 0
        if not self.text_dir.is_dir():
            return 0
        for meta_path in self.text_dir.rglob("*.json"):
            rel = meta_path.relative_to(self.text_dir).as_posix()[: -len(".json")]
            if rel not in rel_paths:
                self.remove(rel)
                removed += 1
        return removed


def _entry(reading: Reading) -> dict:
    return {"lines": [[asdict(w) for w in line] for line in reading.lines], "rotation": reading.rotation,
            "error": reading.error}


def _reading(key: str, entry: Any) -> Reading | None:
    """A cached reading, or None when any part of it is not what put() writes."""
    if not isinstance(entry, dict) or not isinstance(entry.get("lines"), list):
        return None
    lines = []
    for items in entry["lines"]:
        line = _words(items)
        if line is None:
            return None
        lines.append(line)
    return Reading(key, lines, _int(entry.get("rotation")), _text_or_none(entry.get("error")))


def _words(items: Any) -> list[Word] | None:
    if not isinstance(items, list):
        return None
    words = []
    for item in items:
        if not isinstance(item, dict) or set(item) - set(_WORD_FIELDS) or not isinstance(item.get("text"), str):
            return None
        try:
            word = Word(**item)
        except TypeError:
            return None
        numbers = (word.left, word.top, word.width, word.height, word.conf, word.rotation)
        if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
            return None
        if not isinstance(word.engine, str):
            return None
        words.append(word)
    return words


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value in (0, 90, 180, 270) else 0


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None

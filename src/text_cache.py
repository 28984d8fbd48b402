"""The OCR cache in dataset_text/: `<image path>.txt` (the cleaned text, for people and grep) and
`<image path>.json` (word boxes, and what the text was read from), reused while the image is unchanged."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from src.atomic import write_atomically
from src.ocr import CHOSEN, OcrResult, Word


def ocr_version(langs: str) -> str:
    """Changes when the languages or the OCR pipeline's settings change, so the cache is redone."""
    return hashlib.sha256(f"{langs}|{CHOSEN!r}".encode()).hexdigest()[:12]


class TextCache:
    def __init__(self, text_dir: Path, langs: str):
        self.text_dir = Path(text_dir)
        self.langs = langs
        self.version = ocr_version(langs)

    def _paths(self, rel_path: str) -> tuple[Path, Path]:
        base = self.text_dir / rel_path
        return base.with_name(base.name + ".txt"), base.with_name(base.name + ".json")

    def get(self, rel_path: str, sha256: str) -> OcrResult | None:
        """The cached reading of this content, or None if missing, stale or unreadable."""
        _, meta_path = self._paths(rel_path)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("sha256") != sha256 or meta.get("ocr_version") != self.version:
                return None
            words = [Word(**w) for w in meta["words"]]
            return OcrResult(meta["text"], words, meta.get("rotation", 0), meta.get("error"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, rel_path: str, sha256: str, result: OcrResult) -> None:
        text_path, meta_path = self._paths(rel_path)
        meta = {
            "sha256": sha256,
            "ocr_version": self.version,
            "langs": self.langs,
            "text": result.text,
            "rotation": result.rotation,
            "error": result.error,
            "words": [asdict(w) for w in result.words],
        }
        # JSON last: a run killed between the two files leaves a cache entry that is simply redone.
        write_atomically(text_path, (result.text + ("\n" if result.text else "")).encode())
        write_atomically(meta_path, json.dumps(meta, ensure_ascii=False).encode())

    def words(self, rel_path: str) -> list[Word]:
        """Word boxes for the result view, whatever the content (the caller knows it is current)."""
        _, meta_path = self._paths(rel_path)
        try:
            return [Word(**w) for w in json.loads(meta_path.read_text(encoding="utf-8"))["words"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

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


"""Taking an image out of the collection, and optionally off the disk."""

from __future__ import annotations

from pathlib import Path

from src.images import resolve_inside
from src.settings import Settings
from src.store import Store
from src.text_cache import TextCache


class NotIndexed(LookupError):
    """No point shows this path."""


def remove_image(settings: Settings, store: Store, path: str, delete_files: bool = False) -> list[str]:
    """Delete the point that shows `path`; with delete_files, also every file holding its content (the
    path and its copies) and their OCR cache. Without it the files stay, and the next `index` adds them
    back. Returns the files deleted."""
    hit = store.by_path(path)
    if hit is None:
        raise NotIndexed(path)
    store.delete([hit.id])
    if not delete_files:
        return []
    deleted = []
    cache = TextCache(settings.text_dir, settings.ocr_langs)
    for name in [hit.payload.get("path", path), *hit.payload.get("duplicates", [])]:
        file = resolve_inside(settings.dataset_dir, name)
        if file is not None:  # only files inside the dataset folder, whatever the payload says
            Path(file).unlink(missing_ok=True)
            cache.remove(name)
            deleted.append(name)
    return deleted

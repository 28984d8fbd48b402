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
            _remove_empty_folders(Path(file).parent, settings.dataset_dir)
            _remove_empty_folders((settings.text_dir / name).parent, settings.text_dir)
    return deleted


def _remove_empty_folders(folder: Path, root: Path) -> None:
    """The folders a deleted file leaves empty (an upload's month folder), up to root, which stays."""
    root = root.resolve()
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            return
        folder = folder.parent

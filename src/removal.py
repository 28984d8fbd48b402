"""Taking an image out of the collection, and optionally off the disk.

A file is deleted only when its bytes are proven to be the indexed content (its SHA-256 equals the
point's): a path or a copy recorded in the payload may since hold another picture, which is left alone
and reported. The steps are ordered so that a failure at any of them leaves the index and the folder in
step: the files are first renamed aside (which proves they can be deleted), then the point is deleted,
then the renamed files. A failure before the point is gone puts the files back; a process killed
between the steps leaves hidden `.<name>.removing` files that the next start or `index` finishes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from src.images import file_sha256, resolve_inside
from src.indexing import point_id
from src.settings import Settings
from src.store import Store, StoreUnavailable
from src.text_cache import TextCache

REMOVING = ".removing"  # suffix of a file renamed aside by a removal under way


class NotIndexed(LookupError):
    """No point shows this path."""


class RemovalError(OSError):
    """The files could not be deleted; nothing was changed. The message is meant for users."""


@dataclass
class Removal:
    deleted: list[str] = field(default_factory=list)  # files deleted, relative to the dataset folder
    kept: list[tuple[str, str]] = field(default_factory=list)  # (file, why it was left in place)


def remove_image(settings: Settings, store: Store, path: str, delete_files: bool = False) -> Removal:
    """Delete the point that shows `path`; with delete_files, also every file that still holds its
    content (the path and its copies) and their OCR cache. Without it the files stay, and the next
    `index` adds them back. Raises NotIndexed, RemovalError (nothing changed) or StoreUnavailable
    (nothing changed)."""
    hit = store.by_path(path)
    if hit is None:
        raise NotIndexed(path)
    done = Removal()
    if not delete_files:
        store.delete([hit.id])
        return done
    proven = _proven_files(settings, hit.payload, path, done)
    moved = _move_aside(proven)
    try:
        store.delete([hit.id])
    except StoreUnavailable as exc:
        _put_back(moved)
        raise StoreUnavailable(f"{exc}; nothing was removed") from None
    cache = TextCache(settings.text_dir, settings.ocr_langs)
    for name, file, aside in moved:
        aside.unlink(missing_ok=True)  # if this fails, the next start finishes it
        cache.remove(name)
        done.deleted.append(name)
        _remove_empty_folders(file.parent, settings.dataset_dir)
        _remove_empty_folders((settings.text_dir / name).parent, settings.text_dir)
    return done


def _proven_files(settings: Settings, payload: dict, path: str, done: Removal) -> list[tuple[str, Path]]:
    """The point's files that hold its content now; the others go into done.kept with the reason."""
    sha = payload.get("sha256")
    proven = []
    for name in dict.fromkeys([payload.get("path", path), *payload.get("duplicates", [])]):
        file = resolve_inside(settings.dataset_dir, name)  # only files inside the dataset folder
        if file is None:
            done.kept.append((name, "not found in the image folder"))
            continue
        try:
            same = sha is not None and file_sha256(file) == sha
        except OSError as exc:
            done.kept.append((name, f"cannot be read to check it: {exc.strerror or exc}"))
            continue
        if same:
            proven.append((name, file))
        else:
            done.kept.append((name, "it holds another picture than the one indexed; left in place "
                                    "(the next `index` adds it)"))
    return proven


def _aside(file: Path) -> Path:
    return file.with_name(f".{file.name}{REMOVING}")


def _move_aside(files: list[tuple[str, Path]]) -> list[tuple[str, Path, Path]]:
    """Rename each file to its hidden .removing name; on a failure put back those moved, and raise."""
    moved: list[tuple[str, Path, Path]] = []
    for name, file in files:
        try:
            os.rename(file, _aside(file))
        except OSError as exc:
            _put_back(moved)
            raise RemovalError(
                exc.errno, f"could not delete {name}: {exc.strerror or exc} (is the image folder read-only?); "
                "nothing was removed: the image stays indexed and its files stay"
            ) from None
        moved.append((name, file, _aside(file)))
    return moved


def _put_back(moved: list[tuple[str, Path, Path]]) -> None:
    for _, file, aside in reversed(moved):
        os.replace(aside, file)


def finish_interrupted(settings: Settings, store: Store) -> list[str]:
    """Finish removals a killed process left: a file renamed aside whose content is still indexed goes
    back, one whose content is gone is deleted. Returns what was done, in words."""
    done = []
    for aside in sorted(Path(settings.dataset_dir).rglob(f".*{REMOVING}")):
        original = aside.with_name(aside.name[1 : -len(REMOVING)])
        try:
            indexed = bool(store.paths_of([point_id(file_sha256(aside))]))
            if indexed and not original.exists():
                os.replace(aside, original)
                done.append(f"restored {original} (its removal was cut short)")
            elif not indexed:
                aside.unlink()
                done.append(f"deleted {original} (its removal was cut short)")
        except OSError as exc:
            done.append(f"could not finish the removal of {original}: {exc.strerror or exc}")
    return done


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

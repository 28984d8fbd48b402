"""Uploads: images sent through the page or the API, checked, saved into the dataset folder and indexed.

Nothing the client says is trusted: the format is sniffed from the content (the name and content type are
ignored), the pixel count is read from the header before anything is decoded, the image is decoded in full
before it is saved, and the client's name only suggests the new one. A saved upload is indexed through the
index step's ContentWriter and lies in the folder like any other image, so a later `index` finds it unchanged.

All or nothing: the file is written under a hidden temporary name (`.<name>.part`, which `index` skips),
indexed, and only then moved into place, so no visitor ever sees a saved file that is not indexed. A
process killed on the way leaves a `.part` file that the next start or `index` finishes (its point was
written) or removes (it was not): see finish_interrupted.
"""

from __future__ import annotations

import codecs
import hashlib
import math
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path, PurePosixPath

from src import images
from src.disk import disk_error, is_disk_error
from src.embedding import ClipEmbedder, ModelUnavailable
from src.images import ImageError, ImageFile, NotAnAcceptedFormat, decode_image, file_sha256
from src.indexing import ContentWriter, IndexReport, point_id, read_categories
from src.settings import Settings
from src.store import Store, StoreFull, StoreUnavailable
from src.text_reading import TextReader

MEGABYTE = 1024 * 1024
MAX_UPLOAD_BYTES = 20 * MEGABYTE
MAX_FILES_PER_UPLOAD = 20
UPLOADS_FOLDER = "uploads"  # inside the dataset folder, then one folder per month
MAX_STEM = 60
ADDED, DUPLICATE, REJECTED = "added", "duplicate", "rejected"
PART = ".part"  # an upload being written and indexed: `.<final name>.part` beside its final name

# One upload at a time per process: two uploads of the same content must not both pass the duplicate check.
_one_at_a_time = threading.Lock()


class UploadError(ValueError):
    """The upload as a whole cannot be taken (nothing was saved); the message is meant for users."""


@dataclass(frozen=True)
class UploadOutcome:
    name: str  # as the client sent it: escape it when showing it
    status: str  # ADDED, DUPLICATE or REJECTED
    message: str  # for users
    path: str | None = None  # relative to the dataset folder: the saved file, or the indexed one it repeats
    point_id: str | None = None


@dataclass(frozen=True)
class Checked:
    """A file that passed every check and may be saved."""

    name: str
    data: bytes
    format: str
    sha256: str

    @property
    def point_id(self) -> str:
        return point_id(self.sha256)


def add_images(
    files: list[tuple[str, bytes]],
    settings: Settings,
    embedder: ClipEmbedder | None,
    store: Store,
    reader: TextReader | None,
) -> list[UploadOutcome]:
    """Check, save and index uploaded (name, content) pairs; one outcome per file, in order.

    embedder: None when no model is loaded (the text is indexed alone); reader: None skips OCR.
    Raises UploadError for too many files or a collection these images cannot go into, and
    StoreUnavailable when the store cannot be read before anything is saved.
    """
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise UploadError(f"too many files: {len(files)}; at most {MAX_FILES_PER_UPLOAD} at a time")
    if embedder is None and reader is None:
        raise UploadError("uploads cannot be indexed: no image model is loaded and OCR is off")
    checked = [check_file(name, data) for name, data in files]  # outside the lock: decoding is the slow part
    if not any(isinstance(item, Checked) for item in checked):
        return [item for item in checked if isinstance(item, UploadOutcome)]  # every file was refused

    dataset = Path(settings.dataset_dir)
    with _one_at_a_time:
        _ready_collection(store, embedder)
        indexed = store.paths_of(list({item.point_id for item in checked if isinstance(item, Checked)}))
        folder = _uploads_folder(dataset)
        first: dict[str, Checked] = {}  # point id -> the file of this upload that brings the content
        saved: dict[str, ImageFile] = {}
        failed: dict[str, str] = {}  # point id -> why it was not added
        for item in checked:
            if isinstance(item, Checked) and item.point_id not in indexed and item.point_id not in first:
                first[item.point_id] = item
                try:
                    saved[item.point_id] = _save(dataset, _free_name(dataset, folder, item), item.data)
                except OSError as exc:
                    for file in saved.values():
                        file.abs_path.unlink(missing_ok=True)
                    if is_disk_error(exc):  # every file would fail alike: one message for the upload
                        raise disk_error(exc, "the upload", dataset / folder) from None
                    failed[item.point_id] = f"could not save it: {exc.strerror or exc}"
        hashes = {pid: first[pid].sha256 for pid in saved}
        not_written, notes = _index(saved, hashes, settings, embedder, store, reader)
        failed |= not_written
        saved = {pid: _move_into_place(dataset, file) for pid, file in saved.items() if pid not in failed}

    def outcome(item: Checked | UploadOutcome) -> UploadOutcome:
        if not isinstance(item, Checked):
            return item
        pid = item.point_id
        if pid in indexed:
            return UploadOutcome(item.name, DUPLICATE, f"already indexed as {indexed[pid]}", indexed[pid], pid)
        if pid in failed:
            return UploadOutcome(item.name, REJECTED, failed[pid])
        path = saved[pid].path
        if first[pid] is not item:
            message = f"the same image as {first[pid].name} earlier in this upload, added as {path}"
            return UploadOutcome(item.name, DUPLICATE, message, path, pid)
        note = f"; its text could not be read ({notes[pid]})" if pid in notes else ""
        return UploadOutcome(item.name, ADDED, f"added as {path}{note}", path, pid)

    return [outcome(item) for item in checked]


# -- checks ------------------------------------------------------------------------------------------
def check_file(name: str, data: bytes) -> Checked | UploadOutcome:
    """Size, then the one decoder (src/images.py: the accepted formats sniffed from the content, the
    pixel count from the header, then a full decode, so a truncated or corrupt file fails here, not later)."""

    def rejected(reason: str) -> UploadOutcome:
        return UploadOutcome(name, REJECTED, reason)

    if not data:
        return rejected(f"empty file; {_send_accepted()}, with its content")
    if len(data) > MAX_UPLOAD_BYTES:
        return rejected(f"too large: {_megabytes(len(data))}, the limit is {_megabytes(MAX_UPLOAD_BYTES)}")
    try:
        decoded = decode_image(BytesIO(data))
    except NotAnAcceptedFormat:
        return rejected(_not_accepted(data))
    except ImageError as exc:
        return rejected(str(exc))
    return Checked(name, data, decoded.format, hashlib.sha256(data).hexdigest())


def _not_accepted(data: bytes) -> str:
    """Why content no accepted reader recognises was refused, with what it seems to be where that helps."""
    accepted = images.accepted_formats()
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return f"not an image (it looks like a PDF document); {_send_accepted()}"
    if b"<svg" in head:
        return f"not a {accepted} image (it looks like an SVG drawing); export it as PNG first"
    if head.startswith(b"<!doctype html") or b"<html" in head:
        return f"not an image (it looks like an HTML page); {_send_accepted()}"
    if _is_text(data[:4096]):
        return f"not an image (it looks like text); {_send_accepted()}"
    return f"not a {accepted} image"


def _send_accepted() -> str:
    """The next step of a rejected upload."""
    return f"send the picture as a {images.accepted_formats()} file"


def _is_text(sample: bytes) -> bool:
    try:  # not final: the sample may end inside a character
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in sample


def _megabytes(size: int) -> str:
    # Rounded up, so a file just over the limit never reads as the limit itself.
    return f"{math.ceil(size * 10 / MEGABYTE) / 10:g} MB"


# -- the collection ----------------------------------------------------------------------------------
def _ready_collection(store: Store, embedder: ClipEmbedder | None) -> None:
    """Uploads go into the collection `index` made, or a new one; rebuilding one is the index step's call."""
    model, dim = (embedder.model_id, embedder.load().dim) if embedder else (None, None)
    state = store.state()
    if not state.exists:
        store.create(model, dim)
    elif embedder is None and state.has_images:
        raise UploadError(
            f"no image model is loaded and the collection holds image vectors of '{state.model}'; "
            "uploads work again once the model loads"
        )
    elif not state.matches(model, dim):
        raise UploadError(
            f"the collection does not fit the loaded model ({state.mismatch(model, dim)}); "
            "run `python main.py index` before uploading"
        )


# -- saving ------------------------------------------------------------------------------------------
def _uploads_folder(dataset: Path) -> str:
    """This month's uploads folder, relative to the dataset folder."""
    folder = f"{UPLOADS_FOLDER}/{datetime.now(UTC):%Y-%m}"
    # `index` skips files that resolve outside the dataset folder: saving them there would be for nothing.
    if not (dataset / folder).resolve().is_relative_to(dataset.resolve()):
        raise UploadError(f"{dataset / folder} leads outside the image folder; uploads cannot be saved there")
    return folder


def safe_stem(name: str) -> str:
    """The client's file name reduced to a safe stem: no folders, lowercase ASCII letters, digits, - and _,
    at most MAX_STEM characters; "image" when nothing is left."""
    stem = PurePosixPath(PurePosixPath(name.replace("\\", "/")).name).stem
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()  # café -> cafe
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", plain).strip("-")[:MAX_STEM].strip("-")
    return cleaned or "image"


def _free_name(dataset: Path, folder: str, item: Checked) -> str:
    """<folder>/<safe stem>-<hash>.<ext>, relative to the dataset folder. The hash keeps names of different
    content apart; it grows in the unlikely case that its first digits already name another file."""
    stem, ext = safe_stem(item.name), images.format_of(item.format).extensions[0].lstrip(".")
    for digits in (8, 16):
        rel = f"{folder}/{stem}-{item.sha256[:digits]}.{ext}"
        if not (dataset / rel).exists() or _holds(dataset / rel, item.sha256):
            return rel  # a file left unindexed by an older version holds these bytes: no second copy
    return f"{folder}/{stem}-{item.sha256}.{ext}"  # if it exists, it holds these very bytes: write them again


def _holds(path: Path, sha256: str) -> bool:
    try:
        return file_sha256(path) == sha256
    except OSError:
        return False


def _part_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{PART}")


def _save(dataset: Path, rel: str, data: bytes) -> ImageFile:
    """Write the upload under its temporary name; the ImageFile names the final path but reads the
    temporary file (size and mtime survive the move into place, so `index` finds it unchanged)."""
    part = _part_of(dataset / rel)
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(part, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # on disk before its point exists: a crash cannot index lost bytes
        part.chmod(0o644)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    stat = part.stat()
    return ImageFile(rel, part, stat.st_size, stat.st_mtime_ns)


def _move_into_place(dataset: Path, file: ImageFile) -> ImageFile:
    os.replace(file.abs_path, dataset / file.path)
    return ImageFile(file.path, dataset / file.path, file.size, file.mtime_ns)


def finish_interrupted(settings: Settings, store: Store) -> list[str]:
    """Finish or undo uploads a killed process left: a `.part` file whose point was written (under its
    final name) is moved into place; any other is removed. Returns what was done, in words."""
    dataset = Path(settings.dataset_dir)
    done = []
    with _one_at_a_time:  # never an upload this process is writing now
        for part in sorted((dataset / UPLOADS_FOLDER).rglob(f".*{PART}")):
            final = part.with_name(part.name[1 : -len(PART)])
            rel = final.relative_to(dataset).as_posix()
            try:
                pid = point_id(file_sha256(part))
                hit = store.by_path(rel)
                if hit is not None and hit.id == pid and not final.exists():
                    os.replace(part, final)
                    done.append(f"finished the upload of {rel} (cut short after it was indexed)")
                else:
                    part.unlink()
                    done.append(f"removed {part.relative_to(dataset).as_posix()} (an upload cut short)")
            except OSError as exc:
                done.append(f"could not clean up {part}: {exc.strerror or exc}")
    return done


# -- indexing ----------------------------------------------------------------------------------------
def _index(
    saved: dict[str, ImageFile],
    hashes: dict[str, str],
    settings: Settings,
    embedder: ClipEmbedder | None,
    store: Store,
    reader: TextReader | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Write the points of the saved files, as `index` would. A file whose point is not written is deleted,
    so the folder and the index stay in step. Returns point id -> why it was not written, and point id ->
    why the text of a written image could not be read."""
    report = IndexReport()
    writer = ContentWriter(embedder, store, reader, {pid: [file] for pid, file in saved.items()}, hashes,
                           read_categories(settings.dataset_dir), report)
    written: set[str] = set()
    failed: dict[str, str] = {}
    try:
        for batch in writer.write(list(saved), settings.batch_size):
            for pid, error in batch:
                if error is None:
                    written.add(pid)
                else:
                    failed[pid] = error
    except StoreFull:  # no file could go in: the upload fails whole, with the store's one message
        _undo(saved, written, store)
        raise
    except (StoreUnavailable, ModelUnavailable, RuntimeError, MemoryError) as exc:  # torch fails with RuntimeError
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        failed |= {pid: f"could not index it: {reason}" for pid in saved if pid not in written and pid not in failed}
    except OSError as exc:  # a full or read-only OCR cache: the upload fails whole, and says so once
        _undo(saved, written, store)
        if is_disk_error(exc):
            raise disk_error(exc, "the upload", exc.filename and Path(exc.filename).parent) from None
        raise
    _undo({pid: file for pid, file in saved.items() if pid not in written}, set(), store)
    ocr_trouble = {path: reason for path, reason in report.failed}
    failed |= {pid: "could not index it" for pid in saved if pid not in written and pid not in failed}
    return failed, {pid: ocr_trouble[saved[pid].path] for pid in written if saved[pid].path in ocr_trouble}


def _undo(saved: dict[str, ImageFile], written: set[str], store: Store) -> None:
    """Take back an upload that cannot be completed: its points, then its temporary files."""
    if written:
        try:
            store.delete(list(written))
        except StoreUnavailable:
            pass  # its .part files stay: the next start removes them (or finishes them, points and all)
        else:
            written = set()
    for pid, file in saved.items():
        if pid not in written:
            file.abs_path.unlink(missing_ok=True)

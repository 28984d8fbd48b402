"""The index step: bring the Qdrant collection in line with the image folder.

Reads top to bottom: walk the folder, work out the content id of every file (re-hashing only files whose
size or mtime changed), embed and upsert content the store lacks, then update file lists and delete
content that is gone. Every batch is written before the next starts, so a killed run loses nothing
already written and the next run carries on where it stopped.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from src.embedding import ClipEmbedder
from src.images import DecodedImage, ImageError, ImageFile, decode_image, file_sha256, find_images
from src.store import Point, Store


@dataclass
class IndexReport:
    indexed: int = 0  # new content embedded and written
    unchanged: int = 0
    updated: int = 0  # known content whose files were renamed, copied or touched
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    rebuilt_because: str | None = None
    seconds: float = 0.0
    embedding_seconds: float = 0.0  # decode + embed + write of new content, for the images/s figure

    def summary(self) -> str:
        rate = f" ({self.indexed / self.embedding_seconds:.1f} images/s)" if self.indexed and self.embedding_seconds else ""
        parts = [f"indexed {self.indexed}", f"unchanged {self.unchanged}"]
        if self.updated:
            parts.append(f"updated {self.updated}")
        parts += [f"removed {self.removed}", f"failed {len(self.failed)}"]
        lines = [", ".join(parts) + f" in {self.seconds:.1f} s{rate}"]
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def point_id(sha256: str) -> str:
    """Same content, same point: the id is the first 128 bits of the content hash."""
    return str(uuid.UUID(hex=sha256[:32]))


def index_folder(
    folder: Path,
    embedder: ClipEmbedder,
    store: Store,
    batch_size: int = 32,
    progress: bool = True,
    notify: Callable[[str], None] = print,
) -> IndexReport:
    started = time.perf_counter()
    report = IndexReport()
    files, skipped = find_images(folder)
    report.failed += [(s.path, s.reason) for s in skipped]

    embedder.load()
    state = store.state()
    if state.matches(embedder.model_id, embedder.dim):
        stored = store.file_records()
    else:
        if state.exists:
            report.rebuilt_because = state.mismatch(embedder.model_id, embedder.dim)
            notify(f"Rebuilding collection '{store.collection}': {report.rebuilt_because}.")
        store.create(embedder.model_id, embedder.dim)
        stored = {}

    # 1. Which content is on disk now, and which files show it.
    contents, hashes = _contents_on_disk(files, stored, report)

    # 2. Embed and write content the store does not have yet, batch by batch.
    new_ids = [pid for pid in contents if pid not in stored]
    embedding_started = time.perf_counter()
    with tqdm(total=len(new_ids), unit="img", desc="embedding", disable=not progress, leave=False) as bar:
        for batch in _decoded_batches(new_ids, contents, batch_size, embedder.input_size):
            good = [(pid, decoded) for pid, decoded in batch if isinstance(decoded, DecodedImage)]
            for pid, error in batch:
                if isinstance(error, ImageError):
                    report.failed.append((contents[pid][0].path, str(error)))
            if good:
                vectors = embedder.embed_images([decoded.image for _, decoded in good])
                store.upsert(
                    [
                        Point(pid, vector.tolist(), _content_payload(decoded, hashes[pid]) | _file_payload(contents[pid]))
                        for (pid, decoded), vector in zip(good, vectors)
                    ]
                )
                report.indexed += len(good)
            bar.update(len(batch))
    report.embedding_seconds = time.perf_counter() - embedding_started

    # 3. Known content: keep its file list in step with the folder.
    for pid, record in stored.items():
        if pid not in contents:
            continue
        wanted = _file_payload(contents[pid], keep_first=record.get("path"))
        if any(record.get(key) != wanted[key] for key in ("path", "duplicates", "bytes", "mtime_ns")):
            store.update_payload(pid, wanted)
            report.updated += 1
        else:
            report.unchanged += 1

    # 4. Last, so that an interrupted run never deletes what it has not replaced yet.
    gone = [pid for pid in stored if pid not in contents]
    store.delete(gone)
    report.removed = len(gone)
    report.seconds = time.perf_counter() - started
    return report


def _contents_on_disk(
    files: list[ImageFile], stored: dict[str, dict], report: IndexReport
) -> tuple[dict[str, list[ImageFile]], dict[str, str]]:
    """point id -> files with that content (sorted), and point id -> sha256 for newly hashed files.

    A file whose path, size and mtime match what the store recorded keeps its id without being read.
    """
    known = {(r.get("path"), r.get("bytes"), r.get("mtime_ns")): pid for pid, r in stored.items()}
    contents: dict[str, list[ImageFile]] = {}
    hashes: dict[str, str] = {}
    for f in files:
        pid = known.get((f.path, f.size, f.mtime_ns))
        if pid is None:
            try:
                sha = file_sha256(f.abs_path)
            except OSError as exc:
                report.failed.append((f.path, f"cannot read: {exc.strerror or exc}"))
                continue
            pid = point_id(sha)
            hashes[pid] = sha
        contents.setdefault(pid, []).append(f)
    return contents, hashes


def _decoded_batches(
    ids: list[str], contents: dict[str, list[ImageFile]], batch_size: int, min_side: int
) -> Iterator[list[tuple[str, DecodedImage | ImageError]]]:
    """Batches of decoded images; the next batch decodes in threads while the caller embeds this one."""

    def decode(pid: str) -> DecodedImage:
        return decode_image(contents[pid][0].abs_path, min_side=min_side)

    def outcome(future: Future) -> DecodedImage | ImageError:
        try:
            return future.result()
        except ImageError as exc:
            return exc

    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = [pool.submit(decode, pid) for pid in batches[0]] if batches else []
        for number, batch in enumerate(batches):
            current = pending
            if number + 1 < len(batches):
                pending = [pool.submit(decode, pid) for pid in batches[number + 1]]
            yield [(pid, outcome(future)) for pid, future in zip(batch, current)]


def _content_payload(decoded: DecodedImage, sha256: str) -> dict:
    """What is true of the content whatever file holds it."""
    return {"sha256": sha256, "width": decoded.width, "height": decoded.height, "format": decoded.format}


def _file_payload(files: list[ImageFile], keep_first: str | None = None) -> dict:
    """What describes the files holding the content. The path shown is the one shown before, while
    it still holds the content (a new copy must not take over); otherwise the first by name."""
    first = next((f for f in files if f.path == keep_first), files[0])
    return {
        "path": first.path,
        "folder": first.path.rpartition("/")[0],
        "duplicates": [f.path for f in files if f is not first],
        "bytes": first.size,
        "mtime_ns": first.mtime_ns,
        "mtime": datetime.fromtimestamp(first.mtime_ns / 1e9, timezone.utc).isoformat(timespec="seconds"),
    }

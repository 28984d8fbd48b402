"""The index step: bring the Qdrant collection in line with the image folder.

Reads top to bottom: walk the folder, work out the content id of every file (re-hashing only files whose
size or mtime changed), embed and OCR content the store lacks and upsert it with its three vectors
(image, text, bm25) through ContentWriter, which uploads (src/uploads.py) write through too, then update
file lists, delete content that is gone, and let the store build its search index. Every batch is
written before the next starts, so a killed run loses nothing already written and the next run carries
on where it stopped.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from src.appearance import appearance, dominant_colour
from src.embedding import ClipEmbedder, ModelUnavailable
from src.images import DecodedImage, ImageError, ImageFile, decode_image, file_sha256, find_images
from src.labels import label_column
from src.ocr import OcrError
from src.store import BM25_VECTOR, IMAGE_VECTOR, TEXT_VECTOR, Point, SparseVector, Store, StoreUnavailable, Vectors
from src.terms import VERSION as TERMS_VERSION
from src.terms import document_vector
from src.text_reading import Pending, TextReader

# Without a model the image is decoded only for its size and format: a small decode will do.
TEXT_ONLY_DECODE_SIDE = 224
# Points whose BM25 vectors are rewritten per store call when the term rules change (no model, no OCR).
REWEIGH_BATCH = 256


@dataclass
class IndexReport:
    indexed: int = 0  # new content embedded and written
    unchanged: int = 0
    updated: int = 0  # known content whose files were renamed, copied or touched
    reread: int = 0  # known content whose text was read again
    reweighed: int = 0  # known content whose BM25 vector was made again by today's term rules
    described: int = 0  # known content given the looks it was indexed without (orientation, size, colour)
    colour_decoded: int = 0  # of those, decoded again for their colour
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[str] = field(default_factory=list)  # e.g. rows of labels.csv that could not be used
    rebuilt_because: str | None = None
    seconds: float = 0.0
    embedding_seconds: float = 0.0  # decode + embed + write of new content, for the images/s figure
    index_seconds: float | None = None  # building the search graphs, when it was needed

    def summary(self) -> str:
        timed = self.indexed and self.embedding_seconds
        rate = f" ({self.indexed / self.embedding_seconds:.1f} images/s)" if timed else ""
        parts = [f"indexed {self.indexed}", f"unchanged {self.unchanged}"]
        if self.updated:
            parts.append(f"updated {self.updated}")
        if self.reread:
            parts.append(f"text re-read {self.reread}")
        if self.reweighed:
            parts.append(f"search terms rewritten {self.reweighed}")
        if self.described:
            parts.append(f"orientation, size and colour added to {self.described} (colour decoded from "
                         f"{self.colour_decoded} files, nothing re-embedded)")
        parts += [f"removed {self.removed}", f"failed {len(self.failed)}"]
        built = f", search index built in {self.index_seconds:.1f} s" if self.index_seconds is not None else ""
        lines = [", ".join(parts) + f" in {self.seconds:.1f} s{rate}{built}"]
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def point_id(sha256: str) -> str:
    """Same content, same point: the id is the first 128 bits of the content hash."""
    return str(uuid.UUID(hex=sha256[:32]))


def index_folder(
    folder: Path,
    embedder: ClipEmbedder | None,
    store: Store,
    batch_size: int = 32,
    progress: bool = True,
    notify: Callable[[str], None] = print,
    reader: TextReader | None = None,
) -> IndexReport:
    """reader: OCR for the text channels; None skips OCR (and keeps text read by earlier runs).
    embedder: None when no CLIP model can be loaded: the text is indexed alone (BM25), and the next run
    with a model rebuilds the collection with image vectors, taking the text from the OCR cache."""
    started = time.perf_counter()
    report = IndexReport()
    files, skipped = find_images(folder)
    report.failed += [(s.path, s.reason) for s in skipped]
    categories = read_categories(folder, report.warnings)

    if embedder is None and reader is None:
        raise ValueError("nothing to index with: no image model and no OCR")
    model, dim = (embedder.model_id, embedder.load().dim) if embedder else (None, None)
    state = store.state()
    if embedder is None and state.has_images:
        # A model that fails to load today must not cost the image vectors made with it yesterday.
        raise ModelUnavailable(
            f"the collection holds image vectors of '{state.model}' but no model could be loaded; "
            "fix CLIP_MODEL and index again (nothing was changed)"
        )
    if state.matches(model, dim):
        store.ensure_indexes()  # fields indexed since the collection was made (the filters' keywords)
        stored = store.file_records()
    else:
        if state.exists:
            report.rebuilt_because = state.mismatch(model, dim)
            notify(f"Rebuilding collection '{store.collection}': {report.rebuilt_because}.")
        store.create(model, dim)
        stored = {}

    # 1. Which content is on disk now, and which files show it.
    contents, hashes = _contents_on_disk(files, stored, report)
    hashes |= {pid: record["sha256"] for pid, record in stored.items() if "sha256" in record}
    writer = ContentWriter(embedder, store, reader, contents, hashes, categories, report)

    # 2. Embed and write content the store does not have yet, batch by batch. OCR runs ahead in
    #    worker processes while the images embed here.
    new_ids = [pid for pid in contents if pid not in stored]
    stale_text = [pid for pid in contents if pid in stored and reader and stored[pid].get("ocr") != reader.version]
    # Images whose text the OCR cache holds cost the model alone, the others OCR too, about ten times as
    # much, and more for large ads full of text; folders group ads alike. The ones to read go in an order
    # of their own (seeded: the same folder, the same order) and the cached are spread evenly among them,
    # so every stretch of the run goes at the run's own rate and the bar's ETA holds.
    new_ids = progress_order(*writer.split_by_reading(new_ids))
    writer.read_text_ahead(new_ids + stale_text)  # the workers read in this order
    embedding_started = time.perf_counter()
    with Progress(total=len(new_ids), unit="img", desc="indexing", disable=not progress, leave=False) as bar:
        read = writer.read_through(new_ids)
        for batch in writer.write(new_ids, batch_size):
            bar.update(len(batch), worked=next(read))
    report.embedding_seconds = time.perf_counter() - embedding_started

    # 3. Known content: text read afresh (the OCR settings changed, or it was indexed without OCR).
    for number in range(0, len(stale_text), batch_size):
        for pid, (vectors, payload) in writer.text_of(stale_text[number : number + batch_size]).items():
            if payload["ocr"] is not None:  # a failed re-read keeps the old text; it is reported and retried
                store.update_text(pid, vectors, payload)
    report.reread = len(stale_text)

    # 3b. Known content whose BM25 vector older term rules made (src/terms.py's VERSION): made again from
    #     the text it holds, no OCR, its other vectors kept. A failed re-read above is retried first.
    stale_terms = [pid for pid in contents if pid in stored and pid not in stale_text
                   and stored[pid].get("terms") != TERMS_VERSION]
    for number in range(0, len(stale_terms), REWEIGH_BATCH):
        texts = store.texts_of(stale_terms[number : number + REWEIGH_BATCH])
        store.update_words({pid: SparseVector(*document_vector(text)) if text else None for pid, text in texts.items()},
                           {"terms": TERMS_VERSION})
        report.reweighed += len(texts)

    # 3c. Known content indexed before its looks were (orientation, size, colour): added to its payload,
    #     no vectors made. Orientation and size come from the stored width and height; the colour needs a
    #     decode of the file, for those points only.
    _add_looks(store, stored, contents, batch_size, writer.decode_side, report)

    # 4. Known content: keep its file list in step with the folder.
    for pid, record in stored.items():
        if pid not in contents:
            continue
        wanted = _file_payload(contents[pid], categories, keep_first=record.get("path"))
        if any(record.get(key) != value for key, value in wanted.items() if key != "mtime"):
            store.update_payload(pid, wanted)
            report.updated += 1
        else:
            report.unchanged += 1

    # 5. Last, so that an interrupted run never deletes what it has not replaced yet.
    gone = [pid for pid in stored if pid not in contents]
    store.delete(gone)
    report.removed = len(gone)
    if reader:  # text is cached under the file it was read from: the first of each content's files
        reader.cache.remove_except({files[0].path for files in contents.values()})

    # 6. Make searches fast at any size: the embedded engine builds its HNSW graphs (searches go on).
    started_index = time.perf_counter()
    if store.build_index(notify):
        report.index_seconds = time.perf_counter() - started_index
    report.seconds = time.perf_counter() - started
    return report


class ContentWriter:
    """Turns content the store lacks into points and writes them: decode in threads, embed the images,
    take the text from the OCR reader, build the payloads, upsert, report what failed. The index step and
    uploads both write through it, so an image is indexed one way whichever way it arrived.

    contents: point id -> the files that hold it (the first is read); hashes: point id -> its SHA-256.
    """

    def __init__(
        self,
        embedder: ClipEmbedder | None,
        store: Store,
        reader: TextReader | None,
        contents: dict[str, list[ImageFile]],
        hashes: dict[str, str],
        categories: dict[str, str],
        report: IndexReport,
    ):
        self.embedder, self.store, self.reader = embedder, store, reader
        self.contents, self.hashes, self.categories, self.report = contents, hashes, categories, report
        self._pending: dict[str, Pending] = {}  # point id -> its OCR, from the cache or under way in a worker

    @property
    def decode_side(self) -> int:
        """The shorter side images are decoded at: what the model sees (the colour is read from it too)."""
        return self.embedder.input_size if self.embedder else TEXT_ONLY_DECODE_SIDE

    def read_text_ahead(self, pids: list[str]) -> None:
        """Start OCR of these contents in the worker processes, so it overlaps with embedding."""
        if self.reader is None:
            return
        for pid in pids:
            if pid not in self._pending:
                first = self.contents[pid][0]
                self._pending[pid] = self.reader.submit(first.path, first.abs_path, self.hashes[pid])

    def split_by_reading(self, pids: list[str]) -> tuple[list[str], list[str]]:
        """(those the OCR must read, those whose text the cache holds from every engine), each in the
        order given; nothing is submitted yet."""
        if self.reader is None:
            return [], list(pids)
        keys = set(self.reader.keys)
        ready = {pid for pid in pids if pid not in self._pending
                 and keys <= set(self.reader.cache.readings(self.contents[pid][0].path, self.hashes[pid]))}
        ready |= {pid for pid in pids if pid in self._pending and self._pending[pid].future is None}
        return [pid for pid in pids if pid not in ready], [pid for pid in pids if pid in ready]

    def read_through(self, pids: list[str]) -> Iterator[int]:
        """Each time it is asked: how far into pids the OCR workers have got, as the count of pids up to
        the last one they have read with every one before it read or cached (0 when none was to read).
        The workers run ahead of the embedding, and their work is most of the run's."""
        through = scanned = 0
        while True:
            while scanned < len(pids):
                pending = self._pending.get(pids[scanned]) if self.reader else None
                if pending is not None and pending.future is not None:
                    if not pending.future.done():
                        break
                    through = scanned + 1  # the cached ones before it count from here on
                scanned += 1
            yield through

    def write(self, pids: list[str], batch_size: int) -> Iterator[list[tuple[str, str | None]]]:
        """Index new contents batch by batch; yields each batch once written, as (point id, why it failed
        or None). A failure to decode is reported and skips the image; a failed OCR is reported and the
        image indexed without text. Store and model errors propagate: earlier batches stay written."""
        self.read_text_ahead(pids)
        for batch in _decoded_batches(pids, self.contents, batch_size, self.decode_side):
            good = [(pid, decoded) for pid, decoded in batch if isinstance(decoded, DecodedImage)]
            for pid, error in batch:
                if isinstance(error, ImageError):  # every file with this content: each is one a user may look for
                    self.report.failed += [(f.path, str(error)) for f in self.contents[pid]]
            if good:
                self.store.upsert(self._points(good))
                self.report.indexed += len(good)
            yield [(pid, str(outcome) if isinstance(outcome, ImageError) else None) for pid, outcome in batch]

    def _points(self, decoded: list[tuple[str, DecodedImage]]) -> list[Point]:
        if self.embedder:
            images = [Vectors(image=v.tolist()) for v in self.embedder.embed_images([d.image for _, d in decoded])]
        else:
            images = [Vectors() for _ in decoded]
        texts = self.text_of([pid for pid, _ in decoded])
        return [
            Point(
                pid,
                vectors | texts[pid][0],
                _content_payload(image, self.hashes[pid])
                | _file_payload(self.contents[pid], self.categories)
                | texts[pid][1],
            )
            for (pid, image), vectors in zip(decoded, images)
        ]

    def text_of(self, pids: list[str]) -> dict[str, tuple[Vectors, dict]]:
        """pid -> (text vectors, text payload): the OCR text as vectors (BM25 terms, and CLIP's text tower
        when there is a model) and payload.

        An image whose OCR fails is reported and still indexed, with no text; the next run tries again.
        """
        self.read_text_ahead(pids)
        texts: dict[str, str] = {}
        payloads: dict[str, dict] = {}
        for pid in pids:
            text, made_by = "", None
            if self.reader is not None:
                try:
                    result = self.reader.result(self._pending[pid])
                    text, made_by = result.text, "+".join(result.engines)
                    if result.engines != self.reader.keys:  # an engine failed: the others' text, retried next run
                        self.report.failed.append((self.contents[pid][0].path, f"OCR: {result.error}"))
                except OcrError as exc:
                    self.report.failed.append((self.contents[pid][0].path, f"OCR: {exc}"))
            texts[pid] = text
            # "ocr": the engines (and their settings) that made the text; None: not read (yet). "terms": the
            # version of the term rules that made its BM25 vector.
            payloads[pid] = {"text": text, "has_text": bool(text), "ocr": made_by, "terms": TERMS_VERSION}
        with_text = [pid for pid in pids if texts[pid]]
        words = {pid: SparseVector(*document_vector(texts[pid])) for pid in with_text}
        dense: dict[str, list[float]] = {}
        if self.embedder and with_text:
            encoded = self.embedder.embed_texts([texts[pid] for pid in with_text])
            dense = {pid: vector.tolist() for pid, vector in zip(with_text, encoded)}
        return {pid: (Vectors(text=dense.get(pid), bm25=words.get(pid)), payloads[pid]) for pid in pids}


def progress_order(unread: list[str], ready: list[str]) -> list[str]:
    """The order new images are indexed in: those the OCR reads shuffled (seeded: the same folder, the
    same order), those whose text is cached spread evenly among them."""
    shuffled = list(unread)
    random.Random(0).shuffle(shuffled)
    return spread(shuffled, ready)


def spread(heavy: list[str], light: list[str]) -> list[str]:
    """heavy and light mixed evenly, each in its own order: after any k items, the share of heavy ones is
    within one item of their share of all. The OCR workers read the heavy ones in their order, so the
    embedding never waits on one queued behind the others when they are submitted in this order."""
    total = len(heavy) + len(light)
    mixed: list[str] = []
    taken = 0
    for position in range(1, total + 1):
        if taken * total < position * len(heavy):  # fewer heavy so far than their share of position items
            mixed.append(heavy[taken])
            taken += 1
        else:
            mixed.append(light[position - 1 - taken])
    return mixed


class Eta:
    """The seconds left of a run of items, from the rate since its first update: what comes before (the OCR
    workers starting, the models loading) says nothing of the rate after. Fed by the progress bar, and by
    tests with made-up timings."""

    def __init__(self, total: int):
        self.total = total
        self._first: tuple[int, float] | None = None  # (items done, time) at the first update
        self._last: tuple[int, float] | None = None

    def update(self, done: int, now: float) -> None:
        if self._first is None:
            self._first = (done, now)
        self._last = (done, now)

    @property
    def rate(self) -> float | None:
        """Items per second since the first update; None before two updates."""
        if self._first is None or self._last is None or self._last[1] <= self._first[1]:
            return None
        return (self._last[0] - self._first[0]) / (self._last[1] - self._first[1]) or None

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left, counted from now (default: the last update); None while the rate is unknown."""
        rate = self.rate
        if rate is None or self._last is None:
            return None
        since = 0.0 if now is None else max(0.0, now - self._last[1])
        return max(0.0, (self.total - self._last[0]) / rate - since)


class Progress(tqdm):
    """tqdm whose rate and ETA are Eta's: since the first batch was written, not an average over the last
    few updates (tqdm's), which swings with each batch's mix of images. An update can say how far the
    work has got beyond the images written (the OCR workers read ahead): the ETA counts from there."""

    # tqdm's own layout, but with Eta's time left: tqdm would count it from the images written.
    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{time_left}, {rate_fmt}{postfix}]"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("bar_format", self.BAR_FORMAT)
        super().__init__(*args, **kwargs)
        self.eta = Eta(self.total or 0)
        self.done = 0  # tqdm's own count stands still when the bar is disabled

    def update(self, n=1, worked: int = 0):
        self.done += n
        self.eta.update(max(self.done, min(worked, self.total or 0)), time.monotonic())
        return super().update(n)

    @property
    def format_dict(self):
        shown = super().format_dict
        eta = getattr(self, "eta", None)  # None while tqdm's own __init__ draws the bar the first time
        if eta is not None and eta.rate:
            shown["rate"] = eta.rate
        left = eta.remaining() if eta is not None else None
        shown["time_left"] = "?" if left is None else self.format_interval(left)
        return shown


def read_categories(folder: Path, problems: list[str] | None = None) -> dict[str, str]:
    """file -> category from the folder's labels.csv, when it has one; its problems go to `problems`."""
    return label_column(folder, "category", problems)


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
    return ({"sha256": sha256, "width": decoded.width, "height": decoded.height, "format": decoded.format}
            | appearance(decoded.width, decoded.height, decoded.image))


def _add_looks(store: Store, stored: dict[str, dict], contents: dict[str, list[ImageFile]], batch_size: int,
               decode_side: int, report: IndexReport) -> None:
    """Give known points the looks they were indexed without, by payload updates alone: orientation and
    size from their stored width and height, grouped so that points alike are one write; the colour from
    their file, decoded as a new image would be, batch by batch (a killed run keeps what it wrote)."""
    known = {pid: record for pid, record in stored.items() if pid in contents}
    sized: dict[tuple, list[str]] = {}
    for pid, record in known.items():
        if ("orientation" not in record or "size" not in record) and record.get("width") and record.get("height"):
            sized.setdefault(tuple(appearance(record["width"], record["height"]).items()), []).append(pid)
    for looks, pids in sized.items():
        for start in range(0, len(pids), REWEIGH_BATCH):
            store.update_payloads(pids[start:start + REWEIGH_BATCH], dict(looks))
    given = {pid for pids in sized.values() for pid in pids}
    uncoloured = [pid for pid, record in known.items() if "colour" not in record]
    for batch in _decoded_batches(uncoloured, contents, batch_size, decode_side):
        coloured: dict[str, list[str]] = {}
        for pid, decoded in batch:
            if isinstance(decoded, ImageError):  # it stays without a colour; the next run tries again
                report.failed.append((contents[pid][0].path, f"its colour could not be read: {decoded}"))
                continue
            coloured.setdefault(dominant_colour(decoded.image), []).append(pid)
        for colour, pids in coloured.items():
            store.update_payloads(pids, {"colour": colour})
            report.colour_decoded += len(pids)
            given.update(pids)
    report.described = len(given)


def _file_payload(files: list[ImageFile], categories: dict[str, str], keep_first: str | None = None) -> dict:
    """What describes the files holding the content. The path shown is the one shown before, while
    it still holds the content (a new copy must not take over); otherwise the first by name.
    The category comes from labels.csv, else the top folder."""
    first = next((f for f in files if f.path == keep_first), files[0])
    folder = first.path.rpartition("/")[0]
    return {
        "path": first.path,
        "folder": folder,
        "category": categories.get(first.path) or folder.partition("/")[0],
        "duplicates": [f.path for f in files if f is not first],
        "bytes": first.size,
        "mtime_ns": first.mtime_ns,
        "mtime": datetime.fromtimestamp(first.mtime_ns / 1e9, UTC).isoformat(timespec="seconds"),
    }


# -- index --check and --repair -----------------------------------------------------------------------
@dataclass
class StoreCheck:
    """What `index --check` found: the store against the folder."""

    points: int = 0
    missing_vectors: dict[str, set[str]] = field(default_factory=dict)  # point id -> vectors its layout lacks
    unindexed: list[str] = field(default_factory=list)  # files whose content has no point
    unreadable: str | None = None  # the store's files cannot be read: only a rebuild helps

    @property
    def healthy(self) -> bool:
        return not (self.missing_vectors or self.unindexed or self.unreadable)

    def summary(self) -> str:
        if self.unreadable:
            return f"the store is damaged: {self.unreadable}; run `python main.py index --repair` to rebuild it"
        lines = [f"checked {self.points} points: {len(self.missing_vectors)} lack vectors their layout has, "
                 f"{len(self.unindexed)} files have no point"]
        lines += [f"  {pid}: no {', '.join(sorted(names))} vector"
                  for pid, names in sorted(self.missing_vectors.items())]
        lines += [f"  {path}: not indexed" for path in self.unindexed]
        if not self.healthy:
            lines.append("run `python main.py index --repair` to rebuild what is missing")
        return "\n".join(lines)


def check_store(folder: Path, store: Store) -> StoreCheck:
    """Every point has the vectors its layout says (image vectors when the collection has a model, the
    text vectors when it has text), and every image file in the folder has its point."""
    check = StoreCheck()
    state = store.state()
    try:
        records = store.payloads(["has_text"])
        check.points = len(records)
        layouts = store.vector_layouts([record.id for record in records])  # in batches, not one call a point
        for record in records:
            wanted = {IMAGE_VECTOR} if state.has_images else set()
            if record.payload.get("has_text"):
                wanted |= {BM25_VECTOR} | ({TEXT_VECTOR} if state.has_images else set())
            if missing := wanted - layouts.get(record.id, set()):
                check.missing_vectors[record.id] = missing
        stored = store.file_records()
    except StoreUnavailable as exc:
        check.unreadable = str(exc)
        return check
    files, _ = find_images(folder)
    contents, _ = _contents_on_disk(files, stored, IndexReport())
    check.unindexed = sorted(f.path for pid, held in contents.items() if pid not in stored for f in held)
    return check


def repair_store(folder: Path, embedder: ClipEmbedder | None, store: Store, check: StoreCheck,
                 notify: Callable[[str], None] = print) -> list[str]:
    """Rebuild what check found missing, keeping what is intact: lost text vectors are made again from
    the text the point holds (no image is read), a point without its image vector is dropped so that the
    index step that follows embeds that image alone, and a store that cannot be read is recreated (the
    index step then embeds every image, taking the text from the OCR cache). Returns what was done."""
    done = []
    if check.unreadable:
        state = store.state()
        store.create(state.model, state.dim)
        done.append("recreated the collection: its files could not be read")
        return done
    dropped = [pid for pid, missing in check.missing_vectors.items() if IMAGE_VECTOR in missing]
    store.delete(dropped)
    if dropped:
        done.append(f"dropped {len(dropped)} points without their image vector, to be embedded again")
    texts = {r.id: r.payload.get("text", "") for r in store.points()
             if r.id in check.missing_vectors and r.id not in dropped}
    for pid, text in texts.items():
        dense = embedder.embed_texts([text])[0].tolist() if text and embedder is not None else None
        words = SparseVector(*document_vector(text)) if text else None
        store.update_text(pid, Vectors(text=dense, bm25=words),
                          {"text": text, "has_text": bool(text), "terms": TERMS_VERSION})
    if texts:
        done.append(f"rebuilt the text vectors of {len(texts)} points from their stored text")
    for line in done:
        notify(line)
    return done

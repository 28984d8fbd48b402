"""/EDA at 100k points: first build, cached page, memory, and searches while it builds, in one run.

    python benchmarks/eda_scale.py [--size 100000] [--searches 200] [--out FILE]

Builds a collection of `size` synthetic ads in the embedded store: clustered CLIP-like image vectors
(benchmarks/query_latency.py), and text and BM25 vectors for the ads with text. Every point names its own
file, a hard link to one of the bundled ads in dataset/ (so decoding reads real JPEG, PNG, WebP and GIF
files of real sizes), with that ad's category, size, format, brand (labels.csv) and text. Then:

1. image-vector searches alone, for the baseline latency;
2. the page built from nothing (EdaPages.page), alone: its time, each stage's time, and the growth of
   resident memory at its peak;
3. the page asked again: from memory (the store's write stamp is unchanged), p50 of 200;
4. the page rebuilt (refresh) while searches run, for the ratio of their latency to the baseline;
5. GET /EDA on the app started on the collection: the first answer (from the disk cache, after the
   fingerprint scroll) and the cached ones after it, p50.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.query_latency import LOAD_BATCH, clustered_unit_vectors, percentiles  # noqa: E402
from src import eda, eda_figures  # noqa: E402
from src.eda_page import EdaPages  # noqa: E402
from src.images import decode_image, image_extensions  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import FILE_FIELDS, Point, SparseVector, Vectors, open_store  # noqa: E402
from src.terms import document_vector  # noqa: E402

DIM = 512
MODEL = "bench-model"


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakMemory:
    """The highest resident memory seen while the block runs (sampled every 20 ms)."""

    def __enter__(self) -> PeakMemory:
        self.before = self.peak = rss_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def bundled_ads() -> list[dict]:
    """The bundled ads with what the index step stores about them (labels.csv gives brand and text)."""
    with open(ROOT / "dataset" / "labels.csv", newline="", encoding="utf-8") as handle:
        labels = {row["file"]: row for row in csv.DictReader(handle)}
    ads = []
    for path in sorted((ROOT / "dataset").rglob("*")):
        if path.suffix.lower() not in image_extensions():
            continue
        name = path.relative_to(ROOT / "dataset").as_posix()
        decoded = decode_image(path)
        row = labels.get(name, {})
        ads.append({"source": path, "suffix": path.suffix.lower(), "category": row.get("category") or path.parent.name,
                    "brand": row.get("brand", ""), "text": row.get("text", ""), "width": decoded.image.width,
                    "height": decoded.image.height, "bytes": path.stat().st_size, "format": decoded.format})
    return ads


def make_collection(settings: Settings, size: int) -> float:
    """The image folder (hard links) and its labels.csv, and the collection; returns the load's seconds."""
    ads = bundled_ads()
    rng = np.random.default_rng(0)
    folder = settings.dataset_dir
    rows = []
    started = time.perf_counter()
    with open_store(settings, build_in_background=False) as store:
        store.create(MODEL, DIM)
        for start in range(0, size, LOAD_BATCH):
            count = min(LOAD_BATCH, size - start)
            vectors = clustered_unit_vectors(rng, 2 * count)
            batch = []
            for i in range(count):
                number = start + i
                ad = ads[number % len(ads)]
                path = f"{ad['category']}/ad-{number:06d}{ad['suffix']}"
                (folder / ad["category"]).mkdir(parents=True, exist_ok=True)
                os.link(ad["source"], folder / path)
                rows.append({"file": path, "brand": ad["brand"], "category": ad["category"]})
                named = Vectors(image=vectors[i].tolist())
                if ad["text"]:
                    named |= Vectors(text=vectors[count + i].tolist(), bm25=SparseVector(*document_vector(ad["text"])))
                payload = {"path": path, "folder": ad["category"], "category": ad["category"], "text": ad["text"],
                           "has_text": bool(ad["text"]), "width": ad["width"], "height": ad["height"],
                           "bytes": ad["bytes"], "format": ad["format"], "duplicates": [],
                           "mtime_ns": number, "sha256": f"{number:064x}", "ocr": "bench"}
                batch.append(Point(f"00000000-0000-4000-8000-{number:012d}", named, payload))
            store.upsert(batch)
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "brand", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return time.perf_counter() - started


def searcher(store, queries: np.ndarray):
    def search(i: int) -> float:
        started = time.perf_counter()
        store.search(Vectors(image=queries[i % len(queries)].tolist()), limit=48)
        return time.perf_counter() - started
    return search


def stage_times(settings: Settings, store) -> dict[str, float]:
    """Where a build's time goes: collect()'s stages, then each figure drawn and written as SVG."""
    times: dict[str, float] = {}
    overview = eda.collect(settings, store, timings=times)
    for name, draw in eda_figures.FIGURES.items():
        started = time.perf_counter()
        figure = draw(overview)
        if figure is not None:
            eda_figures.to_svg(figure)
        times[f"figure {name}"] = time.perf_counter() - started
    return times


def read_as_before(store) -> int:
    """How the page read the points until the streamed scroll (src/eda.py's read_points): every payload
    into one list, then a row per point and a JSON line per point for the fingerprint."""
    records = store.payloads(eda.FIELDS)
    rows = [eda.ImageStats(p.get("path", ""), p.get("category") or "(none)", p.get("folder") or "(top)",
                           int(p.get("width") or 0), int(p.get("height") or 0), int(p.get("bytes") or 0),
                           p.get("format") or "unknown", bool(p.get("has_text"))) for _, p, _ in records]
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.id):
        digest.update(json.dumps([record.id, *(record.payload.get(f) for f in FILE_FIELDS)], default=str).encode())
    return len(rows)


def read_both_ways(store, rounds: int = 3) -> tuple[float, float]:
    """Seconds (median of rounds, taking turns) to read every point as before and as now."""
    before, now = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        read_as_before(store)
        before.append(time.perf_counter() - started)
        started = time.perf_counter()
        eda.read_points(store)
        now.append(time.perf_counter() - started)
    return statistics.median(before), statistics.median(now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "eda_scale.md")
    parser.add_argument("--keep", type=Path, help="make the collection in this folder, or reuse the one there")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    with contextlib.ExitStack() as cleanup:
        (ROOT / ".cache").mkdir(exist_ok=True)  # on the dataset's file system: the images are hard links
        work_dir = args.keep or Path(cleanup.enter_context(tempfile.TemporaryDirectory(dir=ROOT / ".cache")))
        settings = Settings.load(environ={}, dataset_dir=work_dir / "ads", qdrant_path=work_dir / "q",
                                 cache_dir=work_dir / "cache", collection="bench", clip_model=MODEL)
        shutil.rmtree(settings.cache_dir, ignore_errors=True)
        load_s = 0.0
        if not (settings.dataset_dir / "labels.csv").exists():
            shutil.rmtree(work_dir, ignore_errors=True)
            settings.dataset_dir.mkdir(parents=True)
            load_s = make_collection(settings, args.size)
        made = f"made in {load_s:.0f} s" if load_s else f"made by an earlier run (--keep {work_dir})"
        say(f"# /EDA at {args.size:,} points (benchmarks/eda_scale.py)")
        say()
        say(f"One run, embedded store, {args.size:,} synthetic ads (512-d clustered image vectors, the bundled ads' "
            f"files hard-linked, sizes, brands and texts) {made}. Samples: at most "
            f"{eda.IMAGE_SAMPLE:,} images decoded, {eda.TEXT_SAMPLE:,} texts, {eda.VECTOR_SAMPLE:,} vectors.")
        say()
        queries = clustered_unit_vectors(np.random.default_rng(8), 50)
        with open_store(settings, build_in_background=False) as store:
            search = searcher(store, queries)
            for i in range(10):
                search(i)  # warm-up
            alone = [search(i) for i in range(args.searches // 2)]

            pages = EdaPages()
            load_before = os.getloadavg()[0]
            with PeakMemory() as memory:
                started, cpu = time.perf_counter(), time.process_time()
                first = pages.page(settings, store)
                first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu
            cached = []
            for _ in range(200):
                started = time.perf_counter()
                again = pages.page(settings, store)
                cached.append(time.perf_counter() - started)
            assert again.source == "memory", again.source

            during: list[float] = []
            rebuild: dict[str, float] = {}

            def build() -> None:
                started = time.perf_counter()
                pages.page(settings, store, refresh=True)
                rebuild["s"] = time.perf_counter() - started

            builder = threading.Thread(target=build)
            builder.start()
            n = 0
            while builder.is_alive():
                during.append(search(n))
                n += 1
            builder.join()
            alone += [search(i) for i in range(args.searches - args.searches // 2)]  # before and after: the
            # machine's other load changes over a run
            stages = stage_times(settings, store)
            read_before, read_now = read_both_ways(store)

        from fastapi.testclient import TestClient

        from src.web import create_app

        with TestClient(create_app(settings)) as client:
            started = time.perf_counter()
            response = client.get("/EDA")
            http_first = time.perf_counter() - started
            assert response.status_code == 200 and "From the cache" in response.text, response.text[:300]
            http_cached = []
            for _ in range(50):
                started = time.perf_counter()
                client.get("/EDA")
                http_cached.append(time.perf_counter() - started)
        page_kb = len(response.content) / 1024

    alone_p50, during_p50 = percentiles(alone)[0], percentiles(during)[0]
    say("| figure | value | target |")
    say("|---|---|---|")
    say(f"| first build (EdaPages.page, nothing cached) | {first_s:.1f} s ({first_cpu:.1f} s of CPU in all threads; "
        f"load average {load_before:.1f} on {os.cpu_count()} cores before it) | < 15 s |")
    say(f"| cached page (EdaPages.page, p50 of 200) | {statistics.median(cached) * 1000:.3f} ms | < 50 ms |")
    say(f"| GET /EDA, cached (p50 of 50, {page_kb:,.0f} KB of HTML) | {statistics.median(http_cached) * 1000:.1f} ms "
        f"| < 50 ms |")
    say(f"| GET /EDA after a restart (fingerprint scroll, page from the disk cache) | {http_first:.2f} s | - |")
    say(f"| resident memory growth at the build's peak | +{memory.peak - memory.before:.0f} MiB "
        f"({memory.before:.0f} -> {memory.peak:.0f}) | bounded |")
    say(f"| image search p50 while the page rebuilds / alone | {during_p50:.2f} / {alone_p50:.2f} ms = "
        f"{during_p50 / alone_p50:.2f}x ({len(during)} searches during a {rebuild['s']:.1f} s rebuild) | ~1x |")
    say()
    say("Where a build's time goes (a separate build, stage by stage):")
    say()
    say("| stage | s |")
    say("|---|---|")
    for name, seconds in stages.items():
        say(f"| {name} | {seconds:.2f} |")
    say(f"| total | {sum(stages.values()):.2f} |")
    say()
    say(f"Reading every point's payload fields, median of 3 taking turns: as before (one list of every "
        f"payload, then the rows and the fingerprint's JSON lines) {read_before:.2f} s, streamed page by page "
        f"into the rows (eda.read_points) {read_now:.2f} s: {read_before / read_now:.1f}x faster.")
    say()
    say(f"The page says which figures are sampled: {'; '.join(first.summary['notes'].values())}")
    if args.size >= 100_000:
        args.out.write_text("\n".join(lines) + "\n")
        print(f"\nresults written to {args.out}")


if __name__ == "__main__":
    main()

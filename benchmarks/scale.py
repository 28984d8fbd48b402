"""A million ads on one machine: bulk load, graph build, memory of the serving app, store and end-to-end
latency, in one run (`make bench-scale`).

    python benchmarks/scale.py [--size 1000000] [--queries 200] [--model DIR] [--out FILE]

One collection made as the app makes it for a large folder (QDRANT_QUANTIZATION=scalar: int8 copies in
RAM, searched first; QDRANT_ON_DISK=true: the float32 originals on disk, read to rescore), filled with
the synthetic ads of benchmarks/query_latency.py (clustered 512-d image and text vectors, Zipf words).
The load is timed in the store alone (the points are made batch by batch outside the clock) and
checkpointed every tenth, so that what grows first shows; the graphs are built in this process, as
`main.py index` builds them. Then the app is started on the collection (`main.py serve`) and the
resident memory of its process is read after the same hybrid queries went through GET /api/search.
The results file is rewritten after each step, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.query_latency import (  # noqa: E402
    DIM,
    PAGE_LIMIT,
    clustered_unit_vectors,
    end_to_end,
    load_average,
    percentiles,
    store_queries,
    synthetic_points,
    timed,
    words,
)
from benchmarks.run_all import cpu_description  # noqa: E402
from src.embedding import ClipEmbedder  # noqa: E402
from src.runtime import configure  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import SparseVector, Vectors, open_store  # noqa: E402
from src.terms import query_vector  # noqa: E402
from tools.random_clip import given_or_full_size  # noqa: E402

TARGETS = {"load_s": 180.0, "store_p50": 5.0, "serving_rss_mib": 4096.0}


def mib_of_status(pid: int | str, field: str) -> float:
    """A memory figure of a process from /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """This process's peak anonymous memory, sampled twice a second: its peak RSS also counts the pages
    of the store's files it maps, which the kernel can drop (the page cache) when memory runs short."""

    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, mib_of_status("self", "RssAnon"))

    def reset(self) -> float:
        peak, self.peak = self.peak, mib_of_status("self", "RssAnon")
        return peak


def disk_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def channel_table(store, image: np.ndarray, ids: list[str], queries, like_data) -> str:
    """Where a hybrid query's time goes at this size, each channel alone and the fused query at a few
    hnsw_ef, with the image channel's recall@PAGE_LIMIT against exact search (numpy over every vector)."""
    vectors = np.asarray([v for _, v in like_data[:50]], dtype=np.float32)
    exact = [set(np.argpartition(-row, PAGE_LIMIT)[:PAGE_LIMIT].tolist()) for row in vectors @ image.T]
    row_of = {pid: row for row, pid in enumerate(ids)}
    default_ef = store.hnsw_ef
    lines = [f"| {len(ids):,} points, {len(queries)} queries | p50 ms | p99 ms | image recall@{PAGE_LIMIT} |",
             "|---|---|---|---|"]

    def timing(call) -> tuple[float, float, float]:
        p50, _, p99 = percentiles([timed(lambda i=i: call(i)) for i in range(len(queries))])
        return p50, p99, float("nan")

    for ef in (default_ef, 128, 256):
        store.hnsw_ef = ef
        found = [{row_of[h.id] for h in store.search(Vectors(image=v.tolist()), limit=PAGE_LIMIT)} for v in vectors]
        rec = float(np.mean([len(f & e) / PAGE_LIMIT for f, e in zip(found, exact)]))
        p50, p99, _ = timing(lambda i: store_queries(store, [like_data[i]]))
        lines.append(f"| hybrid, hnsw_ef {ef}{' (the default)' if ef == default_ef else ''} | {p50:.2f} | {p99:.2f} "
                     f"| {rec:.3f} |")
    store.hnsw_ef = default_ef
    for name in ("image", "text"):
        p50, p99, _ = timing(lambda i, n=name: store.search(Vectors(**{n: like_data[i][1]}), limit=PAGE_LIMIT))
        lines.append(f"| {name} channel alone | {p50:.2f} | {p99:.2f} | - |")
    p50, p99, _ = timing(lambda i: store.search(Vectors(bm25=SparseVector(*query_vector(queries[i][0]))),
                                                limit=PAGE_LIMIT))
    lines.append(f"| BM25 channel alone | {p50:.2f} | {p99:.2f} | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model")
    parser.add_argument("--keep", action="store_true", help="leave the collection in its temporary folder")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/scale_1m.md")
    args = parser.parse_args()
    configure()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    head = ["# A million ads on one machine (benchmarks/scale.py, `make bench-scale`)", "",
            f"One run on {cpu_description()}, {time.strftime('%Y-%m-%d %H:%M')}; {args.size:,} synthetic ads "
            "(512-d image vectors, text vectors and BM25 words for 80%), made as the app makes a collection for a "
            "large folder: int8 copies in RAM (QDRANT_QUANTIZATION=scalar, the default), float32 originals on "
            f"disk (QDRANT_ON_DISK=true). Load average at the start {load_average()} (2 cores shared with other "
            "work: compare ratios within this run).", ""]
    body: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        body.append(line)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(head + body) + "\n")

    model = given_or_full_size(args.model, work / "clip")
    embedder = ClipEmbedder(model).load()
    rng = np.random.default_rng(1)
    texts = [" ".join(words(rng, int(rng.integers(1, 5)))) for _ in range(args.queries)]
    embedder.embed_texts(texts[:3])
    encode_p50 = percentiles([timed(lambda t=t: embedder.embed_texts([t])) for t in texts])[0]
    queries = [(t, embedder.embed_texts([t])[0].tolist()) for t in texts]
    like_data = [(t, v) for t, v in zip(texts, clustered_unit_vectors(np.random.default_rng(8), len(texts)).tolist())]

    settings = Settings.load(environ={}, qdrant_path=work / "edge", collection="bench", qdrant_on_disk=True)
    folder = settings.qdrant_path
    figures: dict[str, float] = {}
    say("## Bulk load, checkpointed every tenth")
    say("")
    say("| points | store time s (cumulative) | points / s over the last tenth | this process's RSS MiB | disk MiB |")
    say("|---|---|---|---|---|")
    with open_store(settings, build_in_background=False) as store:
        store.create("random-clip", DIM)
        step = max(1, args.size // 10)
        spent, last_spent, loaded = 0.0, 0.0, 0
        image = np.zeros((args.size, DIM), dtype=np.float32)  # for exact search: recall at this size
        ids: list[str] = []
        memory = PeakMemory()
        for batch in synthetic_points(args.size):
            image[loaded:loaded + len(batch)] = [p.vectors.image for p in batch]
            ids += [p.id for p in batch]
            spent += timed(lambda b=batch: store.upsert(b))
            loaded += len(batch)
            if loaded % step == 0 or loaded == args.size:
                rate = step / max(spent - last_spent, 1e-9)
                say(f"| {loaded:,} | {spent:.1f} | {rate:,.0f} | {mib_of_status('self', 'VmRSS'):,.0f} "
                    f"| {disk_mib(folder):,.0f} |")
                last_spent = spent
        figures["load_s"] = spent
        figures["brute_p50"] = percentiles(store_queries(store, queries[:20]))[0]
        say("")
        say(f"Bulk load {spent:.1f} s ({args.size / spent:,.0f} points/s); a hybrid query before the graphs "
            f"(a full scan) p50 {figures['brute_p50']:.1f} ms.")
        load_peak = memory.reset()
        started = time.perf_counter()
        store.build_index(notify=lambda _: None)
        figures["build_s"] = time.perf_counter() - started
        build_peak = memory.reset()
        say(f"Graph build (HNSW, both dense channels, in this process as `main.py index` builds): "
            f"{figures['build_s']:.0f} s; disk {disk_mib(folder):,.0f} MiB after it. This process's peak "
            f"anonymous memory: {load_peak:,.0f} MiB during the load, {build_peak:,.0f} MiB during the build "
            f"(of which the {image.nbytes / 2**20:,.0f} MiB of image vectors kept here for exact search, and the "
            "text model).")
        store_queries(store, queries[:50])  # warm-up: pages of the new segment (and originals) into memory
        store_queries(store, like_data[:50])
        store_p = percentiles(store_queries(store, queries))
        like_p = percentiles(store_queries(store, like_data))
        figures["store_p50"] = store_p[0]
        say(f"Store query, hybrid (image + text + BM25 fused, {PAGE_LIMIT + 1} hits with their image vectors): "
            "p50 / p95 / p99 {:.2f} / {:.2f} / {:.2f} ms; queries drawn like the data {:.2f} / {:.2f} / {:.2f} ms."
            .format(*store_p, *like_p))
        say("")
        say(channel_table(store, image, ids, queries, like_data))

    serving: dict[str, float] = {}

    def read_memory(server: subprocess.Popen) -> None:
        for field in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            serving[field] = mib_of_status(server.pid, field)

    distinct, repeated, encoding = end_to_end(settings, model, "auto", texts,
                                              lambda text: embedder.embed_texts([text]), read_memory)
    e2e = percentiles(distinct)
    encode_between = percentiles(encoding)[0]
    figures["serving_rss_mib"] = serving["VmRSS"]
    say(f"End to end, GET /api/search (hybrid, {len(distinct)} distinct queries): p50 / p95 / p99 "
        "{:.2f} / {:.2f} / {:.2f} ms = {:.2f} x (text encoding {:.2f} + store {:.2f}); a repeated query p50 {:.2f} ms."
        .format(*e2e, e2e[0] / (encode_between + store_p[0]), encode_between, store_p[0], percentiles(repeated)[0]))
    say(f"The serving process after these requests: RSS {serving['VmRSS']:,.0f} MiB (peak {serving['VmHWM']:,.0f}; "
        f"anonymous {serving['RssAnon']:,.0f}, file pages {serving['RssFile']:,.0f}: the model, the int8 copies, "
        "the graphs and the originals' pages read so far).")
    say("")
    say("| target | measured | met |")
    say("|---|---|---|")
    for name, label, unit in (("load_s", "bulk load < 3 min", "s"), ("store_p50", "store p50 < 5 ms", "ms"),
                              ("serving_rss_mib", "serving RSS < 4 GiB", "MiB")):
        say(f"| {label} | {figures[name]:,.1f} {unit} | {'yes' if figures[name] < TARGETS[name] else 'no'} |")
    say("")
    say(f"Text encoding p50 {encode_p50:.2f} ms at the start. Load average at the end {load_average()}.")
    if args.keep:
        print(f"the collection is kept in {folder}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

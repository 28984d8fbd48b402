"""Store query speed levers and peers side by side, on the same vectors and queries, in one run.

    python benchmarks/store_speed.py [--size 100000] [--queries 200] [--peer-queries 50] [--out FILE]

Data drawn like CLIP vectors (clustered; benchmarks/query_latency.py). Part 1, levers in the embedded
engine (Qdrant Edge), for the app's default hybrid query (image + text + BM25 fused, 25 hits with
their image vectors for folding a page of 12), as it was asked before (float32, depth 100, hnsw_ef 100)
and as it is now (int8 + rescore, depth 50, hnsw_ef 64): hnsw_ef, fusion depth, vectors returned or not
(or in a second call), a capped BM25 channel, int8 scalar quantization with rescoring; recall@24 of
each dense channel against exact search (numpy over all vectors). Part 2, the image channel alone
(24 nearest) against faiss IndexFlatIP and IndexHNSWFlat,
numpy brute force over a float32 matrix (rclip's way), qdrant-client local mode and Qdrant Edge:
load time, p50/p99, recall, memory added. Variants are timed round-robin, query by query, so a busy
machine slows them alike.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per query for every contender, as in a request
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.query_latency import (  # noqa: E402
    PAGE_LIMIT,
    clustered_unit_vectors,
    load_average,
    synthetic_points,
    words,
)
from benchmarks.run_all import cpu_description  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import Point, SparseVector, Vectors, open_store  # noqa: E402
from src.terms import query_vector  # noqa: E402

DIM = 512


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return float(p50), float(p99)


def make_data(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image and text matrices (rows of points without text are zero) and the point ids. The points
    themselves are made again, batch by batch, for each collection: as Python lists a million of them
    would take ~30 GB."""
    image = np.zeros((size, DIM), dtype=np.float32)
    text = np.zeros((size, DIM), dtype=np.float32)
    ids = []
    row = 0
    for batch in synthetic_points(size):
        for point in batch:
            image[row] = point.vectors.image
            if point.vectors.text is not None:
                text[row] = point.vectors.text
            ids.append(point.id)
            row += 1
    return image, text, np.array(ids)


def timed_load(store, size: int, strip=None) -> float:
    """Seconds spent in upsert for every point (making the points is not counted)."""
    spent = 0.0
    for batch in synthetic_points(size):
        if strip:
            batch = [strip(p) for p in batch]
        started = time.perf_counter()
        store.upsert(batch)
        spent += time.perf_counter() - started
    return spent


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    scores = queries @ matrix.T
    return [set(np.argpartition(-row, k)[:k].tolist()) for row in scores]


def recall(found: list[set], exact: list[set]) -> float:
    return float(np.mean([len(f & e) / len(e) for f, e in zip(found, exact)]))


def round_robin(variants: dict, count: int) -> dict[str, list[float]]:
    """Seconds per call of each variant, alternating variants query by query in a shuffled order (the
    first 100k run, in a fixed order, charged the variant after a switch of collection ~40% extra)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = np.random.default_rng(5)
    names = list(variants)
    for i in range(count):
        for name in order.permutation(names):
            call = variants[name]
            started = time.perf_counter()
            call(i)
            times[name].append(time.perf_counter() - started)
    return times


def edge_collection(work: Path, name: str, size: int, quantization: str | None = None, on_disk: bool = False):
    """A collection of size synthetic points, graphs built; quantization None: the default setting."""
    settings = Settings.load(environ={}, qdrant_path=work / name, collection="bench", qdrant_quantization=quantization,
                             qdrant_on_disk=on_disk or None)
    store = open_store(settings, build_in_background=False)
    store.create("m", DIM)
    before = rss_mib()
    load = timed_load(store, size)
    started = time.perf_counter()
    store.build_index(notify=lambda _: None)
    build = time.perf_counter() - started
    return store, load, build, rss_mib() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--peer-queries", type=int, default=50)
    parser.add_argument("--client-size", type=int, default=10_000,
                        help="points for qdrant-client local mode (pure Python: its load is the slow part); 0 skips it")
    parser.add_argument("--on-disk", action="store_true", help="the int8 collection keeps its originals on disk")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/store_speed.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    lines = ["# Store speed: levers and peers (benchmarks/store_speed.py)", "",
             f"One run on {cpu_description()}, {time.strftime('%Y-%m-%d %H:%M')}; {args.size:,} points "
             f"(512-d, clustered like CLIP), {args.queries} queries drawn like the data. Times in ms. Load average "
             f"at the start {load_average()} (2 cores shared with other work: compare ratios within this run).", ""]

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    image, text, ids = make_data(args.size)
    rng = np.random.default_rng(1)
    texts = [" ".join(words(rng, int(rng.integers(1, 5)))) for _ in range(args.queries)]
    queries = clustered_unit_vectors(np.random.default_rng(8), args.queries)
    qlist = queries.tolist()
    bm25 = [SparseVector(*query_vector(t)) for t in texts]
    exact_image = exact_top(image, queries, PAGE_LIMIT)
    exact_text = exact_top(text, queries, PAGE_LIMIT)
    index_of = {pid: i for i, pid in enumerate(ids)}

    # -- part 1: levers ------------------------------------------------------------------------
    plain, load, build, plain_mem = edge_collection(work, "plain", args.size, "none")
    quant, qload, qbuild, quant_mem = edge_collection(work, "int8", args.size, None, args.on_disk)
    say(f"Qdrant Edge: float32 collection (QDRANT_QUANTIZATION=none, as collections were made before): bulk load "
        f"{load:.1f} s, graph build {build:.1f} s, +{plain_mem:.0f} MiB; int8 collection (the default now, "
        f"{quant.quantization}{', originals on disk' if args.on_disk else ''}): load {qload:.1f} s, build "
        f"{qbuild:.1f} s, +{quant_mem:.0f} MiB")
    defaults = {"ef": quant.hnsw_ef, "depth": quant.fusion_depth, "bm25_depth": quant.bm25_depth}
    before = {"ef": None, "depth": 100, "bm25_depth": None}  # the levers as the app set them before

    def levers(store, ef, depth, bm25_depth):
        store.hnsw_ef, store.fusion_depth, store.bm25_depth = ef, depth, bm25_depth

    def hybrid(store, with_vectors=True, two_step=False, **changed):
        """The app's query for a page of 12 with folding: 25 hits with their image vectors (two_step:
        the hits alone, then their vectors in a second call)."""
        chosen = defaults | changed

        def call(i):
            levers(store, **chosen)
            query = Vectors(image=qlist[i], text=qlist[i], bm25=bm25[i])
            hits = store.search(query, limit=PAGE_LIMIT + 1, with_vectors=with_vectors and not two_step)
            if two_step:
                store._shard.retrieve([h.id for h in hits], with_payload=False, with_vector=["image"])
            return hits
        return call

    def channel(store, name, **changed):
        chosen = defaults | changed

        def call(i):
            levers(store, **chosen)
            query = Vectors(bm25=bm25[i]) if name == "bm25" else Vectors(**{name: qlist[i]})
            return store.search(query, limit=PAGE_LIMIT)
        return call

    BEFORE = "before: float32, depth 100, hnsw_ef 100, with vectors"
    NOW = "now: int8 + rescore, depth 50, hnsw_ef 64, with vectors (the app's default)"
    variants = {
        BEFORE: hybrid(plain, **before),
        "float32, depth 100, no vectors": hybrid(plain, with_vectors=False, **before),
        "float32, depth 100, BM25 depth 24": hybrid(plain, **(before | {"bm25_depth": PAGE_LIMIT})),
        "float32, depth 50": hybrid(plain, **(before | {"depth": 50})),
        "float32, depth 50, hnsw_ef 64": hybrid(plain),
        "int8 + rescore, depth 100, hnsw_ef 100": hybrid(quant, **before),
        "int8 + rescore, depth 50, hnsw_ef 100": hybrid(quant, ef=None),
        NOW: hybrid(quant),
        "int8, depth 50, hnsw_ef 64, no vectors (no folding)": hybrid(quant, with_vectors=False),
        "int8, depth 50, hnsw_ef 64, vectors in a second call": hybrid(quant, two_step=True),
        "int8, depth 50, hnsw_ef 32": hybrid(quant, ef=32),
        "int8, depth 50, BM25 depth 24": hybrid(quant, bm25_depth=PAGE_LIMIT),
        "image channel alone, int8": channel(quant, "image"),
        "text channel alone, int8": channel(quant, "text"),
        "BM25 channel alone": channel(quant, "bm25"),
        "image channel alone, float32": channel(plain, "image"),
    }
    for call in variants.values():  # warm-up: pages into memory
        for i in range(10):
            call(i)
    times = round_robin(variants, args.queries)

    def recall_of(store, name, ef) -> float:
        levers(store, **(defaults | {"ef": ef}))
        exact = exact_image if name == "image" else exact_text
        found = [{index_of[h.id] for h in store.search(Vectors(**{name: qlist[i]}), limit=PAGE_LIMIT)}
                 for i in range(args.queries)]
        return recall(found, exact)

    recalls: dict[str, tuple[float, float]] = {}
    both = {(store, ef): (recall_of(store, "image", ef), recall_of(store, "text", ef))
            for store in (plain, quant) for ef in (None, defaults["ef"], 32)}
    for name in variants:
        if "channel alone" in name:
            continue
        store = plain if name.startswith(("before", "float32")) else quant
        ef = 32 if "hnsw_ef 32" in name else None if "hnsw_ef 100" in name or name == BEFORE else defaults["ef"]
        recalls[name] = both[(store, ef)]
    base = percentiles(times[BEFORE])[0]
    say("")
    say(f"| store query, hybrid, {args.size:,} points | p50 | p99 | p50 / before "
        f"| recall@{PAGE_LIMIT} image | recall@{PAGE_LIMIT} text |")
    say("|---|---|---|---|---|---|")
    for name, seconds in times.items():
        p50, p99 = percentiles(seconds)
        r = recalls.get(name)
        rec = f"{r[0]:.3f} | {r[1]:.3f}" if r else "- | -"
        say(f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / base:.2f} | {rec} |")
    say(f"\nRecall is each dense channel's 24 nearest against exact search (numpy over every vector), "
        f"{args.queries} queries drawn like the data; depth is how many candidates each channel hands to the "
        "fusion, at least twice the hits asked for (25: so 50 is as low as it goes).")

    def page(store, i, **changed):
        return [h.id for h in hybrid(store, with_vectors=False, **changed)(i)]

    def kept(store, full, **changed) -> str:
        """How much of the fused page (25, and its first 12) a lever keeps, against the same collection
        with the old depth: the results it changes are the ones RRF ranks lowest."""
        pages = [(page(store, i, **full), page(store, i, **changed)) for i in range(min(100, args.queries))]
        whole = np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in pages])
        first = np.mean([len(set(a[:12]) & set(b[:12])) / max(1, len(a[:12])) for a, b in pages])
        return f"{whole:.3f} ({first:.3f} of the first 12)"

    def kept_across(old, new) -> str:
        pages = [(page(old, i, **before), page(new, i)) for i in range(min(100, args.queries))]
        return f"{np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in pages]):.3f}"

    full = {"depth": 100}
    say(f"\nThe fused page of 25 against depth 100 on the same int8 collection keeps: depth 50 "
        f"{kept(quant, full)}, BM25 depth 24 "
        f"{kept(quant, full, bm25_depth=PAGE_LIMIT)}; the app's default against the float32 collection as "
        f"asked before: {kept_across(plain, quant)}.")
    levers(plain, **defaults)
    levers(quant, **defaults)

    # -- part 2: peers, image channel ----------------------------------------------------------
    import faiss

    faiss.omp_set_num_threads(1)  # one query at a time on one core, as the store answers a request
    pq = args.peer_queries
    peers: dict[str, dict] = {}

    def add_peer(name, build_fn, search_fn, load_s=None, memory=None):
        before = rss_mib()
        started = time.perf_counter()
        handle = build_fn()
        built = time.perf_counter() - started
        peers[name] = {"load": load_s if load_s is not None else built,
                       "memory": memory if memory is not None else rss_mib() - before,
                       "search": lambda i, h=handle: search_fn(h, i)}

    add_peer("numpy brute force, float32 (rclip)", lambda: image.copy(),
             lambda m, i: set(np.argpartition(-(m @ queries[i]), PAGE_LIMIT)[:PAGE_LIMIT].tolist()))

    def flat():
        index = faiss.IndexFlatIP(DIM)
        index.add(image)
        return index

    def hnsw():
        index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 100
        faiss.omp_set_num_threads(2)
        index.add(image)
        faiss.omp_set_num_threads(1)
        index.hnsw.efSearch = 100
        return index

    add_peer("faiss IndexFlatIP", flat, lambda x, i: set(x.search(queries[i:i + 1], PAGE_LIMIT)[1][0].tolist()))
    add_peer("faiss IndexHNSWFlat (M 32, ef 100)", hnsw,
             lambda x, i: set(x.search(queries[i:i + 1], PAGE_LIMIT)[1][0].tolist()))
    peers["Qdrant Edge (adsearch), image channel"] = {
        "load": load + build, "memory": plain_mem,
        "search": lambda i: {index_of[h.id] for h in plain.search(Vectors(image=qlist[i]), limit=PAGE_LIMIT)}}
    peers["Qdrant Edge (adsearch), image channel, int8"] = {
        "load": qload + qbuild, "memory": quant_mem,
        "search": lambda i: {index_of[h.id] for h in quant.search(Vectors(image=qlist[i]), limit=PAGE_LIMIT)}}
    if args.client_size:
        settings = Settings.load(environ={}, qdrant_path=work / "client", collection="bench",
                                 embedded_engine="qdrant-client")
        client = open_store(settings)
        client.create("m", DIM)
        before = rss_mib()
        client_load = timed_load(client, args.client_size, lambda p: Point(p.id, Vectors(image=p.vectors.image), {}))
        client_exact = exact_top(image[: args.client_size], queries[:pq], PAGE_LIMIT)
        peers[f"qdrant-client local mode (first {args.client_size:,} points only)"] = {
            "load": client_load, "memory": rss_mib() - before,
            "search": lambda i: {index_of[h.id] for h in client.search(Vectors(image=qlist[i]), limit=PAGE_LIMIT)}}
    for peer in peers.values():
        for i in range(3):
            peer["search"](i)
    found: dict[str, list[set]] = {name: [] for name in peers}

    def recorder(name):
        def call(i):
            found[name].append(peers[name]["search"](i))
        return call

    peer_times = round_robin({name: recorder(name) for name in peers}, pq)
    say("")
    say(f"| image channel alone, {args.size:,} points, 24 nearest, {pq} queries | load + build s | memory added MiB "
        "| p50 | p99 | recall@24 |")
    say("|---|---|---|---|---|---|")
    rows = {}
    for name, peer in peers.items():
        p50, p99 = percentiles(peer_times[name])
        exact = client_exact if name.startswith("qdrant-client") else exact_image[:pq]
        rows[name] = (p50, p99, recall(found[name], exact))
        say(f"| {name} | {peer['load']:.1f} | {peer['memory']:.0f} | {p50:.2f} | {p99:.2f} | {rows[name][2]:.3f} |")
    ours = min(v[0] for k, v in rows.items() if "adsearch" in k)
    best_name, best = min(((k, v) for k, v in rows.items()
                           if "adsearch" not in k and "first" not in k and v[2] >= 0.98), key=lambda kv: kv[1][0])
    say(f"\nadsearch / best peer holding recall >= 0.98 ({best_name}), image channel p50: {ours / best[0]:.2f} x")
    plain.close()
    quant.close()
    gc.collect()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines.append(f"\nLoad average at the end: {load_average()}.")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

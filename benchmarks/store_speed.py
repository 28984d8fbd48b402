"""Store query speed levers and peers side by side, on the same vectors and queries, in one run.

    python benchmarks/store_speed.py [--size 100000] [--queries 200] [--peer-queries 50] [--out FILE]

Data drawn like CLIP vectors (clustered; benchmarks/query_latency.py). Part 1, levers in the embedded
engine (Qdrant Edge), for the app's default hybrid query (image + text + BM25 fused, a page of 24
with image vectors for folding): hnsw_ef, vectors returned or not, a capped BM25 channel, int8 scalar
quantization with rescoring; recall@24 of each dense channel against exact search (numpy over all
vectors). Part 2, the image channel alone (24 nearest) against faiss IndexFlatIP and IndexHNSWFlat,
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

from benchmarks.query_latency import PAGE_LIMIT, clustered_unit_vectors, synthetic_points, words  # noqa: E402
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


def edge_collection(work: Path, name: str, size: int, quantization: str = "none", on_disk: bool = False):
    settings = Settings.load(environ={}, qdrant_path=work / name, collection="bench", qdrant_quantization=quantization,
                             qdrant_on_disk=on_disk)
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
             f"(512-d, clustered like CLIP), {args.queries} queries drawn like the data. Times in ms.", ""]

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
    plain, load, build, plain_mem = edge_collection(work, "plain", args.size)
    quant, qload, qbuild, quant_mem = edge_collection(work, "int8", args.size, "scalar", args.on_disk)
    say(f"Qdrant Edge: bulk load {load:.1f} s, graph build {build:.1f} s, +{plain_mem:.0f} MiB; "
        f"int8 collection: load {qload:.1f} s, build {qbuild:.1f} s, +{quant_mem:.0f} MiB")

    def hybrid(store, with_vectors=True, ef=None, bm25_depth=None):
        def call(i):
            store.hnsw_ef, store.bm25_depth = ef, bm25_depth
            return store.search(Vectors(image=qlist[i], text=qlist[i], bm25=bm25[i]), limit=PAGE_LIMIT,
                                with_vectors=with_vectors)
        return call

    def channel(store, name, ef=None):
        def call(i):
            store.hnsw_ef = ef
            query = Vectors(bm25=bm25[i]) if name == "bm25" else Vectors(**{name: qlist[i]})
            return store.search(query, limit=PAGE_LIMIT)
        return call

    variants = {
        "hybrid, as the app asks (with vectors)": hybrid(plain),
        "hybrid without vectors": hybrid(plain, with_vectors=False),
        "hybrid, hnsw_ef 64": hybrid(plain, ef=64),
        "hybrid, hnsw_ef 32": hybrid(plain, ef=32),
        "hybrid, BM25 depth 24": hybrid(plain, bm25_depth=PAGE_LIMIT),
        "hybrid, int8 + rescore": hybrid(quant),
        "hybrid, int8 + rescore, no vectors, BM25 depth 24": hybrid(quant, with_vectors=False, bm25_depth=PAGE_LIMIT),
        "image channel": channel(plain, "image"),
        "text channel": channel(plain, "text"),
        "BM25 channel": channel(plain, "bm25"),
        "image channel, int8": channel(quant, "image"),
    }
    for call in variants.values():  # warm-up: pages into memory
        for i in range(10):
            call(i)
    times = round_robin(variants, args.queries)

    def recall_of(store, name, ef=None) -> float:
        store.hnsw_ef = ef
        exact = exact_image if name == "image" else exact_text
        found = [{index_of[h.id] for h in store.search(Vectors(**{name: qlist[i]}), limit=PAGE_LIMIT)}
                 for i in range(args.queries)]
        return recall(found, exact)

    recalls = {
        "hybrid, as the app asks (with vectors)": (recall_of(plain, "image"), recall_of(plain, "text")),
        "hybrid, hnsw_ef 64": (recall_of(plain, "image", 64), recall_of(plain, "text", 64)),
        "hybrid, hnsw_ef 32": (recall_of(plain, "image", 32), recall_of(plain, "text", 32)),
        "hybrid, int8 + rescore": (recall_of(quant, "image"), recall_of(quant, "text")),
    }
    as_asked = recalls["hybrid, as the app asks (with vectors)"]
    recalls["hybrid without vectors"] = recalls["hybrid, BM25 depth 24"] = as_asked
    recalls["hybrid, int8 + rescore, no vectors, BM25 depth 24"] = recalls["hybrid, int8 + rescore"]
    plain.hnsw_ef = quant.hnsw_ef = None
    base = percentiles(times["hybrid, as the app asks (with vectors)"])[0]
    say("")
    say(f"| store query ({args.size:,} points) | p50 | p99 | p50 / as the app asks "
        f"| recall@{PAGE_LIMIT} image | recall@{PAGE_LIMIT} text |")
    say("|---|---|---|---|---|---|")
    for name, seconds in times.items():
        p50, p99 = percentiles(seconds)
        r = recalls.get(name)
        rec = f"{r[0]:.3f} | {r[1]:.3f}" if r else "- | -"
        say(f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / base:.2f} | {rec} |")
    # BM25 depth: how much of the fused page changes when the BM25 channel is capped
    same = []
    for i in range(min(50, args.queries)):
        full = [h.id for h in hybrid(plain)(i)]
        capped = [h.id for h in hybrid(plain, bm25_depth=PAGE_LIMIT)(i)]
        same.append(len(set(full) & set(capped)) / max(1, len(full)))
    plain.bm25_depth = None
    say(f"\nBM25 depth 24: the fused page keeps {np.mean(same):.3f} of its results (same queries, full depth 100).")

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
    args.out.write_text("\n".join(lines) + "\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

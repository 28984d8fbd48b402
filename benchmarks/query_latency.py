"""Query latency at 1k, 10k and 100k points, store-only and end to end, in one run.

    python benchmarks/query_latency.py [--sizes 1000,10000,100000] [--queries 200] [--model DIR]
                                       [--client-sizes 1000,10000] [--out FILE]

For each size a collection of synthetic ads (512-d image and text vectors, BM25 words drawn from a
Zipf-distributed vocabulary, 80% with text) is bulk-loaded into the embedded store and its HNSW graphs
built, timing both; searches run during the build (it must not block them) and after it. Then the app
is started (`main.py serve`) on the collection and the same hybrid text queries go through
GET /api/search, against the text encoding measured alone: the end-to-end target is p50 within
1.2 x (text encoding + store query). --client-sizes repeats the store-only part on qdrant-client's local
mode, for the ratio. Without --model a full-size random-weight CLIP is built (the real model's compute).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.embedding import ClipEmbedder  # noqa: E402
from src.runtime import configure  # noqa: E402
from src.search import DEFAULT_K, MAX_K  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import IMAGE_VECTOR, Point, SparseVector, Store, Vectors, open_store  # noqa: E402
from src.terms import document_vector, query_vector  # noqa: E402
from tools.random_clip import given_or_full_size  # noqa: E402

DIM = 512
VOCABULARY = 5000
TOPICS = 300
CATEGORIES = 14
LOAD_BATCH = 1000
# Twice a page of k: what the app asks of the store when near-duplicates are folded (one more than this,
# to know whether a next page exists, with the image vectors), and the depth recall is measured at.
PAGE_LIMIT = min(2 * DEFAULT_K, MAX_K)


def words(rng: np.random.Generator, count: int) -> list[str]:
    """Pseudo-words with a Zipf-like frequency, as words in ads have."""
    ranks = np.minimum(rng.zipf(1.3, size=count), VOCABULARY)
    return [f"w{rank:04d}" for rank in ranks]


def clustered_unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Unit vectors shaped like CLIP's: a direction all share, topics around it, spread within each
    (uniform random vectors would be the one case where no index beats a full scan)."""
    topics = np.random.default_rng(99).standard_normal((TOPICS, DIM), dtype=np.float32)
    shared = topics[0]
    vectors = (0.8 * shared + topics[rng.integers(1, TOPICS, count)]
               + 0.7 * rng.standard_normal((count, DIM), dtype=np.float32))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_points(size: int, seed: int = 0):
    """Batches of Points with clustered image and text vectors and Zipf-distributed words."""
    rng = np.random.default_rng(seed)
    for start in range(0, size, LOAD_BATCH):
        count = min(LOAD_BATCH, size - start)
        vectors = clustered_unit_vectors(rng, 2 * count)
        batch = []
        for i in range(count):
            number = start + i
            text = " ".join(words(rng, int(rng.integers(5, 30)))) if rng.random() < 0.8 else ""
            named = Vectors(image=vectors[i].tolist())
            if text:
                named |= Vectors(text=vectors[count + i].tolist(), bm25=SparseVector(*document_vector(text)))
            category = f"c{number % CATEGORIES}"
            payload = {"path": f"{category}/{number:06d}.jpg", "folder": category, "category": category,
                       "text": text, "has_text": bool(text), "width": 800, "height": 600}
            batch.append(Point(f"00000000-0000-4000-8000-{number:012d}", named, payload))
        yield batch


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def store_queries(store: Store, queries: list[tuple[str, list[float]]]) -> list[float]:
    """Seconds per hybrid query (image + text + BM25 channels fused), the text already encoded."""
    return [
        timed(lambda v=vector, q=text: store.search(
            Vectors(image=v, text=v, bm25=SparseVector(*query_vector(q))), limit=PAGE_LIMIT + 1, with_vectors=True))
        for text, vector in queries
    ]


def load_and_build(settings: Settings, size: int, model: str, queries) -> dict:
    figures = {}
    with open_store(settings) as store:
        store.create(model, DIM)
        batches = list(synthetic_points(size))  # made beforehand: the load measures the store alone
        figures["load_s"] = sum(timed(lambda b=batch: store.upsert(b)) for batch in batches)
        figures["brute_p50"] = percentiles(store_queries(store, queries[:50]))[0]
        during: list[float] = []
        builder = threading.Thread(target=lambda: figures.update(
            build_s=timed(lambda: store.build_index(notify=lambda _: None))))
        builder.start()
        while builder.is_alive():
            during += store_queries(store, queries[:10])
        builder.join()
        figures["during_build"] = percentiles(during) if during else None
        store_queries(store, queries[:50])  # warm-up: the swapped-in shard's pages are not in memory yet
        figures["store"] = percentiles(store_queries(store, queries))
        # The random model's text vectors point anywhere; real queries land nearer the data. Both bound it.
        like_data = [(text, vector) for (text, _), vector in
                     zip(queries, clustered_unit_vectors(np.random.default_rng(8), len(queries)).tolist())]
        figures["store_like_data"] = percentiles(store_queries(store, like_data))
        figures["recall"] = image_recall(store)
    return figures


def image_recall(store: Store, count: int = 50) -> float:
    """Share of the exact top PAGE_LIMIT (a full scan in the engine) that the HNSW search finds, image
    channel, for queries drawn like the data."""
    import qdrant_edge as edge

    found = []
    for vector in clustered_unit_vectors(np.random.default_rng(7), count).tolist():
        approximate = {h.id for h in store.search(Vectors(image=vector), limit=PAGE_LIMIT)}
        exact = {str(p.id) for p in store._shard.query(edge.QueryRequest(  # the engine itself, exhaustive
            limit=PAGE_LIMIT, query=edge.Query.Nearest(vector, using=IMAGE_VECTOR),
            params=edge.SearchParams(exact=True)))}
        found.append(len(approximate & exact) / len(exact))
    return float(np.mean(found))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_model(client: httpx.Client, server: subprocess.Popen, seconds: float = 180) -> None:
    """Until the app's model has loaded (it loads in the background); the app not starting ends the run."""
    deadline = time.time() + seconds
    while True:
        try:
            if client.get("/healthz").json()["model"]["loaded"]:
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        if time.time() > deadline or server.poll() is not None:
            raise SystemExit("the app did not start")
        time.sleep(0.5)


def end_to_end(settings: Settings, model: str, precision: str, queries: list[str],
               encode=None, probe=None) -> tuple[list[float], list[float], list[float]]:
    """Seconds per GET /api/search (hybrid, distinct queries: no cache hits), and for a repeated one; and
    with encode(text), seconds per text encoding here, one after each distinct request, so that the ratio
    compares the two at the same moments on a machine whose load changes. probe(server), if given, is
    called after the requests, while the app still runs (benchmarks/scale.py reads its memory)."""
    port = free_port()
    env = os.environ | {"QDRANT_PATH": str(settings.qdrant_path), "COLLECTION": settings.collection,
                        "CLIP_MODEL": model, "PRECISION": precision}
    server = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_for_model(client, server)

            def ask(text: str) -> float:
                started = time.perf_counter()
                response = client.get("/api/search", params={"q": text, "mode": "hybrid", "k": DEFAULT_K})
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and response.json()["results"], response.text[:200]
                return elapsed

            for text in queries[:5]:
                ask(f"warm up {text}")
            distinct, encoding = [], []
            for text in queries:
                distinct.append(ask(text))
                if encode is not None:
                    encoding.append(timed(lambda t=text: encode(f"again {t}")))
            repeated = [ask(queries[0]) for _ in range(50)]
            if probe is not None:
                probe(server)
    finally:
        server.terminate()
        server.wait()
    return distinct, repeated, encoding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--client-sizes", default="1000,10000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--model")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/query_latency.md")
    args = parser.parse_args()
    configure()  # the app's process set-up (idle OpenMP threads sleep): the encoding here runs as the app's does
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    started = load_average()
    model = given_or_full_size(args.model, work / "clip")
    embedder = ClipEmbedder(model, precision=args.precision).load()
    rng = np.random.default_rng(1)
    texts = [" ".join(words(rng, int(rng.integers(1, 5)))) for _ in range(args.queries)]
    embedder.embed_texts(texts[:3])
    encode = [timed(lambda t=t: embedder.embed_texts([t])) for t in texts]
    queries = [(t, embedder.embed_texts([t])[0].tolist()) for t in texts]
    encode_p50 = percentiles(encode)[0]
    print(f"model {model} ({embedder.precision.precision}); {args.queries} distinct hybrid queries, page of "
          f"{DEFAULT_K} (store asked for {PAGE_LIMIT + 1} with vectors); text encoding p50 {encode_p50:.2f} ms")

    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        settings = Settings.load(environ={}, qdrant_path=work / f"edge-{size}", collection="bench")
        figures = load_and_build(settings, size, model, queries)
        distinct, repeated, encoding = end_to_end(settings, model, args.precision, texts,
                                                  lambda text: embedder.embed_texts([text]))
        figures |= {"size": size, "engine": "edge", "e2e": percentiles(distinct), "repeat": percentiles(repeated),
                    "encode": percentiles(encoding)[0]}
        rows.append(figures)
        print(row_text(figures, encode_p50), flush=True)
    for size in [int(s) for s in args.client_sizes.split(",") if s]:
        settings = Settings.load(environ={}, qdrant_path=work / f"client-{size}", collection="bench",
                                 embedded_engine="qdrant-client")
        with open_store(settings) as store:
            store.create(model, DIM)
            load = sum(timed(lambda b=batch: store.upsert(b)) for batch in list(synthetic_points(size)))
            figures = {"size": size, "engine": "qdrant-client local", "load_s": load,
                       "store": percentiles(store_queries(store, queries[:50]))}
        rows.append(figures)
        print(row_text(figures, encode_p50), flush=True)
    write_results(args.out, rows, encode_p50, embedder.precision.precision, args.queries, started)
    print(f"results written to {args.out}")


def row_text(f: dict, encode_p50: float) -> str:
    p50, p95, p99 = f["store"]
    line = (f"{f['engine']:>20} {f['size']:>7}: load {f['load_s']:6.1f} s; "
            f"store p50/p95/p99 {p50:.2f}/{p95:.2f}/{p99:.2f} ms")
    if "store_like_data" in f:
        line += " [queries drawn like the data: {:.2f}/{:.2f}/{:.2f}]".format(*f["store_like_data"])
    if "build_s" in f:
        line += (f" (recall@{PAGE_LIMIT} {f['recall']:.3f}; before the graph {f['brute_p50']:.2f}; "
                 f"graph built in {f['build_s']:.1f} s")
        if f["during_build"]:
            line += f", p50/p99 during the build {f['during_build'][0]:.2f}/{f['during_build'][2]:.2f} ms"
        line += ")"
    if "e2e" in f:
        e50, e95, e99 = f["e2e"]
        line += (f"\n{'':>29}/api/search p50/p95/p99 {e50:.2f}/{e95:.2f}/{e99:.2f} ms = "
                 f"{e50 / (f.get('encode', encode_p50) + p50):.2f} x (encoding {f.get('encode', encode_p50):.2f} + "
                 f"store); repeated query p50 {f['repeat'][0]:.2f} ms")
    return line


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def write_results(out: Path, rows: list[dict], encode_p50: float, precision: str, queries: int,
                  started: str) -> None:
    lines = [
        "# Query latency (benchmarks/query_latency.py)", "",
        f"One run, {queries} distinct hybrid text queries (image + text + BM25 channels fused by RRF), "
        f"full-size random CLIP in {precision}, text encoding p50 {encode_p50:.2f} ms at the start. Times in ms "
        "unless marked. e2e = GET /api/search on the running app; ratio = e2e p50 / (encoding p50 + store p50), "
        "the encoding timed in this process after each distinct request (the same moments). "
        f"Load average at the start {started} and at the end {load_average()} (2 cores shared with other work: "
        "compare within this run).", "",
        "| engine | points | bulk load s | graph build s | store p50 before graph | store p50 / p95 / p99 "
        "| store p50 / p95 / p99, queries drawn like the data "
        f"| recall@{PAGE_LIMIT} | store p50 / p99 during build | text encoding p50, between the requests "
        "| e2e p50 / p95 / p99 | ratio | repeated query e2e p50 | repeated query above the store p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        store = "{:.2f} / {:.2f} / {:.2f}".format(*f["store"])
        build = f"{f['build_s']:.1f}" if "build_s" in f else "-"
        brute = f"{f['brute_p50']:.2f}" if "brute_p50" in f else "-"
        during = "{:.2f} / {:.2f}".format(f["during_build"][0], f["during_build"][2]) if f.get("during_build") else "-"
        e2e = "{:.2f} / {:.2f} / {:.2f}".format(*f["e2e"]) if "e2e" in f else "-"
        ratio = f"{f['e2e'][0] / (f['encode'] + f['store'][0]):.2f}" if "e2e" in f else "-"
        encoding = f"{f['encode']:.2f}" if "encode" in f else "-"
        repeat = f"{f['repeat'][0]:.2f}" if "repeat" in f else "-"
        above = f"{f['repeat'][0] - f['store'][0]:.2f}" if "repeat" in f else "-"
        recall = f"{f['recall']:.3f}" if "recall" in f else "-"
        like = "{:.2f} / {:.2f} / {:.2f}".format(*f["store_like_data"]) if "store_like_data" in f else "-"
        lines.append(f"| {f['engine']} | {f['size']:,} | {f['load_s']:.1f} | {build} | {brute} | {store} | {like} "
                     f"| {recall} | {during} "
                     f"| {encoding} | {e2e} | {ratio} | {repeat} | {above} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

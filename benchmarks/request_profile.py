"""Where the milliseconds of GET /api/search go, layer by layer, in one run.

    python benchmarks/request_profile.py [--size 10000] [--queries 300] [--model DIR] [--no-py-spy] [--out FILE]

A collection of synthetic ads (benchmarks/query_latency.py) is built, then the same repeated hybrid query
(its text vector cached, as the app keeps it) is timed through each layer, in the one process, the
layers taking turns query by query: the store's query alone; the searcher (query vectors from its cache,
the BM25 vector, the store, folding near-duplicates, snippets); the services call behind the page and the
API (its checks); the JSON answer; the whole app in process (ASGI: middleware, routing, dependencies, the
thread-pool hop), without HTTP. Then the app is served (`main.py serve`) and the same query, and distinct
ones, go over HTTP. Each layer's p50 minus the one below it is what that layer adds. With py-spy
installed, the server is also sampled while it answers the repeated query, and the samples are grouped
by the layer their innermost known frame belongs to.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.query_latency import DIM, end_to_end, load_average, synthetic_points, wait_for_model, words  # noqa: E402
from benchmarks.run_all import cpu_description  # noqa: E402
from src.search import DEFAULT_K, Part  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import open_store  # noqa: E402
from tools.random_clip import given_or_full_size  # noqa: E402

QUERY = "w0001 w0002 summer sale"

# py-spy samples grouped by the innermost frame that names a layer (checked leaf first).
LAYERS = [
    ("store query (the engine)", r"EdgeStore\.search|EdgeStore\._reading"),
    ("text encoding (torch)", r"_text_vectors|embed_texts|torch"),
    ("snippets", r"src/snippets\.py|src/terms\.py"),
    ("searcher (channels, folding)", r"src/search\.py"),
    ("services (checks)", r"src/web/services\.py|src/web/backend\.py|src/web/forms\.py"),
    ("JSON answer", r"api_results|JSONResponse|json/"),
    ("access log", r"logging/"),
    ("thread-pool hop", r"anyio/|run_in_threadpool|concurrent/futures|threading\.py"),
    ("FastAPI: routing, parameters, dependencies", r"fastapi/"),
    ("our middleware (guards, headers)", r"src/web/guard\.py|src/web/middleware\.py"),
    ("Starlette", r"starlette/"),
    ("HTTP: uvicorn, h11, connection limits", r"uvicorn/|h11/|src/web/connections\.py"),
    ("event loop", r"asyncio/|selectors"),
]


# A sample's innermost frame when its thread waits: for work, or in the event loop's C code (epoll).
IDLE = r"Condition\.wait|Queue\.get|select \(selectors|_worker \(concurrent|Runner\.run \(asyncio"


def percentile(seconds: list[float], q: float = 50) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000, q))


def build_collection(settings: Settings, size: int, model: str) -> None:
    with open_store(settings, build_in_background=False) as store:
        store.create(model, DIM)
        for batch in synthetic_points(size):
            store.upsert(batch)
        store.build_index(notify=lambda _: None)


def in_process(settings: Settings, queries: int) -> dict[str, list[float]]:
    """Seconds per repeated query through each layer, the layers taking turns."""
    from src.web.app import create_app
    from src.web.forms import SearchForm
    from src.web.rendering import api_results
    from src.web.services import run_search

    app = create_app(settings)
    backend = app.state.backend
    backend.load_model()
    searcher = backend.searcher()
    store = backend.store()
    collapse = settings.collapse_cosine
    form = SearchForm(q=QUERY, negative="", like="", k=str(DEFAULT_K), offset="0", mode="hybrid", category="",
                      has_text="", folder="", orientation="", size="", colour="", format="", min_score="",
                      show_duplicates="", image_key="")
    searcher.search_page(QUERY, DEFAULT_K, "hybrid", collapse=collapse)  # the text vector is cached from here
    channels = searcher._channels([Part(text=QUERY)], QUERY, "hybrid")
    limit = min(2 * DEFAULT_K, 100) + 1
    page = run_search(backend, form)
    loop = asyncio.new_event_loop()
    query_string = urlencode({"q": QUERY, "mode": "hybrid", "k": DEFAULT_K}).encode()

    async def request() -> list[dict]:
        """One GET /api/search handed to the app as the server hands it (no HTTP client in between)."""
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/api/search", "raw_path": b"/api/search", "query_string": query_string,
                 "root_path": "", "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 8000)}
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    layers = {
        "store query": lambda: store.search(channels, limit=limit, with_vectors=True),
        "searcher": lambda: searcher.search_page(QUERY, DEFAULT_K, "hybrid", collapse=collapse),
        "services (run_search)": lambda: run_search(backend, form),
        "JSON answer alone": lambda: api_results(form, page).body,
        "services + JSON": lambda: api_results(form, run_search(backend, form)).body,
        "the app in process (ASGI)": request,
    }

    async def take_turns() -> dict[str, list[float]]:
        """Like store_speed.round_robin, inside one task that lives as long as the run, as a server's
        does (anyio ends its worker threads with the task that started them)."""
        times: dict[str, list[float]] = {name: [] for name in layers}
        order = np.random.default_rng(5)
        for i in range(20 + queries):
            for name in order.permutation(list(layers)):
                started = time.perf_counter()
                if name == "the app in process (ASGI)":
                    sent = await request()
                    assert sent[0]["status"] == 200 and b'"results":[{' in sent[1]["body"], sent[:2]
                else:
                    layers[name]()
                if i >= 20:  # the first 20 rounds warm up
                    times[name].append(time.perf_counter() - started)
        return times

    times = loop.run_until_complete(take_turns())
    loop.close()
    backend.close()
    return times


def served(settings: Settings, model: str, requests: int, spy: bool) -> tuple[list[float], tuple | None]:
    """The floor of the served app, seconds per GET of an unknown API path (a 404 through the same
    server, middleware and router, doing no work); and py-spy's samples of the app answering the
    repeated query, grouped by layer (None without py-spy)."""
    from benchmarks.query_latency import free_port

    spy_path = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    port = free_port()
    env = os.environ | {"QDRANT_PATH": str(settings.qdrant_path), "COLLECTION": settings.collection,
                        "CLIP_MODEL": model}
    server = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = Path(tempfile.mkdtemp(prefix="profile-")) / "samples.txt"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_for_model(client, server)
            floor = []
            for n in range(20 + requests):
                started = time.perf_counter()
                response = client.get("/api/no-such-thing")
                if n >= 20:
                    floor.append(time.perf_counter() - started)
            assert response.status_code == 404, response.status_code
            if not spy or not Path(spy_path).exists():
                return floor, None
            params = {"q": QUERY, "mode": "hybrid", "k": DEFAULT_K}
            for _ in range(20):
                client.get("/api/search", params=params)
            recorder = subprocess.Popen([spy_path, "record", "--pid", str(server.pid), "--rate", "250", "--nonblocking",
                                         "--format", "raw", "--output", str(raw)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            for _ in range(requests):
                client.get("/api/search", params=params)
            recorder.send_signal(signal.SIGINT)  # py-spy writes its samples when interrupted
            recorder.wait(timeout=60)
    finally:
        server.terminate()
        server.wait()
    if not raw.exists():
        return floor, None
    counts: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")
        if not number.isdigit() or re.search(IDLE, frames[-1]):
            continue  # a thread waiting for work, or the event loop in C (mostly waiting in epoll)
        total += int(number)
        counts[next((name for frame in reversed(frames) for name, rule in LAYERS if re.search(rule, frame)),
                    "other")] += int(number)
    return floor, (counts, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--model")
    parser.add_argument("--no-py-spy", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/request_profile.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    model = given_or_full_size(args.model, work / "clip")
    settings = Settings.load(environ={}, qdrant_path=work / "q", collection="bench", clip_model=model,
                             cache_dir=work / "cache")
    started_load = load_average()
    build_collection(settings, args.size, model)
    layers = in_process(settings, args.queries)
    rng = np.random.default_rng(3)
    texts = [" ".join(words(rng, int(rng.integers(1, 5)))) for _ in range(args.queries)]
    distinct, repeated, _ = end_to_end(settings, model, "auto", texts)
    floor, spied = served(settings, model, 2 * args.queries, not args.no_py_spy)

    p50 = {name: percentile(seconds) for name, seconds in layers.items()}
    p50["over HTTP (uvicorn, h11, httpx client)"] = percentile(repeated)
    store = p50["store query"]
    lines = [
        "# Where a request's time goes (benchmarks/request_profile.py)", "",
        f"One run on {cpu_description()}, {time.strftime('%Y-%m-%d %H:%M')}; {args.size:,} points, full-size "
        f"random CLIP; load average {started_load} at the start, {load_average()} at the end (2 cores shared "
        "with other work: the layers took turns query by query, so compare them within this run).", "",
        f"The repeated hybrid query `{QUERY}` (text vector cached), {args.queries} times through each layer; "
        "p50 in ms, and what each layer adds to the one before it.", "",
        "| layer | p50 | adds | p99 |", "|---|---|---|---|",
    ]
    order = ["store query", "searcher", "services (run_search)", "services + JSON", "the app in process (ASGI)",
             "over HTTP (uvicorn, h11, httpx client)"]
    below = 0.0
    for name in order:
        spread = layers.get(name, repeated)
        lines.append(f"| {name} | {p50[name]:.2f} | {p50[name] - below:+.2f} | {percentile(spread, 99):.2f} |")
        below = p50[name]
    lines.append(f"| (JSON answer alone) | {p50['JSON answer alone']:.2f} | | "
                 f"{percentile(layers['JSON answer alone'], 99):.2f} |")
    lines += ["", f"Repeated query over HTTP: {p50['over HTTP (uvicorn, h11, httpx client)']:.2f} ms, "
              f"{p50['over HTTP (uvicorn, h11, httpx client)'] - store:.2f} ms above the store's own query "
              f"({store:.2f} ms). Distinct queries over HTTP: p50 {percentile(distinct):.2f} ms. The served app's "
              f"floor, GET of an unknown API path (a 404 through the same client, server, middleware and router, "
              f"no work): p50 {percentile(floor):.2f} ms, p99 {percentile(floor, 99):.2f}."]
    if spied:
        counts, total = spied
        lines += ["", f"py-spy on the served app answering the repeated query ({total} busy samples at 250 Hz, "
                  "threads waiting for work and the event loop's own C code, mostly waiting in epoll, left out), by "
                  "the innermost frame that names a layer:", "",
                  "| layer | share of busy samples |", "|---|---|"]
        lines += [f"| {name} | {100 * n / total:.1f}% |" for name, n in counts.most_common()]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""In-process graph build vs child-process build with shard swap, on the same collection, in one run.

    python benchmarks/graph_build.py [--size 100000] [--work DIR]

Loads `size` synthetic points once, copies the shard, then builds the HNSW graphs on one copy in a
child process (what `serve --index` does, so searches go on) and on the other in this process (what
`index` does), both at nice 10; prints time, peak memory and disk for each.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.query_latency import synthetic_points  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import open_store  # noqa: E402


def disk_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-build-"))
    child_settings = Settings.load(environ={}, qdrant_path=work / "child", collection="bench")
    here_settings = Settings.load(environ={}, qdrant_path=work / "here", collection="bench")
    with open_store(child_settings) as store:
        store.create("m", 512)
        for batch in synthetic_points(args.size):
            store.upsert(batch)
    shutil.copytree(work / "child", work / "here")
    print(f"{args.size} points loaded; shard {disk_mib(work / 'child'):.0f} MiB", flush=True)

    peak, done = [0.0], threading.Event()

    def watch() -> None:
        while not done.wait(1):
            peak[0] = max(peak[0], disk_mib(work / "child"))

    threading.Thread(target=watch, daemon=True).start()
    with open_store(child_settings, build_in_background=True) as store:
        started = time.perf_counter()
        store.build_index(notify=lambda _: None)
        child = time.perf_counter() - started
    done.set()
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"child process + swap: {child:.1f} s, child peak RSS {child_rss:.0f} MiB, disk peak {peak[0]:.0f} MiB, "
          f"after {disk_mib(work / 'child'):.0f} MiB", flush=True)
    os.nice(10)  # the child's priority
    with open_store(here_settings, build_in_background=False) as store:
        started = time.perf_counter()
        store.build_index(notify=lambda _: None)
        here = time.perf_counter() - started
    here_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"in this process: {here:.1f} s, peak RSS {here_rss:.0f} MiB, disk {disk_mib(work / 'here'):.0f} MiB")
    print(f"child / in-process time: {child / here:.2f} x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

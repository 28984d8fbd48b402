"""`index --check`'s reading of the store, one point at a time against in batches, in one run.

    python benchmarks/check_speed.py [--size 100000] [--keep DIR] [--out FILE]

On the collection benchmarks/eda_scale.py makes (reused from --keep when it is there), times what
check_store() reads to find the points that lack a vector: before, every payload and one retrieve per
point (Store.vector_names); now, the has_text field and Store.vector_layouts() in batches. Both read
every vector back, so a damaged vector file still shows. The comparison of files on disk is the same
in both and left out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eda_scale import MODEL, make_collection  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import open_store  # noqa: E402


def one_by_one(store) -> dict[str, set[str]]:
    return {record.id: store.vector_names(record.id) for record in store.points()}


def batched(store) -> dict[str, set[str]]:
    return store.vector_layouts([record.id for record in store.payloads(["has_text"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="the collection's folder (eda_scale.py --keep), made if missing")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "check_speed.md")
    args = parser.parse_args()
    with contextlib.ExitStack() as cleanup:
        (ROOT / ".cache").mkdir(exist_ok=True)
        work_dir = args.keep or Path(cleanup.enter_context(tempfile.TemporaryDirectory(dir=ROOT / ".cache")))
        settings = Settings.load(environ={}, dataset_dir=work_dir / "ads", qdrant_path=work_dir / "q",
                                 cache_dir=work_dir / "cache", collection="bench", clip_model=MODEL)
        if not (settings.dataset_dir / "labels.csv").exists():
            shutil.rmtree(work_dir, ignore_errors=True)
            settings.dataset_dir.mkdir(parents=True)
            make_collection(settings, args.size)
        times: dict[str, list[float]] = {"one retrieve per point": [], "batched": []}
        with open_store(settings, build_in_background=False) as store:
            points = store.count()
            for _ in range(args.rounds):  # alternated: the machine's other load changes over a run
                for name, read in (("one retrieve per point", one_by_one), ("batched", batched)):
                    started = time.perf_counter()
                    layouts = read(store)
                    times[name].append(time.perf_counter() - started)
                    assert len(layouts) == points
    best = {name: min(seconds) for name, seconds in times.items()}
    lines = [f"# `index --check`'s store reading at {points:,} points (benchmarks/check_speed.py)", "",
             f"One run, embedded store, best of {args.rounds} alternated rounds; load average "
             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end.", "",
             "| how | s | ratio |", "|---|---|---|"]
    lines += [f"| {name} | {s:.2f} | {s / best['batched']:.2f} |" for name, s in best.items()]
    print("\n".join(lines))
    if points >= 100_000:
        args.out.write_text("\n".join(lines) + "\n")
        print(f"\nresults written to {args.out}")


if __name__ == "__main__":
    main()

"""Every speed benchmark in one run (`make bench`): the same machine, the same moment, one model.

    python benchmarks/run_all.py [--quick]

Builds a full-size random-weight CLIP once (ViT-B/32 shapes: the real model's compute), runs each
benchmark with it and writes their output, with the CPU it ran on, to benchmarks/results/bench.md.
Ratios compare within this one run; absolute times differ between machines and sessions.
--quick runs small sizes only (a smoke test of the benchmarks themselves).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL_DIR = ROOT / ".cache" / "bench-clip-vit-b32-random"


def cpu_description() -> str:
    flags = set()
    name = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if f in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(wanted) or 'no AVX2'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not (MODEL_DIR / "config.json").exists():
        from tools.random_clip import build_full_size_clip

        build_full_size_clip(MODEL_DIR)
    model = ["--model", str(MODEL_DIR)]
    # --quick: small sizes, and the full run's results files are left alone.
    latency = (["--sizes", "1000", "--client-sizes", "1000", "--queries", "50", "--out", os.devnull]
               if args.quick else [])
    speed = ["--size", "5000", "--queries", "30", "--peer-queries", "20", "--client-size", "1000",
             "--out", os.devnull] if args.quick else []
    # /EDA and index --check share one synthetic collection, kept in .cache between runs.
    eda_work = ["--keep", str(ROOT / ".cache" / ("bench-eda-2k" if args.quick else "bench-eda-100k"))]
    eda_size = ["--size", "2000", "--searches", "40", "--out", os.devnull] if args.quick else []
    runs = [
        ("CLIP inference: precisions and query encoding", ["benchmarks/inference.py", *model]),
        ("The index step against the bare forward pass, OCR off", ["benchmarks/indexing.py", *model]),
        ("The index step with OCR on, and its ETA",
         ["benchmarks/indexing.py", *model, "--ocr", *(["--rounds", "1", "--eta-seconds", "0"] if args.quick else
                                                       ["--out", "benchmarks/results/indexing_ocr.md"])]),
        ("The index step's rate per OCR_ENGINES choice, words only",
         ["benchmarks/ocr_index_rate.py", *(["--limit", "6", "--rounds", "1"] if args.quick else [])]),
        ("Query latency at 1k, 10k and 100k points", ["benchmarks/query_latency.py", *model, *latency]),
        ("Store levers and peers (faiss, numpy, qdrant-client) at 100k points",
         ["benchmarks/store_speed.py", *speed]),
        ("/EDA at 100k points: first build, cached page, memory, searches meanwhile",
         ["benchmarks/eda_scale.py", *eda_work, *eda_size]),
        ("index --check's store reading, one point at a time against batched",
         ["benchmarks/check_speed.py", *eda_work, *(["--size", "2000", "--out", os.devnull] if args.quick else [])]),
    ]
    sections = [f"# Benchmarks, one run ({time.strftime('%Y-%m-%d %H:%M')})", "",
                f"`make bench` on {cpu_description()}. Compare ratios within this run.", ""]
    for title, command in runs:
        print(f"\n== {title}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        print(done.stdout, end="", flush=True)
        output = "\n".join(line for line in done.stdout.splitlines() if "Writing model shards" not in line)
        sections += [f"## {title}", "", f"`python {' '.join(command[:1] + command[3:])}` "
                     f"({time.perf_counter() - started:.0f} s{', failed' if done.returncode else ''})", "",
                     "```", output.strip(), "```", ""]
        if done.returncode:
            print(f"{title}: failed (exit {done.returncode})", file=sys.stderr)
    out = ROOT / "benchmarks" / "results" / ("bench-quick.md" if args.quick else "bench.md")
    out.write_text("\n".join(sections))
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()

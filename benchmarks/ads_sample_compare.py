"""Text search on the 60 labelled real ads, before and after, in one run: the code this work started from
(commit 767da34) against the code of this checkout, each indexing the ads and answering the same queries.

    python benchmarks/ads_sample_compare.py [--ads ../shared/ads-sample] [--out FILE] [--before COMMIT]

The before code is extracted with `git archive` into .cache/ads-compare/before-<commit>/ and run with this
checkout's python (its requirements are a subset of today's). Each side indexes the ads into a fresh
scratch store (`main.py index`, as `make evaluate-ads-sample` does: DATASET_DIR, QDRANT_PATH, TEXT_DIR,
COLLECTION), its OCR cache kept under .cache/ so that a rerun reads no image again, then searches every
query of evaluation/ads_sample.yaml in text mode, words only (BM25 over the OCR text: the channel that
works without the CLIP weights), to the search's full depth. Both rankings are scored here by this
checkout's evaluation code (its relevance rules and metrics), so the two rows differ in the code that
indexes and searches alone. Skips, saying so, when the ads folder is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.metrics import Scores, mean_scores, score_query  # noqa: E402
from evaluation.queries import QUERY_TYPES, Query, load_queries  # noqa: E402

BEFORE = "767da34"
QUERIES = ROOT / "evaluation" / "ads_sample.yaml"
CACHE = ROOT / ".cache"
DEFAULT_ADS = Path(os.environ.get("ADS_SAMPLE", ROOT.parent / "shared" / "ads-sample"))
K = 10

# Run inside each tree (its own src/ first on the path): search every query, words only, full depth, and
# write the ranked point ids and which point shows each file. Written against what both versions have:
# Settings.load, the store (open_store today, Store before the store package), Searcher.search.
DRIVER = r"""
import json, sys
from src.settings import Settings
from src.search import MAX_K, Searcher
try:
    from src.store import open_store
except ImportError:
    from src.store import Store as open_store
queries = json.load(open(sys.argv[1], encoding="utf-8"))
with open_store(Settings.load()) as store:
    files = {}
    for pid, record in store.file_records().items():
        for name in [record.get("path")] + list(record.get("duplicates") or []):
            if name:
                files[name] = pid
    searcher = Searcher(None, store)
    ranked = [[hit.id for hit in searcher.search(text, MAX_K, "text", words_only=True)] for text in queries]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump({"files": files, "ranked": ranked}, out)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ads", type=Path, default=DEFAULT_ADS, help="the ads-sample folder (images/, labels.csv)")
    parser.add_argument("--out", type=Path, help="Markdown results file (default: print only)")
    parser.add_argument("--before", nargs="+", default=[BEFORE], metavar="COMMIT",
                        help=f"the commit measured as before (default {BEFORE}); more commits add rows between "
                             "it and this checkout, the ratio stays against the first")
    parser.add_argument("--queries", type=Path, default=QUERIES)
    args = parser.parse_args()
    images, labels = args.ads.resolve() / "images", args.ads.resolve() / "labels.csv"
    if not images.is_dir() or not labels.is_file():
        print(f"skipped: no labelled real ads at {args.ads} (images/ and labels.csv); pass --ads DIR or set "
              "ADS_SAMPLE to where ads-sample is")
        return 0
    queries = load_queries(args.queries, images, labels)
    sides = [(f"{'before' if n == 0 else 'commit'} {commit}", extract(commit), CACHE / "ads-compare" / f"{commit}-text")
             for n, commit in enumerate(args.before)]
    sides.append((f"after (this checkout, {checkout()})", ROOT, CACHE / "ads-sample" / "text"))  # evaluate-ads-sample's
    rows = []
    for name, tree, text_dir in sides:
        print(f"== {name}: index {images} (OCR cache {text_dir.relative_to(ROOT)}), then search", flush=True)
        rows.append((name, *measure(tree, images, text_dir, queries)))
    table = report(rows, queries, args)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        print(f"written: {args.out}")
    return 0


def checkout() -> str:
    """This checkout's commit, "+ changes" when its tracked files differ from it."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"], capture_output=True).returncode
    return (head.stdout.strip() or "no git") + (" + changes" if dirty else "")


def extract(commit: str) -> Path:
    """The before code's src/ and main.py in .cache/ads-compare/before-<commit>/ (extracted once)."""
    tree = CACHE / "ads-compare" / commit
    if not (tree / ".extracted").is_file():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src", "main.py"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        (tree / ".extracted").write_text(commit + "\n")
    return tree


def measure(tree: Path, images: Path, text_dir: Path, queries: list[Query]) -> tuple[list, float]:
    """Index the ads with the code in tree into a fresh store, search every query: ([(query, scores,
    results returned)], seconds the index step took)."""
    scratch = CACHE / "ads-compare" / ("store-" + tree.name if tree != ROOT else "store-after")
    shutil.rmtree(scratch, ignore_errors=True)
    env = {key: value for key, value in os.environ.items() if key not in ("OCR_ENGINES", "OCR")}
    env |= {"DATASET_DIR": str(images), "QDRANT_PATH": str(scratch), "TEXT_DIR": str(text_dir.resolve()),
            "COLLECTION": "ads_sample", "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "main.py", "index", "--no-progress"], cwd=tree, env=env, check=True)
    seconds = time.perf_counter() - started
    print(f"index step: {seconds:.0f} s", flush=True)
    with tempfile.TemporaryDirectory() as work:
        asked, answered = Path(work) / "queries.json", Path(work) / "ranked.json"
        asked.write_text(json.dumps([q.text for q in queries]), encoding="utf-8")
        subprocess.run([sys.executable, "-c", DRIVER, str(asked), str(answered)], cwd=tree, env=env, check=True)
        found = json.loads(answered.read_text(encoding="utf-8"))
    results = []
    for query, ranked in zip(queries, found["ranked"]):
        # Judged by content, as the evaluation does: a file and its duplicates are one point.
        relevant = {found["files"].get(name, f"not indexed: {name}") for name in query.relevant}
        results.append((query, score_query(ranked, relevant, K) if query.relevant else None, len(ranked)))
    return results, seconds


def report(rows: list, queries: list[Query], args: argparse.Namespace) -> str:
    kinds = [kind for kind in QUERY_TYPES if any(q.type == kind for q in queries)]

    def mean(results: list, kind: str | None = None) -> tuple[int, Scores | None]:
        scores = [s for q, s, _ in results if s is not None and kind in (None, q.type)]
        return len(scores), mean_scores(scores)

    lines = [
        "# Text search on the 60 labelled real ads, before and after, one run",
        "",
        f"`python benchmarks/ads_sample_compare.py --ads {args.ads}"
        f"{' --before ' + ' '.join(args.before) if args.before != [BEFORE] else ''}` (`make compare-ads-sample`), "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs. Each side indexes the ads into a fresh store "
        f"(OCR from its cache under `.cache/`) and searches the {len(queries)} queries of "
        f"`{args.queries.relative_to(ROOT) if args.queries.is_relative_to(ROOT) else args.queries}` in text "
        "mode, words only (BM25 over the OCR text), to the search's full depth (100); both rankings are "
        "scored by this checkout's evaluation code. Before: commit "
        f"{args.before[0]}{' (tesseract, plain lower-case terms)' if args.before[0] == BEFORE else ''}. After: "
        "this checkout, default `OCR_ENGINES`. Results per query: how many ads a query returns (at most 100); "
        "BM25 returns every ad that shares a term with the query.",
        "",
        f"| code | queries | P@{K} | R@{K} | mAP | MRR | nDCG@{K} | results per query (mean, median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, results, _ in rows:
        count, s = mean(results)
        returned = [n for _, _, n in results]
        cells = [f"{v:.3f}" for v in (s.precision, s.recall, s.ap, s.rr, s.ndcg)] if s else ["—"] * 5
        lines.append(f"| {name} | {count} | {' | '.join(cells)} | {statistics.mean(returned):.1f}, "
                     f"{statistics.median(returned):g} |")
    lines += ["", "mAP per query type:", "",
              "| code | " + " | ".join(f"{kind} ({mean(rows[0][1], kind)[0]})" for kind in kinds) + " |",
              "| --- |" + " --- |" * len(kinds)]
    for name, results, _ in rows:
        cells = [mean(results, kind)[1] for kind in kinds]
        lines.append(f"| {name} | " + " | ".join(f"{c.ap:.3f}" if c else "—" for c in cells) + " |")
    (_, before), (_, after) = mean(rows[0][1]), mean(rows[-1][1])
    if before and after and before.ap:
        per_kind = [(kind, mean(rows[0][1], kind)[1], mean(rows[-1][1], kind)[1]) for kind in kinds]
        ratios = ", ".join(f"{kind} {a.ap / b.ap:.2f}x" for kind, b, a in per_kind if a and b and b.ap)
        lines += ["", f"After against before: mAP {after.ap:.3f} / {before.ap:.3f} = **{after.ap / before.ap:.2f}x** "
                      f"overall ({ratios})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

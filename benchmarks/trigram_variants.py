"""Which letter trigrams an ad's BM25 vector should carry (src/terms.py), measured on the 60 labelled real
ads: each variant indexes the ads' OCR text into a fresh Qdrant Edge store and answers the 48 queries of
evaluation/ads_sample.yaml, words only, to the search's full depth (100), as benchmarks/ads_sample_compare.py
does; the chosen design runs through src/terms.py itself, the others through the rules below.

    python benchmarks/ads_sample_compare.py          # first: indexes the ads, leaves the store this reads
    python benchmarks/trigram_variants.py [--ads ../shared/ads-sample] [--out FILE] [--load 100000]

Per variant: mAP, MRR, P@10; the BM25 terms an ad carries (distinct, mean); results a query returns;
and the mAP with every ad a query did not return appended in random order (mean of 20 orders), which
gives every variant the same depth: on 60 ads a longer list earns average precision by itself. --load N
also times a BM25-only bulk load of N ads made of the sample's words, with all trigrams and as chosen.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.metrics import mean_scores, score_query  # noqa: E402
from evaluation.queries import load_queries  # noqa: E402
from src import terms as T  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import Point, SparseVector, Vectors, open_store  # noqa: E402

DEFAULT_ADS = Path(os.environ.get("ADS_SAMPLE", ROOT.parent / "shared" / "ads-sample"))
STORE = ROOT / ".cache" / "ads-compare" / "store-after"  # what ads_sample_compare.py leaves
PADDED_ORDERS = 20

# A variant's rules: which words give trigrams in an ad ("oov": only those beyond this rank of the
# segmenter's vocabulary, or not in it at all), the padding ("both", "none", "start", "end"), every
# step-th trigram of a word, trigrams in more than max_df of the ads dropped, at most cap trigrams an ad
# (kept: "rare" the rarest in English, "collection" the rarest in these ads, "text" the first), min stem
# letters. The query side always takes every trigram of each word, padded as the ad's are.
VARIANTS: dict[str, dict] = {
    "no trigrams (commit 8ecd69d)": {"none": True},
    "every trigram of every word (terms v3)": {},
    "words beyond the 10,000 most common only": {"oov": 10_000},
    "words out of the vocabulary (126k) only": {"oov": 10**9},
    "no padding": {"pad": "none"},
    "padding at the start only": {"pad": "start"},
    "padding at the end only": {"pad": "end"},
    "stems of 5+ letters": {"min": 5},
    "trigrams in > 20% of the ads dropped": {"max_df": 0.2},
    "trigrams in > 10% of the ads dropped": {"max_df": 0.1},
    "trigrams in > 5% of the ads dropped": {"max_df": 0.05},
    "at most 40 an ad, rarest in English": {"cap": 40, "keep": "rare"},
    "at most 40 an ad, rarest in these ads": {"cap": 40, "keep": "collection"},
    "at most 20 an ad, rarest in these ads": {"cap": 20, "keep": "collection"},
    "every 2nd trigram": {"step": 2},
    "every 3rd trigram": {"step": 3},
    "every 3rd, words beyond the 10,000 most common only": {"step": 3, "oov": 10_000},
    "every 3rd, at most 40 an ad, first in the text": {"step": 3, "cap": 40, "keep": "text"},
    "every 3rd, at most 30 an ad, rarest in English": {"step": 3, "cap": 30, "keep": "rare"},
    "every 3rd, at most 40 an ad, rarest in English (chosen: terms v4)": {"chosen": True},
}


def word_grams(text: str, rules: dict, ad: bool) -> list[list[str]]:
    found = []
    for _, token in T._tokens(text):
        stem = T._stem(token)
        if sum(c.isalpha() for c in stem) < rules.get("min", T.GRAM_MIN_LETTERS):
            continue
        if ad and "oov" in rules and T._RANK.get(token, 10**9) < rules["oov"]:
            continue
        left, right = {"both": ("^", "$"), "none": ("", ""), "start": ("^", ""), "end": ("", "$")}[
            rules.get("pad", "both")]
        padded = f"{left}{stem}{right}"
        step = rules.get("step", 1) if ad else 1
        grams = [T.GRAM_PREFIX + padded[i : i + 3] for i in range(0, len(padded) - 2, step)]
        if grams:
            found.append(grams)
    return found


def vectors(rules: dict, texts: dict[str, str]) -> tuple[Callable, Callable]:
    """(ad text -> sparse vector, query -> sparse vector) of a variant."""
    if rules.get("chosen"):
        return T.document_vector, T.query_vector
    if rules.get("none"):
        return (lambda text: T._sparse(_bm25(Counter(T.terms(text)), {})),
                lambda text: T._sparse(dict.fromkeys(T.terms(text), 1.0)))
    df = Counter(gram for text in texts.values() for gram in {g for w in word_grams(text, rules, True) for g in w})

    def ad(text: str) -> tuple[list[int], list[float]]:
        grams: dict[str, float] = {}
        for word in word_grams(text, rules, True):
            for gram in word:
                if df[gram] / len(texts) <= rules.get("max_df", 1.0):
                    grams[gram] = grams.get(gram, 0.0) + T.GRAM_WEIGHT
        if len(grams) > rules.get("cap", 10**9):
            key = {"rare": lambda g: T._commonness().get(g, 0.0), "collection": lambda g: df[g],
                   "text": lambda g: 0}[rules["keep"]]
            grams = {gram: grams[gram] for gram in sorted(grams, key=key)[: rules["cap"]]}
        return T._sparse(_bm25(Counter(T.terms(text)), grams))

    def query(text: str) -> tuple[list[int], list[float]]:
        weights = dict.fromkeys(T.terms(text), 1.0)
        for word in word_grams(text, rules, False):
            for gram in word:
                weights[gram] = weights.get(gram, 0.0) + 1 / len(word)
        return T._sparse(weights)

    return ad, query


def _bm25(words: Counter[str], grams: dict[str, float]) -> dict[str, float]:
    norm = T.K1 * (1 - T.B + T.B * sum(words.values()) / T.AVERAGE_TERMS)
    return {term: tf * (T.K1 + 1) / (tf + norm) for term, tf in (dict(words) | grams).items()}


def fresh_store(tmp: str, name: str):
    return open_store(Settings.load(environ={}, qdrant_path=Path(tmp) / name, collection="v", embedded_engine="edge"))


def measure(rules: dict, texts: dict[str, str], files: dict[str, str], queries: list) -> dict:
    ad, query = vectors(rules, texts)
    with tempfile.TemporaryDirectory() as tmp, fresh_store(tmp, "q") as store:
        store.create(None, None)
        made = {pid: ad(text) for pid, text in texts.items()}
        store.upsert([Point(pid, Vectors(bm25=SparseVector(*vector)), {"path": pid, "text": texts[pid]})
                      for pid, vector in made.items()])
        scores, padded, returned = [], [], []
        for q in queries:
            indices, values = query(q.text)
            hits = store.search(Vectors(bm25=SparseVector(indices, values)), limit=100) if indices else []
            ranked = [hit.id for hit in hits]
            returned.append(len(ranked))
            relevant = {files.get(name, f"not indexed: {name}") for name in q.relevant}
            if not q.relevant:
                continue
            scores.append(score_query(ranked, relevant, 10))
            rest = [pid for pid in texts if pid not in ranked]
            orders = []
            for seed in range(PADDED_ORDERS):
                random.Random(seed).shuffle(rest)
                orders.append(score_query(ranked + rest, relevant, 10).ap)
            padded.append(statistics.mean(orders))
    mean = mean_scores(scores)
    assert mean is not None
    return {"mAP": mean.ap, "MRR": mean.rr, "P@10": mean.precision, "padded": statistics.mean(padded),
            "terms": statistics.mean(len(indices) for indices, _ in made.values()),
            "results": statistics.mean(returned), "median": statistics.median(returned)}


def bulk_load(size: int, texts: dict[str, str]) -> list[str]:
    """Seconds to make and load size BM25-only points of ad-like text (the sample's words, shuffled
    into ads of the sample's lengths): without trigrams, with all of them, with the chosen ones."""
    rng = random.Random(0)
    pool = [word for text in texts.values() for word in text.split()]
    lengths = [len(text.split()) for text in texts.values()]
    made = [" ".join(rng.choices(pool, k=rng.choice(lengths))) for _ in range(size)]
    lines = []
    for name, rules in (("no trigrams", {"none": True}), ("every trigram of every word (terms v3)", {}),
                        ("every 3rd, at most 40 an ad (terms v4)", {"chosen": True})):
        ad, _ = vectors(rules, dict(enumerate(made[:1000])))  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory() as tmp, fresh_store(tmp, "load") as store:
            store.create(None, None)
            started = time.perf_counter()
            for start in range(0, size, 256):
                store.upsert([Point(f"00000000-0000-4000-8000-{n:012d}", Vectors(bm25=SparseVector(*ad(made[n]))),
                                    {"path": str(n)}) for n in range(start, min(start + 256, size))])
            seconds = time.perf_counter() - started
            lines.append(f"{name}: {seconds:.0f} s")
            print(lines[-1], flush=True)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ads", type=Path, default=DEFAULT_ADS)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--load", type=int, default=0, help="also time a BM25 bulk load of this many ads")
    args = parser.parse_args()
    images, labels = args.ads.resolve() / "images", args.ads.resolve() / "labels.csv"
    if not images.is_dir() or not labels.is_file() or not STORE.is_dir():
        print(f"skipped: needs the labelled ads at {args.ads} and the store {STORE} that "
              "benchmarks/ads_sample_compare.py leaves (run it first)")
        return 0
    queries = load_queries(ROOT / "evaluation" / "ads_sample.yaml", images, labels)
    with open_store(Settings.load(environ={}, qdrant_path=STORE, collection="ads_sample")) as store:
        records = store.file_records()
        files = {name: pid for pid, record in records.items()
                 for name in [record.get("path"), *(record.get("duplicates") or [])] if name}
        texts = store.texts_of(list(records))
    lines = [
        "# Letter trigram variants on the 60 labelled real ads",
        "",
        f"`python benchmarks/trigram_variants.py{' --load ' + str(args.load) if args.load else ''}`, "
        f"{datetime.now(UTC):%Y-%m-%d}: {len(queries)} queries of `evaluation/ads_sample.yaml`, text mode, words "
        "only, full depth (100), one fresh Qdrant Edge store per variant. Terms: distinct BM25 terms an ad "
        "carries (words and trigrams). Results: ads a query returns. Padded mAP: each ranking with every ad "
        f"it left out appended in random order (mean of {PADDED_ORDERS} orders), so that every variant is "
        "scored at the same depth; on 60 ads a longer list earns average precision by itself.",
        "",
        "| variant | mAP | MRR | P@10 | terms an ad | results a query (mean, median) | padded mAP |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rules in VARIANTS.items():
        m = measure(rules, texts, files, queries)
        lines.append(f"| {name} | {m['mAP']:.3f} | {m['MRR']:.3f} | {m['P@10']:.3f} | {m['terms']:.1f} | "
                     f"{m['results']:.1f}, {m['median']:g} | {m['padded']:.3f} |")
        print(lines[-1], flush=True)
    if args.load:
        lines += ["", f"BM25-only bulk load of {args.load:,} ads made of the sample's words (vectors made and "
                      "upserted in batches of 256, Qdrant Edge):", ""]
        lines += [f"- {line}" for line in bulk_load(args.load, texts)]
    table = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(table, encoding="utf-8")
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

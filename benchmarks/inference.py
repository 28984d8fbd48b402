"""CLIP inference on this CPU: each precision against fp32, and query-text encoding, in one run.

    python benchmarks/inference.py [--model DIR] [--images DIR] [--batch 32]

Without --model it builds a full-size random-weight CLIP (ViT-B/32 shapes: the real model's compute).
Images default to ../shared/ads-sample/images (real ads), else the bundled dataset/. Prints images/s per
precision, the ratio to fp32 and the worst cosine to fp32 vectors; text encoding padded to the query's
own length against 77 tokens; and a repeated query served from the searcher's cache.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.embedding import ClipEmbedder, on_torch_thread  # noqa: E402
from src.images import decode_image, find_images  # noqa: E402
from src.precision import cpu_has_bf16  # noqa: E402
from src.search import Searcher  # noqa: E402
from tools.random_clip import given_or_full_size  # noqa: E402

QUERIES = ["woman running in the hills", "audi", "50% off", "a cup of coffee on a wooden table", "red sports car"]


def per_second(work, count: int, repeats: int = 3) -> float:
    work()  # warm-up: first calls allocate and pick kernels
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    return count * repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved CLIP folder (default: a full-size random-weight one)")
    parser.add_argument("--images", type=Path)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    images_dir = args.images or next(
        p for p in (ROOT.parent / "shared/ads-sample/images", ROOT / "dataset") if p.is_dir())
    model = given_or_full_size(args.model, Path(tempfile.mkdtemp(prefix="clip-random-")))
    files, _ = find_images(images_dir)
    images = [decode_image(f.abs_path, min_side=224).image for f in files[: args.batch]]
    print(f"{len(images)} images from {images_dir}; model {model}; bf16 instructions: {cpu_has_bf16()}")

    fp32 = ClipEmbedder(model, precision="fp32").load()
    reference = fp32.embed_images(images)
    rows = []
    for precision in ["fp32", "bf16", "int8"]:
        embedder = fp32 if precision == "fp32" else ClipEmbedder(model, precision=precision).load()
        rate = per_second(lambda embedder=embedder: embedder.embed_images(images), len(images))
        cosine = float(np.min(np.sum(embedder.embed_images(images) * reference, axis=1)))
        rows.append((precision, rate, cosine))
    base = rows[0][1]
    print(f"\n{'precision':10} {'images/s':>9} {'x fp32':>7} {'worst cosine':>13}")
    for precision, rate, cosine in rows:
        print(f"{precision:10} {rate:9.2f} {rate / base:7.2f} {cosine:13.5f}")

    auto = ClipEmbedder(model).load()
    print(f"\nauto picks {auto.precision.precision}: {auto.precision.why}")
    tokenizer, text_model = auto._processor.tokenizer, auto._model

    def encode(padding) -> None:
        for query in QUERIES:
            inputs = tokenizer([query], padding=padding, max_length=77, truncation=True, return_tensors="pt")
            text_model.get_text_features(**inputs)

    def timed_encoding(padding) -> float:
        import torch

        with torch.inference_mode():
            return per_second(lambda: encode(padding), len(QUERIES))

    # On the torch thread, as the app runs the model (src/embedding.py says why).
    own = on_torch_thread(timed_encoding, True)
    padded = on_torch_thread(timed_encoding, "max_length")
    print(f"\nquery text encoding ({auto.precision.precision}): own length {1000 / own:.1f} ms, "
          f"77 tokens {1000 / padded:.1f} ms ({own / padded:.2f}x faster)")

    class NoStore:  # the text vectors' cache is what is measured: the store's share is left out
        sees_every_write = False  # and no result page is kept, which would skip the cache measured

        def search(self, channels, limit, **options):
            return []

    searcher = Searcher(auto, NoStore())
    first = per_second(lambda: [Searcher(auto, NoStore()).search(q, mode="image") for q in QUERIES], len(QUERIES), 1)
    repeat = per_second(lambda: [searcher.search(q, mode="image") for q in QUERIES], len(QUERIES))
    print(f"repeated query: {1000 / repeat:.3f} ms from the cache against {1000 / first:.1f} ms encoded "
          f"({repeat / first:.0f}x)")


if __name__ == "__main__":
    main()

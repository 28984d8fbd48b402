"""The index step against its compute limit, in one run: the whole pipeline (find, hash, decode, resize,
embed, upsert) against the model's bare forward pass on already-decoded images of the same batch size.

    python benchmarks/indexing.py [--model DIR] [--images DIR] [--precision auto] [--batch 32] [--ocr]

Without --model a full-size random-weight CLIP is built (the real model's compute). OCR is off unless
--ocr: with it, the pipeline is bounded by the slower of OCR and embedding, which it overlaps.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.embedding import ClipEmbedder  # noqa: E402
from src.images import decode_image, file_sha256, find_images  # noqa: E402
from src.indexing import index_folder  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import open_store  # noqa: E402
from src.text_cache import TextCache  # noqa: E402
from src.text_reading import TextReader  # noqa: E402
from tools.random_clip import given_or_full_size  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--images", type=Path, default=ROOT / "dataset")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--ocr", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    model = given_or_full_size(args.model, work / "clip")
    embedder = ClipEmbedder(model, precision=args.precision).load()
    files, _ = find_images(args.images)
    print(f"{len(files)} images from {args.images}; {embedder.precision.precision}; batch {args.batch}")

    # The limit: the model alone on one batch of images decoded beforehand (best of three).
    batch = [decode_image(f.abs_path, min_side=embedder.input_size).image for f in files[: args.batch]]
    embedder.embed_images(batch)
    bare = 0.0
    for _ in range(3):
        started = time.perf_counter()
        embedder.embed_images(batch)
        bare = max(bare, len(batch) / (time.perf_counter() - started))

    settings = Settings.load(environ={}, qdrant_path=work / "qdrant", text_dir=work / "text")
    reader = TextReader(TextCache(settings.text_dir, settings.ocr_langs)) if args.ocr else None
    try:
        with open_store(settings) as store:
            report = index_folder(args.images, embedder, store, args.batch, progress=False, reader=reader)
    finally:
        if reader:
            reader.close()
    pipeline = report.indexed / report.embedding_seconds
    print(f"bare forward pass   {bare:7.2f} images/s")
    if not args.ocr:
        print(f"whole pipeline      {pipeline:7.2f} images/s  ({pipeline / bare:.0%} of the bare pass)")
        return
    # OCR alone, on a cold cache, with the same worker processes: with both on, the pipeline should be
    # bounded by the slower of the two, not their sum.
    with TextReader(TextCache(work / "text-alone", settings.ocr_langs)) as alone:
        started = time.perf_counter()
        for pending in [alone.submit(f.path, f.abs_path, file_sha256(f.abs_path)) for f in files]:
            alone.result(pending)
        ocr = len(files) / (time.perf_counter() - started)
    slower, summed = min(bare, ocr), 1 / (1 / bare + 1 / ocr)
    print(f"OCR alone           {ocr:7.2f} images/s")
    print(f"whole pipeline      {pipeline:7.2f} images/s  ({pipeline / slower:.0%} of the slower of the two; "
          f"{pipeline / summed:.2f}x the rate if they ran one after the other, {summed:.2f} images/s)")


if __name__ == "__main__":
    main()

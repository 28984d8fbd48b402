"""The index step's rate with each OCR_ENGINES choice, side by side in one run: the default engines
against tesseract alone (the issue's target: at least half its rate).

    python benchmarks/ocr_index_rate.py [--images DIR] [--limit N] [--rounds R]

Each setting indexes the same images into a fresh store with a cold OCR cache, words only (no image
model: OCR is the index step's bottleneck, and the model's time would be the same for both). The
settings take turns, R rounds, so that a change in the shared machine's load hits both alike; the
figure is the total images over the total time of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.images import find_images  # noqa: E402
from src.indexing import index_folder  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import open_store  # noqa: E402
from src.text_cache import TextCache  # noqa: E402
from src.text_reading import TextReader  # noqa: E402

SHARED = Path(os.environ.get("ADS_SAMPLE", ROOT.parent / "shared" / "ads-sample")) / "images"
SETTINGS = [("tesseract",), ("ppocr", "tesseract"), ("ppocr",)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=SHARED if SHARED.is_dir() else ROOT / "dataset")
    parser.add_argument("--limit", type=int, default=24, help="images per round (default 24)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ocr-rate-"))
    folder = work / "images"
    folder.mkdir()
    files, _ = find_images(args.images)
    for f in files[: args.limit]:
        shutil.copy(f.abs_path, folder / Path(f.path).name)
    print(f"{min(len(files), args.limit)} images from {args.images}, {args.rounds} rounds, "
          f"{os.cpu_count()} CPUs, OCR in {os.cpu_count()} worker processes")
    totals = {engines: [0, 0.0] for engines in SETTINGS}
    for round_number in range(args.rounds):
        for engines in SETTINGS:
            name = f"{'-'.join(engines)}-{round_number}"
            settings = Settings.load(environ={}, qdrant_path=work / name / "q", text_dir=work / name / "text")
            with TextReader(TextCache(settings.text_dir, "eng"), engines=engines) as reader:
                reader.result(reader.submit("warm-up", folder / Path(files[0].path).name, "warm-up"))  # models load
                with open_store(settings) as store:
                    started = time.perf_counter()
                    report = index_folder(folder, None, store, progress=False, reader=reader)
                    totals[engines][0] += report.indexed
                    totals[engines][1] += time.perf_counter() - started
    base = totals[("tesseract",)][0] / totals[("tesseract",)][1]
    for engines, (images, seconds) in totals.items():
        rate = images / seconds
        print(f"OCR_ENGINES={','.join(engines):16s} {rate:6.2f} images/s  ({rate / base:.0%} of tesseract alone)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

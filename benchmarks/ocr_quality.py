"""How well each OCR engine setting reads ads, and how fast.

    python benchmarks/ocr_quality.py [--images DIR --reference DIR] [--limit N] [--only NAME ...]

Two sets, because neither is enough alone:
  real     60 real ads (../shared/ads-sample, or ADS_SAMPLE); the reference is an earlier OCR pass, noisy
           and sometimes empty, so it rewards readings that make the same mistakes. Ads with an empty
           reference are left out of the text metrics. Brands come from its labels.csv.
  bundled  the project's generated ads (dataset/labels.csv): the exact visible text, and the brand.

Metrics, on lowercase text with whitespace folded:
  CER        edit distance / reference length, summed over the ads (lower is better)
  recall     share of reference words (3+ letters or digits) found among the words read; a word PP-OCR ran
             together with others ("UPTO50%OFF") counts as found when the search would find it
             (src/terms.py splits such runs)
  precision  share of words read (3+ letters or digits) that are in the reference: junk lowers it
  brand      share of ads whose brand name is read (as the search would match it)
  img/s      images per second of one process (settings run side by side in --jobs processes, one
             ONNX Runtime thread each)
Results go to stdout and benchmarks/results/ocr_quality.md.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tesseract_variants import TesseractVariant  # noqa: E402

from src.images import decode_image, image_extensions  # noqa: E402
from src.ocr import Engine, OcrError, merge  # noqa: E402
from src.ocr.ppocr import PpOcrEngine  # noqa: E402
from src.ocr.tesseract import CHOSEN, Pipeline, TesseractEngine  # noqa: E402
from src.terms import terms  # noqa: E402

SHARED = Path(os.environ.get("ADS_SAMPLE", ROOT.parent / "shared" / "ads-sample"))
RESULTS = ROOT / "benchmarks" / "results" / "ocr_quality.md"


@dataclass(frozen=True)
class Setting:
    """An engine setting: the engines it reads with, most trusted first."""

    name: str
    engines: Callable[[], list[Engine]]
    product: bool = False  # an OCR_ENGINES choice


_RAW = Pipeline("raw", grayscale=False, min_short_side=0, rotate=False, min_conf=0, clean=False)
_BASE = replace(CHOSEN, rotate=False)  # grey + enlarged + cleaned, psm 3, one pass, no rotation
ppocr = lambda **kw: lambda: [PpOcrEngine(threads=1, **kw)]  # noqa: E731
tess = lambda label, **kw: lambda: [TesseractVariant(label, **kw)]  # noqa: E731
SETTINGS = [
    Setting("OCR_ENGINES=ppocr,tesseract", lambda: [PpOcrEngine(threads=1), TesseractEngine()], product=True),
    Setting("OCR_ENGINES=ppocr", ppocr(), product=True),
    Setting("OCR_ENGINES=tesseract", lambda: [TesseractEngine()], product=True),
    Setting("tesseract,ppocr (tesseract trusted first)", lambda: [TesseractEngine(), PpOcrEngine(threads=1)]),
    Setting("ppocr, detector at 2000 px", ppocr(detect_max_side=2000)),
    Setting("ppocr, detector at 640 px", ppocr(detect_max_side=640)),
    Setting("ppocr + angle classifier", ppocr(angle_classifier=True)),
    Setting("tesseract raw defaults", tess("raw", pipeline=_RAW)),
    Setting("tesseract grey + cleaning", tess("grey", pipeline=replace(_BASE, min_short_side=0))),
    Setting("tesseract + otsu", tess("otsu", pipeline=_BASE, threshold="otsu")),
    Setting("tesseract + adaptive threshold", tess("adaptive", pipeline=_BASE, threshold="adaptive")),
    Setting("tesseract + inverted pass", tess("inverted", pipeline=_BASE, invert_pass=True)),
    Setting("tesseract psm 11", tess("psm 11", pipeline=replace(_BASE, psm=11))),
    Setting("tesseract, osd rotation", tess("osd", osd=True)),
]


@dataclass(frozen=True)
class Sample:
    set: str  # "real" or "bundled"
    path: Path
    reference: str
    brand: str | None = None


def load_samples(images: Path, reference: Path, dataset: Path, limit: int | None) -> list[Sample]:
    samples: list[Sample] = []
    if images.is_dir():
        brands = {}
        if (images.parent / "labels.csv").is_file():
            with open(images.parent / "labels.csv", newline="", encoding="utf-8") as handle:
                brands = {row["file"]: row.get("brand") or None for row in csv.DictReader(handle)}
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in image_extensions())[:limit]
        for path in files:
            ref = reference / f"{path.name}.txt"
            samples.append(Sample("real", path, ref.read_text(errors="replace") if ref.exists() else "",
                                  brands.get(path.name)))
    else:
        print(f"note: {images} not found, measuring the bundled set only", file=sys.stderr)
    with open(dataset / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    samples += [Sample("bundled", dataset / r["file"], r["text"].replace(" | ", "\n"), r["brand"] or None)
                for r in rows]
    return samples


# --- metrics --------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W_]+", text.lower()) if len(w) >= 3]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row at a time: insertions are a running minimum along the row."""
    if not a or not b:
        return len(a) + len(b)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    steps = np.arange(len(b) + 1)
    row = steps.copy()
    for i, char in enumerate(a, start=1):
        substitute = row[:-1] + (codes_b != ord(char))
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(substitute, row[1:] + 1)  # substitution or deletion
        row = np.minimum.accumulate(best - steps) + steps  # then insertions
    return int(row[-1])


def brand_found(brand: str, text: str) -> bool:
    """Every term of the brand is a term of the text, as the search matches them."""
    return set(terms(brand)) <= set(terms(text))


@dataclass
class Score:
    images: int = 0
    seconds: float = 0.0
    errors: int = 0
    edits: int = 0
    ref_chars: int = 0
    ref_words: int = 0
    ref_words_found: int = 0
    out_words: int = 0
    out_words_in_ref: int = 0
    brands: int = 0
    brands_found: int = 0

    def add(self, sample: Sample, text: str, seconds: float, failed: bool) -> None:
        self.images += 1
        self.seconds += seconds
        self.errors += failed
        reference = normalise(sample.reference)
        if reference:
            self.edits += edit_distance(normalise(text), reference)
            self.ref_chars += len(reference)
            ref_words, out_words = words(reference), words(text)
            self.ref_words += len(ref_words)
            out_set, ref_set = set(out_words) | {t for t in terms(text) if len(t) >= 3}, set(ref_words)
            self.ref_words_found += len([w for w in ref_words if w in out_set])
            self.out_words += len(out_words)
            self.out_words_in_ref += len([w for w in out_words if w in ref_set])
        if sample.brand:
            self.brands += 1
            self.brands_found += brand_found(sample.brand, text)

    def row(self) -> list[str]:
        ratio = lambda part, whole: f"{part / whole:.3f}" if whole else "-"  # noqa: E731
        return [
            ratio(self.edits, self.ref_chars),
            ratio(self.ref_words_found, self.ref_words),
            ratio(self.out_words_in_ref, self.out_words),
        ]


# --- running --------------------------------------------------------------------------------------


_ENGINES: dict[str, list[Engine]] = {}  # per worker process: models load once per setting


def ocr_one(job: tuple[Path, int]) -> tuple[str, float, bool]:
    path, number = job
    setting = SETTINGS[number]
    engines = _ENGINES.setdefault(setting.name, setting.engines())
    started = time.perf_counter()
    try:
        image = decode_image(path).image
        text, failed = merge([engine.read(image) for engine in engines]).text, False
    except OcrError:
        text, failed = "", True
    return text, time.perf_counter() - started, failed


def _warm(number: int) -> None:
    setting = SETTINGS[number]
    _ENGINES.setdefault(setting.name, setting.engines())


def measure(number: int, samples: list[Sample], pool) -> dict[str, Score]:
    scores = {"real": Score(), "bundled": Score()}
    pool.map(_warm, [number] * 4)  # model loading is not reading
    for sample, (text, seconds, failed) in zip(samples, pool.map(ocr_one, [(s.path, number) for s in samples])):
        scores[sample.set].add(sample, text, seconds, failed)
    return scores


def table(settings: list[Setting], results: list[dict[str, Score]]) -> list[str]:
    head = ["setting", "real CER", "real recall", "real precision", "real brand", "bundled CER",
            "bundled recall", "bundled precision", "bundled brand", "img/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for setting, scores in zip(settings, results):
        real, bundled = scores["real"], scores["bundled"]
        images = real.images + bundled.images
        brand = lambda s: f"{s.brands_found / s.brands:.3f}" if s.brands else "-"  # noqa: E731
        speed = f"{images / (real.seconds + bundled.seconds):.2f}" if images else "-"
        name = f"**{setting.name}**" if setting.product else setting.name
        lines.append("| " + " | ".join([name, *real.row(), brand(real), *bundled.row(), brand(bundled), speed]) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=SHARED / "images")
    parser.add_argument("--reference", type=Path, default=SHARED / "reference_ocr")
    parser.add_argument("--dataset", type=Path, default=ROOT / "dataset", help="folder with labels.csv")
    parser.add_argument("--limit", type=int, help="at most N images from each set")
    parser.add_argument("--only", nargs="*", help="settings whose name contains one of these")
    parser.add_argument("--jobs", type=int, default=2, help="processes reading side by side")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()

    samples = load_samples(args.images, args.reference, args.dataset, args.limit)
    chosen = [n for n, s in enumerate(SETTINGS) if not args.only or any(o in s.name for o in args.only)]
    real = [s for s in samples if s.set == "real"]
    print(f"{len(real)} real ads ({sum(bool(normalise(s.reference)) for s in real)} with reference text), "
          f"{len(samples) - len(real)} bundled ads; {len(chosen)} settings", flush=True)

    results = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for number in chosen:
            results.append(measure(number, samples, pool))
            print(table([SETTINGS[number]], results[-1:])[-1], flush=True)
    lines = table([SETTINGS[n] for n in chosen], results)
    print("\n" + "\n".join(lines))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python benchmarks/ocr_quality.py", *sys.argv[1:]])
        RESULTS.write_text(_report(lines, len(samples), command))
        print(f"written to {RESULTS.relative_to(ROOT)}")


def _report(lines: list[str], images: int, command: str) -> str:
    return "\n".join(
        ["# OCR quality", "", f"Made by `{command}`; see its docstring for the metrics.",
         "The **bold** rows are the OCR_ENGINES choices; the others change one thing (PP-OCR's detector size or "
         "angle classifier; tesseract's preprocessing, from benchmarks/tesseract_variants.py, on a base of grey, "
         "short side enlarged to 1000 px, words under confidence 40 and junk dropped, psm 3, no rotation).", "",
         "Reading the real-ad columns: their reference is an earlier OCR pass that often stops early or skips "
         "small print, so a setting that reads more real text gets a higher CER and lower precision there; "
         "recall and brands are the fairer real-ad figures, and the bundled columns are exact. img/s is of one "
         f"process with one thread while another runs beside it, on {images} images and "
         f"{multiprocessing.cpu_count()} shared CPUs; compare within the table only.", "",
         *lines, ""]
    )


if __name__ == "__main__":
    main()

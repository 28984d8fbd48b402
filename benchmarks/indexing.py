"""The index step against its compute limit, in one run: the whole pipeline (find, hash, decode, resize,
embed, upsert) against the model's bare forward pass on already-decoded images of the same batch size.

    python benchmarks/indexing.py [--model DIR] [--images DIR] [--precision auto] [--batch 32]
                                  [--ocr [--rounds 2] [--eta-seconds 150] [--out FILE]]

Without --model a full-size random-weight CLIP is built (the real model's compute). OCR is off unless
--ocr. With it, three things take turns for --rounds rounds, so that a change in the shared machine's
load hits each alike: the bare forward pass (best of three on one batch), OCR alone on every image (cold
cache, the index step's worker processes) and the whole index step with OCR (fresh store, cold cache).
OCR and the model each use every core, so the most the pipeline can reach is the summed-work bound,
1 / (1 / model + 1 / OCR): the rate if the two overlapped perfectly on the cores. Target: >= 90% of it.

Then the ETA run (--eta-seconds > 0): the images copied enough times to take about that long at the rate
just measured (the same pixels, a few bytes more, so each copy is new content), the first third of the
copies with their text already in the OCR cache (as after an index run stopped half-way: OCR runs ahead
of the embedding), indexed with the progress bar's ETA recorded at each batch against the time the run
really took after it.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.runtime import configure  # noqa: E402

configure()  # as `python main.py index` does, before torch loads: OpenMP's idle threads sleep, not spin

from src import indexing  # noqa: E402
from src.embedding import ClipEmbedder  # noqa: E402
from src.images import decode_image, file_sha256, find_images  # noqa: E402
from src.indexing import index_folder  # noqa: E402
from src.settings import Settings  # noqa: E402
from src.store import open_store  # noqa: E402
from src.text_cache import TextCache  # noqa: E402
from src.text_reading import TextReader  # noqa: E402
from tools.random_clip import given_or_full_size  # noqa: E402

ETA_AFTER_SECONDS = 60  # the ETA is judged from the first minute on
ETA_TOLERANCE = 0.20


def bare_rate(embedder: ClipEmbedder, files, batch_size: int) -> float:
    """The model alone on one batch of images decoded beforehand (best of three)."""
    batch = [decode_image(f.abs_path, min_side=embedder.input_size).image for f in files[:batch_size]]
    embedder.embed_images(batch)
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        embedder.embed_images(batch)
        best = max(best, len(batch) / (time.perf_counter() - started))
    return best


def ocr_alone(files, text_dir: Path, langs: str) -> float:
    """Seconds for OCR of every file on a cold cache, with the index step's worker processes (their
    start and the engines' loading included, as in the pipeline)."""
    with TextReader(TextCache(text_dir, langs)) as reader:
        started = time.perf_counter()
        for pending in [reader.submit(f.path, f.abs_path, file_sha256(f.abs_path)) for f in files]:
            reader.result(pending)
        return time.perf_counter() - started


def pipeline(images: Path, embedder: ClipEmbedder, work: Path, batch_size: int, langs: str) -> tuple[int, float]:
    """(images indexed, seconds) of the index step with OCR: fresh store, cold cache."""
    settings = Settings.load(environ={}, qdrant_path=work / "qdrant", text_dir=work / "text")
    with TextReader(TextCache(settings.text_dir, langs)) as reader, open_store(settings) as store:
        report = index_folder(images, embedder, store, batch_size, progress=False, reader=reader)
    return report.indexed, report.embedding_seconds


def cpu_seconds() -> float:
    """CPU time of this process and its children so far (the OCR workers run until the end, so
    os.times() would not count them yet): /proc's utime + stime."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == me or int(fields[1]) == me:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class RecordedProgress(indexing.Progress):
    """The index step's progress bar, with its ETA written down after each batch, and the same estimate
    made in CPU seconds (the work done), which the machine's other load does not change."""

    log: list[tuple[float, float | None, int, float, float | None]] = []  # (time, ETA, images done, CPU s,
    # CPU seconds left by the same estimate)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cpu_eta = indexing.Eta(self.total or 0)

    def update(self, n=1, worked: int = 0):
        shown = super().update(n, worked)
        cpu = cpu_seconds()
        self.cpu_eta.update(max(self.done, worked), cpu)
        RecordedProgress.log.append((time.monotonic(), self.eta.remaining(), self.done, cpu,
                                     self.cpu_eta.remaining()))
        return shown


def eta_run(images: Path, embedder: ClipEmbedder, work: Path, copies: int, batch_size: int, langs: str,
            say) -> None:
    files, _ = find_images(images)
    folder, originals, cache = work / "eta-images", TextCache(work / "eta-originals", langs), TextCache(
        work / "eta-text", langs)
    with TextReader(originals) as reader:  # the originals' text, to give the cached copies theirs
        for pending in [reader.submit(f.path, f.abs_path, file_sha256(f.abs_path)) for f in files]:
            reader.result(pending)
    cached = 0
    for copy in range(copies):
        for f in files:
            target = folder / f"copy-{copy:02d}" / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.abs_path.read_bytes() + b"\0" * (copy + 1))  # decoders stop at the image's end
            if copy < copies // 3:
                sha = file_sha256(f.abs_path)
                result = originals.result(f.path, sha)
                assert result is not None
                cache.put(target.relative_to(folder).as_posix(), file_sha256(target),
                          originals.readings(f.path, sha).values(), result)
                cached += 1
    RecordedProgress.log = []
    settings = Settings.load(environ={}, qdrant_path=work / "eta-qdrant", text_dir=work / "eta-text")
    real = indexing.Progress
    indexing.Progress = RecordedProgress  # type: ignore[misc]
    try:
        with TextReader(cache) as reader, open_store(settings) as store:
            started = time.monotonic()
            report = index_folder(folder, embedder, store, batch_size, progress=False, reader=reader)
    finally:
        indexing.Progress = real  # type: ignore[misc]
    log = RecordedProgress.log
    end, cpu_end = log[-1][0], log[-1][3]
    errors = [(at - started, eta, end - at) for at, eta, *_ in log
              if at - started >= ETA_AFTER_SECONDS and end - at > 0 and eta is not None]
    cpu_errors = [(at - started, eta, cpu_end - cpu) for at, _, _, cpu, eta in log
                  if at - started >= ETA_AFTER_SECONDS and cpu_end - cpu >= 10 and eta is not None]
    worst = max(errors, key=lambda e: abs(e[1] - e[2]) / e[2]) if errors else None
    lasting = [e for e in errors if e[2] >= 10]
    worst_lasting = max(lasting, key=lambda e: abs(e[1] - e[2]) / e[2]) if lasting else None
    say(f"ETA run: {report.indexed} images ({cached} with their text cached, the first by name), "
        f"{end - started:.0f} s, {len(log)} batches, load average {os.getloadavg()[0]:.1f}")
    for at, eta, done, cpu, cpu_eta in log[:: max(1, len(log) // 12)]:
        shown = f"{eta:6.1f} s" if eta is not None else "     ? "
        in_cpu = f"{cpu_eta:6.1f} s" if cpu_eta is not None else "     ? "
        say(f"  at {at - started:6.1f} s  {done:5d} done  ETA {shown}  really left {end - at:6.1f} s;  in CPU "
            f"seconds: ETA {in_cpu}, really left {cpu_end - cpu:6.1f} s")
    if worst is None:
        say(f"  the run took less than {ETA_AFTER_SECONDS} s: no ETA to judge (use more --eta-seconds)")
        return
    worst_cpu = max(cpu_errors, key=lambda e: abs(e[1] - e[2]) / e[2]) if cpu_errors else None
    for name, found in (("every batch", worst), ("batches with >= 10 s left", worst_lasting),
                        ("in CPU seconds, the work, batches with >= 10 CPU s left", worst_cpu)):
        if found is None:
            continue
        at, eta, left = found
        error = abs(eta - left) / left
        say(f"  worst ETA after {ETA_AFTER_SECONDS} s ({name}): {eta:.1f} s shown at {at:.0f} s, {left:.1f} s "
            f"really left: {error:.0%} off ({'within' if error <= ETA_TOLERANCE else 'outside'} "
            f"{ETA_TOLERANCE:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--images", type=Path, default=ROOT / "dataset")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--ocr", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="an even number: half in each order")
    parser.add_argument("--eta-seconds", type=float, default=150,
                        help="how long the ETA run should take, at the pipeline's rate just measured (0: none)")
    parser.add_argument("--out", type=Path, help="also write the --ocr figures to this file")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        model = given_or_full_size(args.model, work / "clip")
        embedder = ClipEmbedder(model, precision=args.precision).load()
        files, _ = find_images(args.images)
        langs = Settings.load(environ={}).ocr_langs
        say(f"{len(files)} images from {args.images}; {embedder.precision.precision}; batch {args.batch}; "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
        if not args.ocr:
            bare = bare_rate(embedder, files, args.batch)
            settings = Settings.load(environ={}, qdrant_path=work / "qdrant", text_dir=work / "text")
            with open_store(settings) as store:
                report = index_folder(args.images, embedder, store, args.batch, progress=False)
            rate = report.indexed / report.embedding_seconds
            say(f"bare forward pass   {bare:7.2f} images/s")
            say(f"whole pipeline      {rate:7.2f} images/s  ({rate / bare:.0%} of the bare pass)")
            return
        bares: list[float] = []
        ocr_seconds = pipeline_seconds = 0.0
        ocr_images = pipeline_images = 0
        for number in range(args.rounds):
            # Every other round in the reverse order: a load that rises or falls steadily over the run
            # then weighs on each of the three alike.
            for step in ("model", "ocr", "pipeline")[:: 1 if number % 2 == 0 else -1]:
                if step == "model":
                    bares.append(bare_rate(embedder, files, args.batch))
                elif step == "ocr":
                    ocr_seconds += ocr_alone(files, work / f"text-alone-{number}", langs)
                    ocr_images += len(files)
                else:
                    indexed, seconds = pipeline(args.images, embedder, work / f"pipeline-{number}", args.batch,
                                                langs)
                    pipeline_images, pipeline_seconds = pipeline_images + indexed, pipeline_seconds + seconds
        bare = sum(bares) / len(bares)
        ocr, rate = ocr_images / ocr_seconds, pipeline_images / pipeline_seconds
        summed = 1 / (1 / bare + 1 / ocr)
        say(f"{args.rounds} rounds taking turns (every other one in reverse order); load average "
            f"{os.getloadavg()[0]:.1f} after them")
        say(f"bare forward pass   {bare:7.2f} images/s")
        say(f"OCR alone           {ocr:7.2f} images/s")
        say(f"summed-work bound   {summed:7.2f} images/s  (1 / (1/model + 1/OCR): both use every core)")
        say(f"whole pipeline      {rate:7.2f} images/s  ({rate / summed:.0%} of the summed-work bound, "
            f"target >= 90%; {rate / min(bare, ocr):.0%} of OCR alone)")
        if args.eta_seconds:  # copies enough for the unread two thirds to take about that long
            copies = max(3, math.ceil(args.eta_seconds * rate / (len(files) * 2 / 3)))
            eta_run(args.images, embedder, work, copies, args.batch, langs, say)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.out and lines:
            args.out.write_text("```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()

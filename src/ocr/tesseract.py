"""Tesseract, through pytesseract: grey, small images enlarged, page layout 3, other orientations tried
when the upright reading holds little text.

Ads are not pages: short lines in big stylised fonts, light text on dark panels, small print, photos
with no text at all, now and then a line set sideways or a scan upside down. These settings are the ones
benchmarks/ocr_quality.py measured best on real and generated ads; the variants it compares them with
(thresholds, an inverted pass, tesseract's own orientation detection) live in
benchmarks/tesseract_variants.py.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import pytesseract
from PIL import Image, ImageOps

from src.ocr.base import Engine, OcrError, Reading, Word
from src.ocr.cleaning import keep_words

# The binary to run; a full path if it is not on PATH. From the environment, so worker processes see it.
TESSERACT_CMD = os.environ.get("TESSERACT_CMD", "tesseract")
TIMEOUT_S = 60.0  # for one whole image, all passes together: a pathological image must not stall indexing
MAX_SIDE = 3000  # tesseract time grows with pixels; text stays readable at this size
# Below this score (see _reading_score) a reading counts as "little": try the other orientations.
FALLBACK_SCORE = 12.0
MIN_ROTATED_SCORE = 8.0  # and a turned reading must reach this to be believed


@dataclass(frozen=True)
class Pipeline:
    """How an image is prepared and read. The defaults are the measured choice."""

    name: str = "chosen"
    grayscale: bool = True
    min_short_side: int = 1000  # enlarge small images so their short side is this (0: never)
    max_scale: float = 2.5
    # Tesseract's own page layout. Sparse mode (11) found more words on the generated ads (recall 0.896
    # against 0.838) but on real ads cut sentences into fragments and read photos as junk (precision
    # 0.465 against 0.572), and real ads are what users bring.
    psm: int = 3
    rotate: bool = True  # try 90/180/270 when the upright reading holds little text
    min_conf: float = 40  # words tesseract is less sure of are nearly always noise on ads
    clean: bool = True


CHOSEN = Pipeline()


def tesseract_available(cmd: str = TESSERACT_CMD) -> bool:
    from shutil import which

    return which(cmd) is not None


class TesseractEngine(Engine):
    name = "tesseract"

    def __init__(self, langs: str = "eng", pipeline: Pipeline = CHOSEN):
        self.langs = langs
        self.pipeline = pipeline

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{self.langs}|{replace(self.pipeline, name='')!r}".encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"

    def read(self, image: Image.Image) -> Reading:
        _check_tesseract(TESSERACT_CMD, self.langs)
        deadline = time.monotonic() + TIMEOUT_S
        prepared, scale = self.prepare(image)
        best = self._read_rotated(prepared, scale, 0, deadline)  # errors here are fatal
        errors: list[str] = []
        if self.pipeline.rotate and best.score < FALLBACK_SCORE:
            best = self._best_rotation(best, prepared, scale, deadline, errors)
        return Reading(self.key, best.lines, best.rotation, "; ".join(errors) or None)

    # --- steps a benchmark variant may replace (benchmarks/tesseract_variants.py) ---------------------

    def prepare(self, image: Image.Image) -> tuple[Image.Image, float]:
        """The image tesseract reads, and its scale relative to the original."""
        if self.pipeline.grayscale:
            image = ImageOps.grayscale(image)
        scale = 1.0
        if self.pipeline.min_short_side and min(image.size) < self.pipeline.min_short_side:
            scale = min(self.pipeline.max_scale, self.pipeline.min_short_side / min(image.size))
        scale = min(scale, MAX_SIDE / max(image.size))
        if scale != 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        return image, scale

    def passes(self, turned: Image.Image) -> list[Image.Image]:
        """The images read for one orientation; their lines are merged, the better reading kept."""
        return [turned]

    def candidate_rotations(self, prepared: Image.Image, deadline: float, errors: list[str]) -> list[int]:
        return [90, 180, 270]

    # --- reading -----------------------------------------------------------------------------------

    def _read_rotated(self, prepared: Image.Image, scale: float, rotation: int, deadline: float) -> _Reading:
        turned = prepared.transpose(_TURN_CLOCKWISE[rotation]) if rotation else prepared
        found: list[tuple[float, int, list[Word]]] = []  # (line score, order, words)
        for image in self.passes(turned):
            for line in self._tesseract_lines(image, deadline):
                words = [_to_original(w, prepared.size, scale, rotation) for w in line]
                words = self._keep(words)
                if words:
                    found.append((_reading_score(words), len(found), words))
        # Where passes read the same line, keep the better reading; the order is the first pass's.
        kept: list[tuple[int, list[Word]]] = []
        for _, order, words in sorted(found, key=lambda f: -f[0]):
            if not any(overlap(line_box(words), line_box(other)) > 0.5 for _, other in kept):
                kept.append((order, words))
        lines = [words for _, words in sorted(kept, key=lambda k: k[0])]
        return _Reading(rotation, lines, sum(_reading_score(line) for line in lines))

    def _tesseract_lines(self, image: Image.Image, deadline: float) -> list[list[Word]]:
        """Words tesseract finds, grouped by line, in the coordinates of the image given."""
        data = run_tesseract(
            pytesseract.image_to_data, image, deadline, lang=self.langs, config=f"--psm {self.pipeline.psm}",
            output_type=pytesseract.Output.DICT,
        )
        lines: dict[tuple[int, int, int], list[Word]] = {}
        for i, text in enumerate(data["text"]):
            conf = float(data["conf"][i])
            if conf < 0 or not text.strip():
                continue
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            box = (data["left"][i], data["top"][i], data["width"][i], data["height"][i])
            lines.setdefault(key, []).append(Word(text.strip(), *box, conf, 0, self.name))
        return list(lines.values())

    def _keep(self, words: list[Word]) -> list[Word]:
        if not self.pipeline.clean:
            return [w for w in words if w.conf >= self.pipeline.min_conf]
        return keep_words(words, self.pipeline.min_conf)

    def _best_rotation(
        self, upright: _Reading, prepared: Image.Image, scale: float, deadline: float, errors: list[str]
    ) -> _Reading:
        """The reading at another rotation if one holds clearly more text."""
        best = upright
        for rotation in self.candidate_rotations(prepared, deadline, errors):
            try:
                reading = self._read_rotated(prepared, scale, rotation, deadline)
            except OcrError as exc:
                errors.append(f"{rotation}°: {exc}")
                break  # the deadline is shared: later rotations would fail the same way
            if reading.score > best.score:
                best = reading
        # A clear margin: sideways reads of a photo find a few confident short "words" too.
        if best.score < MIN_ROTATED_SCORE or best.score < 1.5 * upright.score:
            return upright
        return best


@dataclass
class _Reading:
    rotation: int
    lines: list[list[Word]]
    score: float


_TURN_CLOCKWISE = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}


def _to_original(word: Word, size: tuple[int, int], scale: float, rotation: int) -> Word:
    """Map a box read on the image turned clockwise by rotation back to the original image."""
    width, height = size  # of the prepared image before turning
    x, y, w, h = word.left, word.top, word.width, word.height
    if rotation == 90:
        x, y, w, h = y, height - x - w, h, w
    elif rotation == 180:
        x, y = width - x - w, height - y - h
    elif rotation == 270:
        x, y, w, h = width - y - h, x, h, w
    return replace(
        word, left=round(x / scale), top=round(y / scale), width=round(w / scale), height=round(h / scale),
        rotation=rotation,
    )


def line_box(words: list[Word]) -> tuple[int, int, int, int]:
    return (
        min(w.left for w in words),
        min(w.top for w in words),
        max(w.left + w.width for w in words),
        max(w.top + w.height for w in words),
    )


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(1, smaller)


_VOWELS = set("aeiouy")


def _reading_score(words: list[Word]) -> float:
    """How much confident, dictionary-like text a reading holds: characters of such words, weighted by
    confidence. Reading an image sideways gives short low-confidence fragments, which score near zero."""
    score = 0.0
    for word in words:
        core = "".join(c for c in word.text.lower() if c.isalnum())
        letters = set(core) - set("0123456789")
        wordlike = (len(core) >= 3 and core.isalpha() and letters & _VOWELS and letters - _VOWELS) or (
            len(core) >= 2 and core.isdigit()
        )
        if wordlike and word.conf >= 60:
            score += len(core) * word.conf / 100
    return score


def run_tesseract(function, image: Image.Image, deadline: float, **kwargs):
    """One tesseract call, with what went wrong turned into an OcrError a user can read."""
    _configure_pytesseract(TESSERACT_CMD)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OcrError(f"OCR took longer than {TIMEOUT_S:.0f} s")
    try:
        return function(image, timeout=remaining, **kwargs)
    except pytesseract.TesseractNotFoundError:
        raise OcrError(_not_found(TESSERACT_CMD)) from None
    except pytesseract.TesseractError as exc:
        raise OcrError(f"tesseract failed: {exc.message}") from None
    except RuntimeError as exc:  # pytesseract's way of saying the timeout expired
        if "timeout" in str(exc).lower():
            raise OcrError(f"OCR took longer than {TIMEOUT_S:.0f} s") from None
        raise


def _not_found(cmd: str) -> str:
    return (f"tesseract not found ('{cmd}'): install it (Debian: apt-get install tesseract-ocr) "
            "or set TESSERACT_CMD to its path")


def _configure_pytesseract(cmd: str) -> None:
    pytesseract.pytesseract.tesseract_cmd = cmd
    # Tesseract's OpenMP threads spin against each other: one thread reads an ad 3-5x faster, and the
    # indexer runs OCR in several processes anyway. pytesseract hands its module's `environ` to tesseract;
    # changing os.environ instead would also limit torch's threads in this process.
    pytesseract.pytesseract.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}


@lru_cache(maxsize=8)
def _installed_languages(cmd: str) -> frozenset[str]:
    _configure_pytesseract(cmd)
    try:
        return frozenset(pytesseract.get_languages())
    except pytesseract.TesseractNotFoundError:
        raise OcrError(_not_found(cmd)) from None


def _check_tesseract(cmd: str, langs: str) -> None:
    """Fail once with a clear message instead of once per image with tesseract's own."""
    missing = [lang for lang in langs.split("+") if lang not in _installed_languages(cmd)]
    if missing:
        installed = ", ".join(sorted(_installed_languages(cmd) - {"osd"}))
        raise OcrError(f"tesseract has no data for language {'+'.join(missing)} (installed: {installed})")

"""OCR: an image file -> cleaned text and word boxes, with tesseract.

Ads are not pages: short lines in big stylised fonts, light text on dark panels, small print, photos
with no text at all, now and then a line set sideways or a scan upside down. The default Pipeline is
the one benchmarks/ocr_quality.py measured best on real and generated ads; the other settings stay
so that the benchmark can show what each step is worth.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps

from src.images import ImageError, decode_image

# The binary to run; a full path if it is not on PATH. From the environment, so worker processes see it.
TESSERACT_CMD = os.environ.get("TESSERACT_CMD", "tesseract")
TIMEOUT_S = 60.0  # for one whole image, all passes together: a pathological image must not stall indexing
MAX_SIDE = 3000  # tesseract time grows with pixels; text stays readable at this size


class OcrError(Exception):
    """OCR could not run on a file at all; the message is the reason shown to users."""


@dataclass(frozen=True)
class Word:
    text: str
    left: int  # box in pixels of the original image, upright as decode_image returns it
    top: int
    width: int
    height: int
    conf: float  # tesseract's confidence, 0-100
    rotation: int  # how the image was turned to read this word (see OcrResult.rotation)


@dataclass
class OcrResult:
    text: str  # cleaned; one line of the ad per line
    words: list[Word] = field(default_factory=list)
    rotation: int = 0  # degrees the image was turned clockwise to read the text: 0, 90, 180 or 270
    error: str | None = None  # a pass that failed while others gave a result (e.g. timed out)


@dataclass(frozen=True)
class Pipeline:
    """How an image is prepared and read. The defaults are the measured choice."""

    name: str = "chosen"
    grayscale: bool = True
    min_short_side: int = 1000  # enlarge small images so their short side is this (0: never)
    max_scale: float = 2.5
    threshold: str = "none"  # "none", "otsu" or "adaptive"
    # A second pass on the negative, for light text on dark panels. Off: tesseract 5 already retries
    # low-confidence lines inverted, and the pass cost 30% of the speed for no gain in the benchmark.
    invert_pass: bool = False
    # Tesseract's own page layout. Sparse mode (11) found more words on the generated ads (recall 0.896
    # against 0.838) but on real ads cut sentences into fragments and read photos as junk (precision
    # 0.465 against 0.572), and real ads are what users bring.
    psm: int = 3
    rotation: str = "fallback"  # "none"; "osd" (ask tesseract); "fallback" (try 90/180/270 if 0 reads little)
    min_conf: float = 40  # words tesseract is less sure of are nearly always noise on ads
    clean: bool = True


CHOSEN = Pipeline()
RAW = Pipeline(  # tesseract's defaults, for comparison
    "raw tesseract", grayscale=False, min_short_side=0, invert_pass=False, psm=3, rotation="none", min_conf=0,
    clean=False,
)
# Below this score (see _reading_score) a reading counts as "little": try the other orientations.
FALLBACK_SCORE = 12.0
MIN_ROTATED_SCORE = 8.0  # and a turned reading must reach this to be believed


def read_text(path: Path, langs: str = "eng", pipeline: Pipeline = CHOSEN) -> OcrResult:
    try:
        decoded = decode_image(Path(path))
    except ImageError as exc:
        raise OcrError(f"cannot read image: {exc}") from None
    return read_image(decoded.image, langs, pipeline)


def read_image(image: Image.Image, langs: str = "eng", pipeline: Pipeline = CHOSEN) -> OcrResult:
    """Text of an upright RGB image; boxes are in its pixel coordinates."""
    _check_tesseract(TESSERACT_CMD, langs)
    deadline = time.monotonic() + TIMEOUT_S
    prepared, scale = _prepare(image, pipeline)
    best = _read_rotated(prepared, scale, 0, langs, pipeline, deadline)  # errors here are fatal
    errors: list[str] = []
    if pipeline.rotation != "none" and best.score < FALLBACK_SCORE:
        best = _best_rotation(best, prepared, scale, langs, pipeline, deadline, errors)
    raw_text = "\n".join(" ".join(w.text for w in line) for line in best.lines)
    text = clean_text(raw_text) if pipeline.clean else " ".join(raw_text.split())
    return OcrResult(text, [w for line in best.lines for w in line], best.rotation, "; ".join(errors) or None)


# --- cleaning -------------------------------------------------------------------------------------

_LEAD_KEEP = "$€£¥#(+-"  # "$4.99", "#1", "(19.9)", "+44", "-50%"
_TRAIL_KEEP = "%$€£).,!?:;'-"  # "50%", "19€", "fast!", hyphen at a line end (joined later)
_REPEAT = re.compile(r"([^\dw])\1\1", re.IGNORECASE)  # "aaa", "///"; digits ("1000") and "www" are fine
_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")  # "adver-\ntisement"; "Coca-\nCola" keeps its hyphen
_PRICE = re.compile(r"^[$€£¥]?\d[\d.,]*[%$€£¥]?$")


def clean_token(token: str) -> str | None:
    """The token without junk at its edges, or None if it is junk: no letters or digits, runs of one
    character, or mostly symbols. Prices and percentages such as "$4.99", "50%" and "€19" are kept."""
    if token == "&":
        return token
    start, end = 0, len(token)
    while start < end and not token[start].isalnum() and token[start] not in _LEAD_KEEP:
        start += 1
    while end > start and not token[end - 1].isalnum() and token[end - 1] not in _TRAIL_KEEP:
        end -= 1
    token = token[start:end]
    core = token.strip("".join(c for c in set(token) if not c.isalnum()))
    if not core or _REPEAT.search(core):
        return None
    if _PRICE.match(token):
        return token
    alnum = sum(c.isalnum() for c in token)
    return token if alnum * 2 >= len(token) else None


def clean_text(text: str) -> str:
    """Join words broken at line ends, drop junk tokens, fold whitespace; one line per text line."""
    text = _HYPHEN_BREAK.sub(r"\1", text)
    lines = []
    for line in text.splitlines():
        tokens = [t for t in (clean_token(t) for t in line.split()) if t]
        if tokens:
            lines.append(" ".join(tokens))
    return "\n".join(lines)


# --- preparing the image ------------------------------------------------------------------------------


def _prepare(image: Image.Image, pipeline: Pipeline) -> tuple[Image.Image, float]:
    """The image tesseract reads, and its scale relative to the original."""
    if pipeline.grayscale or pipeline.threshold != "none":
        image = ImageOps.grayscale(image)
    scale = 1.0
    if pipeline.min_short_side and min(image.size) < pipeline.min_short_side:
        scale = min(pipeline.max_scale, pipeline.min_short_side / min(image.size))
    scale = min(scale, MAX_SIDE / max(image.size))
    if scale != 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.LANCZOS)
    if pipeline.threshold == "otsu":
        image = _binarize(image, _otsu_level(np.asarray(image)))
    elif pipeline.threshold == "adaptive":
        # Local mean over a window about the size of a big letter: survives gradients and photos.
        radius = max(8, min(image.size) // 40)
        local = np.asarray(image.filter(ImageFilter.BoxBlur(radius)), dtype=np.int16)
        image = _binarize(image, local - 8)
    return image, scale


def _otsu_level(gray: np.ndarray) -> int:
    counts = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256)
    weight_below = np.cumsum(counts)
    mean_below = np.cumsum(counts * levels)
    total, total_mean = weight_below[-1], mean_below[-1]
    weight_above = total - weight_below
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * weight_below / total - mean_below) ** 2 / (weight_below * weight_above)
    return int(np.nanargmax(between))


def _binarize(image: Image.Image, level) -> Image.Image:
    return Image.fromarray(np.where(np.asarray(image) > level, 255, 0).astype(np.uint8))


# --- reading --------------------------------------------------------------------------------------


@dataclass
class _Reading:
    rotation: int
    lines: list[list[Word]]
    score: float


_TURN_CLOCKWISE = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}


def _read_rotated(
    prepared: Image.Image, scale: float, rotation: int, langs: str, pipeline: Pipeline, deadline: float
) -> _Reading:
    turned = prepared.transpose(_TURN_CLOCKWISE[rotation]) if rotation else prepared
    passes = [turned, ImageOps.invert(turned)] if pipeline.invert_pass else [turned]
    found: list[tuple[float, int, list[Word]]] = []  # (line score, order, words)
    for image in passes:
        for line in _tesseract_lines(image, langs, pipeline, deadline):
            words = [_to_original(w, prepared.size, scale, rotation) for w in line]
            words = _keep_words(words, pipeline)
            if words:
                found.append((_reading_score(words), len(found), words))
    # Where passes read the same line, keep the better reading; the order is the first pass's.
    kept: list[tuple[int, list[Word]]] = []
    for score, order, words in sorted(found, key=lambda f: -f[0]):
        if not any(_overlap(_line_box(words), _line_box(other)) > 0.5 for _, other in kept):
            kept.append((order, words))
    lines = [words for _, words in sorted(kept, key=lambda k: k[0])]
    return _Reading(rotation, lines, sum(_reading_score(line) for line in lines))


def _tesseract_lines(image: Image.Image, langs: str, pipeline: Pipeline, deadline: float) -> list[list[Word]]:
    """Words tesseract finds, grouped by line, in the coordinates of the image given."""
    data = _run(
        pytesseract.image_to_data, image, deadline, lang=langs, config=f"--psm {pipeline.psm}",
        output_type=pytesseract.Output.DICT,
    )
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for i, text in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if conf < 0 or not text.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        box = (data["left"][i], data["top"][i], data["width"][i], data["height"][i])
        lines.setdefault(key, []).append(Word(text.strip(), *box, conf, 0))
    return list(lines.values())


def _keep_words(words: list[Word], pipeline: Pipeline) -> list[Word]:
    if not pipeline.clean:
        return [w for w in words if w.conf >= pipeline.min_conf]
    kept = []
    for word in words:
        text = clean_token(word.text) if word.conf >= pipeline.min_conf else None
        if text:
            kept.append(replace(word, text=text))
    return kept


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


def _line_box(words: list[Word]) -> tuple[int, int, int, int]:
    return (
        min(w.left for w in words),
        min(w.top for w in words),
        max(w.left + w.width for w in words),
        max(w.top + w.height for w in words),
    )


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
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


def _best_rotation(
    upright: _Reading, prepared: Image.Image, scale: float, langs: str, pipeline: Pipeline, deadline: float,
    errors: list[str],
) -> _Reading:
    """The reading at another rotation if one holds clearly more text. Candidates are read in one pass
    (no inverted pass): pictures without text, the usual reason for a weak reading, cost less that way."""
    one_pass = replace(pipeline, invert_pass=False)
    best = upright
    for rotation in _candidate_rotations(prepared, pipeline, deadline, errors):
        try:
            reading = _read_rotated(prepared, scale, rotation, langs, one_pass, deadline)
        except OcrError as exc:
            errors.append(f"{rotation}°: {exc}")
            break  # the deadline is shared: later rotations would fail the same way
        if reading.score > best.score:
            best = reading
    # A clear margin: sideways reads of a photo find a few confident short "words" too.
    if best.score < MIN_ROTATED_SCORE or best.score < 1.5 * upright.score:
        return upright
    if pipeline.invert_pass:
        try:
            best = _read_rotated(prepared, scale, best.rotation, langs, pipeline, deadline)
        except OcrError as exc:
            errors.append(f"{best.rotation}° inverted: {exc}")
    return best


def _candidate_rotations(prepared: Image.Image, pipeline: Pipeline, deadline: float, errors: list[str]) -> list[int]:
    if pipeline.rotation == "fallback":
        return [90, 180, 270]
    try:  # "osd": tesseract's orientation detection; it gives up on images with little text
        osd = _run(pytesseract.image_to_osd, prepared, deadline, output_type=pytesseract.Output.DICT)
    except OcrError as exc:
        if "too few characters" not in str(exc).lower():
            errors.append(f"orientation: {exc}")
        return []
    rotation = int(osd["rotate"]) % 360
    return [rotation] if rotation else []


def _run(function, image: Image.Image, deadline: float, **kwargs):
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
    return f"tesseract not found ('{cmd}'): install it (Debian: apt-get install tesseract-ocr) or set TESSERACT_CMD to its path"


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

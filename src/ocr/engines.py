"""The OCR engines by name, as OCR_ENGINES lists them, and reading an image file with several.

A third engine is one new file beside tesseract.py and ppocr.py (an Engine subclass) and one entry in
build() and missing() below, and its name in src/settings.py's OCR_ENGINE_NAMES.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from src.images import ImageError, decode_image
from src.ocr.base import Engine, OcrError, Reading
from src.ocr.ppocr import PpOcrEngine, ppocr_available
from src.ocr.tesseract import TESSERACT_CMD, TesseractEngine, tesseract_available
from src.settings import OCR_ENGINE_NAMES, parse_engines

__all__ = ["DEFAULT_ENGINES", "ENGINE_NAMES", "EngineSpec", "build", "engine", "missing", "parse_engines", "read_file"]

ENGINE_NAMES = OCR_ENGINE_NAMES
# Measured best on the labelled real ads (README, benchmarks/results/ocr_quality.md): PP-OCR reads
# stylised type tesseract misses; tesseract adds words PP-OCR misreads or runs together.
DEFAULT_ENGINES = ("ppocr", "tesseract")


@dataclass(frozen=True)
class EngineSpec:
    """What a worker process needs to build an engine: picklable, and the same spec gives the same engine."""

    name: str
    langs: str = "eng"  # tesseract's languages
    threads: int = 0  # ONNX Runtime threads (PP-OCR); 0: its default
    use_cuda: bool = False  # PP-OCR on CUDA (onnxruntime-gpu)


def missing(name: str) -> str | None:
    """Why an engine cannot run on this machine, with what to install; None when it can."""
    if name == "tesseract" and not tesseract_available():
        return f"tesseract is not installed ('{TESSERACT_CMD}'; Debian: apt-get install tesseract-ocr)"
    if name == "ppocr" and not ppocr_available():
        return "PP-OCR is not installed (pip install -r requirements.txt: rapidocr-onnxruntime)"
    return None


def build(spec: EngineSpec) -> Engine:
    if spec.name == "tesseract":
        return TesseractEngine(spec.langs)
    if spec.name == "ppocr":
        return PpOcrEngine(threads=spec.threads, use_cuda=spec.use_cuda)
    raise ValueError(f"unknown OCR engine {spec.name!r}")


@lru_cache(maxsize=8)
def engine(spec: EngineSpec) -> Engine:
    """One engine per spec and process: PP-OCR's models load once, not once per image."""
    return build(spec)


def read_file(path: Path, specs: tuple[EngineSpec, ...]) -> list[Reading | OcrError]:
    """Each engine's reading of an image file, or the OcrError it raised. A file that cannot be decoded
    raises OcrError: no engine could read it."""
    try:
        image = decode_image(Path(path)).image
    except ImageError as exc:
        raise OcrError(f"cannot read image: {exc}") from None
    readings: list[Reading | OcrError] = []
    for spec in specs:
        try:
            readings.append(engine(spec).read(image))
        except OcrError as exc:
            readings.append(exc)
    return readings

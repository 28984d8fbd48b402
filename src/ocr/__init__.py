"""OCR: an image -> the text an ad prints, with word boxes, read by one or more engines and merged.

    base.py       what an engine returns (Reading, Word) and the Engine shape
    tesseract.py  tesseract through pytesseract
    ppocr.py      PP-OCR (PP-OCRv4) on ONNX Runtime, through rapidocr-onnxruntime
    cleaning.py   junk tokens out, prices kept: shared by the engines
    merge.py      several engines' readings -> one text per ad, duplicates dropped
    engines.py    the engines by name (OCR_ENGINES), and reading a file with several
"""

from __future__ import annotations

from pathlib import Path

from src.ocr.base import Engine, OcrError, OcrResult, Reading, Word
from src.ocr.cleaning import clean_text, clean_token
from src.ocr.engines import DEFAULT_ENGINES, ENGINE_NAMES, EngineSpec, missing, parse_engines, read_file
from src.ocr.merge import merge

__all__ = [
    "DEFAULT_ENGINES", "ENGINE_NAMES", "Engine", "EngineSpec", "OcrError", "OcrResult", "Reading", "Word",
    "clean_text", "clean_token", "merge", "missing", "parse_engines", "read_file", "read_text",
]


def read_text(path: Path, langs: str = "eng", engines: tuple[str, ...] = ("tesseract",)) -> OcrResult:
    """The merged text of an image file read by these engines; raises OcrError when none could read it."""
    readings = read_file(path, tuple(EngineSpec(name, langs) for name in engines))
    good = [r for r in readings if isinstance(r, Reading)]
    failed = [r for r in readings if isinstance(r, OcrError)]
    if failed and not good:
        raise failed[0]
    result = merge(good)
    if failed:
        result.error = "; ".join(filter(None, [result.error, *map(str, failed)]))
    return result

"""Tesseract settings the product does not use, kept so that benchmarks/ocr_quality.py can show what
each is worth against the chosen ones (src/ocr/tesseract.py): binarising thresholds, a second pass on the
negative, and tesseract's own orientation detection instead of trying every rotation."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.ocr.base import OcrError  # noqa: E402
from src.ocr.tesseract import CHOSEN, Pipeline, TesseractEngine, run_tesseract  # noqa: E402


class TesseractVariant(TesseractEngine):
    """threshold: "none", "otsu" or "adaptive". invert_pass: also read the negative (light text on dark
    panels; tesseract 5 already retries low-confidence lines inverted). osd: ask tesseract which way is up
    instead of trying 90/180/270."""

    def __init__(self, label: str, pipeline: Pipeline = CHOSEN, threshold: str = "none",
                 invert_pass: bool = False, osd: bool = False, langs: str = "eng"):
        super().__init__(langs, replace(pipeline, name=label))
        self.threshold, self.invert_pass, self.osd = threshold, invert_pass, osd

    @property
    def key(self) -> str:
        extra = f"{self.threshold}|{self.invert_pass}|{self.osd}"
        return f"{super().key}-{hashlib.sha256(extra.encode()).hexdigest()[:6]}"

    def prepare(self, image: Image.Image) -> tuple[Image.Image, float]:
        if self.threshold != "none":
            image = ImageOps.grayscale(image)
        image, scale = super().prepare(image)
        if self.threshold == "otsu":
            image = _binarize(image, _otsu_level(np.asarray(image)))
        elif self.threshold == "adaptive":
            # Local mean over a window about the size of a big letter: survives gradients and photos.
            radius = max(8, min(image.size) // 40)
            local = np.asarray(image.filter(ImageFilter.BoxBlur(radius)), dtype=np.int16)
            image = _binarize(image, local - 8)
        return image, scale

    def passes(self, turned: Image.Image) -> list[Image.Image]:
        return [turned, ImageOps.invert(turned)] if self.invert_pass else [turned]

    def candidate_rotations(self, prepared: Image.Image, deadline: float, errors: list[str]) -> list[int]:
        if not self.osd:
            return super().candidate_rotations(prepared, deadline, errors)
        try:  # tesseract's orientation detection; it gives up on images with little text
            osd = run_tesseract(pytesseract.image_to_osd, prepared, deadline, output_type=pytesseract.Output.DICT)
        except OcrError as exc:
            if "too few characters" not in str(exc).lower():
                errors.append(f"orientation: {exc}")
            return []
        rotation = int(osd["rotate"]) % 360
        return [rotation] if rotation else []


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

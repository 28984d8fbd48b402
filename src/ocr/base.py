"""What every OCR engine returns, and the shape an engine has.

An engine reads an upright RGB image (as src.images.decode_image returns it) into lines of words, each
with its box in that image's pixels. What is read is kept apart from how it runs: an engine names its
settings in `key`, so the cache (src/text_cache.py) can tell readings of different settings apart, and
merging and cleaning (src/ocr/merge.py, src/ocr/cleaning.py) are shared by all engines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from PIL import Image


class OcrError(Exception):
    """OCR could not run on a file at all; the message is the reason shown to users."""


@dataclass(frozen=True)
class Word:
    text: str
    left: int  # box in pixels of the original image, upright as decode_image returns it
    top: int
    width: int
    height: int
    conf: float  # the engine's confidence, 0-100
    rotation: int = 0  # how the image was turned to read this word (see Reading.rotation)
    engine: str = ""  # the engine that read it


@dataclass
class Reading:
    """One engine's reading of one image: its lines of (cleaned) words, in reading order."""

    engine: str  # the engine's key (name and settings)
    lines: list[list[Word]] = field(default_factory=list)
    rotation: int = 0  # degrees the image was turned clockwise to read the text: 0, 90, 180 or 270
    error: str | None = None  # a pass that failed while others gave a result (e.g. timed out)


@dataclass
class OcrResult:
    """The text of an ad, merged from the readings of every engine asked."""

    text: str  # cleaned; one line of the ad per line
    words: list[Word] = field(default_factory=list)  # of every engine, for marking matches on the image
    rotation: int = 0
    error: str | None = None
    engines: tuple[str, ...] = ()  # keys of the engines whose readings made the text


class Engine(ABC):
    """An OCR engine. Instances are made once per worker process and reused for every image."""

    name: str  # as OCR_ENGINES names it

    @property
    @abstractmethod
    def key(self) -> str:
        """The name and a short digest of every setting that changes what is read: the cache key."""

    @abstractmethod
    def read(self, image: Image.Image) -> Reading:
        """The words of an upright RGB image; raises OcrError when the engine cannot run at all."""

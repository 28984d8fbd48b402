"""PP-OCR (PaddleOCR's PP-OCRv4 models) on ONNX Runtime, through rapidocr-onnxruntime.

Its wheel carries the three models (text detection, angle classification, recognition; 16 MB), so
nothing is downloaded at run time. It reads stylised ad type that tesseract misses, but its recogniser
often drops the spaces between English words ("UPTO50%OFF"); src/terms.py splits such runs when it
makes the search terms. It reads text lines; the words inside a line get their boxes from the positions
of their characters, which the recogniser reports.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cached_property

import numpy as np
from PIL import Image

from src.ocr.base import Engine, OcrError, Reading, Word
from src.ocr.cleaning import keep_words

# The detector's input: the long side is scaled down to this (rapidocr's own sizing gives up to 2000 px).
# Detection is most of PP-OCR's time: on 15 real ads, one thread, one run, it read 0.56 images/s at 640 px
# against 0.23 at 960, and the dev set's text mAP was the same (0.493 against 0.492). Recognition still
# reads each line from the full-size image, so small print keeps its pixels.
DETECT_MAX_SIDE = 640
MIN_SIDE = 30  # smaller images are enlarged first (rapidocr's own minimum)
# Lines the recogniser is less sure of are nearly always noise: photo texture read as letters.
MIN_LINE_SCORE = 0.5
MIN_WORD_CONF = 50  # percent, the mean of the word's characters


def ppocr_available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class PpOcrEngine(Engine):
    name = "ppocr"

    def __init__(self, threads: int = 0, use_cuda: bool = False, angle_classifier: bool = False,
                 detect_max_side: int = DETECT_MAX_SIDE):
        """threads: ONNX Runtime threads per model (0: its default, every core). The indexer runs one
        engine per OCR worker process and gives each an equal share of the cores, as threads of several
        processes on the same cores only contend. angle_classifier: turn lines the classifier finds upside
        down before reading them (ads seldom print upside down; it costs about a tenth of the time)."""
        self.threads = threads
        self.use_cuda = use_cuda
        self.angle_classifier = angle_classifier
        self.detect_max_side = detect_max_side

    @property
    def key(self) -> str:
        # The device and threads change the speed, not what is read: not part of the key.
        settings = f"v4|{self.angle_classifier}|{self.detect_max_side}|{MIN_LINE_SCORE}|{MIN_WORD_CONF}"
        return f"{self.name}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"

    @cached_property
    def _ocr(self):
        try:
            from rapidocr_onnxruntime import RapidOCR
            from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
        except ImportError as exc:
            raise OcrError(f"PP-OCR is not installed ({exc}): pip install -r requirements.txt, "
                           "or set OCR_ENGINES=tesseract") from None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        cuda = self.use_cuda
        options: dict[str, bool | int] = {"det_use_cuda": cuda, "cls_use_cuda": cuda, "rec_use_cuda": cuda}
        if self.threads:
            options |= {"intra_op_num_threads": self.threads, "inter_op_num_threads": 1}
        ocr = RapidOCR(min_side_len=MIN_SIDE, **options)
        cap = self.detect_max_side
        detector = ocr.text_det
        # rapidocr 1.4.4 (pinned) sizes the detector's input from its own table; this caps it instead.
        detector.get_preprocess = lambda max_wh: DetPreProcess(
            min(cap, max_wh), "max", detector.mean, detector.std)
        return ocr

    def read(self, image: Image.Image) -> Reading:
        array = np.asarray(image.convert("RGB"))[:, :, ::-1]  # BGR, as OpenCV reads images
        try:
            found, _ = self._ocr(np.ascontiguousarray(array), use_cls=self.angle_classifier,
                                 return_word_box=True, text_score=MIN_LINE_SCORE)
        except OcrError:
            raise
        except Exception as exc:  # onnxruntime and OpenCV raise their own kinds
            raise OcrError(f"PP-OCR failed: {type(exc).__name__}: {exc}") from None
        lines = []
        for entry in found or []:
            box, text, score, *chars = entry  # with return_word_box: the characters' boxes, texts, scores
            char_boxes, char_texts, char_scores = (chars + [None, None, None])[:3]
            words = keep_words(_words(box, text, score, char_boxes, char_texts, char_scores, self.name),
                               MIN_WORD_CONF)
            if words:
                lines.append(words)
        return Reading(self.key, lines)


def _words(box, text: str, score: float, char_boxes=None, chars=None, char_scores=None,
           engine: str = "ppocr") -> list[Word]:
    """The words of one recognised line, each boxed by its characters' boxes where the recogniser gave
    them, else by its share of the line's width."""
    text = str(text)
    if chars and char_boxes and char_scores and len(chars) == len(char_boxes) == len(char_scores):
        return _words_from_chars(chars, char_boxes, char_scores, engine)
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
    tokens = text.split()
    total = max(1, len(text))
    words, cursor = [], 0
    for token in tokens:
        start = text.index(token, cursor)
        cursor = start + len(token)
        x0 = left + (right - left) * start / total
        x1 = left + (right - left) * cursor / total
        words.append(Word(token, round(x0), round(top), max(1, round(x1 - x0)), max(1, round(bottom - top)),
                          round(float(score) * 100, 1), 0, engine))
    return words


def _words_from_chars(chars, char_boxes, char_scores, engine: str) -> list[Word]:
    words: list[Word] = []
    current: list[tuple[str, list, float]] = []
    for char, char_box, char_score in [*zip(chars, char_boxes, char_scores), (" ", None, 0.0)]:
        whole_word = len(str(char).strip()) > 1  # the recogniser grouped these letters itself
        if str(char).isspace() or whole_word:
            if whole_word:
                current.append((str(char).strip(), char_box, float(char_score)))
            if current:
                text = "".join(c for c, _, _ in current)
                points = [p for _, b, _ in current for p in b]
                xs, ys = [p[0] for p in points], [p[1] for p in points]
                conf = 100 * sum(s for _, _, s in current) / len(current)
                words.append(Word(text, round(min(xs)), round(min(ys)), max(1, round(max(xs) - min(xs))),
                                  max(1, round(max(ys) - min(ys))), round(conf, 1), 0, engine))
            current = []
        else:
            current.append((str(char), char_box, float(char_score)))
    return words


def onnx_cuda_available() -> bool:
    """Whether ONNX Runtime here can run on CUDA (onnxruntime-gpu installed and a GPU present)."""
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers() and os.environ.get(
        "CUDA_VISIBLE_DEVICES", "0") != ""

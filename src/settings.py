"""All settings in one place: environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from src.ocr.engines import parse_engines

DEFAULT_MODEL = "openai/clip-vit-base-patch32"


class SettingsError(ValueError):
    """A setting has a value the program cannot use."""


@dataclass(frozen=True)
class Settings:
    clip_model: str = DEFAULT_MODEL
    dataset_dir: Path = Path("dataset")
    qdrant_path: Path = Path("qdrant_data")
    qdrant_url: str | None = None
    # repr=False: the key must never reach a log line or a page.
    qdrant_api_key: str | None = field(default=None, repr=False)
    collection: str = "ads"
    qdrant_timeout: int = 10  # seconds a Qdrant server may take to answer before it counts as down
    # The engine of the embedded store: edge (Qdrant's own engine in-process, HNSW) or qdrant-client
    # (its local mode: pure Python brute force, kept for tests of the server code path).
    embedded_engine: str = "edge"
    # Collection layout on a Qdrant server or cluster (the embedded store ignores them).
    qdrant_shards: int = 1
    qdrant_replicas: int = 1
    qdrant_quantization: str = "none"  # none, scalar (int8, 4x smaller) or binary (32x smaller)
    qdrant_on_disk: bool = False  # keep original vectors on disk, the quantized ones in RAM
    device: str = "auto"
    precision: str = "auto"  # fp32, bf16, int8, or auto: the fastest that stays faithful (src/precision.py)
    batch_size: int = 32
    collapse_cosine: float = 0.97  # results this similar to a better one fold into it (the page can turn it off)
    cache_dir: Path = Path(".cache")
    ocr: bool = True
    ocr_langs: str = "eng"  # tesseract languages, e.g. "eng+deu"
    # OCR engines, most trusted first: "ppocr,tesseract", "ppocr", "tesseract" or "none" (src/ocr/engines.py)
    ocr_engines: str = "ppocr,tesseract"
    text_dir: Path = Path("dataset_text")  # OCR cache: one .txt (and .json of word boxes) per image

    # Environment variable for each field; the names are part of the README.
    ENV_NAMES = {
        "clip_model": "CLIP_MODEL",
        "dataset_dir": "DATASET_DIR",
        "qdrant_path": "QDRANT_PATH",
        "qdrant_url": "QDRANT_URL",
        "qdrant_api_key": "QDRANT_API_KEY",
        "collection": "COLLECTION",
        "qdrant_timeout": "QDRANT_TIMEOUT",
        "embedded_engine": "EMBEDDED_ENGINE",
        "qdrant_shards": "QDRANT_SHARDS",
        "qdrant_replicas": "QDRANT_REPLICAS",
        "qdrant_quantization": "QDRANT_QUANTIZATION",
        "qdrant_on_disk": "QDRANT_ON_DISK",
        "device": "DEVICE",
        "precision": "PRECISION",
        "batch_size": "BATCH_SIZE",
        "collapse_cosine": "COLLAPSE_COSINE",
        "cache_dir": "CACHE_DIR",
        "ocr": "OCR",
        "ocr_langs": "OCR_LANGS",
        "ocr_engines": "OCR_ENGINES",
        "text_dir": "TEXT_DIR",
    }

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then environment variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(cls.ENV_NAMES[f.name], "").strip()
            if raw:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls._coerce(values)

    @classmethod
    def _coerce(cls, values: dict) -> "Settings":
        settings = cls()
        converted = {}
        for name, value in values.items():
            default = getattr(settings, name)
            if isinstance(default, Path):
                converted[name] = Path(value)
            elif name in ("batch_size", "qdrant_shards", "qdrant_replicas", "qdrant_timeout"):
                converted[name] = _positive_int(cls.ENV_NAMES[name], value)
            elif name == "collapse_cosine":
                converted[name] = _fraction("COLLAPSE_COSINE", value)
            elif name in ("ocr", "qdrant_on_disk"):
                converted[name] = _switch(cls.ENV_NAMES[name], value)
            else:
                converted[name] = str(value)
        settings = replace(settings, **converted)
        if settings.qdrant_quantization not in ("none", "scalar", "binary"):
            raise SettingsError(
                f"QDRANT_QUANTIZATION must be none, scalar or binary, not {settings.qdrant_quantization!r}")
        if settings.embedded_engine not in ("edge", "qdrant-client"):
            raise SettingsError(f"EMBEDDED_ENGINE must be edge or qdrant-client, not {settings.embedded_engine!r}")
        if settings.precision not in ("auto", "fp32", "bf16", "int8"):
            raise SettingsError(f"PRECISION must be auto, fp32, bf16 or int8, not {settings.precision!r}")
        try:
            settings = replace(settings, ocr_engines=",".join(parse_engines(settings.ocr_engines)) or "none")
        except ValueError as exc:
            raise SettingsError(f"OCR_ENGINES: {exc}") from None
        if settings.device not in ("auto", "cpu", "cuda", "mps") and not settings.device.startswith("cuda:"):
            raise SettingsError(f"DEVICE must be auto, cpu, cuda or mps, not {settings.device!r}")
        return settings

    @property
    def engines(self) -> tuple[str, ...]:
        """The OCR engines to read with; () when OCR is off (OCR=off or OCR_ENGINES=none)."""
        return parse_engines(self.ocr_engines) if self.ocr else ()

    @property
    def uses_server(self) -> bool:
        return bool(self.qdrant_url)

    def describe_store(self) -> str:
        """Where the vectors live, for messages and /healthz (never the API key)."""
        if self.uses_server:
            return f"Qdrant server at {self.qdrant_url}"
        engine = "Qdrant Edge" if self.embedded_engine == "edge" else "qdrant-client local mode"
        return f"embedded Qdrant ({engine}) at {self.qdrant_path}"


def _fraction(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number from 0 to 1, not {value!r}") from None
    if not 0 <= number <= 1:
        raise SettingsError(f"{name} must be from 0 to 1, not {number}")
    return number


def _switch(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "on", "true", "yes"):
        return True
    if text in ("0", "off", "false", "no"):
        return False
    raise SettingsError(f"{name} must be on or off, not {value!r}")


def _positive_int(name: str, value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise SettingsError(f"{name} must be at least 1, not {number}")
    return number

"""CLIP embeddings of images and of query text, in one shared vector space."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from src.precision import PROBE_TEXTS, Choice, choose, probe_images

log = logging.getLogger(__name__)

class ModelUnavailable(Exception):
    """The CLIP model could not be loaded; the message says why and what to do."""


# All of torch's work in this process runs on one thread. Each thread that calls into torch gets its own
# OpenMP team, and once two teams exist they spin against each other: on 2 cores a query encoding took
# 12 ms from a web server's thread pool against 5.6 ms on one thread.
_TORCH_THREAD = "adsearch-torch"
_torch_thread: ThreadPoolExecutor | None = None  # started on first use, not on import
_torch_thread_lock = threading.Lock()


def on_torch_thread(work, *args):
    """work(*args) on the process's torch thread; its result or its exception."""
    global _torch_thread
    if threading.current_thread().name.startswith(_TORCH_THREAD):
        return work(*args)  # already there (a call from inside the thread's own work)
    with _torch_thread_lock:
        if _torch_thread is None:
            _torch_thread = ThreadPoolExecutor(1, thread_name_prefix=_TORCH_THREAD)
    return _torch_thread.submit(work, *args).result()


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class ClipEmbedder:
    """Loads a CLIP model on first use and turns images and texts into L2-normalised float32 vectors."""

    def __init__(self, model_id: str, device: str = "auto", precision: str = "auto",
                 probe_dir: Path | None = None):
        self.model_id = model_id
        self.probe_dir = probe_dir  # images to check a faster precision on (the folder being indexed)
        self.requested_device = device
        self.requested_precision = precision
        self.device: str | None = None
        self.precision: Choice | None = None  # what runs, and why (src/precision.py)
        # transformers' classes, typed loosely: their from_pretrained signatures defeat the type checker.
        self._model: Any = None
        self._processor: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> ClipEmbedder:
        return cls(settings.clip_model, settings.device, settings.precision, probe_dir=settings.dataset_dir)

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> ClipEmbedder:
        with self._lock:
            if self._model is None:
                on_torch_thread(self._load)
        return self

    def _load(self) -> None:
        try:
            import torch
            from huggingface_hub.utils import logging as hub_logging
            from transformers import CLIPModel, CLIPProcessor
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # keep transformers' advice and bars out of the user's terminal
            hf_logging.disable_progress_bar()
            hub_logging.set_verbosity_error()
            device = pick_device(self.requested_device)
            source = _model_source(self.model_id)
            offline = _offline(source)
            model: Any = CLIPModel.from_pretrained(source, local_files_only=offline)
            processor = CLIPProcessor.from_pretrained(source, local_files_only=offline)
            model.to(device).eval()
            torch.set_grad_enabled(False)
        except Exception as exc:  # any failure here means the same thing to the user
            raise ModelUnavailable(_load_failure_message(self.model_id, exc)) from None
        self._processor, self.device = processor, device
        self._model, self.precision = choose(model, self._probe, device, self.requested_precision)
        log.info("loaded CLIP model %s on %s, %s: %s", self.model_id, device, self.precision.precision,
                 self.precision.why)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dim(self) -> int:
        return int(self.load()._model.config.projection_dim)

    @property
    def input_size(self) -> int:
        """Side in pixels of the square the vision tower sees (224 for ViT-B/32)."""
        return int(self.load()._model.config.vision_config.image_size)

    # -- embedding -----------------------------------------------------------------------------
    def embed_images(self, images: Sequence) -> np.ndarray:
        """PIL RGB images -> [N, dim] float32, unit length."""
        self.load()
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        assert self.precision is not None  # set by load()
        return on_torch_thread(self._image_vectors, self._model, self.precision.precision, images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> [N, dim] float32, unit length; padded only to the longest text, not 77 tokens."""
        self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return on_torch_thread(self._text_vectors, self._model, texts)

    def _image_vectors(self, model, precision: str, images: Sequence) -> np.ndarray:
        import torch

        pixels = self._processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)
        if precision == "bf16":
            pixels = pixels.to(torch.bfloat16)
        with torch.inference_mode():
            return _normalised(model.get_image_features(pixel_values=pixels))

    def _text_vectors(self, model, texts: Sequence[str]) -> np.ndarray:
        import torch

        inputs = self._processor.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._max_tokens(model), return_tensors="pt"
        )
        with torch.inference_mode():
            output = model.get_text_features(
                input_ids=inputs["input_ids"].to(self.device),
                attention_mask=inputs["attention_mask"].to(self.device),
            )
        return _normalised(output)

    def _probe(self, model, precision: str) -> np.ndarray:
        """Vectors of the probe images and texts, to compare a precision with fp32."""
        images = probe_images(self.probe_dir)
        return np.concatenate([self._image_vectors(model, precision, images), self._text_vectors(model, PROBE_TEXTS)])

    @staticmethod
    def _max_tokens(model) -> int:
        return int(model.config.text_config.max_position_embeddings)


def _model_source(model_id: str) -> str:
    """A local folder as a path; anything else is a Hugging Face id."""
    path = Path(model_id).expanduser()
    if path.is_dir():
        return str(path)
    if model_id.startswith(("/", ".", "~")) or model_id.count("/") > 1:  # hub ids are "org/name"
        raise FileNotFoundError(f"no model folder at {path}")
    return model_id


def _offline(source: str) -> bool:
    """Whether to skip the hub: a local folder, a model already in the cache, or a hub out of reach.

    Without this check an unreachable hub costs half a minute of retries before the clear message.
    """
    if Path(source).is_dir() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return True
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(source, "config.json"), str):
        return True
    host = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((host.hostname, host.port or 443), timeout=3).close()
        return False
    except OSError:
        return True


def _normalised(output) -> np.ndarray:
    # transformers 5 returns an output object whose pooler_output is the projected embedding;
    # older releases returned the tensor itself.
    tensor = getattr(output, "pooler_output", output)
    vectors = tensor.float().cpu().numpy().astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _load_failure_message(model_id: str, exc: Exception) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"could not load the CLIP model '{model_id}' ({reason[:300]}). "
        "CLIP_MODEL must be a Hugging Face model id reachable from this machine, or a local folder "
        "holding a saved CLIP model and processor. Offline: on a machine with internet run "
        "`hf download openai/clip-vit-base-patch32 --local-dir models/clip-vit-base-patch32`, "
        "copy that folder here and set CLIP_MODEL=models/clip-vit-base-patch32."
    )

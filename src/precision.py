"""How the CLIP model runs on a CPU: fp32, bf16 or int8, and which of them to use by default.

The default ("auto") is the fastest option that stays faithful: each candidate, fastest first, embeds a
few probe images and texts, and is kept only if every vector has cosine >= MIN_COSINE with fp32's.
Measured on ViT-B/32 shapes (benchmarks/inference.py): int8 dynamic quantisation about 2.7x fp32, bf16
about 1.6x on a CPU with AVX-512 bf16; without bf16 instructions bf16 is emulated and slower, so it is
not tried there.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.settings import PRECISIONS

log = logging.getLogger(__name__)


MIN_COSINE = 0.99
PROBE_TEXTS = ["a cup of coffee", "50% off running shoes", "Starwise Telescopes: see galaxies from home"]


@dataclass(frozen=True)
class Choice:
    precision: str
    worst_cosine: float | None  # against fp32 on the probe; None for fp32 itself
    why: str


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def convert(model, precision: str):
    """A copy of the fp32 model running in `precision` (the fp32 model itself for fp32)."""
    import torch

    if precision == "fp32":
        return model
    if precision == "bf16":
        return copy.deepcopy(model).to(torch.bfloat16)
    if precision == "int8":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notice that this API moves to torchao
            return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")


def candidates(device: str) -> list[str]:
    """Faster options first; only the CPU has more than one."""
    if device != "cpu":
        return ["fp32"]
    return ["int8"] + (["bf16"] if cpu_has_bf16() else []) + ["fp32"]


def choose(model, embed, device: str, requested: str) -> tuple[object, Choice]:
    """The model to run and why. embed(model, precision) -> unit vectors of the probe inputs."""
    if requested != "auto":
        if requested != "fp32" and device != "cpu":
            return model, Choice("fp32", None, f"{requested} is for the CPU; {device} runs fp32")
        return convert(model, requested), Choice(requested, None, "set by PRECISION")
    reference = embed(model, "fp32")
    for precision in candidates(device):
        if precision == "fp32":
            break
        candidate = convert(model, precision)
        worst = float(np.min(np.sum(embed(candidate, precision) * reference, axis=1)))
        if worst >= MIN_COSINE:
            return candidate, Choice(precision, worst, f"fastest faithful option (cosine >= {worst:.4f} to fp32)")
        log.info("%s is not faithful for this model (cosine %.4f < %.2f); trying the next",
                 precision, worst, MIN_COSINE)
    return model, Choice("fp32", None, "no faster option is faithful on this CPU")


def probe_images(folder: Path | None, count: int = 8) -> list:
    """A few of the ads being indexed (real layouts, text and photos), or plain gradients without them."""
    from PIL import Image

    from src.images import ImageError, decode_image

    files = sorted(Path(folder).rglob("*.jpg"))[:: 7] if folder and Path(folder).is_dir() else []
    images = []
    for path in files[: count * 2]:  # a few spares: a file that does not decode is not a probe
        try:
            images.append(decode_image(path, min_side=224).image)
        except (ImageError, OSError):
            continue
    if images:
        return images[:count]
    ramp = np.linspace(0, 255, 224, dtype=np.uint8)
    return [Image.fromarray(np.dstack([np.roll(ramp, i * 20)[None, :].repeat(224, 0)] * 3)) for i in range(count)]

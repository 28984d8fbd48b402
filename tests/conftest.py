"""Shared fixtures: a tiny CLIP saved to disk, image folders made on the fly, an indexed store."""

from __future__ import annotations

import random
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from src.embedding import ClipEmbedder  # noqa: E402
from src.settings import Settings  # noqa: E402
from tools.random_clip import build_tiny_clip  # noqa: E402


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def embedder(tiny_clip) -> ClipEmbedder:
    # fp32: exact invariants (a batch gives what one by one gives) hold only there; int8's dynamic
    # quantisation scales activations per batch. tests/test_precision.py covers the other precisions.
    return ClipEmbedder(str(tiny_clip), precision="fp32").load()


def make_image(path: Path, seed: int, size=(160, 120), fmt: str | None = None) -> Path:
    """A distinct picture per seed: coloured rectangles and ellipses on a coloured ground."""
    rng = random.Random(seed)
    colour = lambda: tuple(rng.randrange(256) for _ in range(3))  # noqa: E731
    image = Image.new("RGB", size, colour())
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(10, size[0]), y0 + rng.randrange(10, size[1]))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return path


AD_WORDS = ["SALE", "COFFEE", "PHONES", "TRAVEL", "SHOES", "BANK", "PIZZA", "SUMMER", "AUDI", "FRESH"]


def make_ad(path: Path, seed: int) -> Path:
    """A picture with two words on a light band, so OCR has something to read."""
    make_image(path, seed, size=(480, 320))
    image = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 200, 480, 300), fill=(255, 255, 255))
    draw.text((20, 215), f"{AD_WORDS[seed % 10]} {AD_WORDS[(seed * 3) % 10]}", fill=(0, 0, 0),
              font=ImageFont.load_default(size=56))
    image.save(path)
    return path


def wait_until_up(url: str, process, seconds: float = 60) -> None:
    """Until the app at url answers /healthz (a test's own server subprocess)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, "the server exited while starting"
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Eight distinct images in two folders and several formats."""
    folder = tmp_path / "images"
    names = ["cars/a.jpg", "cars/b.png", "cars/c.webp", "food/d.jpeg", "food/e.gif", "food/f.bmp", "g.jpg", "h.png"]
    for seed, name in enumerate(names):
        make_image(folder / name, seed)
    return folder


@pytest.fixture
def settings(tmp_path, tiny_clip, image_folder) -> Settings:
    return Settings.load(
        environ={},
        clip_model=str(tiny_clip),
        dataset_dir=image_folder,
        qdrant_path=tmp_path / "qdrant",
        cache_dir=tmp_path / "cache",
        text_dir=tmp_path / "text",
        batch_size=3,
        collapse_cosine=1.0,  # the tiny random CLIP's vectors crowd together: fold only identical ones
    )

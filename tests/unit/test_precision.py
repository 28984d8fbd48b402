"""The faster precisions, checked against fp32 on the same model and the same inputs."""

import numpy as np
import pytest
from PIL import Image

from src.embedding import ClipEmbedder
from src.precision import MIN_COSINE, candidates, cpu_has_bf16
from tests.helpers import make_image


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("precision")
    return [Image.open(make_image(folder / f"{i}.png", i)).convert("RGB") for i in range(6)]


@pytest.mark.parametrize("precision", ["int8"] + (["bf16"] if cpu_has_bf16() else []))
def test_faster_precisions_stay_faithful(tiny_clip, embedder, images, precision):
    fast = ClipEmbedder(str(tiny_clip), precision=precision).load()
    assert fast.precision.precision == precision
    for embed in ("embed_images", "embed_texts"):
        inputs = images if embed == "embed_images" else ["red car", "Pixora Phones $499", "a cat"]
        reference, vectors = getattr(embedder, embed)(inputs), getattr(fast, embed)(inputs)
        assert vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
        assert np.min(np.sum(vectors * reference, axis=1)) >= MIN_COSINE


def test_auto_picks_a_faithful_option_and_says_why(tiny_clip):
    chosen = ClipEmbedder(str(tiny_clip)).load().precision
    assert chosen.precision in candidates("cpu")
    assert chosen.why and (chosen.precision == "fp32" or chosen.worst_cosine >= MIN_COSINE)


def test_only_the_cpu_has_faster_candidates():
    assert candidates("cuda") == ["fp32"]
    assert candidates("cpu")[0] == "int8" and candidates("cpu")[-1] == "fp32"

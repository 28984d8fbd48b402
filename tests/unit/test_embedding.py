import json

import numpy as np
import pytest
from PIL import Image

from src.embedding import ClipEmbedder, ModelUnavailable
from tests.helpers import make_image


def test_loads_through_from_pretrained_and_gives_unit_vectors(embedder, tmp_path):
    images = [Image.open(make_image(tmp_path / f"{i}.png", i)).convert("RGB") for i in range(3)]
    vectors = embedder.embed_images(images)
    assert vectors.shape == (3, embedder.dim) == (3, 16)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # A batch gives what one-by-one gives: padding or batching must not change a vector.
    one = embedder.embed_images(images[1:2])[0]
    assert np.allclose(one, vectors[1], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)


def test_text_vectors_do_not_depend_on_the_batch(embedder):
    together = embedder.embed_texts(["red car", "a much longer query about audi quattro at 50% off"])
    alone = embedder.embed_texts(["red car"])
    assert together.shape == (2, 16)
    assert np.allclose(together[0], alone[0], atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_texts([]).shape == (0, 16)


def test_texts_longer_than_the_model_takes_are_truncated(embedder):
    assert embedder.embed_texts(["word " * 500]).shape == (1, 16)


@pytest.mark.parametrize("model_id", ["/no/such/model/folder", "./models/missing"])
def test_missing_folder_gives_a_clear_message(model_id):
    with pytest.raises(ModelUnavailable) as caught:
        ClipEmbedder(model_id).load()
    message = str(caught.value)
    assert model_id in message and "CLIP_MODEL" in message and "no model folder" in message


def test_broken_folder_gives_a_clear_message(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip"}))
    with pytest.raises(ModelUnavailable, match="could not load the CLIP model"):
        ClipEmbedder(str(tmp_path)).load()


def test_unknown_hub_id_offline_fails_fast_and_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="local folder"):
        ClipEmbedder("nobody/no-such-clip-model").load()

from pathlib import Path

import pytest

from src.settings import DEFAULT_MODEL, Settings, SettingsError


def test_defaults_without_environment():
    s = Settings.load(environ={})
    assert s.clip_model == DEFAULT_MODEL == "openai/clip-vit-base-patch32"
    assert s.dataset_dir == Path("dataset") and s.qdrant_path == Path("qdrant_data")
    assert s.qdrant_url is None and not s.uses_server
    assert s.device == "auto" and s.batch_size == 32


def test_environment_then_flags():
    env = {"CLIP_MODEL": "models/clip", "BATCH_SIZE": "8", "QDRANT_URL": "http://localhost:6333", "COLLECTION": "x"}
    s = Settings.load(environ=env, batch_size=4, collection=None)
    assert s.clip_model == "models/clip"
    assert s.batch_size == 4  # the flag wins
    assert s.collection == "x"  # an absent flag leaves the environment's value
    assert s.uses_server and s.describe_store() == "Qdrant server at http://localhost:6333"


@pytest.mark.parametrize("env", [{"BATCH_SIZE": "many"}, {"BATCH_SIZE": "0"}, {"DEVICE": "tpu"}])
def test_bad_values_are_named(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.load(environ=env)


def test_api_key_never_in_repr_or_description():
    s = Settings.load(environ={"QDRANT_URL": "https://cloud.example", "QDRANT_API_KEY": "sekrit-key"})
    assert s.qdrant_api_key == "sekrit-key"
    assert "sekrit" not in repr(s) and "sekrit" not in s.describe_store()

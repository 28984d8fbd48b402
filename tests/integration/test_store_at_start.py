"""`serve` opens the store as it starts, so the embedded store's lock is held from the first moment and
an `index` started meanwhile is refused instead of writing beside the app (issue 16)."""

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder
from src.store import StoreUnavailable, open_store
from src.web import create_app
from tests.helpers import ROOT


def test_the_app_holds_the_store_before_its_first_request(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with TestClient(create_app(settings, embedder)):
        with pytest.raises(StoreUnavailable, match="in use by another adsearch process"):
            open_store(settings)
        env = os.environ | {"CLIP_MODEL": settings.clip_model, "DATASET_DIR": str(settings.dataset_dir),
                            "QDRANT_PATH": str(settings.qdrant_path), "OCR": "off"}
        done = subprocess.run([sys.executable, "main.py", "index", "--no-progress"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "in use by another adsearch process" in done.stderr

"""A damaged store is found, reported with the command that fixes it, and repaired without re-embedding
what is intact: `index --check`, `index --repair`, /healthz (issue 16). Damage made by hand on a real
Qdrant Edge store: a deleted BM25 vector folder, a truncated vector file, a meta.json holding []."""

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder
from src.store import SparseVector, Vectors, open_store
from src.terms import document_vector
from src.web import create_app
from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # damages and repairs whole stores: fault trials, not the working loop


def main_py(settings, *args) -> subprocess.CompletedProcess:
    env = os.environ | {"CLIP_MODEL": settings.clip_model, "DATASET_DIR": str(settings.dataset_dir),
                        "QDRANT_PATH": str(settings.qdrant_path), "OCR": "off"}
    return subprocess.run([sys.executable, "main.py", *args, "--no-progress"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def indexed(settings, embedder):
    """The eight images indexed; one of them given the text "espresso" with its vectors."""
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        hit = store.by_path("cars/a.jpg")
        vectors = Vectors(text=embedder.embed_texts(["espresso"])[0].tolist(),
                          bm25=SparseVector(*document_vector("espresso")))
        store.update_text(hit.id, vectors, {"text": "espresso", "has_text": True})
    return settings


def segment_folders(settings):
    return list((settings.qdrant_path / settings.collection / "shard" / "segments").iterdir())


def finds_espresso(settings) -> bool:
    with open_store(settings) as store:
        return [h.payload["path"] for h in store.search(Vectors(bm25=SparseVector(*document_vector("espresso"))), 3)] \
            == ["cars/a.jpg"]


def test_a_lost_bm25_vector_folder_is_found_and_rebuilt_from_the_stored_text(indexed):
    settings = indexed
    assert finds_espresso(settings)
    for segment in segment_folders(settings):
        for folder in segment.glob("vector_storage-bm25"):
            subprocess.run(["rm", "-rf", str(folder)], check=True)
    assert not finds_espresso(settings)
    check = main_py(settings, "index", "--check")
    assert check.returncode == 1 and "no bm25 vector" in check.stdout and "index --repair" in check.stdout
    repair = main_py(settings, "index", "--repair")
    assert repair.returncode == 0, repair.stderr
    assert "rebuilt the text vectors of 1 points" in repair.stdout and "indexed 0" in repair.stdout
    assert finds_espresso(settings)
    again = main_py(settings, "index", "--check")
    assert again.returncode == 0 and "0 lack vectors" in again.stdout, again.stdout


def test_a_truncated_vector_file_is_reported_and_the_store_rebuilt(indexed):
    settings = indexed
    for segment in segment_folders(settings):
        for chunk in segment.glob("vector_storage-image/vectors/chunk_*.mmap"):
            os.truncate(chunk, 100)
    check = main_py(settings, "index", "--check")
    assert check.returncode == 1 and "damaged" in check.stdout + check.stderr
    assert "index --repair" in check.stdout + check.stderr
    repair = main_py(settings, "index", "--repair")
    assert repair.returncode == 0, repair.stderr
    assert main_py(settings, "index", "--check").returncode == 0
    with open_store(settings) as store:
        assert store.count() == 8


def test_a_meta_json_holding_a_list_names_the_repair(indexed, embedder):
    settings = indexed
    (settings.qdrant_path / settings.collection / "meta.json").write_text("[]")
    index = main_py(settings, "index")
    assert index.returncode == 1 and "Traceback" not in index.stderr
    assert "meta.json is damaged" in index.stderr and "index --repair" in index.stderr
    with TestClient(create_app(settings, embedder)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and "index --repair" in health.json()["store"]["error"]
    repair = main_py(settings, "index", "--repair")
    assert repair.returncode == 0, repair.stderr
    with open_store(settings) as store:
        assert store.count() == 8

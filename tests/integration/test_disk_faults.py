"""Full disks and read-only folders, made real with a small tmpfs and read-only bind mounts: one clear
message (507 or 503), nothing half-written, and searches go on (issue 16)."""

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder
from src.store import StoreFull, open_store
from src.web import create_app
from tests.helpers import ROOT, make_ad, make_image
from tests.mounts import fill, read_only, small_disk

pytestmark = pytest.mark.slow


def files_in(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def searches_work(client) -> bool:
    found = client.get("/api/search", params={"q": "red car", "k": 3})
    return found.status_code == 200 and len(found.json()["results"]) == 3


def test_a_full_store_disk_refuses_the_write_with_507_and_searches_go_on(settings, embedder, tmp_path):
    with small_disk(tmp_path / "disk", 400) as disk:
        settings = settings.model_copy(update={"qdrant_path": disk / "qdrant", "ocr": False})
        with open_store(settings) as store:
            index_folder(settings.dataset_dir, embedder, store, progress=False)
        before = files_in(settings.dataset_dir)
        with TestClient(create_app(settings, embedder)) as client:
            fill(disk, leave_bytes=64 * 2**20)  # the disk fills while the app runs
            data = make_image(tmp_path / "new.png", 77).read_bytes()
            answer = client.post("/api/images", files=[("files", ("new.png", data))])
            assert answer.status_code == 507, answer.text
            message = answer.json()["error"]["message"]
            assert "MB free" in message and "free some space" in message
            assert files_in(settings.dataset_dir) == before  # no upload left behind, not even a .part
            assert searches_work(client)
            assert client.get("/healthz").status_code == 200
        with pytest.raises(StoreFull, match="open the store"):  # a clear refusal, not a SIGBUS
            open_store(settings)
        (disk / ".filler").unlink()
        with open_store(settings) as store:  # the store is intact once space is freed
            assert store.count() == 8


def test_the_store_refuses_before_the_engine_could_fault(settings, tmp_path):
    with small_disk(tmp_path / "disk", 100) as disk, pytest.raises(StoreFull, match="free some space"), \
            open_store(settings.model_copy(update={"qdrant_path": disk / "qdrant"})) as store:
        store.create(None, None)


@pytest.mark.requires("tesseract")
def test_a_full_ocr_cache_fails_the_upload_whole_with_507(settings, embedder, tmp_path):
    with small_disk(tmp_path / "text", 1) as text_dir:
        settings = settings.model_copy(update={"text_dir": text_dir, "ocr": True})  # the upload's text is read
        with open_store(settings) as store:
            index_folder(settings.dataset_dir, embedder, store, progress=False)
        before = files_in(settings.dataset_dir)
        fill(text_dir)
        with TestClient(create_app(settings, embedder)) as client:
            for _ in range(2):  # a retry adds no copy either
                data = make_ad(tmp_path / "ad.png", 70).read_bytes()
                answer = client.post("/api/images", files=[("files", ("ad.png", data))])
                assert answer.status_code == 507, answer.text
                assert "no space left" in answer.json()["error"]["message"]
                assert files_in(settings.dataset_dir) == before
                assert client.get("/healthz").json()["store"]["points"] == 8
            assert searches_work(client)


def test_a_read_only_image_folder_refuses_uploads_with_503(settings, embedder, tmp_path):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with read_only(settings.dataset_dir), TestClient(create_app(settings, embedder)) as client:
        data = make_image(tmp_path / "new.png", 78).read_bytes()
        answer = client.post("/api/images", files=[("files", ("new.png", data))])
        assert answer.status_code == 503, answer.text
        assert "cannot be written" in answer.json()["error"]["message"]
        assert searches_work(client)


def test_a_full_thumbnail_cache_still_shows_the_picture(settings, embedder, tmp_path):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with small_disk(tmp_path / "cache", 1) as cache:
        fill(cache)
        with TestClient(create_app(settings.model_copy(update={"cache_dir": cache}), embedder)) as client:
            answer = client.get("/thumbs/cars/a.jpg")
            assert answer.status_code == 200 and answer.content == (settings.dataset_dir / "cars/a.jpg").read_bytes()


@pytest.mark.requires("tesseract")
def test_index_with_a_full_ocr_cache_stops_with_one_line(settings, tmp_path):
    with small_disk(tmp_path / "text", 1) as text_dir:
        fill(text_dir)
        env = os.environ | {"CLIP_MODEL": settings.clip_model, "DATASET_DIR": str(settings.dataset_dir),
                            "QDRANT_PATH": str(settings.qdrant_path), "TEXT_DIR": str(text_dir)}
        done = subprocess.run([sys.executable, "main.py", "index", "--no-progress"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "no space left" in errors[0] and "run index again" in errors[0], done.stderr
    assert "Traceback" not in done.stderr

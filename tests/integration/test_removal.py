"""Removing an image: only files proven to hold the indexed content are deleted, and a failure at any
step leaves the index and the folder in step (issue 16)."""

import shutil

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder
from src.removal import REMOVING, NotIndexed, RemovalError, finish_interrupted, remove_image
from src.store import StoreUnavailable, open_store
from src.web import create_app
from tests.helpers import form_fields, make_image
from tests.mounts import read_only


@pytest.fixture
def copied(settings):
    """cars/a.jpg copied to cars/b2.jpg before indexing: one point, two files."""
    shutil.copy(settings.dataset_dir / "cars/a.jpg", settings.dataset_dir / "cars/b2.jpg")
    return settings


def test_a_copy_overwritten_after_indexing_is_left_and_reported(copied, embedder, tmp_path):
    settings = copied
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        assert store.by_path("cars/a.jpg").payload["duplicates"] == ["cars/b2.jpg"]
    # A different picture, never indexed, now lies where the copy was.
    make_image(settings.dataset_dir / "cars/b2.jpg", 999, fmt="JPEG")
    with TestClient(create_app(settings, embedder)) as client:
        answer = client.delete("/api/images/cars/a.jpg", params={"delete_files": "true"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
    assert body["deleted_files"] == ["cars/a.jpg"]
    assert [k["path"] for k in body["kept_files"]] == ["cars/b2.jpg"]
    assert "another picture" in body["kept_files"][0]["reason"]
    assert not (settings.dataset_dir / "cars/a.jpg").exists()
    assert (settings.dataset_dir / "cars/b2.jpg").exists()


def test_the_page_says_which_files_were_left(copied, embedder):
    settings = copied
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    (settings.dataset_dir / "cars/b2.jpg").write_bytes(b"not the same any more")  # not even an image now
    with TestClient(create_app(settings, embedder)) as client:
        page = client.post("/view/cars/a.jpg/remove", data={"delete_files": "1", **form_fields(client)})
    assert page.status_code == 200 and "Left in place" in page.text and "cars/b2.jpg" in page.text
    assert (settings.dataset_dir / "cars/b2.jpg").read_bytes() == b"not the same any more"


def test_a_read_only_image_folder_changes_nothing_and_says_so(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        count = store.count()
    with read_only(settings.dataset_dir / "cars"), TestClient(create_app(settings, embedder)) as client:
        answer = client.delete("/api/images/cars/a.jpg", params={"delete_files": "true"})
        assert answer.status_code == 503, answer.text
        message = answer.json()["error"]["message"]
        assert "read-only" in message and "nothing was removed" in message
        assert client.get("/api/images/cars/a.jpg").status_code == 200  # still indexed
        assert client.get("/healthz").json()["store"]["points"] == count
    assert (settings.dataset_dir / "cars/a.jpg").exists()


def test_a_store_failure_after_the_files_are_moved_aside_puts_them_back(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        hit = store.by_path("cars/a.jpg")
    with pytest.raises(StoreUnavailable, match="nothing was removed"):
        remove_image(settings, _FailingDelete(hit), "cars/a.jpg", delete_files=True)
    assert (settings.dataset_dir / "cars/a.jpg").exists()
    assert not list(settings.dataset_dir.rglob(f"*{REMOVING}"))


class _FailingDelete:
    """A store whose look-ups answer and whose delete fails, as a store that goes down between them."""

    def __init__(self, hit):
        self._hit = hit

    def by_path(self, path):
        return self._hit

    def delete(self, ids):
        raise StoreUnavailable("could not delete points in the test store: gone")


def test_a_removal_cut_short_is_finished_by_the_next_start(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        a, h = settings.dataset_dir / "cars/a.jpg", settings.dataset_dir / "h.png"
        # Killed after the files were moved aside: a.jpg before its point was deleted, h.png after.
        a.rename(a.with_name(f".a.jpg{REMOVING}"))
        h.rename(h.with_name(f".h.png{REMOVING}"))
        store.delete([store.by_path("h.png").id])
        done = finish_interrupted(settings, store)
    assert a.exists() and not h.exists() and len(done) == 2
    assert not list(settings.dataset_dir.rglob(f"*{REMOVING}"))


def test_removing_what_is_not_indexed(settings, embedder):
    with open_store(settings) as store, pytest.raises(NotIndexed):
        remove_image(settings, store, "cars/a.jpg", delete_files=True)
    assert issubclass(RemovalError, OSError)

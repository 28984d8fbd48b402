"""Uploads are all or nothing: written under a hidden temporary name, indexed, then moved into place;
what a killed process left is finished or removed at the next start, and the same content is never
saved twice (issue 16)."""

import hashlib
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder, point_id
from src.store import open_store
from src.uploads import PART, add_images
from src.web import create_app
from tests.helpers import make_image

MONTH = f"uploads/{datetime.now(UTC):%Y-%m}"


@pytest.fixture
def store(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        yield store


def test_a_failed_index_leaves_no_file_at_all(settings, embedder, store, tmp_path, monkeypatch):
    def broken(points):
        raise RuntimeError("the model ran out of memory")

    monkeypatch.setattr(store, "upsert", broken)
    data = make_image(tmp_path / "new.png", 80).read_bytes()
    [outcome] = add_images([("new.png", data)], settings, embedder, store, None)
    assert outcome.status == "rejected" and "out of memory" in outcome.message
    assert not [p for p in settings.dataset_dir.rglob("*") if p.is_file() and "uploads" in p.parts]


def test_upload_files_appear_only_once_indexed(settings, embedder, store, tmp_path, monkeypatch):
    seen = []

    def looking(points, upsert=store.upsert):
        seen.extend(p.name for p in (settings.dataset_dir / "uploads").rglob("*") if p.is_file())
        upsert(points)

    monkeypatch.setattr(store, "upsert", looking)
    data = make_image(tmp_path / "new.png", 81).read_bytes()
    [outcome] = add_images([("new.png", data)], settings, embedder, store, None)
    assert outcome.status == "added"
    assert seen and all(name.startswith(".") and name.endswith(PART) for name in seen)  # hidden while indexing
    assert (settings.dataset_dir / outcome.path).is_file()
    assert index_folder(settings.dataset_dir, embedder, store, progress=False).unchanged == 9


def test_the_next_start_finishes_or_removes_what_a_killed_upload_left(settings, embedder, tmp_path):
    folder = settings.dataset_dir / MONTH
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        [done] = add_images([("done.png", make_image(tmp_path / "d.png", 82).read_bytes())],
                            settings, embedder, store, None)
    # Killed after the point was written, before the move into place; and killed while writing.
    final = settings.dataset_dir / done.path
    final.rename(final.with_name(f".{final.name}{PART}"))
    (folder / f".half-0123abcd.png{PART}").write_bytes(b"\x89PNG half of it")
    with TestClient(create_app(settings, embedder)) as client:
        assert client.get(f"/images/{done.path}").status_code == 200
        assert client.get(f"/view/{done.path}").status_code == 200
    assert sorted(p.name for p in folder.iterdir()) == [final.name]


def test_a_saved_but_unindexed_upload_is_not_copied_again(settings, embedder, store, tmp_path):
    data = make_image(tmp_path / "new.png", 83).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    # What an older version left when killed after saving: the file, in place, with no point.
    left = settings.dataset_dir / MONTH / f"poster-{sha[:8]}.png"
    left.parent.mkdir(parents=True)
    left.write_bytes(data)
    for _ in range(2):
        [outcome] = add_images([("poster.png", data)], settings, embedder, store, None)
    assert outcome.status == "duplicate" and outcome.path == f"{MONTH}/{left.name}"
    assert [p.name for p in left.parent.iterdir()] == [left.name]
    assert store.paths_of([point_id(sha)]) == {point_id(sha): f"{MONTH}/{left.name}"}


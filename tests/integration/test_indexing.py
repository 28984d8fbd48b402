import json

import numpy as np
import pytest
from PIL import Image

from src.embedding import ClipEmbedder
from src.images import file_sha256
from src.indexing import index_folder, point_id
from src.store import Vectors, open_store
from tests.helpers import make_image


def run(settings, embedder, **kw):
    with open_store(settings) as store:
        return index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False, **kw)


def snapshot(settings) -> dict:
    """id -> payload of every point: what two equivalent collections must share."""
    with open_store(settings) as store:
        records = store.file_records()
        points = {pid: payload for pid, payload, _ in store.points()}
    assert set(records) == set(points)
    return points


def test_first_run_indexes_every_image_with_its_metadata(settings, embedder):
    report = run(settings, embedder)
    assert (report.indexed, report.unchanged, report.removed, report.failed) == (8, 0, 0, [])
    points = snapshot(settings)
    assert len(points) == 8
    jpg = next(p for p in points.values() if p["path"] == "cars/a.jpg")
    source = settings.dataset_dir / "cars/a.jpg"
    assert point_id(jpg["sha256"]) in points and jpg["sha256"] == file_sha256(source)
    assert (jpg["width"], jpg["height"], jpg["format"]) == (160, 120, "JPEG")
    assert jpg["bytes"] == source.stat().st_size and jpg["mtime_ns"] == source.stat().st_mtime_ns
    assert jpg["mtime"].startswith("20") and jpg["folder"] == "cars" and jpg["duplicates"] == []
    assert {p["format"] for p in points.values()} == {"JPEG", "PNG", "WEBP", "GIF", "BMP"}


def test_every_image_finds_itself_first(settings, embedder):
    """With any weights, an image's own vector is its nearest neighbour."""
    run(settings, embedder)
    with open_store(settings) as store:
        for path in ["cars/a.jpg", "food/e.gif", "h.png"]:
            query = embedder.embed_images([Image.open(settings.dataset_dir / path).convert("RGB")])[0]
            best = store.search(Vectors(image=query.tolist()), limit=3)[0]
            assert best.payload["path"] == path and best.score > 0.99


def test_second_run_embeds_nothing(settings, embedder):
    run(settings, embedder)
    before = snapshot(settings)
    report = run(settings, embedder)
    assert (report.indexed, report.unchanged, report.updated, report.removed) == (0, 8, 0, 0)
    assert snapshot(settings) == before


def test_changed_renamed_copied_and_deleted_files(settings, embedder):
    run(settings, embedder)
    folder = settings.dataset_dir
    make_image(folder / "cars/a.jpg", 100)  # new content under an old name
    (folder / "h.png").rename(folder / "food/h-renamed.png")
    (folder / "g-copy.jpg").write_bytes((folder / "g.jpg").read_bytes())
    (folder / "food/d.jpeg").unlink()
    make_image(folder / "new/z.png", 200)
    report = run(settings, embedder)
    # a.jpg's new content and z.png are embedded; a.jpg's old content and d.jpeg are gone.
    assert (report.indexed, report.removed, report.updated) == (2, 2, 2)
    points = snapshot(settings)
    by_path = {p["path"]: p for p in points.values()}
    assert len(points) == 8
    assert by_path["cars/a.jpg"]["sha256"] == file_sha256(folder / "cars/a.jpg")
    assert "food/h-renamed.png" in by_path and "h.png" not in by_path
    assert by_path["g.jpg"]["duplicates"] == ["g-copy.jpg"]
    assert "food/d.jpeg" not in by_path and "new/z.png" in by_path


def test_bad_files_are_reported_and_the_rest_indexed(settings, embedder):
    folder = settings.dataset_dir
    (folder / "fake.jpg").write_text("I am text")
    (folder / "empty.png").write_bytes(b"")
    report = run(settings, embedder)
    assert report.indexed == 8
    failed = dict(report.failed)
    assert set(failed) == {"fake.jpg", "empty.png"} and all("not an image" in r for r in failed.values())
    assert "failed 2" in report.summary() and "fake.jpg: not an image" in report.summary()


def test_other_model_rebuilds_the_collection(settings, embedder, tmp_path):
    from tools.random_clip import build_tiny_clip

    run(settings, embedder)
    other = ClipEmbedder(str(build_tiny_clip(tmp_path / "other", projection_dim=12, seed=1))).load()
    messages = []
    report = run(settings, other, notify=messages.append)
    assert report.indexed == 8 and report.rebuilt_because and "Rebuilding" in messages[0]
    with open_store(settings) as store:
        assert store.state().matches(other.model_id, 12) and store.count() == 8


def test_vectors_are_those_of_the_model(settings, embedder):
    """The indexer decodes JPEGs straight to the model's size (faster); the vector must stay that of
    the full image given to the model."""
    run(settings, embedder)
    with open_store(settings) as store:
        stored = store.vector(store.by_path("g.jpg").id)
    expected = embedder.embed_images([Image.open(settings.dataset_dir / "g.jpg").convert("RGB")])[0]
    assert float(np.dot(stored, expected)) > 0.99


def test_missing_folder(settings, embedder, tmp_path):
    settings = settings.__class__.load(environ={}, dataset_dir=tmp_path / "nope", qdrant_path=tmp_path / "q2")
    with pytest.raises(FileNotFoundError):
        run(settings, embedder)


def test_a_first_version_collection_is_rebuilt_with_a_message(settings, embedder):
    with open_store(settings) as store:
        store.create(embedder.model_id, 16)
    # What a collection of layout version 1 (one image vector, no text) records about itself.
    meta = settings.qdrant_path / settings.collection / "meta.json"
    meta.write_text(json.dumps({"schema_version": 1, "model": embedder.model_id, "dim": 16}))
    messages = []
    report = run(settings, embedder, notify=messages.append)
    assert report.indexed == 8 and "layout version 1" in messages[0]
    with open_store(settings) as store:
        assert store.state().matches(embedder.model_id, 16) and store.count() == 8


@pytest.mark.requires("tesseract")
def test_images_with_cached_text_are_spread_among_those_read(tmp_path, embedder, ocr_once):
    """The index step writes new images whose OCR text is cached evenly among those the OCR reads (so
    the progress bar's rate holds over the run), those read in the order the workers were given them,
    and gives the workers only those the cache lacks."""
    import shutil

    from src.settings import Settings
    from src.text_cache import TextCache
    from src.text_reading import TextReader
    from tests.helpers import ROOT

    folder = tmp_path / "ads"
    ads = ["a-cached.jpg", "b-cached.png", "c-read.jpg", "d-read.webp"]
    sources = ["coffee/brewhaven-coffee-01.jpg", "coffee/brewhaven-coffee-05.png", "banking/ledgerstone-bank-02.jpg",
               "cameras/lumeno-cameras-01.webp"]
    folder.mkdir()
    for name, source in zip(ads[:2], sources[:2]):
        shutil.copy(ROOT / "dataset" / source, folder / name)
    settings = Settings.load(environ={}, dataset_dir=folder, qdrant_path=tmp_path / "q", text_dir=tmp_path / "text")
    ocr_once.give_text(folder, settings.text_dir)  # as an earlier run that read ahead would have left it
    for name, source in zip(ads[2:], sources[2:]):
        shutil.copy(ROOT / "dataset" / source, folder / name)
    written: list[str] = []
    queued: list[str] = []
    with TextReader(TextCache(settings.text_dir, settings.ocr_langs)) as reader, open_store(settings) as store:
        upsert, submit = store.upsert, reader.submit
        store.upsert = lambda points: (written.extend(p.payload["path"] for p in points), upsert(points))[1]

        def submitted(rel_path, abs_path, sha256):
            pending = submit(rel_path, abs_path, sha256)
            if pending.future is not None:
                queued.append(rel_path)
            return pending

        reader.submit = submitted
        report = index_folder(folder, embedder, store, batch_size=1, progress=False, reader=reader)
        texts = {r.payload["path"]: r.payload for r in store.payloads(["path", "text", "ocr"])}
    assert sorted(queued) == ["c-read.jpg", "d-read.webp"]
    assert written == [queued[0], "a-cached.jpg", queued[1], "b-cached.png"]
    assert report.indexed == 4 and report.failed == []
    assert all(texts[name]["ocr"] == reader.version for name in ads)
    assert "ledgerstone" in texts["c-read.jpg"]["text"].lower()

"""OCR inside the index step, and the text and hybrid search modes, on real tesseract and real Qdrant.

The tiny CLIP has random weights, so only the OCR channels can know which ad says what: a brand query
ranking that brand's ads first proves the text path end to end."""

import csv
import json
import shutil

import pytest
from PIL import Image

from src.indexing import index_folder
from src.search import Searcher
from src.settings import Settings
from src.store import open_store
from src.text_cache import TextCache
from src.text_reading import TextReader
from tests.helpers import ROOT, make_image

pytestmark = pytest.mark.requires("tesseract")
BRANDS = {"coffee/brewhaven-coffee-01.jpg", "coffee/brewhaven-coffee-03.jpg", "phones/pixora-phones-04.jpg",
          "water/glacielle-water-01.jpg", "banking/ledgerstone-bank-02.jpg"}


@pytest.fixture
def ads(tmp_path, tiny_clip):
    """A few of the bundled ads (with their labels), one photo without text, indexed with OCR."""
    folder = tmp_path / "ads"
    with open(ROOT / "dataset" / "labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["file"] in BRANDS]
    for row in rows:
        (folder / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dataset" / row["file"], folder / row["file"])
    make_image(folder / "plain/shapes.png", 3, size=(400, 300))
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=folder,
                             qdrant_path=tmp_path / "q", text_dir=tmp_path / "text",
                             collapse_cosine=1.0)  # the tiny random CLIP's vectors crowd: fold only identical ones
    return settings, {row["file"]: row for row in rows}


@pytest.fixture
def read_ads(ads, ocr_once):
    """The same ads with their text already in the OCR cache, as an earlier `index` leaves it: for the
    tests of what is done with the text (the ones of reading it start cold, from `ads`)."""
    settings, labels = ads
    ocr_once.give_text(settings.dataset_dir, settings.text_dir)
    return settings, labels


def index(settings, embedder, engines=("ppocr", "tesseract")):
    with TextReader(TextCache(settings.text_dir, settings.ocr_langs), engines=engines) as reader, \
            open_store(settings) as store:
        return index_folder(settings.dataset_dir, embedder, store, progress=False, reader=reader)


def test_brand_queries_find_their_ads_in_text_and_hybrid_modes(read_ads, embedder):
    settings, labels = read_ads
    report = index(settings, embedder)
    assert report.indexed == 6 and report.failed == []
    with open_store(settings) as store:
        searcher = Searcher(embedder, store)
        for mode in ("text", "hybrid"):
            first = searcher.search("Pixora", k=3, mode=mode)[0]
            assert first.path == "phones/pixora-phones-04.jpg", mode
            assert ("Pixora", True) in first.snippet or any(hit and "pixora" in p.lower() for p, hit in first.snippet)
            coffee = [r.path for r in searcher.search("brewhaven coffee", k=3, mode=mode)]
            brewhaven = {"coffee/brewhaven-coffee-01.jpg", "coffee/brewhaven-coffee-03.jpg"}
            if mode == "text":
                assert set(coffee[:2]) == brewhaven
            else:
                # Fused by rank with the random model's two channels: the bank ad, which shares only the
                # trigrams of "fee(s)" with the query, can come first on their noise; both ads stay in the top 3.
                assert brewhaven <= set(coffee), coffee


def test_ocr_text_is_cached_and_in_the_payload(ads, embedder):
    settings, labels = ads
    index(settings, embedder)
    cache = settings.text_dir / "phones/pixora-phones-04.jpg.txt"
    assert "pixora" in cache.read_text().lower()
    assert (settings.text_dir / "phones/pixora-phones-04.jpg.json").exists()
    with open_store(settings) as store:
        by_path = {payload["path"]: (pid, payload) for pid, payload, _ in store.points()}
        plain_id, plain = by_path["plain/shapes.png"]
        assert plain["text"] == "" and plain["has_text"] is False
        assert store.vector_names(plain_id) == {"image"}  # no text, so no text vectors
        ad_id, ad = by_path["banking/ledgerstone-bank-02.jpg"]
        assert ad["has_text"] and store.vector_names(ad_id) == {"image", "text", "bm25"}
        assert ad["category"] == "banking"


def test_cache_is_reused_and_refreshed_when_the_image_changes(read_ads, embedder):
    settings, labels = read_ads
    index(settings, embedder)
    meta = settings.text_dir / "water/glacielle-water-01.jpg.json"
    other = settings.text_dir / "coffee/brewhaven-coffee-01.jpg.json"
    stamps = (meta.stat().st_mtime_ns, other.stat().st_mtime_ns)
    # Same content, fresh store: OCR comes from the cache (files untouched).
    shutil.rmtree(settings.qdrant_path)
    assert index(settings, embedder).indexed == 6
    assert (meta.stat().st_mtime_ns, other.stat().st_mtime_ns) == stamps
    # New content under the same name: read again.
    with Image.open(settings.dataset_dir / "phones/pixora-phones-04.jpg") as image:
        image.convert("RGB").save(settings.dataset_dir / "water/glacielle-water-01.jpg", quality=80)
    assert index(settings, embedder).indexed == 1
    assert "pixora" in (settings.text_dir / "water/glacielle-water-01.jpg.txt").read_text().lower()
    assert other.stat().st_mtime_ns == stamps[1]


def test_cache_of_deleted_or_duplicated_images_is_removed(read_ads, embedder):
    settings, labels = read_ads
    index(settings, embedder)
    (settings.dataset_dir / "phones/pixora-phones-04.jpg").unlink()
    # Another image's content under this name: its old text must not stay beside it.
    shutil.copy(settings.dataset_dir / "banking/ledgerstone-bank-02.jpg",
                settings.dataset_dir / "water/glacielle-water-01.jpg")
    index(settings, embedder)
    assert not (settings.text_dir / "phones/pixora-phones-04.jpg.txt").exists()
    assert not (settings.text_dir / "water/glacielle-water-01.jpg.txt").exists()
    assert (settings.text_dir / "coffee/brewhaven-coffee-01.jpg.txt").exists()


def test_view_marks_the_matched_words_and_filters_narrow_results(read_ads, embedder):
    from fastapi.testclient import TestClient

    from src.web import create_app

    settings, labels = read_ads
    index(settings, embedder)
    with TestClient(create_app(settings, embedder)) as client:
        page = client.get("/view/phones/pixora-phones-04.jpg", params={"q": "pixora"})
        assert page.status_code == 200 and page.text.count('<rect class="mark"') >= 1
        assert "<title>phones/pixora-phones-04.jpg – adsearch</title>" in page.text
        assert page.text.count('class="remove"') == 1
        assert "Pixora" in page.text and "marked on the image" in page.text
        assert '<rect class="mark"' not in client.get("/view/phones/pixora-phones-04.jpg", params={"q": "zebra"}).text
        assert client.get("/view/not/indexed.jpg").status_code == 404

        coffee = client.get("/api/search", params={"q": "ads", "k": 10, "category": "coffee"}).json()["results"]
        assert {r["path"].split("/")[0] for r in coffee} == {"coffee"} and len(coffee) == 2
        with_text = client.get("/api/search", params={"q": "shapes", "k": 10, "has_text": True}).json()["results"]
        assert len(with_text) == 5 and "plain/shapes.png" not in {r["path"] for r in with_text}
        assert len(client.get("/api/search", params={"q": "shapes", "k": 10}).json()["results"]) == 6
        # The page offers the categories that are in the index.
        assert '<option value="coffee">coffee (2)</option>' in client.get("/index").text


def test_without_a_model_the_text_is_indexed_and_images_are_added_later(read_ads, embedder, tmp_path):
    from fastapi.testclient import TestClient

    from src.embedding import ModelUnavailable
    from src.web import create_app

    settings, labels = read_ads
    report = index(settings, None)  # what `index` does when CLIP cannot be loaded
    assert report.indexed == 6
    with open_store(settings) as store:
        assert store.state().exists and not store.state().has_images
        hits = Searcher(embedder, store).search("pixora", k=3, words_only=True)
    assert hits[0].path == "phones/pixora-phones-04.jpg"
    no_model = Settings.load(environ={}, clip_model=str(tmp_path / "missing"), dataset_dir=settings.dataset_dir,
                             qdrant_path=settings.qdrant_path, text_dir=settings.text_dir)
    with TestClient(create_app(no_model)) as client:
        results = client.get("/api/search", params={"q": "brewhaven"}).json()["results"]
        # The two ads that print the word first; ads sharing only letter trigrams with it may follow.
        assert {r["path"] for r in results[:2]} == {"coffee/brewhaven-coffee-01.jpg", "coffee/brewhaven-coffee-03.jpg"}
        assert "words in the ads only" in client.get("/index").text

    cached = sorted(p.stat().st_mtime_ns for p in settings.text_dir.rglob("*.json"))
    messages = []
    with TextReader(TextCache(settings.text_dir, settings.ocr_langs)) as reader, open_store(settings) as store:
        with_model = index_folder(settings.dataset_dir, embedder, store, progress=False, reader=reader,
                                  notify=messages.append)
        assert with_model.indexed == 6 and "text only" in messages[0]
        assert store.state().has_images
    assert sorted(p.stat().st_mtime_ns for p in settings.text_dir.rglob("*.json")) == cached  # no OCR redone

    # A model that fails later must not cost the image vectors.
    with pytest.raises(ModelUnavailable, match="nothing was changed"):
        index(settings, None)
    with open_store(settings) as store:
        assert store.state().has_images and store.count() == 6



def test_ocr_failure_is_reported_the_image_still_indexed_and_read_next_time(ads, embedder, monkeypatch, tmp_path):
    from src.ocr import tesseract

    settings, labels = ads
    missing = str(tmp_path / "no-tesseract")
    monkeypatch.setenv("TESSERACT_CMD", missing)  # for the worker processes
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", missing)
    report = index(settings, embedder, engines=("tesseract",))
    assert report.indexed == 6 and len(report.failed) == 6
    assert all(reason.startswith("OCR: tesseract not found") for _, reason in report.failed)
    with open_store(settings) as store:
        assert all(store.vector_names(pid) == {"image"} and payload["ocr"] is None
                   for pid, payload, _ in store.points())

    monkeypatch.undo()
    again = index(settings, embedder, engines=("tesseract",))
    assert (again.indexed, again.reread, again.failed) == (0, 6, [])
    with open_store(settings) as store:
        assert Searcher(embedder, store).search("pixora", k=1, mode="text")[0].path == "phones/pixora-phones-04.jpg"


def test_one_engine_failing_keeps_the_others_text_and_is_retried_alone(ads, embedder, monkeypatch, tmp_path):
    from src.ocr import tesseract

    settings, labels = ads
    missing = str(tmp_path / "no-tesseract")
    monkeypatch.setenv("TESSERACT_CMD", missing)
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", missing)
    report = index(settings, embedder)
    assert report.indexed == 6 and len(report.failed) == 6
    assert all("tesseract not found" in reason for _, reason in report.failed)
    with open_store(settings) as store:
        made_by = {payload["ocr"] for _, payload, _ in store.points()}
        assert len(made_by) == 1 and made_by.pop().startswith("ppocr-")  # recorded as PP-OCR's text alone
        assert Searcher(embedder, store).search("pixora", k=1, mode="text")[0].path == "phones/pixora-phones-04.jpg"

    monkeypatch.undo()
    # Mark PP-OCR's cached readings: if the next run read with PP-OCR again, the mark would be gone.
    for path in settings.text_dir.rglob("*.json"):
        meta = json.loads(path.read_text())
        (key,) = [k for k in meta["readings"] if k.startswith("ppocr-")]
        if not meta["readings"][key]["lines"]:
            continue  # the photo without text
        meta["readings"][key]["lines"].append([dict(meta["readings"][key]["lines"][0][0], text="cachedmark")])
        path.write_text(json.dumps(meta))
    again = index(settings, embedder)
    assert (again.indexed, again.reread, again.failed) == (0, 6, [])
    with open_store(settings) as store:
        assert all("+tesseract-" in payload["ocr"] for _, payload, _ in store.points())
        assert len(Searcher(embedder, store).search("cachedmark", k=10, mode="text")) == 5  # the photo has no text

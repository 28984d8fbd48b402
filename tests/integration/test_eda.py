"""The collection overview (src/eda.py): its numbers on a known set, the /EDA page and its cache, and
EDA.ipynb run headless. The set: five bundled ads in four formats (with their labels), a near-copy of
one of them and a picture without text, indexed once with the tiny CLIP and real OCR."""

import csv
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from src import eda
from src.eda_page import EdaPages
from src.indexing import index_folder
from src.settings import Settings
from src.store import Record, open_store
from src.text_cache import TextCache
from src.text_reading import TextReader
from src.web import create_app
from tests.helpers import ROOT, closed_port, make_image

pytestmark = pytest.mark.requires("tesseract")
ADS = ["coffee/brewhaven-coffee-01.jpg", "coffee/brewhaven-coffee-04.gif", "coffee/brewhaven-coffee-05.png",
       "banking/ledgerstone-bank-02.jpg", "cameras/lumeno-cameras-01.webp"]
COPY = "coffee/brewhaven-coffee-01-copy.jpg"  # the same picture saved again: other bytes, near-identical vector
SECTIONS = ["Images per category", "Size and format", "Brightness and colour", "Text in the ads", "Near-duplicates",
            "Map of the images"]


def index(settings, embedder):
    with TextReader(TextCache(settings.text_dir, settings.ocr_langs)) as reader, open_store(settings) as store:
        return index_folder(settings.dataset_dir, embedder, store, progress=False, reader=reader)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip, embedder, ocr_once) -> Settings:
    root = tmp_path_factory.mktemp("eda")
    folder = root / "ads"
    with open(ROOT / "dataset" / "labels.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["file"] in ADS]
    for name in ADS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dataset" / name, folder / name)
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with Image.open(folder / ADS[0]) as image:
        image.save(folder / COPY, quality=90)
    make_image(folder / "plain/shapes.png", 3, size=(400, 300))  # no text (as in test_text_search.py)
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=folder, qdrant_path=root / "q",
                             text_dir=root / "text", cache_dir=root / "cache")
    ocr_once.give_text(folder, settings.text_dir)  # the page is tested here, not the reading
    assert index(settings, embedder).indexed == 7
    return settings


@pytest.fixture
def calls(monkeypatch) -> list:
    """Records every computation of the overview."""
    made = []
    real = eda.collect

    def counted(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(eda, "collect", counted)
    return made


def test_numbers_of_a_known_set(indexed):
    with open_store(indexed) as store:
        o = eda.collect(indexed, store)
    s = eda.summary(o)
    assert dict(o.tally("category")) == {"coffee": 4, "banking": 1, "cameras": 1, "plain": 1}
    assert s["formats"] == {"JPEG": 3, "PNG": 2, "GIF": 1, "WEBP": 1}
    assert (s["images"], s["with_text"], s["text_share"]) == (7, 6, round(6 / 7, 3))
    assert [i.has_text for i in o.images if i.path == "plain/shapes.png"] == [False]
    assert s["unreadable"] == 0 and all(0 <= i.brightness <= 1 and i.colourfulness >= 0 for i in o.images)
    assert o.brand_source == "labels.csv" and o.brands[0][:2] == ("Brewhaven Coffee", 3)
    assert "brewhaven" in dict(o.top_words)
    assert set(o.palettes) == {"all", "coffee", "banking", "cameras", "plain"}
    assert all(abs(sum(share for _, share in palette) - 1) < 1e-3 for palette in o.palettes.values())
    # The near-copy and its original are the most similar pair.
    assert {o.duplicates[0][0], o.duplicates[0][1]} == {ADS[0], COPY} and o.duplicates[0][2] >= eda.DUPLICATE_COSINE
    assert o.map_xy.shape == (7, 2) and len(o.map_paths) == 7 and 0 < sum(o.explained) <= 1 + 1e-6
    assert o.nearest.shape == (7,) and set(o.thumbs) == {i.path for i in o.images}


def test_large_collection_maps_a_sample_and_says_so(indexed, monkeypatch):
    """Above VECTOR_SAMPLE images the vectors come from a random sample, never from reading them all;
    every image is still counted."""
    monkeypatch.setattr(eda, "VECTOR_SAMPLE", 5)
    with open_store(indexed) as store:
        monkeypatch.setattr(store, "points", lambda vector=None, real=store.points: (
            pytest.fail("read every vector") if vector else real(None)))
        o = eda.collect(indexed, store)
    assert eda.summary(o)["images"] == 7 and o.map_xy.shape == (5, 2) and len(set(o.map_paths)) == 5
    assert "random sample of 5 of the 7 images" in o.sample_note


def test_measures_on_made_up_data():
    grey = np.full((8, 8, 3), 128, dtype=np.uint8)
    assert eda.hasler_susstrunk(grey) == 0 and eda.brightness(grey) == pytest.approx(128 / 255)
    halves = np.zeros((8, 8, 3), dtype=np.uint8)
    halves[:, :4] = (255, 0, 0)
    assert eda.hasler_susstrunk(halves) > 100
    assert eda.dominant_colours(halves, k=2) == [("#000000", 0.5), ("#ff0000", 0.5)]
    vectors = np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    nearest, pairs = eda.near_duplicates(vectors, threshold=0.95, block=3)  # blocks split the rows
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)] and nearest[0] == pytest.approx(nearest[1])
    line = np.outer(np.arange(5.0), [1, 2, 0]) + np.outer([0, 0, 0.01, 0, 0], [0, 0, 1])
    xy, explained = eda.pca_2d(line)
    assert xy.shape == (5, 2) and explained[0] > 0.99


def test_page_shows_every_section_and_is_cached(indexed, embedder, calls):
    with TestClient(create_app(indexed, embedder)) as client:
        page = client.get("/EDA")
        assert page.status_code == 200 and len(calls) == 1
        for heading in SECTIONS:
            assert f"<h2>{heading}</h2>" in page.text
        assert page.text.count("<svg") == 7 and 'style="' not in page.text and "<style" not in page.text
        assert "6 of 7 ads" in page.text and 'href="/view/coffee/brewhaven-coffee-01-copy.jpg"' in page.text
        assert 'href="/EDA"' in client.get("/index").text and 'href="/index"' in page.text
        assert client.get("/eda", follow_redirects=False).headers["location"] == "/EDA"

        again = client.get("/EDA")
        assert again.status_code == 200 and len(calls) == 1 and "From the cache" in again.text
        partial = client.get("/EDA/sections", headers={"HX-Request": "true"})
        assert partial.status_code == 200 and len(calls) == 2
        assert "<html" not in partial.text and partial.text.count("<h2>") == len(SECTIONS)
    with TestClient(create_app(indexed, embedder)) as client:  # a restart: the page comes from the disk cache
        assert "From the cache" in client.get("/EDA").text and len(calls) == 2


def test_a_changed_index_is_computed_again(indexed, embedder, calls):
    shutil.rmtree(indexed.cache_dir / "eda", ignore_errors=True)
    pages = EdaPages()
    with open_store(indexed) as store:
        first = pages.page(indexed, store)
        assert pages.page(indexed, store).source == "memory" and len(calls) == 1
        point_id = next(pid for pid, payload, _ in store.points() if payload["category"] == "coffee")
        store.update_payload(point_id, {"category": "renamed"})  # one of four coffee ads: a fifth category
        try:
            changed = pages.page(indexed, store)
        finally:
            store.update_payload(point_id, {"category": "coffee"})
    assert changed.source == "computed" and len(calls) == 2 and changed.summary["categories"] == 5
    assert first.summary["categories"] == 4


def test_text_only_collection_says_why_there_is_no_map(indexed, tmp_path):
    settings = Settings.load(environ={}, clip_model=str(tmp_path / "no-model"), dataset_dir=indexed.dataset_dir,
                             qdrant_path=tmp_path / "q", text_dir=indexed.text_dir, cache_dir=tmp_path / "cache")
    index(settings, None)  # OCR comes from the cache
    with TestClient(create_app(settings)) as client:
        page = client.get("/EDA")
    assert page.status_code == 200 and "holds no image vectors" in page.text
    assert page.text.count("<svg") == 5 and "6 of 7 ads" in page.text


def test_nothing_indexed_and_unreachable_store(tmp_path, tiny_clip, embedder, calls):
    empty = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=tmp_path, qdrant_path=tmp_path / "q",
                          cache_dir=tmp_path / "cache")
    with TestClient(create_app(empty, embedder)) as client:
        page = client.get("/EDA")
    assert page.status_code == 200 and "Nothing is indexed yet" in page.text and calls == []
    down = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=tmp_path,
                         qdrant_url=f"http://127.0.0.1:{closed_port()}")
    with TestClient(create_app(down, embedder)) as client:
        page = client.get("/EDA")
    assert page.status_code == 503 and "Temporarily unavailable" in page.text and "Traceback" not in page.text


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(indexed, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for name, value in {"DATASET_DIR": indexed.dataset_dir, "QDRANT_PATH": indexed.qdrant_path,
                        "TEXT_DIR": indexed.text_dir, "CLIP_MODEL": indexed.clip_model,
                        "CACHE_DIR": indexed.cache_dir}.items():
        monkeypatch.setenv(name, str(value))  # the kernel inherits the environment
    notebook = nbformat.read(ROOT / "EDA.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 7
    assert "'images': 7" in outputs[0]["data"]["text/plain"]


def test_sampled_page_counts_exactly_and_says_what_is_sampled(indexed, embedder, monkeypatch):
    """Above each sample size the page says which figures come from a sample and of how many; the counts
    read from the payloads stay exact, and only the sampled images are decoded."""
    monkeypatch.setattr(eda, "IMAGE_SAMPLE", 3)
    monkeypatch.setattr(eda, "TEXT_SAMPLE", 4)
    monkeypatch.setattr(eda, "VECTOR_SAMPLE", 5)
    with open_store(indexed) as store:
        o = eda.collect(indexed, store)
    assert sum(i.brightness is not None for i in o.images) == 3 and len(o.thumbs) == 3
    assert set(o.thumbs) <= set(o.map_paths)  # the decoded images are on the map, where their thumbnails show
    assert dict(o.tally("category")) == {"coffee": 4, "banking": 1, "cameras": 1, "plain": 1}
    assert o.brands[0][:2] == ("Brewhaven Coffee", 3)  # ads per brand: all of them, from labels.csv
    with TestClient(create_app(indexed, embedder)) as client:
        page = client.get("/EDA").text
    assert "random sample of 3 of the 7 images" in page and "random sample of 4 of the 7 ads" in page
    assert "random sample of 5 of the 7 images: pairs outside it are not listed" in page
    assert "7 indexed images" in page and "6 of 7 ads" in page and page.count("<svg") == 7


def test_small_collection_says_nothing_is_sampled(indexed, embedder):
    with TestClient(create_app(indexed, embedder)) as client:
        page = client.get("/EDA").text
    assert "random sample" not in page and "sample-note" not in page


@pytest.mark.parametrize("engine", ["edge", "qdrant-client"])
def test_cached_page_is_kept_until_a_write(indexed, embedder, calls, tmp_path, engine, monkeypatch):
    """Until the store is written the page comes from memory without reading the collection (its write
    stamp says nothing changed); a write makes it look again, and a change it shows is computed."""
    settings = Settings.load(environ={}, clip_model=indexed.clip_model, dataset_dir=indexed.dataset_dir,
                             qdrant_path=tmp_path / "q", text_dir=indexed.text_dir, cache_dir=tmp_path / "cache",
                             embedded_engine=engine)
    index(settings, embedder)  # OCR from the cache
    pages = EdaPages()
    with open_store(settings) as store:
        assert pages.page(settings, store).source == "computed" and len(calls) == 1
        read = store.payloads
        with monkeypatch.context() as patched:
            patched.setattr(store, "payloads", lambda fields: pytest.fail("read the collection for a cached page"))
            assert pages.page(settings, store).source == "memory"
        point_id = next(r.id for r in read(["category"]) if r.payload["category"] == "coffee")
        store.update_payload(point_id, {"category": "coffee"})  # a write that changes nothing shown
        assert pages.page(settings, store).source == "memory" and len(calls) == 1
        store.update_payload(point_id, {"category": "renamed"})
        changed = pages.page(settings, store)
    assert changed.source == "computed" and len(calls) == 2 and changed.summary["categories"] == 5


def test_points_are_read_in_one_streamed_scroll(indexed, monkeypatch):
    """The overview folds the payloads page by page (Store.scan) into its rows, never into a list of
    every point's payload, and its rows say what the payloads say."""
    with open_store(indexed) as store:
        payloads = {r.id: r.payload for r in store.payloads(eda.FIELDS)}
        monkeypatch.setattr(store, "payloads", lambda fields: pytest.fail("read every payload into a list"))
        points = eda.read_points(store)
        o = eda.collect(indexed, store)
    assert sorted(points.ids) == sorted(payloads) and len(points.images) == len(points.ids)
    for pid, image in zip(points.ids, points.images):
        payload = payloads[pid]
        assert (image.path, image.category, image.folder, image.width, image.height, image.bytes, image.format,
                image.has_text) == (payload["path"], payload["category"], payload["folder"] or "(top)",
                                    payload["width"], payload["height"], payload["bytes"], payload["format"],
                                    payload["has_text"])
    assert points.copies == sum(len(p["duplicates"]) for p in payloads.values()) == 0
    assert o.count == 7 and sorted(i.path for i in o.images) == sorted(p["path"] for p in payloads.values())


class _Pages:
    """A store whose scan gives these pages (for the digest's tests)."""

    def __init__(self, pages):
        self.pages = pages

    def scan(self, fields):
        assert fields == eda.FIELDS
        yield from self.pages


def test_the_file_digest_follows_the_file_fields_and_not_the_scroll_order():
    def record(n: int, **changed):
        payload = {"path": f"a/{n}.jpg", "folder": "a", "category": "a", "duplicates": [f"a/{n}-copy.jpg"],
                   "bytes": n, "mtime_ns": n, "ocr": "ppocr", "terms": 3, "width": 10, "height": 20,
                   "format": "JPEG", "has_text": True} | changed
        return Record(f"00000000-0000-4000-8000-{n:012d}", payload)

    first = eda.read_points(_Pages([[record(1), record(2)], [record(3)]]))
    assert first.copies == 3 and [i.path for i in first.images] == ["a/1.jpg", "a/2.jpg", "a/3.jpg"]
    assert eda.read_points(_Pages([[record(3)], [record(2), record(1)]])).files_digest == first.files_digest
    assert eda.read_points(_Pages([[record(1), record(2), record(3, width=99)]])).files_digest == first.files_digest
    for change in [{"mtime_ns": 7}, {"ocr": None}, {"duplicates": []}, {"category": "b"}, {"terms": 4}]:
        changed = eda.read_points(_Pages([[record(1), record(2, **change), record(3)]]))
        assert changed.files_digest != first.files_digest, change
    assert eda.read_points(_Pages([[record(1), record(2)]])).files_digest != first.files_digest

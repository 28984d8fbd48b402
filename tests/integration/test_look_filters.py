"""The look filters (orientation, size, colour, format) on both embedded engines: each narrows a search and
the collection's listing to exactly the images that look so, combined with the other filters inside the one
query; the API checks them; a collection indexed before they existed gets them on the next index without
re-embedding anything."""

import html
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

import src.indexing as indexing
import src.store.edge as store_edge
from src.indexing import index_folder
from src.search import Searcher
from src.settings import Settings
from src.store import open_store
from src.web import create_app
from tests.helpers import LOOKS_EXPECTED, looking, make_look_images

ENGINES = ["edge", "qdrant-client"]
FIELDS = ("colour", "orientation", "size", "format")  # in the order of LOOKS_EXPECTED


def look_settings(tmp_path, tiny_clip, engine: str) -> Settings:
    return Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=make_look_images(tmp_path / "images"),
                         qdrant_path=tmp_path / "qdrant", cache_dir=tmp_path / "cache", text_dir=tmp_path / "text",
                         batch_size=4, embedded_engine=engine, collapse_cosine=1.0, ocr=False)


def where(**wanted) -> dict:
    return {f: v.upper() if f == "format" else v for f, v in wanted.items()}


@pytest.fixture(params=ENGINES)
def indexed(request, tmp_path, tiny_clip, embedder):
    settings = look_settings(tmp_path, tiny_clip, request.param)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        yield settings, store


@pytest.mark.parametrize("mode", ["hybrid", "image"])
def test_each_filter_narrows_a_text_search_to_what_looks_so(indexed, embedder, mode):
    _, store = indexed
    searcher = Searcher(embedder, store)
    assert {r.path for r in searcher.search("red car", k=20, mode=mode)} == set(LOOKS_EXPECTED)
    for index, field in enumerate(FIELDS):
        for value in {looks[index] for looks in LOOKS_EXPECTED.values()}:
            found = [r.path for r in searcher.search("red car", k=20, mode=mode, where=where(**{field: value}))]
            assert set(found) == looking(**{field: value}) and len(found) == len(set(found)), (field, value)
    # Combined with each other and with the category, all inside the one query.
    combined = {"category": "b", "colour": "green", "size": "large"}
    assert {r.path for r in searcher.search("red car", k=20, mode=mode, where=where(**combined))} == {"b/green-big.jpg"}
    assert searcher.search("red car", k=20, mode=mode, where=where(colour="red", orientation="square")) == []


def test_filtered_pages_follow_on_and_the_listing_filters_too(indexed, embedder):
    _, store = indexed
    searcher = Searcher(embedder, store)
    pages, offset = [], 0
    while offset is not None:  # one a page: the paging counts only what the filter lets through
        page = searcher.search_page("a photo", k=1, mode="image", where=where(format="png"), offset=offset)
        pages += [r.path for r in page.results]
        offset = page.next_offset
    assert sorted(pages) == sorted(looking(format="png"))
    listed = searcher.browse(k=10, where=where(orientation="portrait"))
    assert {r.path for r in listed.results} == looking(orientation="portrait") and listed.next_offset is None
    assert dict(store.facet("colour")) == {"red": 2, "blue": 2, "green": 2}
    assert dict(store.facet("format")) == {"PNG": 3, "JPEG": 2, "WEBP": 1}


def test_the_api_and_the_page_filter_and_check_the_values(tmp_path, tiny_clip, embedder):
    settings = look_settings(tmp_path, tiny_clip, "edge")
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with TestClient(create_app(settings, embedder)) as client:
        answer = client.get("/api/search", params={"q": "car", "k": 20, "orientation": "Portrait", "category": "a"})
        assert answer.status_code == 200 and [r["path"] for r in answer.json()["results"]] == ["a/red-tall.png"]
        assert answer.json()["filters"] == {"category": "a", "folder": None, "has_text": False,
                                            "orientation": "portrait", "size": None, "colour": None, "format": None}
        body = {"parts": [{"text": "car"}], "k": 20, "colour": "blue", "format": "webp"}
        assert [r["path"] for r in client.post("/api/query", json=body).json()["results"]] == ["b/blue-tall.webp"]
        for sent, field in [({"orientation": "round"}, "orientation"), ({"size": "huge"}, "size"),
                            ({"colour": "teal"}, "colour"), ({"format": "tiff"}, "format")]:
            wrong = client.get("/api/search", params={"q": "car"} | sent)
            assert wrong.status_code == 422 and f"{field} must be one of" in wrong.json()["error"]["message"], sent
            wrong = client.post("/api/query", json={"parts": [{"text": "car"}]} | sent)
            assert wrong.status_code == 422 and f"{field} must be one of" in wrong.json()["error"]["message"], sent
        assert "colour must be one of red, orange, yellow" in client.get("/index?q=car&colour=teal").text
        # The page lists only the values the collection has, with their counts; no list of one value.
        page = client.get("/index").text
        assert '<option value="webp">WebP (1)</option>' in page and '<option value="gif"' not in page
        assert '<option value="large">large (1)</option>' in page and '<option value="purple"' not in page
        assert 'name="colour"' in page and 'name="orientation"' in page
        assert 'id="folder"' not in page  # the folders are the categories here: a second list would be the same
        assert "<dt>Looks</dt><dd>portrait, small, mostly red</dd>" in client.get("/view/a/red-tall.png").text
        # Its links carry the filters: Load more and the results', here.
        more = re.search(r'<li class="more">\s*<a href="([^"]+)"', client.get("/index?k=1&colour=red").text)
        assert more and "colour=red" in html.unescape(more.group(1))
        second = client.get(html.unescape(more.group(1))).text
        assert "No images" not in second and "colour=red" in second


def test_a_folder_filter_when_the_folders_are_not_the_categories(tmp_path, tiny_clip, embedder):
    settings = look_settings(tmp_path, tiny_clip, "edge")
    labels = "".join(f"{path},{'warm' if 'red' in path else 'cool'}\n" for path in LOOKS_EXPECTED)
    (settings.dataset_dir / "labels.csv").write_text("file,category\n" + labels)  # categories across the folders
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with TestClient(create_app(settings, embedder)) as client:
        page = client.get("/index").text
        assert '<option value="a">a (3)</option>' in page and '<option value="b">b (3)</option>' in page

        def found(**params) -> list[str]:
            answer = client.get("/api/search", params={"q": "car", "k": 20} | params)
            assert answer.status_code == 200, answer.text
            return sorted(r["path"] for r in answer.json()["results"])

        assert found(folder="a") == sorted(looking(category="a"))
        assert found(folder="a", category="cool") == ["a/blue-square.png"]
        assert found(folder="b", colour="green", size="large") == ["b/green-big.jpg"]
        listed = client.get("/index", params={"folder": "b", "orientation": "square"}).text
        assert "b/green-square.png" in listed and "a/blue-square.png" not in listed
        wrong = client.get("/api/search", params={"q": "car", "folder": "zzz"})
        assert wrong.status_code == 422 and "no folder “zzz”" in wrong.json()["error"]["message"]
        assert "choose one of a, b" in wrong.json()["error"]["message"]


def old_content_payload(decoded, sha256: str) -> dict:
    """What the index step stored before the looks were indexed."""
    return {"sha256": sha256, "width": decoded.width, "height": decoded.height, "format": decoded.format}


@pytest.mark.parametrize("engine", ENGINES)
def test_an_older_collection_gets_the_looks_on_the_next_index_without_re_embedding(tmp_path, tiny_clip, embedder,
                                                                                   engine, monkeypatch):
    settings = look_settings(tmp_path, tiny_clip, engine)
    with monkeypatch.context() as old:
        old.setattr(indexing, "_content_payload", old_content_payload)
        old.setattr(store_edge, "KEYWORD_FIELDS", ("folder", "category", "path"))  # no index for them yet
        with open_store(settings) as store:
            index_folder(settings.dataset_dir, embedder, store, progress=False)
            assert not any("colour" in r.payload or "orientation" in r.payload for r in store.points())
            assert store.facet("colour") == []  # no index, nothing to offer (not an error)
    with open_store(settings) as store:  # read as stored (qdrant-client's local mode keeps float64 until then)
        before = {r.id: r.vector for r in store.points("image")}
    embedded = []
    monkeypatch.setattr(embedder, "embed_images", lambda images: embedded.append(images))
    with open_store(settings) as store:
        report = index_folder(settings.dataset_dir, embedder, store, progress=False)
        assert (report.indexed, report.described, report.colour_decoded, report.failed) == (0, 6, 6, [])
        assert "orientation, size and colour added to 6 (colour decoded from 6 files, nothing re-embedded)" \
            in report.summary()
        assert embedded == []
        after = {r.id: r.vector for r in store.points("image")}
        assert after.keys() == before.keys()
        assert all(np.array_equal(after[i], before[i]) for i in before)
        for record in store.points():
            looks = tuple(record.payload[field] for field in ("colour", "orientation", "size"))
            assert looks == LOOKS_EXPECTED[record.payload["path"]][:3]
        assert dict(store.facet("orientation")) == {"portrait": 2, "landscape": 2, "square": 2}
        searcher = Searcher(embedder, store)
        assert {r.path for r in searcher.browse(k=10, where=where(colour="green")).results} == looking(colour="green")
        again = index_folder(settings.dataset_dir, embedder, store, progress=False)
        assert (again.described, again.colour_decoded, again.unchanged) == (0, 0, 6)

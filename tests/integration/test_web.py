import html
import re

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder
from src.settings import Settings
from src.store import Vectors, open_store
from src.web import create_app
from tests.helpers import closed_port, make_image


def build_index(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)


@pytest.fixture
def client(settings, embedder):
    make_image(settings.dataset_dir / "<b>bold</b> name.png", 42)
    build_index(settings, embedder)
    with TestClient(create_app(settings, embedder)) as client:
        yield client


def result_paths(page: str) -> list[str]:
    return [html.unescape(p) for p in re.findall(r'<span class="name" title="([^"]*)">', page)]


def test_root_redirects_to_index(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/index"


def test_index_page_without_query_shows_form_count_and_the_collection(client):
    page = client.get("/index")
    assert page.status_code == 200
    assert 'class="search" action="/index" method="get"' in page.text
    assert '/static/search.js' in page.text and "/static/htmx.min.js" in page.text
    assert "9 images indexed" in page.text and len(result_paths(page.text)) == 9  # newest first


def test_page_api_and_store_agree(client, embedder, settings):
    page = client.get("/index", params={"q": "red car", "k": 5})
    api = client.get("/api/search", params={"q": "red car", "k": 5}).json()
    assert page.status_code == 200 and len(api["results"]) == 5
    assert result_paths(page.text) == [r["path"] for r in api["results"]]
    scores = [r["score"] for r in api["results"]]
    assert scores == sorted(scores, reverse=True) and [r["rank"] for r in api["results"]] == [1, 2, 3, 4, 5]
    first = api["results"][0]
    assert client.get(first["image_url"]).status_code == 200
    assert client.get(first["thumbnail_url"]).headers["content-type"] == "image/jpeg"
    # The same ranking as asking the store directly with the model's text vector.
    client.app.state.backend.close()  # the embedded store takes one client at a time
    with open_store(settings) as store:
        direct = store.search(Vectors(image=embedder.embed_texts(["red car"])[0].tolist()), limit=5)
    assert [h.payload["path"] for h in direct] == [r["path"] for r in api["results"]]


def test_htmx_request_gets_only_the_results(client):
    partial = client.get("/index", params={"q": "red car", "k": 12}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text
    assert len(result_paths(partial.text)) == 9  # k is more than there are images
    restore = client.get("/index", params={"q": "x"},
                         headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_file_names_with_spaces_and_markup_are_served(client):
    paths = client.get("/api/search", params={"q": "bold", "k": 12}).json()["results"]
    odd = next(r for r in paths if r["path"].startswith("<b>"))
    assert client.get(odd["image_url"]).status_code == 200


def test_thumbnails_are_cached_on_disk(client, settings):
    first = client.get("/thumbs/cars/a.jpg")
    cached = list((settings.cache_dir / "thumbnails").rglob("*.jpg"))
    assert first.status_code == 200 and len(cached) == 1
    assert client.get("/thumbs/cars/a.jpg").content == first.content
    assert len(list((settings.cache_dir / "thumbnails").rglob("*.jpg"))) == 1


def test_healthz_reports_model_store_and_count(client, settings):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["store"]["points"] == 9 and health["store"]["reachable"]
    assert health["model"]["id"] == settings.clip_model and health["model"]["loaded"]


def test_unreachable_store_gives_503_and_readable_messages(tiny_clip, embedder, tmp_path):
    # That the API key never shows is proved in tests/test_http_hardening.py.
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=tmp_path,
                             qdrant_url=f"http://127.0.0.1:{closed_port()}")
    with TestClient(create_app(settings, embedder)) as client:
        page = client.get("/index", params={"q": "red car"})
        assert page.status_code == 503 and "Qdrant server at http://127.0.0.1" in page.text
        assert "cannot be reached" in page.text
        api = client.get("/api/search", params={"q": "red car"})
        assert api.status_code == 503 and "Qdrant server" in api.json()["error"]["message"]
        health = client.get("/healthz")
        assert health.status_code == 503 and not health.json()["store"]["reachable"]


def test_missing_model_shows_a_banner_and_searches_words_only(tmp_path, image_folder):
    settings = Settings.load(environ={}, clip_model=str(tmp_path / "no-model"), dataset_dir=image_folder,
                             qdrant_path=tmp_path / "q")
    with TestClient(create_app(settings)) as client:
        api = client.get("/api/search", params={"q": "red car"})
        assert api.status_code == 200 and api.json()["results"] == []  # nothing indexed, and no crash
        page = client.get("/index")
        assert 'class="banner"' in page.text and "no model folder" in page.text and "CLIP_MODEL" in page.text
        health = client.get("/healthz").json()
        assert health["status"] == "degraded" and health["model"]["search"] == "words in the ads only"


def test_unknown_route_is_a_readable_404(client):
    page = client.get("/nope")
    assert page.status_code == 404 and "Back to search" in page.text
    assert client.get("/api/nope").json()["error"]["status"] == 404


def test_the_app_recovers_when_the_store_comes_back_without_a_restart(settings, embedder):
    build_index(settings, embedder)
    holder = open_store(settings)  # another process holding the embedded store: the app cannot open it
    with TestClient(create_app(settings, embedder)) as client:
        busy = client.get("/api/search", params={"q": "red car"})
        assert busy.status_code == 503 and "in use by another adsearch process" in busy.json()["error"]["message"]
        assert client.get("/index", params={"q": "red car"}).status_code == 503
        holder.close()
        back = client.get("/api/search", params={"q": "red car", "k": 3})
        assert back.status_code == 200 and len(back.json()["results"]) == 3

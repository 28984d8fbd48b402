"""Issue 7's search features through the page and the JSON API: query by image, more like this,
paging with "load more", a score cut-off, and clear errors for unusable queries."""

import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from src.indexing import index_folder
from src.store import open_store
from src.web import create_app
from tests.helpers import form_fields, make_image


@pytest.fixture
def client(settings, embedder):
    for seed in range(20, 40):  # 28 images: enough for several pages
        make_image(settings.dataset_dir / "more" / f"{seed}.png", seed)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with TestClient(create_app(settings, embedder)) as client:
        yield client


def ids(response) -> list[str]:
    return [r["id"] for r in response.json()["results"]]


def test_an_uploaded_image_finds_itself_first(client, settings):
    data = (settings.dataset_dir / "food/e.gif").read_bytes()
    response = client.post("/api/search", params={"k": 3, "mode": "image"}, files={"image": ("q.gif", data)})
    assert response.status_code == 200 and response.json()["results"][0]["path"] == "food/e.gif"
    sent = client.post("/index", files={"image": ("q.gif", data, "image/gif")}, follow_redirects=False)
    key = hashlib.sha256(data).hexdigest()  # kept under its content's key: the search is a URL (POST, redirect, GET)
    assert sent.status_code == 303 and f"image_key={key}" in sent.headers["location"]
    page = client.get(sent.headers["location"], headers={"HX-Request": "true"})
    assert page.status_code == 200 and "Images like yours" in page.text and 'title="food/e.gif"' in page.text
    assert client.get(f"/query-images/{key}").content == data
    gone = client.get("/index", params={"image_key": "0" * 64})
    assert gone.status_code == 422 and "search with it again" in gone.text


def test_more_like_this_leaves_the_image_out_of_its_results(client):
    first = client.get("/api/search", params={"q": "red car", "k": 5}).json()["results"][2]
    like = client.get("/api/search", params={"like": first["id"], "mode": "image", "k": 5})
    assert like.status_code == 200 and len(ids(like)) == 5 and first["id"] not in ids(like)
    page = client.get("/index", params={"q": "red car"})
    assert f'href="/index?like={first["id"]}&amp;k=12&amp;mode=hybrid"' in page.text


def test_pages_continue_and_load_more_returns_only_cards(client):
    whole = ids(client.get("/api/search", params={"q": "red car", "k": 24}))
    second = ids(client.get("/api/search", params={"q": "red car", "k": 12, "offset": 12}))
    assert second == whole[12:24]
    page = client.get("/index", params={"q": "red car", "k": 12})
    more = re.search(r'href="([^"]+)"', page.text.split('class="more"')[1]).group(1).replace("&amp;", "&")
    assert "offset=12" in more
    cards = client.get(more, headers={"X-Results": "more"})
    assert "<ol" not in cards.text and cards.text.count('class="card"') == 12 and "#13" in cards.text


def test_min_score_and_a_negative_text(client):
    some = client.get("/api/search", params={"q": "red car", "k": 1}).json()["results"][0]["id"]
    loose = client.get("/api/search", params={"like": some, "k": 20, "mode": "image"}).json()["results"]
    cut = loose[4]["score"] - 1e-6  # just under the 5th: an image query's top cosines are positive
    assert cut > 0
    strict = client.get("/api/search", params={"like": some, "k": 20, "mode": "image", "min_score": cut})
    assert [r["id"] for r in strict.json()["results"]] == [r["id"] for r in loose[:5]]
    away = client.get("/api/search", params={"q": "red car", "not": "red car", "k": 5})
    assert away.status_code == 200  # half-weight negative of the same text: still a positive query


@pytest.mark.parametrize("params, files, message", [
    ({"like": "not-an-id"}, None, "like must be the id of an indexed image, as a result"),
    ({"min_score": "2"}, None, "min_score must be from 0 to 1"),
    ({"offset": "-"}, None, "offset must be a whole number"),
    ({}, {"image": ("q.jpg", b"plain text, not a picture")}, "the query image cannot be used"),
])
def test_unusable_queries_get_422_and_a_message(client, params, files, message):
    response = (client.post("/api/search", params=params | {"q": "x"}, files=files) if files
                else client.get("/api/search", params=params | {"q": "x"}))
    assert response.status_code == 422 and message in response.json()["error"]["message"]


def test_result_view_details_neighbours_and_removal(client, settings):
    details = client.get("/api/images/cars/a.jpg").json()
    assert details["path"] == "cars/a.jpg" and details["width"] == 160
    assert len(details["neighbours"]) == 6 and "cars/a.jpg" not in [n["path"] for n in details["neighbours"]]
    page = client.get("/view/cars/a.jpg")
    assert "Looks like" in page.text and "Remove from the index" in page.text

    assert client.delete("/api/images/g.jpg").json() == {"removed": "g.jpg", "deleted_files": [], "kept_files": []}
    assert (settings.dataset_dir / "g.jpg").exists()  # only out of the index
    every = [r["path"] for r in client.get("/api/search", params={"q": "x", "k": 100}).json()["results"]]
    assert "g.jpg" not in every and len(every) == 27

    removed = client.post("/view/h.png/remove", data={"delete_files": "1", **form_fields(client)})
    assert removed.status_code == 200 and "was deleted too" in removed.text
    assert not (settings.dataset_dir / "h.png").exists()
    for gone in ("g.jpg", "h.png", "../conftest.py"):
        assert client.delete(f"/api/images/{gone}").status_code == 404


def test_deleting_the_only_upload_of_a_month_leaves_no_empty_folder(client, settings, tmp_path):
    data = make_image(tmp_path / "once.png", 503).read_bytes()
    [added] = client.post("/api/images", files=[("files", ("once.png", data))]).json()["outcomes"]
    month_folder = (settings.dataset_dir / added["path"]).parent
    assert month_folder.is_dir()
    assert client.delete(f"/api/images/{added['path']}", params={"delete_files": True}).status_code == 200
    assert not month_folder.exists() and settings.dataset_dir.is_dir() and (settings.dataset_dir / "cars").is_dir()


def test_upload_adds_images_rejects_impostors_and_finds_them(client, settings, tmp_path):
    red = make_image(tmp_path / "new-red.png", 501).read_bytes()
    blue = make_image(tmp_path / "new-blue.jpg", 502).read_bytes()
    files = [("files", ("red.png", red)), ("files", ("blue.jpg", blue)), ("files", ("notes.jpg", b"just text"))]
    outcomes = client.post("/api/images", files=files).json()["outcomes"]
    assert [o["status"] for o in outcomes] == ["added", "added", "rejected"]
    assert "not an image" in outcomes[2]["message"]
    for outcome, data in zip(outcomes, (red, blue)):
        assert (settings.dataset_dir / outcome["path"]).read_bytes() == data
        found = client.post("/api/search", params={"k": 1, "mode": "image"}, files={"image": ("q", data)})
        assert found.json()["results"][0]["path"] == outcome["path"]
    again = client.post("/api/images", files=[("files", ("copy.png", red))]).json()["outcomes"]
    assert again[0]["status"] == "duplicate" and outcomes[0]["path"] in again[0]["message"]
    page = client.post("/upload", files=[("files", ("x.png", b"<svg></svg>"))], headers={"HX-Request": "true"},
                       data=form_fields(client))
    assert page.status_code == 200 and 'class="outcome rejected"' in page.text
    too_many = client.post("/api/images", files=[("files", (f"{i}.png", red)) for i in range(21)])
    assert too_many.status_code == 422 and "too many files" in too_many.json()["error"]["message"]


def test_a_combined_weighted_query_in_json(client, settings):
    import base64

    image = base64.b64encode((settings.dataset_dir / "food/e.gif").read_bytes()).decode()
    body = {"parts": [{"image": image, "weight": 1.0}, {"text": "night", "weight": -0.01}], "k": 3, "mode": "image"}
    found = client.post("/api/query", json=body)
    assert found.status_code == 200 and found.json()["results"][0]["path"] == "food/e.gif"
    first = found.json()["results"][0]["id"]
    def ranking(parts):
        body = {"parts": parts, "k": 28, "mode": "image", "show_duplicates": True}
        return [r["id"] for r in client.post("/api/query", json=body).json()["results"]]

    plain, away = ranking([{"text": "red car"}]), ranking([{"text": "red car"}, {"like": first, "weight": -2}])
    assert away.index(first) > plain.index(first) and away.index(first) >= 20  # pushed towards the end
    for bad, message in [({"parts": [{"text": "a", "like": first}]}, "exactly one of"),
                         ({"parts": [{"image": "%%%"}]}, "base64"),
                         ({"parts": []}, "parts"),
                         ({"parts": [{"text": "a", "weight": -1}]}, "positive weight")]:
        response = client.post("/api/query", json=bad)
        assert response.status_code == 422 and message in response.json()["error"]["message"], bad


def test_a_repeated_query_is_answered_on_the_event_loop_and_alike(client, monkeypatch):
    """The first asking of a text query encodes it in a worker thread; asked again (its vector kept) it is
    one store query, answered without the hop to the thread pool, with the same answer. A query that
    cannot be answered at once (an unknown text, a category to check) still takes the thread."""
    import src.web.api as api

    hops = []
    real = api.run_in_threadpool

    async def counted(function, *args, **kwargs):
        hops.append(function)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(api, "run_in_threadpool", counted)
    params = {"q": "red car", "mode": "hybrid", "k": 5}
    first = client.get("/api/search", params=params)
    again = client.get("/api/search", params=params)
    assert first.status_code == again.status_code == 200 and len(hops) == 1
    assert first.json() == again.json()
    client.get("/api/search", params=params | {"category": "cars"})
    client.get("/api/search", params={"q": "blue sky", "k": 5})
    assert len(hops) == 3
    bad = client.get("/api/search", params={"q": "x" * 400})
    assert bad.status_code == 422 and "limit is 300" in bad.text

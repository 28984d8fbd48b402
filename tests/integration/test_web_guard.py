"""The request guards through the app in-process: hosts, origins, the form token, ADMIN_TOKEN and
READ_TOKEN, read-only beyond loopback, HEAD, served types and body limits; over a real embedded Qdrant."""

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from src.indexing import index_folder
from src.serving import first_lines
from src.store import open_store
from src.web import create_app
from tests.helpers import form_fields

ADMIN = "admin-token-5b1f0e7c9d2a4e6f8a0b"
READER = "read-token-93c1d5e7f9a1b3c5d7e9"


def png(seed: int = 1) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 40 % 256, 90, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def indexed(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    return settings


def app_client(settings, embedder, host="127.0.0.1", **changes):
    return TestClient(create_app(settings.replace(**changes) if changes else settings, embedder, host=host))


def points(client) -> int:
    return client.get("/healthz").json()["store"]["points"]


def test_a_host_the_server_does_not_know_gets_400(indexed, embedder):
    with app_client(indexed, embedder) as client:
        for path in ("/index", "/api/search?q=car", "/images/cars/a.jpg"):
            answer = client.get(path, headers={"Host": "evil.example"})
            assert answer.status_code == 400 and "ALLOWED_HOSTS" in answer.text, path
        assert client.get("/index", headers={"Host": "localhost:8000"}).status_code == 200
        assert client.get("/index", headers={"Host": "[::1]:8000"}).status_code == 200
    with app_client(indexed, embedder, allowed_hosts="ads.example.com") as client:
        assert client.get("/index", headers={"Host": "ads.example.com"}).status_code == 200


def test_a_change_from_another_origin_is_refused_and_nothing_changes(indexed, embedder):
    with app_client(indexed, embedder) as client:
        fields = form_fields(client)
        for header in ({"Origin": "http://127.0.0.1:9"}, {"Origin": "null"},
                       {"Referer": "http://evil.example/page"}):
            removed = client.post("/view/cars/a.jpg/remove", data={"delete_files": "1", **fields}, headers=header)
            assert removed.status_code == 403 and "another web site" in removed.text, header
            added = client.post("/api/images", files={"files": ("x.png", png(5))}, headers=header)
            assert added.status_code == 403, header
            assert client.delete("/api/images/cars/b.png", headers=header).status_code == 403
        assert (indexed.dataset_dir / "cars/a.jpg").exists() and (indexed.dataset_dir / "cars/b.png").exists()
        assert points(client) == 8 and not (indexed.dataset_dir / "uploads").exists()
        same = {"Origin": "http://testserver"}
        assert client.post("/view/cars/a.jpg/remove", data=fields, headers=same).status_code == 200


def test_a_page_form_without_its_token_is_refused(indexed, embedder):
    with app_client(indexed, embedder) as client:
        page = client.get("/view/cars/a.jpg")
        assert 'name="csrf_token"' in page.text and "SameSite=Strict" in page.headers["set-cookie"]
        for data in ({"delete_files": "1"}, {"delete_files": "1", "csrf_token": "x" * 43}):
            refused = client.post("/view/cars/a.jpg/remove", data=data)
            assert refused.status_code == 403 and "security token" in refused.text
        assert client.post("/upload", files={"files": ("x.png", png(5))}).status_code == 403
        assert (indexed.dataset_dir / "cars/a.jpg").exists() and points(client) == 8
        assert client.post("/upload", files={"files": ("x.png", png(5))}, data=form_fields(client)).status_code == 200
        assert points(client) == 9


def test_with_admin_token_changes_need_it_from_the_api_and_the_pages(indexed, embedder):
    with app_client(indexed, embedder, admin_token=ADMIN) as client:
        upload = {"files": ("x.png", png(5))}
        for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {ADMIN}x"}):
            assert client.post("/api/images", files=upload, headers=auth).status_code == 401, auth
            assert client.delete("/api/images/cars/a.jpg?delete_files=true", headers=auth).status_code == 401
            page = client.post("/view/cars/b.png/remove", data={"delete_files": "1", **form_fields(client)},
                               headers=auth)
            assert page.status_code == 401 and "/signin" in page.text
        assert points(client) == 8 and (indexed.dataset_dir / "cars/a.jpg").exists()
        assert "needs the admin token" in client.get("/index").text
        # The API, with the token.
        bearer = {"Authorization": f"Bearer {ADMIN}"}
        assert client.post("/api/images", files=upload, headers=bearer).json()["outcomes"][0]["status"] == "added"
        assert client.delete("/api/images/cars/a.jpg?delete_files=true", headers=bearer).status_code == 200
        assert not (indexed.dataset_dir / "cars/a.jpg").exists()
        # The pages: a wrong token is refused, the right one signs in (an HTTP-only cookie, not the token).
        assert client.post("/signin", data={"token": "wrong", **form_fields(client)}).status_code == 401
        signed = client.post("/signin", data={"token": ADMIN, "next": "/index", **form_fields(client)},
                             follow_redirects=False)
        assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"]
        assert ADMIN not in signed.headers["set-cookie"]
        removed = client.post("/view/cars/b.png/remove", data={"delete_files": "1", **form_fields(client)})
        assert removed.status_code == 200 and not (indexed.dataset_dir / "cars/b.png").exists()
        assert ADMIN not in client.get("/index").text and ADMIN not in client.get("/healthz").text


def test_beyond_loopback_without_a_token_search_works_and_changes_are_403_saying_how(indexed, embedder):
    with app_client(indexed, embedder, host="0.0.0.0") as client:
        assert client.get("/api/search", params={"q": "car"}).status_code == 200
        refused = client.post("/api/images", files={"files": ("x.png", png(5))})
        assert refused.status_code == 403 and "ADMIN_TOKEN" in refused.json()["error"]["message"]
        assert client.delete("/api/images/cars/a.jpg").status_code == 403
        page = client.post("/view/cars/a.jpg/remove", data={"delete_files": "1", **form_fields(client)})
        assert page.status_code == 403 and "ADMIN_TOKEN" in page.text
        assert "changes are turned off" in client.get("/index").text
        assert points(client) == 8 and (indexed.dataset_dir / "cars/a.jpg").exists()
    lines = first_lines(indexed, "0.0.0.0", 8000)
    assert lines[0] == "Serving on http://0.0.0.0:8000/index" and "ADMIN_TOKEN" in lines[1]
    assert len(first_lines(indexed, "127.0.0.1", 8000)) == 1


def test_read_token_guards_search_but_not_health(indexed, embedder):
    with app_client(indexed, embedder, read_token=READER) as client:
        assert client.get("/api/search", params={"q": "car"}).status_code == 401
        assert client.get("/index").status_code == 401
        assert client.get("/healthz").status_code == 200
        for token in (READER, ):
            answer = client.get("/api/search", params={"q": "car"}, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200


def test_head_works_wherever_get_does_and_images_carry_their_sniffed_type(indexed, embedder):
    png_named_jpg = indexed.dataset_dir / "odd.jpg"
    png_named_jpg.write_bytes(png(3))
    (indexed.dataset_dir / "page.jpg").write_bytes(b"<html><script>alert(1)</script></html>")
    with app_client(indexed, embedder) as client:
        for path in ("/images/cars/a.jpg", "/thumbs/cars/a.jpg", "/index", "/healthz"):
            head, get = client.head(path), client.get(path)
            assert head.status_code == get.status_code == 200, path
            assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
        served = client.get("/images/odd.jpg")
        assert served.headers["content-type"] == "image/png" and served.headers["x-content-type-options"] == "nosniff"
        assert client.get("/images/page.jpg").status_code == 415


def test_bodies_over_their_limit_get_413(indexed, embedder):
    with app_client(indexed, embedder, max_query_body_mb=1, max_body_mb=1) as client:
        big = {"parts": [{"text": "x" * (2 * 1024 * 1024)}]}
        refused = client.post("/api/query", json=big)
        assert refused.status_code == 413 and "1 MB" in refused.json()["error"]["message"]
        refused = client.post("/api/images", files={"files": ("x.png", png(1) + b"\0" * (2 * 1024 * 1024))})
        assert refused.status_code == 413
        assert not (indexed.dataset_dir / "uploads").exists()

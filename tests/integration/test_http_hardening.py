"""The HTTP hardening in one place: request limits, hostile queries, content sniffing, path traversal,
escaping, the Content-Security-Policy, and the Qdrant API key never leaving the process. Everything runs
against the real app over a real embedded Qdrant (or a closed port), with the tiny random CLIP."""

import base64
import io
import json
import logging
import re
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import uvicorn
from fastapi.testclient import TestClient
from markupsafe import escape
from PIL import Image

from src.indexing import index_folder
from src.search import MAX_K, MAX_OFFSET, MAX_QUERY_CHARS
from src.settings import Settings
from src.store import open_store
from src.uploads import MAX_FILES_PER_UPLOAD, MAX_UPLOAD_BYTES
from src.web import SECURITY_HEADERS, create_app
from tests.helpers import closed_port, form_fields, make_image

XSS_NAME = "<img src=x onerror=alert(1)>.png"
XSS_QUERY = '"><script>alert(1)</script>'
SECRET_KEY = "qdrant-key-7f3c9e1d-must-never-show"
ADMIN_TOKEN = "admin-token-4c2e9a71-hardening"


def png(seed: int = 1) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 40 % 256, 90, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def outside(tmp_path):
    """Files beside the dataset folder, that no route may serve or delete."""
    secret = make_image(tmp_path / "secret.jpg", 77)
    make_image(tmp_path / "private" / "secret.jpg", 78)
    return secret


@pytest.fixture
def client(settings, embedder, outside):
    make_image(settings.dataset_dir / XSS_NAME, 42)
    (settings.dataset_dir / "link.jpg").symlink_to(outside)  # a file link out: `index` skips it
    (settings.dataset_dir / "linked").symlink_to(outside.parent / "private", target_is_directory=True)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    # With ADMIN_TOKEN set, sent on every request: the hardening holds for a server guarding its changes.
    guarded = settings.replace(admin_token=ADMIN_TOKEN)
    with TestClient(create_app(guarded, embedder), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def api_error(response, status: int) -> str:
    """The message of an API error, after checking the one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "message"}
    assert body["error"]["status"] == status and body["error"]["message"]
    return body["error"]["message"]


def page_error(response, status: int) -> str:
    assert response.status_code == status and response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    return response.text


# -- limits -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"q": "a" * (MAX_QUERY_CHARS + 1)}, f"the limit is {MAX_QUERY_CHARS}"),
    ({"q": "x", "not": "a" * (MAX_QUERY_CHARS + 1)}, f"the limit is {MAX_QUERY_CHARS}"),
    ({"q": "x", "k": "0"}, f"k must be between 1 and {MAX_K}"),
    ({"q": "x", "k": str(MAX_K + 1)}, f"k must be between 1 and {MAX_K}"),
    ({"q": "x", "k": "ten"}, f"k must be a whole number between 1 and {MAX_K}"),
    ({"q": "x", "offset": str(MAX_OFFSET + 1)}, f"offset must be between 0 and {MAX_OFFSET}"),
    ({"q": "x", "offset": "-1"}, f"offset must be between 0 and {MAX_OFFSET}"),
    ({"q": "x", "min_score": "1.5"}, "min_score must be from 0 to 1"),
    ({"q": "x", "min_score": "-0.1"}, "min_score must be from 0 to 1"),
    ({"q": "x", "min_score": "high"}, "min_score must be a number from 0 to 1"),
])
def test_search_limits_are_422_naming_the_limit_on_the_page_and_the_api(client, params, message):
    assert message in page_error(client.get("/index", params=params), 422)
    assert message in page_error(client.get("/index", params=params, headers={"HX-Request": "true"}), 422)
    assert message in api_error(client.get("/api/search", params=params), 422)
    assert message in api_error(client.post("/api/search", params=params), 422)


@pytest.mark.parametrize("body, field, limit", [
    ({"parts": [{"text": "a" * (MAX_QUERY_CHARS + 1)}]}, "parts.0.text", f"at most {MAX_QUERY_CHARS} characters"),
    ({"parts": [{"text": "x"}], "k": MAX_K + 1}, "k", f"less than or equal to {MAX_K}"),
    ({"parts": [{"text": "x"}], "k": 0}, "k", "greater than or equal to 1"),
    ({"parts": [{"text": "x"}], "offset": MAX_OFFSET + 1}, "offset", f"less than or equal to {MAX_OFFSET}"),
    ({"parts": [{"text": "x"}], "min_score": 1.5}, "min_score", "less than or equal to 1"),
    ({"parts": [{"text": "x"}] * 11}, "parts", "at most 10 items"),
])
def test_combined_query_limits_are_422_naming_the_field_and_the_limit(client, body, field, limit):
    message = api_error(client.post("/api/query", json=body), 422)
    assert f"{field}: " in message and limit in message


def test_upload_limits_are_422_naming_the_limit_and_add_nothing(client, settings):
    before = client.get("/healthz").json()["store"]["points"]
    too_many = [("files", (f"{i}.png", png(i))) for i in range(MAX_FILES_PER_UPLOAD + 1)]
    expected = f"too many files: {MAX_FILES_PER_UPLOAD + 1}; at most {MAX_FILES_PER_UPLOAD} at a time"
    assert expected in api_error(client.post("/api/images", files=too_many), 422)
    assert expected in page_error(client.post("/upload", files=too_many, data=form_fields(client)), 422)

    # One byte over the limit, beside a good file: the whole upload is refused.
    huge = [("files", ("ok.png", png(3))), ("files", ("huge.png", png(4) + b"\0" * MAX_UPLOAD_BYTES))]
    expected = f"huge.png is larger than {MAX_UPLOAD_BYTES // 2**20} MB, the limit for one file"
    assert expected in api_error(client.post("/api/images", files=huge), 422)
    assert expected in page_error(client.post("/upload", files=huge, data=form_fields(client)), 422)
    assert not (settings.dataset_dir / "uploads").exists()
    assert client.get("/healthz").json()["store"]["points"] == before


# -- hostile and absurd queries -----------------------------------------------------------------------
ABSURD = ["", "   ", "\t\n\r", "\x00", "a\x00b", "\x01\x1b[31m\x7f", "\u202e\u200b\ufeff", "😀" * MAX_QUERY_CHARS,
          "word " * 60, "x" * 10_000, "%00", "' OR 1=1 --", "{{7*7}}", "../../etc/passwd", "NaN", "1e309", "-0"]
FIELDS = ["q", "not", "like", "k", "offset", "mode", "category", "has_text", "min_score", "show_duplicates"]


@pytest.mark.parametrize("field", FIELDS)
def test_absurd_values_in_any_search_field_never_give_a_server_error(client, field):
    for value in ABSURD:
        params = {"q": "red car", field: value}
        for response in (client.get("/index", params=params), client.get("/api/search", params=params)):
            assert response.status_code in (200, 422), (field, value, response.status_code)
            if field in ("q", "not") and len(value) > MAX_QUERY_CHARS:
                assert response.status_code == 422 and f"the limit is {MAX_QUERY_CHARS}" in response.text
            if response.status_code == 422 and response.url.path.startswith("/api/"):
                api_error(response, 422)


@pytest.mark.parametrize("query", ["", "   ", "\x00\x00", "\x01\x02\x7f"])
def test_empty_blank_and_control_only_queries_find_nothing(client, query):
    assert client.get("/api/search", params={"q": query}).json()["results"] == []
    page = client.get("/index", params={"q": query})  # the page shows the collection instead, newest first
    assert page.status_code == 200 and "All images, newest first" in page.text


def test_absurd_texts_in_a_combined_query_and_the_view_never_give_a_server_error(client):
    for value in ABSURD:
        response = client.post("/api/query", json={"parts": [{"text": value}]})
        assert response.status_code in (200, 422), (value, response.status_code)
        assert client.get("/view/cars/a.jpg", params={"q": value}).status_code in (200, 422)
    lone_surrogate = client.post("/api/query", content=b'{"parts": [{"text": "\\ud800 car"}]}',
                                 headers={"content-type": "application/json"})
    assert lone_surrogate.status_code in (200, 422)
    for raw in (b"\xff\xfe", b'{"parts": [{"text": "x"}]', b"null", b"[]"):
        response = client.post("/api/query", content=raw, headers={"content-type": "application/json"})
        assert response.status_code in (400, 422)


# -- content is sniffed, names and content types are not trusted ---------------------------------------
def test_an_html_file_sent_as_png_is_rejected_and_a_png_named_txt_is_taken_as_png(client, settings):
    html = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
    outcomes = client.post("/api/images", files=[("files", ("evil.png", html, "image/png")),
                                                 ("files", ("notes.txt", png(9), "text/plain"))]).json()["outcomes"]
    assert outcomes[0]["status"] == "rejected" and "looks like an HTML page" in outcomes[0]["message"]
    assert outcomes[0]["path"] is None
    assert outcomes[1]["status"] == "added" and outcomes[1]["path"].endswith(".png")
    saved = list((settings.dataset_dir / "uploads").rglob("*"))
    assert [p.name for p in saved if p.is_file()] == [outcomes[1]["path"].rpartition("/")[2]]
    served = client.get(f"/images/{quote(outcomes[1]['path'])}")
    assert served.headers["content-type"] == "image/png" and served.content == png(9)
    assert served.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/api/images/{quote(outcomes[1]['path'])}").json()["format"] == "PNG"


# Formats Pillow reads that the one decoder does not accept: they used to be taken as query images.
OTHER_FORMATS = {"TIFF": "tif", "ICO": "ico", "TGA": "tga", "PCX": "pcx", "PPM": "ppm"}


def picture_in(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", OTHER_FORMATS)
def test_tiff_ico_tga_pcx_and_ppm_are_refused_as_query_images_and_uploads(client, settings, fmt):
    data = picture_in(fmt)
    part = {"image": ("query.jpg", data, "image/jpeg")}
    answers = {
        "query image, API": client.post("/api/search", files=part, params={"mode": "image"}),
        "query image, page": client.post("/index", files=part, data={"mode": "image"}),
        "combined query": client.post("/api/query", json={"parts": [{"image": base64.b64encode(data).decode()}]}),
    }
    for way, answer in answers.items():
        assert answer.status_code == 422, (way, answer.status_code, answer.text[:300])
        assert "JPEG, PNG, WebP, GIF or BMP" in answer.text, (way, answer.text[:300])
    [outcome] = client.post("/api/images", files={"files": (f"ad.{OTHER_FORMATS[fmt]}", data)}).json()["outcomes"]
    assert (outcome["status"], outcome["message"]) == ("rejected", "not a JPEG, PNG, WebP, GIF or BMP image")
    assert not (settings.dataset_dir / "uploads").exists()


def test_tiff_ico_tga_pcx_and_ppm_named_like_jpegs_in_the_folder_are_skipped_saying_why(settings, embedder):
    for fmt in OTHER_FORMATS:
        (settings.dataset_dir / f"{fmt.lower()}.jpg").write_bytes(picture_in(fmt))
    with open_store(settings) as store:
        report = index_folder(settings.dataset_dir, embedder, store, progress=False)
        assert store.count() == 8  # the fixture's images, none of these
    failed = dict(report.failed)
    assert sorted(failed) == sorted(f"{fmt.lower()}.jpg" for fmt in OTHER_FORMATS)
    assert all("not an image in an accepted format (JPEG, PNG, WebP, GIF or BMP)" in r for r in failed.values())


# -- no path traversal, no symlink escape -------------------------------------------------------------
@contextmanager
def serving(app):
    """The app behind uvicorn on a free port of 127.0.0.1: raw request targets reach it byte for byte
    (an HTTP client library folds a literal "../" away before sending)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def raw_request(port: int, method: str, target: bytes, body: bytes = b"") -> tuple[int, bytes]:
    # The form token in its cookie and in the body, as the page's forms send it: the path is what is tested.
    token = b"t" * 43
    body = body + (b"&csrf_token=" + token if body else b"")
    head = (f"{method} ".encode() + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Cookie: adsearch_form=" + token + b"\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest


def traversal_targets(outside) -> list[bytes]:
    absolute = str(outside).encode()
    return [
        b"../secret.jpg", b"cars/../../secret.jpg", b"..%2fsecret.jpg", b"..%2Fsecret.jpg", b"%2e%2e/secret.jpg",
        b"%2e%2e%2fsecret.jpg", b"cars/..%2f..%2fsecret.jpg", b"..\\secret.jpg", b"..%5csecret.jpg",
        b"\\..\\secret.jpg", b"/" + absolute, b"%2f" + quote(absolute[1:]).encode(), b"file:" + absolute,
        b"secret.jpg%00.png", b"..%00/secret.jpg", b"%00", b"link.jpg", b"linked/secret.jpg", b"a\x00.jpg",
    ]


def test_no_file_route_leaves_the_dataset_folder(client, settings, outside):
    outside_files = {p: p.read_bytes() for p in (outside, outside.parent / "private" / "secret.jpg")}
    inside = sorted(p for p in settings.dataset_dir.rglob("*"))
    routes = [("GET", b"/images/%s"), ("GET", b"/thumbs/%s"), ("GET", b"/view/%s"), ("GET", b"/api/images/%s"),
              ("DELETE", b"/api/images/%s?delete_files=true"), ("POST", b"/view/%s/remove")]
    with serving(client.app) as port:
        for target in traversal_targets(outside):
            for method, route in routes:
                body = b"delete_files=1" if method == "POST" else b""
                status, content = raw_request(port, method, route % target, body)
                assert status in (400, 404, 422), (method, route % target, status)
                assert all(secret not in content for secret in outside_files.values())
    # Nothing outside was served (above) or deleted, and nothing inside was deleted either.
    assert all(path.read_bytes() == data for path, data in outside_files.items())
    assert sorted(p for p in settings.dataset_dir.rglob("*")) == inside


def test_an_indexed_file_swapped_for_a_link_out_is_neither_served_nor_deleted(client, settings, outside):
    secret = outside.read_bytes()
    for name in ("g.jpg", "h.png"):
        (settings.dataset_dir / name).unlink()
        (settings.dataset_dir / name).symlink_to(outside)
        for route in ("/images/", "/thumbs/", "/view/"):
            response = client.get(route + name)
            assert response.status_code == 404 and secret not in response.content
    removed = client.delete("/api/images/g.jpg", params={"delete_files": "true"})
    assert removed.status_code == 200 and removed.json()["deleted_files"] == []
    page = client.post("/view/h.png/remove", data={"delete_files": "1", **form_fields(client)})
    assert page.status_code == 200 and "is still in the folder" in page.text
    assert outside.read_bytes() == secret


# -- script in queries and file names is text ---------------------------------------------------------
def assert_escaped(text: str, *raw: str):
    for value in raw:
        assert value not in text and str(escape(value)) in text, value


def test_script_in_queries_and_file_names_is_escaped_on_every_page(client, settings):
    every = {"q": XSS_QUERY, "k": MAX_K}
    assert_escaped(client.get("/index", params=every).text, XSS_QUERY, XSS_NAME)
    assert_escaped(client.get("/index", params=every, headers={"HX-Request": "true"}).text, XSS_QUERY, XSS_NAME)
    assert_escaped(client.get("/index", params={"q": "car", "not": XSS_QUERY}).text, XSS_QUERY)
    assert_escaped(client.get("/index", params={"q": XSS_QUERY, "min_score": "1"}).text, XSS_QUERY)  # "no match"
    more = client.get("/index", params={"q": XSS_QUERY, "k": 2, "offset": 2}, headers={"X-Results": "more"})
    assert "<script>" not in more.text and 'class="card"' in more.text
    assert "onerror=alert(1)>" not in more.text

    view = client.get(f"/view/{quote(XSS_NAME)}", params={"q": XSS_QUERY})
    assert view.status_code == 200
    assert_escaped(view.text, XSS_QUERY, XSS_NAME)

    script_name = "<script>alert(1)</script>.png"  # no quote: the client would send it as %22
    upload = [("files", (XSS_NAME, png(5))), ("files", (script_name, b"<html><script>alert(1)</script>"))]
    for headers in ({}, {"HX-Request": "true"}):
        page = client.post("/upload", files=upload, headers=headers, data=form_fields(client))
        assert page.status_code == 200 and 'class="outcome rejected"' in page.text
        assert_escaped(page.text, XSS_NAME, script_name)
    saved = [p.name for p in (settings.dataset_dir / "uploads").rglob("*.png")]
    assert len(saved) == 1 and re.fullmatch(r"img-src-x-onerror-alert-1-[0-9a-f]{8}\.png", saved[0])

    removed = client.post(f"/view/{quote(XSS_NAME)}/remove", data=form_fields(client))
    assert removed.status_code == 200
    assert_escaped(removed.text, XSS_NAME)


# -- the Content-Security-Policy is on every response ---------------------------------------------------
def assert_strict_csp(response):
    policy = response.headers.get("content-security-policy")
    assert policy == SECURITY_HEADERS["Content-Security-Policy"], response.url
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    for name, sources in directives.items():
        for source in sources:
            # Only this origin, or nothing; data: and blob: (made by the page's own scripts) for images only.
            # No '*', hosts, other schemes or 'unsafe-inline'.
            image_scheme = name == "img-src" and source in ("data:", "blob:")
            assert source in ("'self'", "'none'") or image_scheme, (name, source)
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_response_carries_the_strict_csp(client, settings, embedder, tmp_path):
    responses = [
        client.get("/", follow_redirects=False), client.get("/index"), client.get("/index", params={"q": "car"}),
        client.get("/index", params={"q": "car"}, headers={"HX-Request": "true"}), client.get("/view/cars/a.jpg"),
        client.get("/EDA"), client.get("/EDA/sections"), client.get("/api/search", params={"q": "car"}),
        client.post("/api/query", json={"parts": [{"text": "car"}]}), client.get("/api/images/cars/a.jpg"),
        client.get("/healthz"), client.get("/openapi.json"), client.get("/docs"),
        client.get("/static/style.css"), client.get("/static/htmx.min.js"), client.get("/images/cars/a.jpg"),
        client.get("/thumbs/cars/a.jpg"),
        client.post("/upload", files=[("files", ("x.png", png(6)))], data=form_fields(client)),
        client.post("/api/images", files=[("files", ("y.png", png(7)))]),
        client.get("/nope"), client.get("/api/nope"), client.get("/static/nope.css"), client.get("/images/nope.jpg"),
        client.get("/index", params={"k": "0"}), client.get("/api/search", params={"k": "0"}),
        client.put("/index"), client.put("/api/search"), client.post("/api/query", content=b"{"),
    ]
    assert {r.status_code for r in responses} >= {200, 307, 404, 405, 422}
    # A 500: a thumbnail cache that cannot be written (a file where its folder should be).
    (tmp_path / "not-a-folder").write_bytes(b"")
    broken = create_app(settings.replace(cache_dir=tmp_path / "not-a-folder"), embedder)
    failed = TestClient(broken, raise_server_exceptions=False).get("/thumbs/cars/b.png")
    assert failed.status_code == 500 and "something went wrong" in failed.text and "Traceback" not in failed.text
    for response in responses + [failed]:
        assert_strict_csp(response)


# -- the Qdrant API key never appears -------------------------------------------------------------------
def test_the_qdrant_api_key_appears_in_no_response_and_no_log(tiny_clip, embedder, image_folder, tmp_path,
                                                              monkeypatch, caplog, recwarn):
    monkeypatch.setenv("QDRANT_URL", f"http://127.0.0.1:{closed_port()}")  # nothing listens there
    monkeypatch.setenv("QDRANT_API_KEY", SECRET_KEY)
    settings = Settings.load(clip_model=str(tiny_clip), dataset_dir=image_folder, cache_dir=tmp_path / "cache",
                             text_dir=tmp_path / "text")
    assert settings.api_key == SECRET_KEY  # the key is really in use
    caplog.set_level(logging.DEBUG)  # every logger, qdrant-client's and httpx's included
    with TestClient(create_app(settings, embedder)) as client:
        front = client.get("/index")  # the bare page still shows, saying the store is out of reach
        pages = [client.get("/index", params={"q": "red car"}), client.get("/view/cars/a.jpg"), client.get("/EDA"),
                 client.post("/upload", files=[("files", ("a.png", png(1)))], data=form_fields(client))]
        api = [client.get("/api/search", params={"q": "red car"}),
               client.post("/api/query", json={"parts": [{"text": "red car"}]}),
               client.post("/api/images", files=[("files", ("b.png", png(2)))]),
               client.get("/api/images/cars/a.jpg"), client.delete("/api/images/cars/a.jpg")]
        health = client.get("/healthz")
    assert front.status_code == 200 and "cannot be reached right now" in front.text
    assert [r.status_code for r in pages + api + [health]] == [503] * 10
    assert "Qdrant server at http://127.0.0.1" in health.json()["store"]["error"]
    for response in [front] + pages + api + [health]:
        assert SECRET_KEY not in response.text and SECRET_KEY not in json.dumps(dict(response.headers))
    assert caplog.records and SECRET_KEY not in caplog.text
    assert all(SECRET_KEY not in record.getMessage() + str(record.exc_text) for record in caplog.records)
    assert all(SECRET_KEY not in str(warning.message) for warning in recwarn)

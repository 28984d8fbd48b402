"""Images made to hurt, against a real server: a looping PostScript file (which Pillow would hand to
Ghostscript, running for ever) as a query image, an upload and a dataset file, and concurrent
100-megapixel queries. Each is refused or served without stopping the server answering others."""

import base64
import io
import subprocess
import sys
import threading
import time

import httpx
import pytest
from PIL import Image

from src.indexing import index_folder
from src.store import open_store
from tests.app_server import app_env, served, stop_group
from tests.helpers import ROOT

# 58 bytes: a valid EPS header, then a PostScript loop that never ends.
LOOPING_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"
PATIENCE = 5  # seconds; the refusals take milliseconds, the old code never answered


# Without Ghostscript, Pillow fails on EPS at once and the danger cannot show (make test installs it).
pytestmark = [pytest.mark.requires("gs"), pytest.mark.slow]


@pytest.fixture
def server(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    # In the dataset under an image's name, after indexing (test_index_skips... indexes it, in a process of
    # its own: in this one, the old code's Ghostscript would have hung the tests).
    (settings.dataset_dir / "loop.jpg").write_bytes(LOOPING_EPS)
    with served(settings) as (url, _process):
        yield url


class Heartbeat:
    """/healthz asked again and again while something else happens; the slowest answer's time."""

    def __init__(self, url: str):
        self.url, self.slowest, self.failures = url, 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    client.get(self.url + "/healthz").raise_for_status()
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)


def test_looping_eps_is_refused_every_way_it_comes_in_while_healthz_answers(server):
    eps_part = {"image": ("query.jpg", LOOPING_EPS, "image/jpeg")}
    with Heartbeat(server) as heartbeat, httpx.Client(base_url=server, timeout=PATIENCE) as client:
        answers = {
            "query image, API": client.post("/api/search", files=eps_part, params={"mode": "image"}),
            "query image, page": client.post("/index", files=eps_part, data={"mode": "image"}),
            "combined query": client.post("/api/query", json={
                "parts": [{"image": base64.b64encode(LOOPING_EPS).decode()}], "mode": "image"}),
            "upload": client.post("/api/images", files={"files": ("ad.jpg", LOOPING_EPS, "image/jpeg")}),
            "dataset file, thumbnail": client.get("/thumbs/loop.jpg"),
            "dataset file, served": client.get("/images/loop.jpg"),
        }
    for way, answer in answers.items():
        assert answer.elapsed.total_seconds() < 1, (way, answer.elapsed)  # refused within a second each
        if way == "upload":  # each file of an upload has its own outcome
            assert answer.status_code == 200, answer.text
            outcome = answer.json()["outcomes"][0]
            assert outcome["status"] == "rejected" and "not an image" in outcome["message"], outcome
        else:
            assert answer.status_code in (415, 422), (way, answer.status_code, answer.text[:300])
            assert "JPEG, PNG, WebP, GIF or BMP" in answer.text, (way, answer.text[:300])
    assert not heartbeat.failures and heartbeat.slowest < PATIENCE


def test_index_skips_a_looping_eps_named_like_a_jpeg(settings):
    (settings.dataset_dir / "loop.jpg").write_bytes(LOOPING_EPS)
    process = subprocess.Popen([sys.executable, "main.py", "index", "--no-progress"], cwd=ROOT,
                               env=app_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=120)  # the eight good images index in seconds
    finally:
        stop_group(process)
    text = output.decode()
    assert process.returncode == 0, text
    assert "loop.jpg" in text and "JPEG, PNG, WebP, GIF or BMP" in text, text
    with open_store(settings) as store:
        assert store.count() == 8  # the eight real images, nothing lost


def test_concurrent_100_megapixel_queries_leave_other_requests_answering(server):
    bomb = io.BytesIO()
    Image.new("RGB", (10_000, 10_000), (200, 30, 30)).save(bomb, "PNG")  # 300 KB on the wire, 300 MB decoded
    answers = []

    def query():
        with httpx.Client(base_url=server, timeout=120) as client:
            answers.append(client.post("/api/search", files={"image": ("big.png", bomb.getvalue(), "image/png")},
                                       params={"mode": "image", "k": 3}))

    with Heartbeat(server) as heartbeat:
        bombs = [threading.Thread(target=query) for _ in range(3)]
        for thread in bombs:
            thread.start()
        for thread in bombs:
            thread.join()
    assert [a.status_code for a in answers] == [200, 200, 200] or all(a.status_code in (200, 422) for a in answers)
    # Each decode takes seconds of CPU; on the event loop, /healthz waited for all of them in turn (9 s
    # and more). Off it, a health check waits at most for a thread switch and its own store read.
    assert not heartbeat.failures
    assert heartbeat.slowest < 2.0, f"/healthz took {heartbeat.slowest:.1f} s while the big queries decoded"

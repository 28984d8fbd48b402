"""A Qdrant server that is down or stalls: `index` stops with one clear line, the app answers 503 with a
readable page or its error JSON. (Recovery once the store is back: tests/test_web.py.)"""

import os
import socket
import subprocess
import sys
import threading

import pytest
from fastapi.testclient import TestClient

from src.settings import Settings
from src.web import create_app
from tests.helpers import ROOT, closed_port


@pytest.fixture
def stalling_server():
    """Accepts connections, reads the requests and never answers: a server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held, stop = [], threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def run_index(settings, url: str) -> subprocess.CompletedProcess:
    env = os.environ | {"CLIP_MODEL": settings.clip_model, "DATASET_DIR": str(settings.dataset_dir),
                        "QDRANT_URL": url, "QDRANT_API_KEY": "never-print-me", "QDRANT_TIMEOUT": "1",
                        "OCR": "off"}
    return subprocess.run([sys.executable, "main.py", "index", "--no-progress"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fault", ["closed port", "stalling server"])
def test_index_stops_with_one_clear_line(settings, fault, stalling_server):
    url = f"http://127.0.0.1:{closed_port()}" if fault == "closed port" else stalling_server
    done = run_index(settings, url)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and errors[0].startswith("error: could not ") and f"Qdrant server at {url}" in errors[0]
    assert "loaded CLIP model" not in done.stderr  # the store is checked first, not after loading the model
    assert "Traceback" not in done.stderr and "never-print-me" not in done.stdout + done.stderr


@pytest.mark.slow  # waits out the store timeout on every page
def test_a_stalling_server_gives_503_pages_not_a_hang(tiny_clip, embedder, tmp_path, stalling_server):
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=tmp_path,
                             qdrant_url=stalling_server, qdrant_timeout=1)
    with TestClient(create_app(settings, embedder)) as client:
        page = client.get("/index", params={"q": "red car"})
        assert page.status_code == 503 and "Qdrant server at http://127.0.0.1" in page.text
        api = client.get("/api/search", params={"q": "red car"})
        assert api.status_code == 503 and api.json()["error"]["message"].startswith("could not ")
        assert client.get("/healthz").status_code == 503
        assert client.get("/EDA").status_code == 503

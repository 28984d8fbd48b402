"""OCR workers killed with SIGKILL under `index` and under `serve`: the pool replaces them, the image
under way is read again, and nothing else is lost (issue 16). Real tesseract, real processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, make_ad, wait_until_up

pytestmark = [pytest.mark.requires("tesseract"), pytest.mark.slow]


def ocr_workers(pid: int) -> set[int]:
    """The spawned worker processes of process pid."""
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.add(int(proc.name))
    return found


def environment(settings, tmp_path) -> dict:
    return os.environ | {"CLIP_MODEL": settings.clip_model, "DATASET_DIR": str(settings.dataset_dir),
                         "QDRANT_PATH": str(settings.qdrant_path), "TEXT_DIR": str(tmp_path / "text"),
                         "CACHE_DIR": str(tmp_path / "cache"), "BATCH_SIZE": "2", "OMP_NUM_THREADS": "1"}


def test_index_goes_on_when_an_ocr_worker_is_killed(settings, tmp_path):
    for seed in range(30, 42):
        make_ad(settings.dataset_dir / "ads" / f"ad {seed}.png", seed)
    text_dir = tmp_path / "text"
    process = subprocess.Popen([sys.executable, "main.py", "index", "--no-progress"], cwd=ROOT,
                               env=environment(settings, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 120
    while not list(text_dir.rglob("*.txt")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    workers = ocr_workers(process.pid)
    assert workers, "no OCR worker to kill"
    os.kill(min(workers), signal.SIGKILL)  # mid-run: one image is under way in it
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "failed 0" in out, out
    assert len(list(text_dir.rglob("*.txt"))) == 20  # the 8 pictures and the 12 ads: every text read


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def upload(url: str, name: str, data: bytes) -> dict:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/api/images", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())["outcomes"][0]


def test_uploads_go_on_after_the_ocr_workers_of_serve_are_killed(settings, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port)], cwd=ROOT,
                              env=environment(settings, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url, server)
        first = upload(url, "first.png", make_ad(tmp_path / "first.png", 60).read_bytes())
        assert first["status"] == "added" and "could not be read" not in first["message"], first
        workers = ocr_workers(server.pid)
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        for seed in (61, 62):
            later = upload(url, f"later-{seed}.png", make_ad(tmp_path / f"later-{seed}.png", seed).read_bytes())
            assert later["status"] == "added" and "could not be read" not in later["message"], later
        assert server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

"""The app as a real server in a subprocess on 127.0.0.1, for tests that need the event loop, the
sockets and the limits of a real uvicorn. Started in its own process group, so whatever it starts (such
as a Ghostscript an old version handed a file to) is killed with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.helpers import ROOT, closed_port, wait_until_up


def app_env(settings, **extra: str) -> dict:
    return os.environ | {"CLIP_MODEL": str(settings.clip_model), "DATASET_DIR": str(settings.dataset_dir),
                         "QDRANT_PATH": str(settings.qdrant_path), "CACHE_DIR": str(settings.cache_dir),
                         "TEXT_DIR": str(settings.text_dir), "COLLAPSE_COSINE": "1", "OCR": "off",
                         "PRECISION": "fp32"} | extra


@contextmanager
def served(settings, *args: str, **env: str):
    """(url, process) of `main.py serve` on a free port of 127.0.0.1, with args and environment added."""
    port = closed_port()
    log_path = Path(settings.qdrant_path).parent / f"server-{port}.log"  # a file: a full pipe would block it
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port), *args], cwd=ROOT,
                                   env=app_env(settings, **env), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    process.log_path = log_path
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        wait_for_model(url)
        yield url, process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


def wait_for_model(url: str, seconds: float = 60) -> None:
    """Until the model has loaded (the first search waits for it: timings start after)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            answer = urllib.request.urlopen(url + "/healthz", timeout=5).read()
        except urllib.error.HTTPError as exc:  # 503 when its store is down: the same fields
            answer = exc.read()
        model = json.loads(answer)["model"]
        if model["loaded"] or model["error"]:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the model of {url} did not load within {seconds} s")

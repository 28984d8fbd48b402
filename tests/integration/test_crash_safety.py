"""Index runs killed with SIGKILL at random moments lose nothing: after a final run the collection and
the OCR cache equal those of one clean run."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, make_ad

from src.settings import Settings
from src.store import open_store

TRIALS = 4


def index_command(settings: Settings, text_dir) -> tuple[list[str], dict]:
    env = os.environ | {
        "CLIP_MODEL": settings.clip_model, "DATASET_DIR": str(settings.dataset_dir),
        "QDRANT_PATH": str(settings.qdrant_path), "TEXT_DIR": str(text_dir), "BATCH_SIZE": "2",
        "OMP_NUM_THREADS": "1",
    }
    return [sys.executable, str(ROOT / "main.py"), "index", "--no-progress"], env


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}


def texts_read(text_dir: Path) -> int:
    return sum(1 for _ in text_dir.rglob("*.txt")) if text_dir.exists() else 0


def snapshot(settings: Settings, text_dir) -> tuple[dict, dict]:
    """(id -> payload of every point, OCR cache file -> content): what two equal runs must share."""
    with open_store(settings) as store:
        points = {pid: payload for pid, payload, _ in store.points()}
        assert set(store.file_records()) == set(points) and store.count() == len(points)
    cache = {str(f.relative_to(text_dir)): f.read_bytes() for f in sorted(text_dir.rglob("*")) if f.is_file()}
    return points, cache


@pytest.mark.slow
@pytest.mark.requires("tesseract")
def test_runs_killed_at_random_moments_end_like_one_clean_run(settings, tmp_path, capsys):
    for seed in range(8, 24):
        make_ad(settings.dataset_dir / "ads" / f"ad {seed}.png", seed)
    total = 24

    clean = Settings.load(environ={}, clip_model=settings.clip_model, dataset_dir=settings.dataset_dir,
                          qdrant_path=tmp_path / "clean")
    command, env = index_command(clean, tmp_path / "clean-text")
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)

    # Each kill lands once a random few more images have been read and written (the OCR cache, which
    # the run writes as it goes, shows how far it got), a random instant later: mid-run however fast
    # or loaded the machine is.
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    text_dir = tmp_path / "text"
    command, env = index_command(settings, text_dir)
    trials = []  # (images read when killed, points in the store after the kill)
    orphans = set()  # OCR workers of killed runs: they must not outlive them
    for _ in range(TRIALS):
        target = min(total - 1, texts_read(text_dir) + rng.randint(1, 5))
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while texts_read(text_dir) < target and process.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.2))
        workers = children_of(process.pid)
        read = texts_read(text_dir)
        process.send_signal(signal.SIGKILL)
        process.wait()
        orphans |= workers
        with open_store(settings) as store:
            trials.append((read, store.count()))
    time.sleep(2)
    assert not alive(orphans), "OCR workers outlived their killed index run"
    story = f"seed {seed}, kills (images read, points stored): {trials}"
    with capsys.disabled():
        print(f"\ncrash trials: {story}")
    assert any(0 < written < total for _, written in trials), f"no kill landed mid-run: {story}"

    final = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    points, cache = snapshot(settings, tmp_path / "text")
    clean_points, clean_cache = snapshot(clean, tmp_path / "clean-text")
    assert len(points) == total and points == clean_points, story
    assert all((settings.dataset_dir / payload["path"]).is_file() for payload in points.values())  # no orphans
    assert cache == clean_cache, story
    assert sum(name.endswith(".txt") for name in cache) == total

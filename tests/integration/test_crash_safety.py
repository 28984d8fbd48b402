"""Index runs, uploads and removals killed with SIGKILL at random moments lose nothing: after a final run
the collection, the image folder and the OCR cache equal those of one clean run.

The trials draw their kill moments from CRASH_SEED (fixed unless the environment sets it), so a CI run
that fails can be replayed exactly: CRASH_SEED=<the seed printed> make test."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from src.indexing import index_folder
from src.settings import Settings
from src.store import open_store
from tests.helpers import ROOT, make_ad, make_image

INDEX_TRIALS = 6
CHANGE_TRIALS = 4  # inside uploads and removals: 10 kills per run in all
SEED = int(os.environ.get("CRASH_SEED", "16"))


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
    seed = SEED
    rng = random.Random(seed)
    text_dir = tmp_path / "text"
    command, env = index_command(settings, text_dir)
    trials = []  # (images read when killed, points in the store after the kill)
    orphans = set()  # OCR workers of killed runs: they must not outlive them
    for _ in range(INDEX_TRIALS):
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


def folder_files(folder: Path) -> dict[str, bytes]:
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def comparable(points: dict) -> dict:
    """Payloads without the times an upload's file was written: a clean run wrote it at another moment."""
    return {pid: {k: v for k, v in payload.items() if k not in ("mtime", "mtime_ns")}
            for pid, payload in points.items()}


@pytest.mark.slow
def test_uploads_and_removals_killed_at_random_moments_end_like_one_clean_run(settings, embedder, tmp_path, capsys):
    uploads = tmp_path / "to-upload"
    for seed in range(40, 44):
        make_image(uploads / f"upload {seed}.png", seed)
    (uploads / "again.png").write_bytes((uploads / "upload 40.png").read_bytes())  # a re-upload: no second copy

    def prepared(name: str) -> Settings:
        folder = tmp_path / name
        shutil.copytree(settings.dataset_dir, folder / "images")
        ready = settings.model_copy(update={"dataset_dir": folder / "images", "qdrant_path": folder / "qdrant",
                                            "text_dir": folder / "text", "ocr": False})
        with open_store(ready) as store:
            index_folder(ready.dataset_dir, embedder, store, progress=False)
        return ready

    def driver(run: Settings) -> tuple[list[str], dict]:
        env = os.environ | {"CLIP_MODEL": run.clip_model, "DATASET_DIR": str(run.dataset_dir),
                            "QDRANT_PATH": str(run.qdrant_path), "TEXT_DIR": str(run.text_dir), "OCR": "off",
                            "PRECISION": "fp32", "OMP_NUM_THREADS": "1"}
        return [sys.executable, "-m", "tests.integration.crash_driver", str(uploads)], env

    clean = prepared("clean")
    command, env = driver(clean)
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
    steps = len(list(uploads.iterdir())) + 2

    rng = random.Random(SEED)
    trials = []  # (step the kill aimed after, steps seen done)
    for number in range(CHANGE_TRIALS):
        run = prepared(f"trial-{number}")
        command, env = driver(run)
        aim = rng.randrange(steps)
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True)
        done = 0
        while done < aim and process.stdout.readline():
            done += 1
        time.sleep(rng.uniform(0, 0.3))  # somewhere inside the next change
        process.send_signal(signal.SIGKILL)
        process.wait()
        trials.append((aim, done))
        subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)  # the next start finishes
        with open_store(run) as store, open_store(clean) as clean_store:
            assert comparable({r.id: r.payload for r in store.points()}) == \
                comparable({r.id: r.payload for r in clean_store.points()}), f"seed {SEED}, trials {trials}"
        assert folder_files(run.dataset_dir) == folder_files(clean.dataset_dir), f"seed {SEED}, trials {trials}"
    with capsys.disabled():
        print(f"\nchange crash trials: seed {SEED}, kills (aimed after step, steps done): {trials}")

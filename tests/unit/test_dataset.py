"""Tests for tools/make_dataset.py and the committed sample dataset."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import ROOT as REPO_ROOT

SCRIPT = REPO_ROOT / "tools" / "make_dataset.py"
DATASET = REPO_ROOT / "dataset"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


def run_generator(out: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)],
                   check=True, capture_output=True, text=True)


def read_labels(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def file_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Generate twice, the second time over a folder holding stale output
    and a file the generator must keep."""
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    (second / "README.md").write_text("keep me\n")
    (second / "old").mkdir()
    (second / "old" / "stale.jpg").write_bytes(b"not an image")
    run_generator(first)
    run_generator(second)
    return first, second


@pytest.mark.slow  # runs the generator twice
def test_generation_is_deterministic(two_runs):
    first, second = two_runs
    a, b = file_bytes(first), file_bytes(second)
    assert b.pop("README.md") == b"keep me\n"
    assert "old/stale.jpg" not in b
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []


@pytest.mark.slow  # runs the generator twice
def test_committed_labels_match_generator(two_runs):
    fresh = (two_runs[0] / "labels.csv").read_bytes()
    assert (DATASET / "labels.csv").read_bytes() == fresh


def test_committed_files_exist_and_decode():
    rows = read_labels(DATASET / "labels.csv")
    for row in rows:
        with Image.open(DATASET / row["file"]) as img:
            img.load()
            assert max(img.size) >= 480


@pytest.mark.slow  # runs the generator twice
def test_labels_format(two_runs):
    text = (two_runs[0] / "labels.csv").read_text(encoding="utf-8")
    assert text.startswith("file,brand,category,text\n")
    assert "\r" not in text
    rows = read_labels(two_runs[0] / "labels.csv")
    files = [r["file"] for r in rows]
    assert files == sorted(files)
    for r in rows:
        assert r["category"].isalpha() and r["category"].islower()
        assert r["file"].startswith(r["category"] + "/")
        # Brand and text are either both present or both absent.
        assert bool(r["brand"]) == bool(r["text"])
        if r["brand"]:
            assert r["text"].split(" | ")[0] == r["brand"]


def test_dataset_size_and_coverage():
    rows = read_labels(DATASET / "labels.csv")
    assert len(rows) >= 80
    assert sum(1 for r in rows if not r["text"]) >= 4
    per_brand = Counter(r["brand"] for r in rows if r["brand"])
    assert sum(1 for n in per_brand.values() if n >= 5) >= 10
    files = [p for p in DATASET.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 15 * 1024 * 1024
    # Every image in the folder is labelled (no stray images left behind).
    images = {p.relative_to(DATASET).as_posix() for p in files
              if p.suffix.lower() in IMAGE_SUFFIXES}
    assert images == {r["file"] for r in rows}

"""Building the embedded engine's HNSW graphs while searches go on (`serve --index`).

Qdrant Edge holds Python's GIL while it optimizes, which would stall every search in this process for
minutes at 100k points. So the graphs are built in a child process on a copy of the shard; the copy is
then swapped in and the writes made meanwhile are replayed onto it. A run killed at any moment leaves
either the old shard or the new one complete: `recover()` finishes what a killed run left.

On disk, beside `shard/`: `build-<id>/` (a copy being indexed) and `shard.old/` (the shard being
replaced during a swap; it wins if the swap was cut short).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import qdrant_edge as edge

ROOT = Path(__file__).resolve().parent.parent.parent
SHARD = "shard"
OLD_SHARD = "shard.old"
BUILD_PREFIX = "build-"
OPTIMIZED, UNCHANGED = "optimized", "unchanged"  # what the child process reports


def recover(folder: Path) -> None:
    """An interrupted swap falls back to the complete old shard; copies being indexed are dropped."""
    old = folder / OLD_SHARD
    if old.exists():
        shutil.rmtree(folder / SHARD, ignore_errors=True)
        old.rename(folder / SHARD)
    for stale in folder.glob(BUILD_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def copy_shard(folder: Path) -> Path:
    """A copy of the (flushed) shard for the child process to index."""
    build = folder / f"{BUILD_PREFIX}{uuid.uuid4().hex[:8]}"
    shutil.copytree(folder / SHARD, build)
    return build


def optimize_in_child(build: Path) -> str:
    """Build the HNSW graphs of the shard copy in `build` in a child process, at low priority so
    searches keep a fair share of the CPU: OPTIMIZED, UNCHANGED, or why the child failed."""
    done = subprocess.run(
        [sys.executable, "-m", "src.store.background_build", str(build)], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]
    return done.stdout.strip()


def swap_in(folder: Path, build: Path, replay: list) -> edge.EdgeShard:
    """Put the indexed copy in the shard's place and replay the writes made meanwhile; the caller has
    closed the old shard and holds writes and searches."""
    (folder / SHARD).rename(folder / OLD_SHARD)
    build.rename(folder / SHARD)
    shard = edge.EdgeShard.load(str(folder / SHARD))
    for operation in replay:
        shard.update(operation)
    shard.flush()
    shutil.rmtree(folder / OLD_SHARD)  # from here on, the new shard is the collection
    return shard


class SwapGate:
    """Any number of readers at once, or one swap with no reader inside."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._readers = 0
        self._swapping = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._swapping)
            self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                self._readers -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def swapping(self) -> Iterator[None]:
        with self._changed:
            self._swapping = True
            self._changed.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._changed:
                self._swapping = False
                self._changed.notify_all()


def _optimize(path: str) -> str:
    copy = edge.EdgeShard.load(path)
    changed = copy.optimize()
    copy.flush()
    copy.close()
    return OPTIMIZED if changed else UNCHANGED


if __name__ == "__main__":  # the child process of optimize_in_child
    os.nice(10)
    print(_optimize(sys.argv[1]))

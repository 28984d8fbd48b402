"""Shared fixtures (a tiny CLIP saved to disk, image folders made on the fly, settings), the markers of
the two suites, and the system tools some tests need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from src.embedding import ClipEmbedder
from src.runtime import configure
from src.settings import Settings
from tests.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    MISSING_TOOLS,
    PHONE,
    TOOLS,
    made_once,
    make_image,
    require_tool,
    run_folder,
)
from tests.ocr_once import OcrOnce
from tools.random_clip import build_tiny_clip

configure()  # the process-wide set-up the CLI and the app do at start

def pytest_configure(config):
    config.addinivalue_line("markers", "requires(tool): the test drives a system tool (tesseract, chromium, wrk)")
    config.addinivalue_line("markers", "slow: browser, load, crash, fuzz, notebook tests (not in make test-fast)")
    config.addinivalue_line("markers", "unit: tests/unit (set from the folder)")
    config.addinivalue_line("markers", "integration: tests/integration (set from the folder)")


def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).resolve().parent
    for item in items:
        suite = Path(str(item.fspath)).resolve().relative_to(tests).parts[0]
        if suite in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, suite))


def pytest_runtest_setup(item):
    for marker in item.iter_markers("requires"):
        require_tool(marker.args[0])


def pytest_terminal_summary(terminalreporter):
    if MISSING_TOOLS:
        packages = " ".join(TOOLS[t] for t in sorted(MISSING_TOOLS))
        terminalreporter.write_line(
            f"NOT TESTED: tests needing {', '.join(sorted(MISSING_TOOLS))} were skipped; apt-get install {packages}, "
            "or run `make test`, which installs them", yellow=True)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    # Built once for the run and read by every xdist worker: a few seconds of each worker's start.
    return made_once(run_folder(tmp_path_factory, "tiny-clip"), build_tiny_clip)


@pytest.fixture(scope="session")
def embedder(tiny_clip) -> ClipEmbedder:
    # fp32: exact invariants (a batch gives what one by one gives) hold only there; int8's dynamic
    # quantisation scales activations per batch. tests/test_precision.py covers the other precisions.
    return ClipEmbedder(str(tiny_clip), precision="fp32").load()


@pytest.fixture(scope="session")
def ocr_once(tmp_path_factory) -> Iterator[OcrOnce]:
    """The default engines' reading of an image, made once for the run (tests/ocr_once.py)."""
    reader = OcrOnce(run_folder(tmp_path_factory, "ocr-once"), Settings.load(environ={}).ocr_langs)
    yield reader
    reader.close()


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Eight distinct images in two folders and several formats."""
    folder = tmp_path / "images"
    names = ["cars/a.jpg", "cars/b.png", "cars/c.webp", "food/d.jpeg", "food/e.gif", "food/f.bmp", "g.jpg", "h.png"]
    for seed, name in enumerate(names):
        make_image(folder / name, seed)
    return folder


@pytest.fixture
def settings(tmp_path, tiny_clip, image_folder) -> Settings:
    return Settings.load(
        environ={},
        clip_model=str(tiny_clip),
        dataset_dir=image_folder,
        qdrant_path=tmp_path / "qdrant",
        cache_dir=tmp_path / "cache",
        text_dir=tmp_path / "text",
        batch_size=3,
        collapse_cosine=1.0,  # the tiny random CLIP's vectors crowd together: fold only identical ones
        # Uploads are read by OCR only where a test turns it on: starting the engines' workers and models
        # for every upload cost the web tests seconds each, and their shapes hold no words.
        ocr=False,
    )


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1280", "390"])
def viewport(request):
    """A page test that asks for it runs at a desktop's width and a phone's."""
    return request.param


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a test module; each test opens its own pages (a fresh context each)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

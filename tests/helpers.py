"""Helpers the tests share: the repository's root, pictures and ads made on the fly, free ports."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
# The real-ads development set beside the repository (read in place, never copied in).
SHARED_SAMPLE = ROOT.parent / "shared" / "ads-sample"

# The system tools some tests drive, with the Debian package that brings each (`make test` installs them).
# Debian's chromium, headless in a fresh profile; no traffic of its own beyond the test's servers.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TOOLS = {"tesseract": "tesseract-ocr", "chromium": "chromium", "wrk": "wrk", "gs": "ghostscript"}
# `make test` sets this: there a missing tool fails its tests instead of skipping them.
REQUIRE_TOOLS = os.environ.get("ADSEARCH_REQUIRE_TOOLS") == "1"
MISSING_TOOLS: set[str] = set()


def require_tool(tool: str) -> None:
    """Skip the test (fail it under `make test`) when a system tool it drives is missing."""
    if shutil.which(tool) is None:
        MISSING_TOOLS.add(tool)
        message = f"{tool} is not installed (Debian: apt-get install {TOOLS[tool]}; `make test` installs it)"
        if REQUIRE_TOOLS:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def run_folder(tmp_path_factory, name: str) -> Path:
    """A folder for the whole test run: under xdist, beside the workers' own base folders."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Held by one test process of the run at a time, for what the run makes once and shares."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def made_once(folder: Path, make: Callable[[Path], object]) -> Path:
    """folder as make(folder) fills it, made by the first test process of the run to ask for it."""
    with run_lock(folder.parent):
        if not (folder / ".made").exists():
            shutil.rmtree(folder, ignore_errors=True)
            make(folder)
            (folder / ".made").touch()
    return folder


def closed_port() -> int:
    """A port nothing listens on (yet): for a test's own server, or a store that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_image(path: Path, seed: int, size=(160, 120), fmt: str | None = None) -> Path:
    """A distinct picture per seed: coloured rectangles and ellipses on a coloured ground."""
    rng = random.Random(seed)
    colour = lambda: tuple(rng.randrange(256) for _ in range(3))  # noqa: E731
    image = Image.new("RGB", size, colour())
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(10, size[0]), y0 + rng.randrange(10, size[1]))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return path


AD_WORDS = ["SALE", "COFFEE", "PHONES", "TRAVEL", "SHOES", "BANK", "PIZZA", "SUMMER", "AUDI", "FRESH"]


def make_ad(path: Path, seed: int) -> Path:
    """A picture with two words on a light band, so OCR has something to read."""
    make_image(path, seed, size=(480, 320))
    image = Image.open(path).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 200, 480, 300), fill=(255, 255, 255))
    draw.text((20, 215), f"{AD_WORDS[seed % 10]} {AD_WORDS[(seed * 3) % 10]}", fill=(0, 0, 0),
              font=ImageFont.load_default(size=56))
    image.save(path)
    return path


def wait_until_up(url: str, process, seconds: float = 60) -> None:
    """Until the app at url answers /healthz (a test's own server subprocess)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, "the server exited while starting"
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers, if only to say its store is down (503)
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def form_fields(client) -> dict[str, str]:
    """The fields a page's form carries besides its own: the form token, as a page sets it in its cookie
    (tests/integration/test_web_guard.py checks that a form without it is refused)."""
    client.get("/index")
    return {"csrf_token": client.cookies.get("adsearch_form")}


# Images whose looks are known: path -> (colour, orientation, size); the folders are the categories.
# Each is one colour ground with a lighter band of the same hue, so no two share content.
LOOKS = {
    "a/red-tall.png": ((200, 30, 30), (120, 200)),
    "a/red-wide.jpg": ((210, 40, 35), (200, 120)),
    "a/blue-square.png": ((30, 70, 200), (150, 150)),
    "b/blue-tall.webp": ((40, 80, 190), (100, 180)),
    "b/green-big.jpg": ((30, 150, 60), (2000, 1300)),
    "b/green-square.png": ((40, 160, 70), (700, 700)),
}
LOOKS_EXPECTED = {  # (colour, orientation, size, format) of each
    "a/red-tall.png": ("red", "portrait", "small", "png"), "a/red-wide.jpg": ("red", "landscape", "small", "jpeg"),
    "a/blue-square.png": ("blue", "square", "small", "png"), "b/blue-tall.webp": ("blue", "portrait", "small", "webp"),
    "b/green-big.jpg": ("green", "landscape", "large", "jpeg"),
    "b/green-square.png": ("green", "square", "medium", "png"),
}


def make_look_images(folder: Path) -> Path:
    """LOOKS under folder."""
    for name, (colour, size) in LOOKS.items():
        image = Image.new("RGB", size, colour)
        lighter = tuple(min(255, c + 40) for c in colour)
        ImageDraw.Draw(image).rectangle((0, 0, size[0] // 3, size[1] // 4), fill=lighter)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / name)
    return folder


def looking(category: str | None = None, **wanted: str) -> set[str]:
    """The paths of LOOKS whose looks are all those wanted (colour=, orientation=, size=, format=), in the
    category (folder) if given."""
    fields = ("colour", "orientation", "size", "format")
    return {path for path, looks in LOOKS_EXPECTED.items()
            if all(looks[fields.index(field)] == value for field, value in wanted.items())
            and (category is None or path.startswith(category + "/"))}


# -- pages in the browser ------------------------------------------------------------------------------------------
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


def show_filters(page) -> None:
    """At a phone's width the search page's filters fold into their button: open it first, as a person would."""
    filters = page.locator("details.filters")
    if filters.count() and not filters.evaluate("d => d.open"):
        filters.locator("summary").click()


def choose(page, select: str, value: str) -> None:
    """Pick a value in one of the search page's lists, at any width."""
    show_filters(page)
    page.select_option(select, value)

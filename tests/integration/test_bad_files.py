"""Bad and unusual files (issue 9), on real parts: the tiny random CLIP and embedded Qdrant, OCR off.

Each file is indexed correctly or skipped with its reason in the report; the run goes on; nothing indexed
before is lost; a re-run changes nothing. Uploads of the same files are added or rejected with a reason and
leave nothing behind. An image finds itself first by its own vector with any weights, so a search proves
it was embedded and written."""

import hashlib
import os
import resource
import struct
import sys
import time
import zlib
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from src.images import decode_image, file_sha256
from src.indexing import index_folder, point_id
from src.store import Vectors, open_store
from src.uploads import add_images
from src.web import create_app
from tests.helpers import form_fields, make_image

MONTH = f"uploads/{datetime.now(UTC):%Y-%m}"
FIXTURE_IMAGES = 8  # conftest's image_folder
LATIN1_NAME = os.fsdecode(b"caf\xe9 latin-1.jpg")  # not UTF-8: Python keeps it as a lone surrogate


# -- the files -----------------------------------------------------------------------------------------
def png_bomb(side: int = 30000) -> bytes:
    """A real 30000x30000 1-bit PNG of about 0.1 MB; decoded, it would take 0.9 GB (2.7 GB in RGB)."""
    packer = zlib.compressobj(9)
    rows = (b"\x00" * (side // 8 + 1)) * 1000  # filter byte + packed bits, a thousand rows at a time
    data = b"".join(packer.compress(rows) for _ in range(side // 1000)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb()


def bad_files(scratch: Path, bomb: bytes) -> dict[str, bytes]:
    whole = make_image(scratch / "whole.jpg", 300, size=(400, 300)).read_bytes()
    return {
        "truncated.jpg": whole[: len(whole) // 2],
        "empty.jpg": b"",
        "notes.jpg": b"Buy milk\nand eggs\n",
        "logo.png": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>\n',
        "page.jpg": b"<!DOCTYPE html>\n<html><body><img src=x onerror=alert(1)></body></html>\n",
        "bomb.png": bomb,
    }


def odd_images(scratch: Path) -> dict[str, tuple[bytes, tuple[int, int, str]]]:
    """name -> (content, the width, height and format the index must store)."""

    def picture(seed: int, size=(160, 120)) -> Image.Image:
        return Image.open(make_image(scratch / f"{seed}.png", seed, size)).convert("RGB")

    def saved(image: Image.Image, fmt: str, **options) -> bytes:
        out = BytesIO()
        image.save(out, fmt, **options)
        return out.getvalue()

    deep = Image.fromarray(np.asarray(picture(301).convert("L"), dtype=np.uint16) * 257)  # 16-bit greyscale
    clear = picture(303).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    rgba = picture(304).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    frames = [picture(305), picture(306)]
    # Orientation 6: the stored pixels are to be turned 90 degrees clockwise to view. The upright twin holds
    # exactly the pixels a viewer shows, losslessly, so both must give the same vector.
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = saved(picture(307, (48, 80)).transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes())
    upright = Image.open(BytesIO(sideways)).transpose(Image.Transpose.ROTATE_270)
    files = {
        "cmyk.jpg": (saved(picture(300).convert("CMYK"), "JPEG"), (160, 120, "JPEG")),
        "deep.png": (saved(deep, "PNG"), (160, 120, "PNG")),
        "palette.png": (saved(picture(302).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), (160, 120, "PNG")),
        "palette-clear.png": (saved(clear, "PNG", transparency=0), (160, 120, "PNG")),
        "rgba.png": (saved(rgba, "PNG"), (160, 120, "PNG")),
        "animated.gif": (saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
                         (160, 120, "GIF")),
        "rotated.jpg": (sideways, (48, 80, "JPEG")),
        "upright.png": (saved(upright, "PNG"), (48, 80, "PNG")),
        "Café Crème ad 2.jpg": (saved(picture(308), "JPEG"), (160, 120, "JPEG")),
        "日本 広告.png": (saved(picture(309), "PNG"), (160, 120, "PNG")),
    }
    modes = {name: Image.open(BytesIO(data)).mode for name, (data, _) in files.items()}
    kinds = ("cmyk.jpg", "deep.png", "palette.png", "rgba.png")
    assert [modes[name] for name in kinds] == ["CMYK", "I;16", "P", "RGBA"]
    assert "transparency" in Image.open(BytesIO(files["palette-clear.png"][0])).info
    assert Image.open(BytesIO(files["animated.gif"][0])).n_frames == 2
    assert Image.open(BytesIO(sideways)).getexif()[0x0112] == 6
    return files


def image_vector(embedder, data: bytes) -> np.ndarray:
    return embedder.embed_images([decode_image(BytesIO(data)).image])[0]


# -- the index step ------------------------------------------------------------------------------------
def run(settings, embedder):
    with open_store(settings) as store:
        return index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False)


def snapshot(settings) -> dict[str, dict]:
    """id -> payload of every point."""
    with open_store(settings) as store:
        return {pid: payload for pid, payload, _ in store.points()}


_opened: list[str] | None = None  # files opened while this is a list


def _record_opens(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.path.realpath(args[0]))


sys.addaudithook(_record_opens)  # audit hooks cannot be removed; it records only inside run_watching_opens


def run_watching_opens(settings, embedder):
    """The index run, and every file opened during it (resolved), to prove a file was never read."""
    global _opened
    _opened = []
    try:
        return run(settings, embedder), set(_opened)
    finally:
        _opened = None


# Bad files in the folder -> a word the reason in the report must hold.
EXPECTED_FAILURES = {
    "bad/truncated.jpg": "truncated",
    "bad/empty.jpg": "empty",
    "bad/empty-too.png": "empty",  # same content as empty.jpg: both must be reported
    "bad/notes.jpg": "not an image",
    "bad/logo.png": "not an image",
    "bad/page.jpg": "not an image",
    "bad/bomb.png": "too many pixels",
    "escape.jpg": "outside",
    "caf\ufffd latin-1.jpg": "UTF-8",  # shown with U+FFFD in place of the bad byte
}


TWINS = ("rotated.jpg", "upright.png")  # the same picture: either may come first


def odd_path(name: str) -> str:
    """Where an odd image lies in the folder: the unicode names at the top, next to the fixture's images."""
    return f"odd/{name}" if name.isascii() else name


@pytest.fixture
def second_run(settings, embedder, tmp_path, bomb):
    """The fixture's images indexed, then the bad and odd files added and indexed in a second run:
    (its report, the files it opened, the points before it, the odd images, the symlink's target)."""
    first = run(settings, embedder)
    assert (first.indexed, first.failed) == (FIXTURE_IMAGES, [])
    before = snapshot(settings)

    folder = settings.dataset_dir
    (folder / "bad").mkdir()
    for name, data in bad_files(tmp_path / "scratch", bomb).items():
        (folder / "bad" / name).write_bytes(data)
    (folder / "bad/empty-too.png").write_bytes(b"")
    outside = make_image(tmp_path / "outside" / "secret.jpg", 310)
    (folder / "escape.jpg").symlink_to(outside)
    make_image(folder / LATIN1_NAME, 311)
    odd = odd_images(tmp_path / "scratch")
    for name, (data, _) in odd.items():
        (folder / odd_path(name)).parent.mkdir(exist_ok=True)
        (folder / odd_path(name)).write_bytes(data)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    report, opened = run_watching_opens(settings, embedder)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mb < 300, f"the run took {grown_mb:.0f} MB more: was the bomb decoded?"
    return report, opened, before, odd, outside


def test_bad_files_are_skipped_with_their_reasons_in_the_summary(second_run, settings):
    report, opened, _, _, outside = second_run
    failed = dict(report.failed)
    assert len(report.failed) == len(failed) and set(failed) == set(EXPECTED_FAILURES)
    summary = report.summary()
    for path, word in EXPECTED_FAILURES.items():
        assert word.lower() in failed[path].lower(), (path, failed[path])
        assert f"failed: {path}: {failed[path]}" in summary
    assert "30000x30000" in failed["bad/bomb.png"] and f"failed {len(EXPECTED_FAILURES)} " in summary
    summary.encode("utf-8")  # printable: `index` prints it at the end
    # The symlink's target was never opened; the hook does see the files that were.
    assert str(outside.resolve()) not in opened
    assert os.path.realpath(settings.dataset_dir / odd_path("cmyk.jpg")) in opened


def test_odd_images_are_indexed_upright_and_find_themselves_and_nothing_is_lost(second_run, settings, embedder):
    report, _, before, odd, outside = second_run
    assert (report.indexed, report.unchanged, report.updated, report.removed) == (len(odd), FIXTURE_IMAGES, 0, 0)
    after = snapshot(settings)
    assert {pid: after[pid] for pid in before} == before  # same ids, same payloads
    by_path = {payload["path"]: pid for pid, payload in after.items()}
    assert set(by_path) == {p["path"] for p in before.values()} | {odd_path(name) for name in odd}
    assert file_sha256(outside) not in {payload["sha256"] for payload in after.values()}
    for name, (_, (width, height, fmt)) in odd.items():
        pid = by_path[odd_path(name)]
        assert pid == point_id(file_sha256(settings.dataset_dir / odd_path(name)))
        assert (after[pid]["width"], after[pid]["height"], after[pid]["format"]) == (width, height, fmt), name

    with open_store(settings) as store:
        for name, (data, _) in odd.items():
            hits = store.search(Vectors(image=image_vector(embedder, data).tolist()), limit=2)
            found = {h.payload["path"] for h in hits} if name in TWINS else {hits[0].payload["path"]}
            assert found == ({odd_path(n) for n in TWINS} if name in TWINS else {odd_path(name)}), name
            assert hits[0].score > 0.99, name
        rotated, upright = (store.vector(by_path[odd_path(name)]) for name in TWINS)
        assert np.allclose(rotated, upright, atol=1e-5)
        # The animated GIF is indexed by its first frame.
        gif = np.array(store.vector(by_path[odd_path("animated.gif")]))
        animation, frames = Image.open(BytesIO(odd["animated.gif"][0])), []
        for number in (0, 1):
            animation.seek(number)
            frames.append(embedder.embed_images([animation.convert("RGB")])[0])
        assert float(gif @ frames[0]) > 0.99 and float(gif @ frames[0]) > float(gif @ frames[1])


def test_a_rerun_does_nothing_and_reports_the_same_failures(second_run, settings, embedder):
    report, _, _, odd, _ = second_run
    after = snapshot(settings)
    again = run(settings, embedder)
    assert (again.indexed, again.unchanged, again.updated, again.removed) == (0, FIXTURE_IMAGES + len(odd), 0, 0)
    assert sorted(again.failed) == sorted(report.failed)
    assert snapshot(settings) == after


# -- uploads -------------------------------------------------------------------------------------------
# Bad uploads -> the start of the message.
EXPECTED_REJECTIONS = {
    "truncated.jpg": "cannot decode: image file is truncated",
    "empty.jpg": "empty file",
    "notes.jpg": "not an image (it looks like text)",
    "logo.png": "not a JPEG, PNG, WebP, GIF or BMP image (it looks like an SVG drawing)",
    "page.jpg": "not an image (it looks like an HTML page)",
    "bomb.png": "too many pixels: 30000x30000 (900 megapixels), the limit is 100 megapixels",
}
# Saved names: the client's name made safe, then a hash.
EXPECTED_STEMS = {"Café Crème ad 2.jpg": "cafe-creme-ad-2", "日本 広告.png": "image"}


def uploaded(settings) -> list[str]:
    found = (settings.dataset_dir / "uploads").rglob("*")
    return sorted(p.relative_to(settings.dataset_dir).as_posix() for p in found if p.is_file())


def check_upload_outcomes(outcomes: list[dict], files: list[tuple[str, bytes]], odd: dict, settings) -> None:
    """Outcomes as the API gives them (dicts): bad files rejected with their reason, odd ones added and
    saved under their safe names, and nothing else under uploads/."""
    assert [o["name"] for o in outcomes] == [name for name, _ in files]
    by_name = {o["name"]: o for o in outcomes}
    for name, start in EXPECTED_REJECTIONS.items():
        outcome = by_name[name]
        assert (outcome["status"], outcome["path"], outcome["point_id"]) == ("rejected", None, None), name
        assert outcome["message"].startswith(start), (name, outcome["message"])
    for name, (data, _) in odd.items():
        outcome = by_name[name]
        assert outcome["status"] == "added" and outcome["message"] == f"added as {outcome['path']}", name
        stem = EXPECTED_STEMS.get(name, Path(name).stem)
        extension = {"JPEG": "jpg", "PNG": "png", "GIF": "gif"}[odd[name][1][2]]
        assert outcome["path"] == f"{MONTH}/{stem}-{hashlib.sha256(data).hexdigest()[:8]}.{extension}"
        assert (settings.dataset_dir / outcome["path"]).read_bytes() == data
    assert uploaded(settings) == sorted(by_name[name]["path"] for name in odd)


def upload_set(tmp_path, bomb) -> tuple[list[tuple[str, bytes]], dict]:
    odd = odd_images(tmp_path / "scratch")
    bad = bad_files(tmp_path / "scratch", bomb)
    # Bad and good interleaved: a rejection must not stop the files after it.
    names = [*bad][:3] + [*odd][:5] + [*bad][3:] + [*odd][5:]
    return [(name, bad[name] if name in bad else odd[name][0]) for name in names], odd


def test_uploads_of_bad_files_are_rejected_with_reasons_and_odd_ones_added(settings, embedder, tmp_path, bomb):
    files, odd = upload_set(tmp_path, bomb)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False)
        before = {pid: payload for pid, payload, _ in store.points()}
        outcomes = add_images(files, settings, embedder, store, None)
        check_upload_outcomes([vars(o) for o in outcomes], files, odd, settings)

        after = {pid: payload for pid, payload, _ in store.points()}
        assert {pid: after[pid] for pid in before} == before and len(after) == FIXTURE_IMAGES + len(odd)
        added = {o.name: o for o in outcomes if o.status == "added"}
        for name, (data, (width, height, fmt)) in odd.items():
            payload = after[added[name].point_id]
            assert (payload["path"], payload["width"], payload["height"], payload["format"]) == (
                added[name].path, width, height, fmt), name
            hits = store.search(Vectors(image=image_vector(embedder, data).tolist()), limit=2)
            assert added[name].point_id in {h.id for h in hits[: 2 if name in TWINS else 1]}, name
        twins = [store.vector(added[name].point_id) for name in TWINS]
        assert np.allclose(*twins, atol=1e-5)

        # The folder and the index agree: a later index run finds nothing to do and nothing wrong.
        again = index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False)
        assert (again.indexed, again.removed, again.failed) == (0, 0, [])


def test_an_upload_bomb_is_refused_from_its_header_quickly_and_without_memory(settings, embedder, tmp_path, bomb):
    with open_store(settings) as store:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        started = time.perf_counter()
        [outcome] = add_images([("bomb.png", bomb)], settings, embedder, store, None)
        seconds = time.perf_counter() - started
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert outcome.status == "rejected" and "too many pixels" in outcome.message
    # Decoding would take 0.9 GB at least; the header alone takes next to nothing.
    assert seconds < 2 and grown_mb < 200, (seconds, grown_mb)
    assert uploaded(settings) == []


@pytest.fixture
def client(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False)
    settings = settings.replace(ocr=False)
    with TestClient(create_app(settings, embedder)) as client:
        yield client


def test_the_same_files_through_the_http_route(client, settings, tmp_path, bomb):
    files, odd = upload_set(tmp_path, bomb)
    response = client.post("/api/images", files=[("files", (name, data)) for name, data in files])
    assert response.status_code == 200
    outcomes = response.json()["outcomes"]
    check_upload_outcomes(outcomes, files, odd, settings)
    for outcome in outcomes:
        if outcome["status"] == "added":
            details = client.get(f"/api/images/{outcome['path']}").json()
            assert details["id"] == outcome["point_id"]
            assert (details["width"], details["height"]) == odd[outcome["name"]][1][:2]


def test_an_upload_name_with_markup_is_shown_as_text(client, tmp_path):
    image = make_image(tmp_path / "x.png", 320).read_bytes()
    files = [("files", ("<script>alert(1)</script>.png", image)), ("files", ("<b onmouseover=alert(2)>.jpg", b"text"))]
    for headers in ({}, {"HX-Request": "true"}):  # the whole page, and the part the page's form swaps in
        page = client.post("/upload", files=files, headers=headers, data=form_fields(client))
        assert page.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in page.text and "<script>alert(1)" not in page.text
        assert "&lt;b onmouseover=alert(2)&gt;.jpg" in page.text and "<b onmouseover" not in page.text

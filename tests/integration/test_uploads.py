"""Uploads on real parts: the tiny random CLIP, embedded Qdrant, and tesseract for the text.

An image finds itself first by its own vector with any weights, so a search proves an upload was embedded
and written; a later index run that finds nothing to do proves it lies in the folder like any other file."""

import struct
import zlib
from datetime import UTC, datetime
from io import BytesIO

import pytest
from PIL import Image, ImageFile

from src.indexing import index_folder
from src.store import StoreUnavailable, Vectors, open_store
from src.text_cache import TextCache
from src.text_reading import TextReader
from src.uploads import MAX_FILES_PER_UPLOAD, MAX_UPLOAD_BYTES, UploadError, add_images
from tests.helpers import ROOT, make_image

MONTH = f"uploads/{datetime.now(UTC):%Y-%m}"


@pytest.fixture
def store(settings, embedder):
    """The store of the eight fixture images, indexed."""
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False)
        yield store


def image_bytes(tmp_path, seed: int, fmt: str = "PNG", size=(160, 120)) -> bytes:
    return make_image(tmp_path / "made" / f"{seed}.{fmt.lower()}", seed, size=size, fmt=fmt).read_bytes()


def uploaded(settings) -> list[str]:
    """The files under uploads/, relative to the dataset folder."""
    found = (settings.dataset_dir / "uploads").rglob("*")
    return sorted(p.relative_to(settings.dataset_dir).as_posix() for p in found if p.is_file())


def png_bomb(side: int = 12000) -> bytes:
    """A real 12000x12000 greyscale PNG of about 0.2 MB that would take 144 MB to decode."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # the filter byte, then one byte per pixel
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_images_are_added_found_by_their_picture_and_left_alone_by_a_later_index(settings, embedder, store, tmp_path):
    poster, photo = image_bytes(tmp_path, 50, "PNG"), image_bytes(tmp_path, 51, "JPEG")
    outcomes = add_images([("Summer Poster.png", poster), ("notes.jpg", b"Buy milk\nand eggs\n"), ("photo.JPG", photo)],
                          settings, embedder, store, None)

    assert [o.status for o in outcomes] == ["added", "rejected", "added"]
    assert outcomes[1].message.startswith("not an image (it looks like text); send the picture as a JPEG")
    assert outcomes[1].path is None
    added = [outcomes[0], outcomes[2]]
    assert added[0].path.startswith(f"{MONTH}/summer-poster-") and added[0].path.endswith(".png")
    assert added[1].path.startswith(f"{MONTH}/photo-") and added[1].path.endswith(".jpg")
    assert uploaded(settings) == sorted(o.path for o in added)
    assert all(o.message == f"added as {o.path}" for o in added)
    for outcome, data in zip(added, [poster, photo]):
        assert (settings.dataset_dir / outcome.path).read_bytes() == data
        query = embedder.embed_images([Image.open(BytesIO(data)).convert("RGB")])[0]
        best = store.search(Vectors(image=query.tolist()), limit=3)[0]
        assert (best.payload["path"], best.id) == (outcome.path, outcome.point_id) and best.score > 0.99
        stored = store.by_path(outcome.path).payload
        assert stored["category"] == "uploads" and stored["format"] in ("PNG", "JPEG")

    again = index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False)
    assert (again.indexed, again.unchanged, again.updated, again.removed, again.failed) == (0, 10, 0, 0, [])


@pytest.mark.requires("tesseract")
def test_the_text_of_an_upload_is_read_when_there_is_a_reader(settings, embedder, tmp_path):
    """Also the first upload into a store that has no collection yet."""
    settings = settings.replace(dataset_dir=tmp_path / "empty", text_dir=tmp_path / "text",
                                   qdrant_path=tmp_path / "fresh")
    ad = (ROOT / "dataset/phones/pixora-phones-04.jpg").read_bytes()
    with TextReader(TextCache(settings.text_dir, settings.ocr_langs), workers=1) as reader, \
            open_store(settings) as store:
        [outcome] = add_images([("ad.jpg", ad)], settings, embedder, store, reader)
        assert outcome.status == "added" and outcome.message == f"added as {outcome.path}"
        hit = store.by_path(outcome.path)
        assert "pixora" in hit.payload["text"].lower() and hit.payload["has_text"]
        assert hit.payload["ocr"] == reader.version and "bm25" in store.vector_names(hit.id)
        assert "pixora" in (settings.text_dir / f"{outcome.path}.txt").read_text().lower()
        again = index_folder(settings.dataset_dir, embedder, store, settings.batch_size, progress=False, reader=reader)
    assert (again.indexed, again.reread, again.unchanged, again.failed) == (0, 0, 1, [])


def test_content_already_indexed_or_sent_twice_is_a_duplicate(settings, embedder, store, tmp_path):
    existing = (settings.dataset_dir / "cars/a.jpg").read_bytes()
    [outcome] = add_images([("my-copy.jpg", existing)], settings, embedder, store, None)
    assert (outcome.status, outcome.path) == ("duplicate", "cars/a.jpg")
    assert outcome.message == "already indexed as cars/a.jpg"
    assert outcome.point_id == store.by_path("cars/a.jpg").id
    assert uploaded(settings) == [] and store.count() == 8

    new = image_bytes(tmp_path, 60)
    first, second = add_images([("one.png", new), ("two.png", new)], settings, embedder, store, None)
    assert first.status == "added" and second.status == "duplicate"
    assert second.path == first.path and second.point_id == first.point_id
    assert second.message == f"the same image as one.png earlier in this upload, added as {first.path}"
    assert uploaded(settings) == [first.path] and store.count() == 9


def test_what_is_not_a_usable_image_is_rejected_with_the_reason(settings, embedder, store, tmp_path):
    jpeg = image_bytes(tmp_path, 70, "JPEG", size=(400, 300))
    files = [
        ("logo.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("page.png", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
        ("cut.jpg", jpeg[: len(jpeg) // 2]),
        ("empty.gif", b""),
        ("noise.bmp", bytes(range(256)) * 8),
        ("huge.jpg", jpeg + b"\x00" * MAX_UPLOAD_BYTES),
    ]
    outcomes = add_images(files, settings, embedder, store, None)
    assert all(o.status == "rejected" and o.path is None and o.point_id is None for o in outcomes)
    svg, html, cut, empty, noise, huge = (o.message for o in outcomes)
    assert svg.startswith("not a JPEG, PNG, WebP, GIF or BMP image (it looks like an SVG drawing); export it as PNG")
    assert html == "not an image (it looks like an HTML page); send the picture as a JPEG, PNG, WebP, GIF or BMP file"
    assert cut.startswith("cannot decode:") and "truncated" in cut
    assert empty.startswith("empty file; send the picture as") and noise == "not a JPEG, PNG, WebP, GIF or BMP image"
    assert huge == "too large: 20.1 MB, the limit is 20 MB"
    assert uploaded(settings) == [] and store.count() == 8


def test_a_decompression_bomb_is_rejected_before_it_is_decoded(settings, embedder, store, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the bomb's pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)  # the decoder reads the header, then stops
    [outcome] = add_images([("bomb.png", png_bomb())], settings, embedder, store, None)
    assert outcome.status == "rejected"
    assert outcome.message == "too many pixels: 12000x12000 (144 megapixels), the limit is 100 megapixels"


def test_names_are_made_safe_and_extensions_follow_the_content(settings, embedder, store, tmp_path):
    names = ["../../etc/passwd.jpg", "<script>.png", "C:\\Users\\me\\Café Crème.gif", "..."]
    files = [(name, image_bytes(tmp_path, 80 + n)) for n, name in enumerate(names)]
    camera = BytesIO()  # a JPEG holding two pictures, which Pillow calls MPO
    Image.new("RGB", (64, 48), "red").save(camera, "MPO", save_all=True, append_images=[Image.new("RGB", (32, 24))])
    outcomes = add_images(files + [("camera.mpo", camera.getvalue())], settings, embedder, store, None)
    assert [o.status for o in outcomes] == ["added"] * 5
    stems = [o.path.removeprefix(f"{MONTH}/").rsplit("-", 1)[0] for o in outcomes]
    assert stems == ["passwd", "script", "cafe-creme", "image", "camera"]
    assert [o.path.rsplit(".", 1)[1] for o in outcomes] == ["png"] * 4 + ["jpg"]
    assert all(len(o.path.rsplit("-", 1)[1].split(".")[0]) == 8 for o in outcomes)
    assert uploaded(settings) == sorted(o.path for o in outcomes)
    assert not (settings.dataset_dir.parent / "etc").exists()


def test_uploads_that_cannot_be_taken_are_refused_before_anything_is_saved(settings, embedder, store, tmp_path):
    files = [(f"{n}.png", image_bytes(tmp_path, n)) for n in range(MAX_FILES_PER_UPLOAD + 1)]
    with pytest.raises(UploadError, match=f"too many files: 21; at most {MAX_FILES_PER_UPLOAD} at a time"):
        add_images(files, settings, embedder, store, None)
    # Without the model, new images would lack the image vectors every other point has.
    reader = TextReader(TextCache(tmp_path / "text", settings.ocr_langs))
    with pytest.raises(UploadError, match="no image model is loaded and the collection holds image vectors"):
        add_images(files[:1], settings, None, store, reader)
    assert uploaded(settings) == [] and store.count() == 8


def test_a_store_failure_rejects_the_files_and_removes_them(settings, embedder, store, tmp_path, monkeypatch):
    def fail(points):
        raise StoreUnavailable("could not write points in embedded Qdrant: disk full")

    monkeypatch.setattr(store, "upsert", fail)
    [outcome] = add_images([("late.png", image_bytes(tmp_path, 90))], settings, embedder, store, None)
    assert outcome.status == "rejected"
    assert outcome.message == "could not index it: could not write points in embedded Qdrant: disk full"
    assert uploaded(settings) == [] and store.count() == 8

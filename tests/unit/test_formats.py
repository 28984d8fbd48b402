"""src/images.py's FORMATS is the one list of the accepted formats and their file extensions: the decoder,
the folder walk, uploads (their checks, their messages, the names they are saved under) all follow it."""

import pytest

from src import images, uploads
from tests.helpers import make_image

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'


def test_uploads_and_the_folder_walk_follow_a_narrowed_format_list(monkeypatch, tmp_path):
    png = make_image(tmp_path / "a.png", 1).read_bytes()
    jpeg = make_image(tmp_path / "b.jpg", 2).read_bytes()
    assert isinstance(uploads.check_file("b.jpg", jpeg), uploads.Checked)

    monkeypatch.setattr(images, "FORMATS", {"PNG": images.FORMATS["PNG"]})
    refused = uploads.check_file("b.jpg", jpeg)
    assert isinstance(refused, uploads.UploadOutcome)
    assert (refused.status, refused.message) == (uploads.REJECTED, "not a PNG image")
    svg = uploads.check_file("logo.svg", SVG)
    assert isinstance(svg, uploads.UploadOutcome)
    assert svg.message.startswith("not a PNG image (it looks like an SVG drawing)")  # the hint stays
    kept = uploads.check_file("a.png", png)
    assert isinstance(kept, uploads.Checked) and kept.format == "PNG"

    assert [f.path for f in images.find_images(tmp_path)[0]] == ["a.png"]
    with pytest.raises(images.NotAnAcceptedFormat, match=r"accepted format \(PNG\)"):
        images.decode_image(tmp_path / "b.jpg")


def test_each_format_names_its_extensions_and_the_message_lists_them_all():
    assert images.accepted_formats() == "JPEG, PNG, WebP, GIF or BMP"
    assert images.image_extensions() == {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
    assert images.format_of("MPO") is images.FORMATS["JPEG"]  # a JPEG with several pictures

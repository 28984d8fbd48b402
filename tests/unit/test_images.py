import os

import pytest
from PIL import Image

from src.images import ImageError, decode_image, file_sha256, find_images, resolve_inside
from tests.helpers import make_image


def test_find_images_walks_recursively_and_sorts(image_folder):
    (image_folder / "notes.txt").write_text("not an image")
    (image_folder / ".hidden").mkdir()
    make_image(image_folder / ".hidden" / "x.jpg", 99)
    make_image(image_folder / "UPPER.JPG", 98)
    files, skipped = find_images(image_folder)
    paths = [f.path for f in files]
    assert paths == sorted(paths)
    assert "UPPER.JPG" in paths and "cars/c.webp" in paths and "food/f.bmp" in paths
    assert not any(p.endswith(".txt") or ".hidden" in p for p in paths)
    assert len(paths) == 9 and skipped == []
    first = files[0]
    assert first.size == first.abs_path.stat().st_size and first.mtime_ns > 0


def test_symlink_out_of_folder_is_skipped_with_reason(tmp_path, image_folder):
    outside = make_image(tmp_path / "outside.jpg", 5)
    os.symlink(outside, image_folder / "escape.jpg")
    os.symlink(image_folder / "g.jpg", image_folder / "inside-link.jpg")
    files, skipped = find_images(image_folder)
    assert [s.path for s in skipped] == ["escape.jpg"] and "outside" in skipped[0].reason
    assert "inside-link.jpg" in [f.path for f in files]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        find_images(tmp_path / "nope")


def test_exif_rotation_is_applied(tmp_path):
    # A landscape picture whose EXIF says "rotate 90° clockwise to view": upright it is portrait.
    image = Image.new("RGB", (200, 100), "white")
    image.paste((255, 0, 0), (0, 0, 100, 100))  # red on the left half
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    decoded = decode_image(path)
    assert (decoded.width, decoded.height) == (100, 200)
    assert decoded.image.size == (100, 200)
    r, g, b = decoded.image.getpixel((50, 20))  # the red half is now on top
    assert r > 200 and g < 60 and b < 60


def test_decode_shrinks_to_min_side_and_keeps_original_size(tmp_path):
    path = make_image(tmp_path / "big.jpg", 1, size=(1600, 1000))
    decoded = decode_image(path, min_side=224)
    assert (decoded.width, decoded.height) == (1600, 1000)
    assert min(decoded.image.size) == 224 and decoded.image.size[0] == 358
    assert decoded.format == "JPEG"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("text.jpg", b"just some text, not a picture", "not an image"),
        ("empty.png", b"", "not an image"),
    ],
)
def test_non_images_raise_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        decode_image(path)


def test_truncated_jpeg_raises(tmp_path):
    whole = make_image(tmp_path / "whole.jpg", 3, size=(400, 300)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(ImageError, match="cannot decode"):
        decode_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(path)  # 144 Mpx, a few kB on disk
    with pytest.raises(ImageError, match=r"too many pixels: 12000x12000 \(144 megapixels\), the limit is 100"):
        decode_image(path)


def test_transparency_becomes_white_and_modes_become_rgb(tmp_path):
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert decode_image(tmp_path / "clear.png").image.getpixel((5, 5)) == (255, 255, 255)
    Image.new("I;16", (10, 10), 65535).save(tmp_path / "deep.png")
    assert decode_image(tmp_path / "deep.png").image.getpixel((5, 5)) == (255, 255, 255)
    Image.new("CMYK", (10, 10), (0, 255, 255, 0)).save(tmp_path / "print.jpg")
    r, g, b = decode_image(tmp_path / "print.jpg").image.getpixel((5, 5))
    assert r > 200 and g < 60 and b < 60


def test_resolve_inside_refuses_escapes(tmp_path, image_folder):
    secret = tmp_path / "secret.jpg"
    make_image(secret, 7)
    os.symlink(secret, image_folder / "link.jpg")
    (image_folder / "notes.txt").write_text("x")
    assert resolve_inside(image_folder, "cars/a.jpg") == (image_folder / "cars/a.jpg").resolve()
    for bad in ["../secret.jpg", "cars/../../secret.jpg", str(secret), "/etc/passwd", "link.jpg", "notes.txt",
                "missing.jpg", "", "a\x00.jpg"]:
        assert resolve_inside(image_folder, bad) is None, bad


def test_hash_is_of_content(tmp_path):
    a = make_image(tmp_path / "a.png", 1)
    b = tmp_path / "b.png"
    b.write_bytes(a.read_bytes())
    assert file_sha256(a) == file_sha256(b) and len(file_sha256(a)) == 64

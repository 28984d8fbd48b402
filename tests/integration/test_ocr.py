"""OCR on rendered ads: what tesseract must read, where the words are, and how failures look."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
from PIL import Image, ImageDraw, ImageFont

from src import ocr
from src.ocr import OcrError, clean_text, read_text, tesseract

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
from tests.helpers import SHARED_SAMPLE as SAMPLE  # noqa: E402

pytestmark = pytest.mark.requires("tesseract")


def render_ad(path: Path, ink="black", paper="white", turn: Image.Transpose | None = None) -> tuple[Path, tuple]:
    """A small ad with a brand and an offer; returns the file and the brand's box in the saved image."""
    image = Image.new("RGB", (640, 320), paper)
    draw = ImageDraw.Draw(image)
    draw.text((40, 50), "Brewhaven Coffee", font=ImageFont.truetype(str(FONT), 52), fill=ink)
    draw.text((40, 170), "Fresh roast, 20% off", font=ImageFont.truetype(str(FONT), 36), fill=ink)
    mask = Image.new("L", image.size)
    ImageDraw.Draw(mask).rectangle(draw.textbbox((40, 50), "Brewhaven", font=ImageFont.truetype(str(FONT), 52)), 255)
    if turn is not None:
        image, mask = image.transpose(turn), mask.transpose(turn)
    image.save(path, quality=92)
    return path, mask.getbbox()


def brand_word(result: ocr.OcrResult) -> ocr.Word:
    return next(w for w in result.words if w.text.lower() == "brewhaven")


def inside(word: ocr.Word, box: tuple, slack: int = 12) -> bool:
    left, top, right, bottom = box
    return (
        word.left >= left - slack
        and word.top >= top - slack
        and word.left + word.width <= right + slack
        and word.top + word.height <= bottom + slack
    )


def test_reads_the_brand_and_places_its_box(tmp_path):
    path, box = render_ad(tmp_path / "ad.jpg")
    result = read_text(path)
    assert "Brewhaven Coffee" in result.text and "20%" in result.text
    assert result.rotation == 0 and result.error is None
    word = brand_word(result)
    assert inside(word, box) and word.conf > 60 and word.rotation == 0


def test_reads_light_text_on_dark(tmp_path):
    path, _ = render_ad(tmp_path / "dark.png", ink=(250, 240, 200), paper=(20, 30, 70))
    assert "Brewhaven" in read_text(path).text


@pytest.mark.parametrize(
    "turn, rotation",
    [(Image.Transpose.ROTATE_90, 90), (Image.Transpose.ROTATE_180, 180), (Image.Transpose.ROTATE_270, 270)],
)
def test_reads_rotated_text_and_maps_boxes_back(tmp_path, turn, rotation):
    # ROTATE_90 turns the picture counter-clockwise, so reading it needs a 90° clockwise turn. Tesseract
    # reads some sideways lines unturned, so 0 is right for those too; the boxes must be right either way.
    path, box = render_ad(tmp_path / "turned.png", turn=turn)
    result = read_text(path)
    assert "Brewhaven Coffee" in result.text and result.rotation in (0, rotation)
    word = brand_word(result)
    assert word.rotation == result.rotation and inside(word, box)


def test_picture_without_text_gives_empty_text(tmp_path):
    image = Image.new("RGB", (500, 400))
    draw = ImageDraw.Draw(image)
    for y in range(400):  # a sky-like gradient with two "objects"
        draw.line([(0, y), (500, y)], fill=(40 + y // 4, 90 + y // 5, 200 - y // 6))
    draw.ellipse((60, 200, 220, 330), fill=(200, 120, 40))
    draw.rectangle((300, 120, 440, 360), fill=(30, 60, 30))
    image.save(tmp_path / "photo.jpg")
    result = read_text(tmp_path / "photo.jpg")
    assert result.text == "" and result.words == []


def test_corrupt_file_raises_ocr_error(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(OcrError, match="cannot read image"):
        read_text(path)


def test_missing_tesseract_binary_is_a_clear_error(tmp_path, monkeypatch):
    path, _ = render_ad(tmp_path / "ad.png")
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", str(tmp_path / "no-such-tesseract"))
    with pytest.raises(OcrError, match="tesseract not found .*install"):
        read_text(path)


def test_slow_ocr_is_cut_off(tmp_path, monkeypatch):
    path, _ = render_ad(tmp_path / "ad.png")
    monkeypatch.setattr(tesseract, "TIMEOUT_S", 0.01)
    with pytest.raises(OcrError, match="took longer than"):
        read_text(path)


def test_unknown_language_is_a_clear_error(tmp_path):
    path, _ = render_ad(tmp_path / "ad.png")
    with pytest.raises(OcrError, match="no data for language xyz"):
        read_text(path, langs="eng+xyz")


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Read every adver-\ntisement today", "Read every advertisement today"),
        ("Coca-\nCola", "Coca-\nCola"),  # a capital after the break: a real hyphen, not a broken word
        ("Only $4.99 | 50% off — €19 !!", "Only $4.99 50% off €19"),
        ("2 FOR 1", "2 FOR 1"),
        ("~~~ ||| ,. ^%$", ""),
        ("Sale  eeee  iiiii www.shop.com 1000", "Sale www.shop.com 1000"),
        ("“QUALITY SERVICE DONE FAST!”", "QUALITY SERVICE DONE FAST!"),
        ("Heating & Air  a;:|~", "Heating & Air"),
        ("  Vorsprung\t durch   Technik \n\n  (19.9) ", "Vorsprung durch Technik\n(19.9)"),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_real_ad_from_shared_sample():
    image = SAMPLE / "images" / "1191.jpg"
    if not image.exists():
        pytest.skip(f"the shared ad sample is not at {SAMPLE}: real-ad OCR not checked")
    text = read_text(image).text.lower()
    assert "audi" in text and "cabriolet" in text and "vorsprung durch" in text

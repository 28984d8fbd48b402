"""The OCR engines behind one shape: real PP-OCR and real tesseract on a rendered ad, merging their
readings, the engine names of OCR_ENGINES, and the cache kept per engine (damaged entries re-read)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest
from PIL import Image, ImageDraw, ImageFont

from src.indexing import index_folder
from src.ocr import OcrError, Reading, Word, merge, parse_engines, read_text
from src.ocr.engines import EngineSpec, engine
from src.settings import Settings, SettingsError
from src.store import open_store
from src.text_cache import TextCache
from src.text_reading import TextReader

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
needs_tesseract = pytest.mark.requires("tesseract")


def render_ad(path: Path, offer: str = "30% off") -> tuple[Path, tuple]:
    """An ad with a brand and an offer; returns the file and the brand word's box."""
    image = Image.new("RGB", (720, 320), "white")
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.truetype(str(FONT), 56), ImageFont.truetype(str(FONT), 36)
    draw.text((40, 50), "Glacielle Water", font=big, fill="black")
    draw.text((40, 180), f"Free shipping, {offer}", font=small, fill=(20, 20, 120))
    image.save(path)
    return path, draw.textbbox((40, 50), "Glacielle", font=big)


def inside(word: Word, box: tuple, slack: int = 14) -> bool:
    left, top, right, bottom = box
    return (word.left >= left - slack and word.top >= top - slack and word.left + word.width <= right + slack
            and word.top + word.height <= bottom + slack)


# -- the engines, for real ---------------------------------------------------------------------------
def test_ppocr_reads_the_ad_and_boxes_its_words_inside_the_lines(tmp_path):
    path, box = render_ad(tmp_path / "ad.png")
    result = read_text(path, engines=("ppocr",))
    text = result.text.lower().replace(" ", "")
    assert "glaciellewater" in text and "30%off" in text
    assert result.engines and result.engines[0].startswith("ppocr-")
    brand = next(w for w in result.words if w.text.lower().startswith("glacielle"))
    assert brand.engine == "ppocr" and brand.conf > 80
    if brand.text.lower() == "glacielle":  # read apart: its own box, inside the brand's
        assert inside(brand, box)
    else:  # run together with "Water": the box starts at the brand
        assert abs(brand.left - box[0]) < 14 and abs(brand.top - box[1]) < 14


@needs_tesseract
def test_both_engines_merge_into_one_text_with_words_of_each(tmp_path):
    path, box = render_ad(tmp_path / "ad.png")
    result = read_text(path, engines=("ppocr", "tesseract"))
    assert [key.split("-")[0] for key in result.engines] == ["ppocr", "tesseract"]
    engines = {w.engine for w in result.words}
    lowered = [w.text.lower() for w in result.words]
    # Where both read a word the same at the same place, it is there once.
    assert lowered.count("glacielle") <= 1 and lowered.count("shipping,") + lowered.count("shipping") <= 1
    assert "ppocr" in engines and result.text.splitlines()[0].replace(" ", "").lower() == "glaciellewater"
    assert all(inside(w, (0, 0, 720, 320), 0) for w in result.words)


def test_an_undecodable_file_is_an_ocr_error_for_every_engine(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    with pytest.raises(OcrError, match="cannot read image"):
        read_text(path, engines=("ppocr", "tesseract"))


def test_engine_keys_name_the_engine_and_change_with_what_is_read():
    tess, tess_deu = engine(EngineSpec("tesseract", "eng")), engine(EngineSpec("tesseract", "eng+deu"))
    ppocr, ppocr_threads = engine(EngineSpec("ppocr")), engine(EngineSpec("ppocr", threads=1))
    assert tess.key.startswith("tesseract-") and ppocr.key.startswith("ppocr-")
    assert tess.key != tess_deu.key  # the languages change what is read
    assert ppocr.key == ppocr_threads.key  # threads change only the speed


# -- merging -------------------------------------------------------------------------------------------
def word(text, left, top=10, width=60, height=20, engine="x"):
    return Word(text, left, top, width, height, 90.0, 0, engine)


def test_merge_drops_a_word_read_twice_in_the_same_place_and_keeps_the_rest():
    first = Reading("ppocr-1", [[word("RESERVEINSTORE", 10, width=200, engine="ppocr")], [word("NEW!", 10, 60)]])
    second = Reading("tesseract-1", [
        [word("RESERVE", 10, engine="tesseract"), word("IN", 80, engine="tesseract"),
         word("STORE", 120, engine="tesseract")],  # the same words read apart: kept, they tell where words break
        [word("new", 12, 62, engine="tesseract")],  # the same word, the same place: dropped
        [word("new", 400, 300, engine="tesseract")],  # the same word elsewhere: a second print of it, kept
    ])
    result = merge([first, second])
    assert result.text == "RESERVEINSTORE\nNEW!\nRESERVE IN STORE\nnew"
    assert [w.text for w in result.words] == ["RESERVEINSTORE", "NEW!", "RESERVE", "IN", "STORE", "new"]
    assert result.words[-1].left == 400 and result.engines == ("ppocr-1", "tesseract-1")


def test_merge_of_one_reading_is_that_reading_cleaned():
    result = merge([Reading("t-1", [[word("Only", 0), word("$4.99", 70), word("|||", 140)]], error="90°: slow")])
    assert result.text == "Only $4.99" and result.error == "t-1: 90°: slow"


# -- OCR_ENGINES -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, engines", [
    ("ppocr,tesseract", ("ppocr", "tesseract")), ("Tesseract", ("tesseract",)),
    (" ppocr + tesseract ", ("ppocr", "tesseract")),
    ("none", ()), ("", ()), ("tesseract,tesseract", ("tesseract",)),
])
def test_engine_lists(text, engines):
    assert parse_engines(text) == engines


def test_settings_name_the_engines_and_refuse_unknown_ones():
    assert Settings.load(environ={}).engines == ("ppocr", "tesseract")
    assert Settings.load(environ={"OCR_ENGINES": "tesseract"}).engines == ("tesseract",)
    assert Settings.load(environ={"OCR_ENGINES": "none"}).engines == ()
    assert Settings.load(environ={"OCR": "off"}).engines == ()
    with pytest.raises(SettingsError, match=r"^OCR_ENGINES must be ppocr, tesseract \(comma-separated, most "
                       r"trusted first\) or none, not 'easyocr'$"):
        Settings.load(environ={"OCR_ENGINES": "easyocr"})


# -- the cache, per engine ---------------------------------------------------------------------------
@needs_tesseract
def test_changing_the_engines_reads_only_with_the_engine_the_cache_lacks(tmp_path):
    path, _ = render_ad(tmp_path / "ad.png")
    cache = TextCache(tmp_path / "text", "eng")
    with TextReader(cache, workers=1, engines=("tesseract",)) as reader:
        alone = reader.result(reader.submit("ad.png", path, "sha"))
        (tesseract_key,) = reader.keys
    assert alone.engines == (tesseract_key,)
    # Mark tesseract's cached reading: a fresh read would not have the mark.
    meta_path = tmp_path / "text" / "ad.png.json"
    meta = json.loads(meta_path.read_text())
    lines = meta["readings"][tesseract_key]["lines"]
    lines.append([dict(lines[0][0], text="cachedmark")])
    meta_path.write_text(json.dumps(meta))

    with TextReader(cache, workers=1, engines=("ppocr", "tesseract")) as reader:
        pending = reader.submit("ad.png", path, "sha")
        assert set(pending.cached) == {tesseract_key} and pending.future is not None
        both = reader.result(pending)
    assert "cachedmark" in both.text and both.engines[1] == tesseract_key and both.engines[0].startswith("ppocr-")
    with TextReader(cache, workers=1, engines=("tesseract", "ppocr")) as reader:  # every reading cached now
        pending = reader.submit("ad.png", path, "sha")
        assert pending.future is None and "cachedmark" in reader.result(pending).text
    assert cache.result("ad.png", "sha").engines == (tesseract_key, both.engines[0])  # what /view marks
    assert cache.readings("ad.png", "other content") == {}


@pytest.mark.parametrize("damage", [
    "[]", "{}", '"text"', "12345", "null", "{not json",
    '{"format": 2, "sha256": "sha", "readings": []}',
    '{"format": 2, "sha256": "sha", "readings": {"K": {"lines": [[{"text": 12345}]]}}}',
    '{"format": 2, "sha256": "sha", "readings": {"K": {"lines": [[{"text": "a", "left": "x", "top": 0, '
    '"width": 1, "height": 1, "conf": 1}]]}}}',
    '{"format": 2, "sha256": "sha", "readings": {}, "text": 12345, "words": [], "engines": []}',
])
def test_a_damaged_cache_entry_counts_as_missing(tmp_path, damage):
    cache = TextCache(tmp_path, "eng")
    (tmp_path / "ad.png.json").write_text(damage.replace('"K"', json.dumps(engine(EngineSpec("tesseract")).key)))
    assert cache.readings("ad.png", "sha") == {} and cache.result("ad.png", "sha") is None


@needs_tesseract
def test_damaged_cache_entries_are_read_again_by_the_index_step(tmp_path):
    folder = tmp_path / "ads"
    folder.mkdir()
    for name, offer in (("a", "30% off"), ("b", "2 for 1")):
        render_ad(folder / f"{name}.png", offer)
    text_dir = tmp_path / "text"
    text_dir.mkdir()
    (text_dir / "a.png.json").write_text("[]")
    (text_dir / "b.png.json").write_text(json.dumps({"text": 12345, "words": [], "sha256": None}))
    settings = Settings.load(environ={}, dataset_dir=folder, qdrant_path=tmp_path / "q", text_dir=text_dir)
    with TextReader(TextCache(text_dir, "eng")) as reader, open_store(settings) as store:
        report = index_folder(folder, None, store, progress=False, reader=reader)
        assert (report.indexed, report.failed) == (2, [])
        assert all("glacielle" in payload["text"].lower() for _, payload, _ in store.points())


# -- the result view ---------------------------------------------------------------------------------
@needs_tesseract
def test_the_result_view_marks_words_either_engine_read(tmp_path, embedder):
    from fastapi.testclient import TestClient

    from src.web import create_app

    folder = tmp_path / "ads"
    folder.mkdir()
    render_ad(folder / "ad.png")
    settings = Settings.load(environ={}, dataset_dir=folder, qdrant_path=tmp_path / "q", text_dir=tmp_path / "text")
    with TextReader(TextCache(settings.text_dir, "eng")) as reader, Store(settings) as store:
        index_folder(folder, embedder, store, progress=False, reader=reader)
    words = TextCache(settings.text_dir, "eng").result("ad.png", next(iter(
        json.loads(p.read_text())["sha256"] for p in settings.text_dir.glob("*.json")))).words
    from src.search import matching_words

    marked = matching_words(words, "free shipping")
    assert {w.engine for w in words} >= {"ppocr"} and {w.engine for w in marked} >= {"ppocr"}
    with TestClient(create_app(settings, embedder)) as client:
        page = client.get("/view/ad.png", params={"q": "free shipping"}).text
    assert page.count('<rect class="mark"') == len(marked) >= 2 and "marked on the image" in page
    assert all(f"<title>{w.text}</title>" in page for w in marked)

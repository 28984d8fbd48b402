"""The look filters on the search page (issue 17, "Filters people ask for"), in Debian's headless Chromium
against a real server, at 1280 and 390 px: picking one shows only what looks so, they combine with the
words and each other, links carry them, and Back puts each step back."""

from urllib.parse import parse_qs, urlparse

import pytest

from src.indexing import index_folder
from src.settings import Settings
from src.store import open_store
from tests.app_server import served
from tests.helpers import LOOKS_EXPECTED, PHONE, choose, looking, make_look_images

pytestmark = [pytest.mark.requires("chromium"), pytest.mark.slow]



@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip, embedder):
    root = tmp_path_factory.mktemp("look-filters")
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=make_look_images(root / "images"),
                             qdrant_path=root / "qdrant", cache_dir=root / "cache", text_dir=root / "text",
                             batch_size=4, ocr=False)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with served(settings) as (url, _):
        yield url


def names(page) -> set[str]:
    return set(page.locator("#results .card .name").evaluate_all("els => els.map(e => e.title)"))


def shown(page, expected: set[str]) -> None:
    page.wait_for_function("(n) => document.querySelectorAll('#results .card').length === n", arg=len(expected))
    assert names(page) == expected


def test_a_look_filter_shows_only_what_looks_so_and_back_restores_it(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=car")
    shown(page, set(LOOKS_EXPECTED))
    if viewport is PHONE:  # folded into the Filters button, so the results start on the first screen
        assert not page.locator("#colour").is_visible()
        page.locator("details.filters > summary").click()
    # Only the values the collection has are offered, each with its count.
    assert page.locator("#colour option").all_inner_texts() == ["all", "red (2)", "green (2)", "blue (2)"]
    assert page.locator("#size option").all_inner_texts() == ["all", "small (4)", "medium (1)", "large (1)"]
    assert page.locator("#format option").all_inner_texts() == ["all", "JPEG (2)", "PNG (3)", "WebP (1)"]
    page.select_option("#colour", "red")
    page.wait_for_url(lambda url: "colour=red" in url)
    shown(page, looking(colour="red"))
    page.select_option("#orientation", "portrait")  # with the colour, inside the same query
    page.wait_for_url(lambda url: "orientation=portrait" in url)
    shown(page, {"a/red-tall.png"})
    assert parse_qs(urlparse(page.url).query) == {"q": ["car"], "k": ["12"], "mode": ["hybrid"], "colour": ["red"],
                                                  "orientation": ["portrait"]}
    # The result's link carries the filters (its page's "Back to results" leads to this same search).
    link = page.locator("#results .card a.thumb").first.get_attribute("href")
    assert "colour=red" in link and "orientation=portrait" in link

    page.go_back()
    page.wait_for_function("() => document.querySelector('#orientation').value === ''")
    assert page.input_value("#colour") == "red"
    shown(page, looking(colour="red"))
    page.go_back()
    page.wait_for_function("() => document.querySelector('#colour').value === ''")
    shown(page, set(LOOKS_EXPECTED))
    page.go_forward()
    page.wait_for_function("() => document.querySelector('#colour').value === 'red'")
    shown(page, looking(colour="red"))
    page.close()


def test_the_collection_listing_filters_by_size_and_format(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index")  # no words: the collection, newest first, filtered the same way
    choose(page, "#format", "png")
    page.wait_for_url(lambda url: "format=png" in url)
    shown(page, looking(format="png"))
    choose(page, "#size", "medium")
    page.wait_for_url(lambda url: "size=medium" in url)
    shown(page, {"b/green-square.png"})
    assert "png" in page.locator("#results .summary").inner_text()
    page.close()

"""Defects found walking through the page as a new user does, words only (no image model, as most offline
users first see it), in Debian's headless Chromium. Each test failed before its fix."""

import pytest

from tests.app_server import served
from tests.helpers import make_image
from tests.integration.test_browser_search_page import PAGE_ENV, build, drop_or_paste, names

pytestmark = [pytest.mark.requires("chromium"), pytest.mark.slow]


@pytest.fixture(scope="module")
def words_only(tmp_path_factory, tiny_clip, embedder):
    root = tmp_path_factory.mktemp("walkthrough")
    with served(build(root, tiny_clip, embedder), **PAGE_ENV, CLIP_MODEL=str(root / "no-such-model")) as (url, _):
        yield url


def test_an_image_dropped_on_the_page_without_the_model_says_what_to_do(browser, words_only, tmp_path, viewport):
    """It used to outline the whole page as a drop target, then do nothing at all."""
    page = browser.new_page(viewport=viewport)
    page.goto(words_only + "/index?q=sale")
    drop_or_paste(page, "drop", "#results", make_image(tmp_path / "dropped.png", 5))
    message = page.locator("#upload-results .error")
    message.wait_for(timeout=5000)
    assert "needs the image model" in message.inner_text() and "Upload and index" in message.inner_text()
    assert page.locator("details.upload").get_attribute("open") is not None  # the next step is on screen
    assert page.evaluate("document.getElementById('files').files.length") == 1
    page.close()


def test_an_added_image_shows_in_the_collection_at_once(browser, tmp_path, tiny_clip, embedder, viewport):
    """The count said one more, but the newest-first grid stayed as it was, and Search (the same URL) did
    nothing: the new image appeared only after a reload."""
    with served(build(tmp_path, tiny_clip, embedder), **PAGE_ENV) as (url, _):
        added_at_once(browser, url, tmp_path, viewport)


def added_at_once(browser, url, tmp_path, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(url + "/index")
    page.locator("details.upload summary").click()
    page.set_input_files("#files", str(make_image(tmp_path / "brand-new.png", 901)))
    page.get_by_role("button", name="Upload and index").click()
    page.wait_for_selector("#upload-results .outcome, #upload-results .error", timeout=90_000)
    assert page.locator("#upload-results .outcome.added").count() == 1, page.locator("#upload-results").inner_text()
    page.wait_for_function("() => document.querySelector('#results .card .name')?.title.includes('brand-new')",
                           timeout=5000)
    assert names(page)[0].startswith("uploads/") and "brand-new" in names(page)[0]
    assert page.evaluate("document.getElementById('files').files.length") == 0  # ready for the next ones
    page.close()


def test_a_file_that_is_no_image_keeps_the_search_on_screen(browser, tmp_path, tiny_clip, embedder, viewport):
    """Choosing a text file as the query image wiped the results, the words and the previous image's chip,
    while the URL still named that search: the message stood alone on an empty page."""
    with served(build(tmp_path, tiny_clip, embedder), **PAGE_ENV) as (url, _):
        page = browser.new_page(viewport=viewport)
        page.goto(url + "/index?q=sale")
        before, address = names(page), page.url
        assert before
        not_an_image = tmp_path / "notes.jpg"
        not_an_image.write_text("these are words, not a picture")
        page.set_input_files("#image", str(not_an_image))
        message = page.locator("#results .error")
        message.wait_for(timeout=10_000)
        assert "accepted format" in message.inner_text()
        assert names(page) == before and page.input_value("#q") == "sale" and page.url == address
        page.close()


def test_eda_axis_labels_are_plain_numbers(browser, words_only, viewport):
    """The file-size histogram's log axis read "$\\mathdefault{10^{1}}$": the figures keep their text as SVG
    text, which does not render matplotlib's mathtext."""
    page = browser.new_page(viewport=viewport)
    page.goto(words_only + "/EDA")
    page.wait_for_selector(".eda svg text", state="attached")
    texts = page.locator(".eda svg text").evaluate_all("els => els.map(e => e.textContent)")
    assert texts and not [t for t in texts if "$" in t or "mathdefault" in t]
    page.close()

"""The pages as a person uses them, in Debian's headless Chromium against a real server on 127.0.0.1."""

from urllib.parse import parse_qs, urlparse

import pytest

from src.indexing import index_folder
from src.store import open_store
from tests.app_server import served

pytestmark = [pytest.mark.requires("chromium"), pytest.mark.slow]


@pytest.fixture
def server(settings, embedder):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    with served(settings) as (url, _):
        yield url


def test_search_swaps_results_in_without_reload(browser, server):
    page = browser.new_page()
    page.goto(server + "/index")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Describe the ads you are looking for").fill("red car")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .summary:text('Results for')")  # the collection's cards were there before
    assert page.evaluate("window.__sameDocument") is True  # HTMX swapped, the page did not reload
    assert parse_qs(urlparse(page.url).query) == {"q": ["red car"], "k": ["12"], "mode": ["hybrid"]}  # linkable
    assert page.locator("#results .card").count() == 8
    assert page.locator("#results .rank").first.inner_text() == "#1"
    # The thumbnails in view really load (the CSP allows the app's own images; the rest load lazily).
    assert page.wait_for_function(
        "() => [...document.querySelectorAll('#results img')].slice(0, 4).every(i => i.complete && i.naturalWidth > 0)")
    page.close()


def test_clicking_a_result_opens_the_full_image(browser, server):
    page = browser.new_page()
    page.goto(server + "/index?q=red+car&k=12")
    first = page.locator("#results .card .name").first.get_attribute("title")
    page.locator("#results .card a").first.click()  # opens the preview; its page from there
    page.get_by_role("link", name="Open its page").click()
    page.wait_for_url("**/view/**")
    assert page.locator("h1").inner_text() == first
    # The full image is drawn in the view, at its own size in pixels.
    loaded = page.wait_for_function(
        "() => { const i = document.querySelector('svg image'); return i && i.getBBox().width > 0; }")
    assert loaded
    page.get_by_role("link", name="Open the image file").click()
    page.wait_for_load_state()
    assert "/images/" in page.url and page.evaluate("document.contentType").startswith("image/")
    page.go_back()
    page.get_by_role("link", name="Back to results").click()
    page.wait_for_url("**/index?**")
    assert parse_qs(urlparse(page.url).query) == {"q": ["red car"], "k": ["12"], "mode": ["hybrid"]}
    page.close()


def test_form_works_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/index")
    page.fill("#q", "blue boat")
    page.select_option("#k", "24")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/index?" in url and "q=blue+boat" in url)
    assert parse_qs(urlparse(page.url).query) == {"q": ["blue boat"], "k": ["24"], "mode": ["hybrid"]}
    assert page.locator("#results .card").count() == 8
    context.close()


def test_bad_input_shows_a_message_not_a_trace(browser, server):
    page = browser.new_page()
    response = page.goto(server + "/index?q=shoes&k=many")
    assert response.status == 422
    assert "k must be a whole number" in page.locator(".error").inner_text()
    response = page.goto(server + "/images/../../etc/passwd")
    assert response.status == 404 and "Back to search" in page.content()
    page.close()


def test_an_error_answer_to_htmx_is_shown_in_place(browser, server):
    """htmx drops 4xx answers unless told otherwise: the message must still reach the person."""
    page = browser.new_page()
    page.goto(server + "/index")
    page.evaluate("window.__sameDocument = true")
    page.locator('input[name="not"]').fill("night")  # only a part to avoid: nothing to search for
    page.locator('input[name="not"]').press("Enter")
    page.wait_for_selector("#results .error")
    assert "positive weight" in page.locator("#results .error").inner_text()
    assert page.evaluate("window.__sameDocument") is True and page.locator("header.top").count() == 1
    page.close()


def test_load_more_appends_the_next_page_without_reload(browser, server):
    page = browser.new_page()
    page.goto(server + "/index?q=red+car&k=12&show_duplicates=1")
    assert page.locator("#results .card").count() == 8  # all there are: no "load more"
    assert page.locator("#results .more").count() == 0
    page.goto(server + "/index?q=red+car&k=3")  # pages of 3 over the 8 images
    page.evaluate("window.__sameDocument = true")
    first_page = page.locator("#results .card .name").all_inner_texts()
    page.locator("#results .more a").dispatch_event("click")  # no scroll to it: that would load by itself
    page.wait_for_function("() => document.querySelectorAll('#results .card').length === 6")
    assert page.evaluate("window.__sameDocument") is True
    ranks = page.locator("#results .rank").all_inner_texts()
    assert ranks == [f"#{n}" for n in range(1, 7)]
    assert page.locator("#results .card .name").all_inner_texts()[:3] == first_page
    page.close()


def test_more_like_this_shows_that_image_as_the_query(browser, server):
    page = browser.new_page()
    page.goto(server + "/index?q=red+car&k=12")
    third = page.locator("#results .card").nth(2)
    name = third.locator(".name").get_attribute("title")
    third.get_by_role("link", name="More like this").click()
    page.wait_for_url("**like=**")
    assert page.locator(".chip strong").get_attribute("title") == name
    assert name not in page.locator("#results .card .name").evaluate_all("els => els.map(e => e.title)")
    page.close()


def test_uploading_three_files_adds_two_and_rejects_the_impostor(browser, server, tmp_path):
    from tests.helpers import make_image

    red, blue = make_image(tmp_path / "red.png", 601), make_image(tmp_path / "blue.jpg", 602)
    impostor = tmp_path / "holiday.jpg"
    impostor.write_text("this is a text file with a picture's name")
    page = browser.new_page()
    page.goto(server + "/index")
    page.evaluate("window.__sameDocument = true")
    page.locator("details.upload summary").click()
    page.set_input_files("#files", [str(red), str(blue), str(impostor)])
    page.get_by_role("button", name="Upload and index").click()
    page.wait_for_selector("#upload-results .outcome")
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(".outcome.added").count() == 2
    rejected = page.locator(".outcome.rejected")
    assert rejected.count() == 1 and "holiday.jpg" in rejected.inner_text() and "not an image" in rejected.inner_text()
    # The added images are found: each one, searched with itself, comes first.
    for link, source in zip(page.locator(".outcome.added a").all(), (red, blue)):
        path = link.get_attribute("href").removeprefix("/view/")
        response = page.request.post(server + "/api/search?k=1&mode=image",
                                     multipart={"image": {"name": "q", "mimeType": "image/png",
                                                          "buffer": source.read_bytes()}})
        assert response.json()["results"][0]["path"] == path
    page.close()


def test_searching_with_an_image_finds_it_first(browser, server, settings):
    page = browser.new_page()
    page.goto(server + "/index")
    page.select_option("#mode", "image")
    page.wait_for_url("**mode=image**")
    # The mode's own page (the collection) has come in: the image's results are not raced by it.
    page.wait_for_function("() => !document.body.classList.contains('searching')")
    page.set_input_files("#image", str(settings.dataset_dir / "food/e.gif"))  # choosing it searches
    page.wait_for_selector("#results .summary:text('Images like yours')")
    assert page.locator("#results .summary").inner_text() == "Images like yours"
    assert page.locator("#results .card .name").first.get_attribute("title") == "food/e.gif"
    page.close()

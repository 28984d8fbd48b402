"""Defects found walking through the page as a new user does, in Debian's headless Chromium: words only
(no image model, as most offline users first see it), then with the model. Each test failed before its fix."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.app_server import served
from tests.helpers import DESKTOP, PHONE, make_image, show_filters
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


# -- A second walk-through, with the image model, at both widths ------------------------------------------------------
@pytest.fixture(scope="module")
def with_model(tmp_path_factory, tiny_clip, embedder):
    root = tmp_path_factory.mktemp("walkthrough-model")
    settings = build(root, tiny_clip, embedder)
    with served(settings, **PAGE_ENV) as (url, _):
        yield url, settings


def test_the_preview_beside_the_grid_covers_no_result(browser, with_model):
    """At 1280 the panel lay over the right half of the grid: the open card and the Search button under it."""
    url, _ = with_model
    page = browser.new_page(viewport=DESKTOP)
    page.goto(url + "/index?q=red+car&mode=image&show_duplicates=1")
    page.locator("#results .card a.thumb").nth(4).click()
    page.wait_for_selector("#preview h1")
    panel = page.locator("#preview").bounding_box()["x"]
    for shown in ("#results .card.open", "#search button[type=submit]", "#results .card >> nth=-1"):
        box = page.locator(shown).bounding_box()
        assert box["x"] + box["width"] <= panel, shown
    page.close()


def test_search_by_image_from_the_keyboard_and_no_hidden_stops(browser, with_model, viewport):
    """The Image button was a label no key could reach; Tab stopped on the folded form's invisible controls."""
    url, settings = with_model
    page = browser.new_page(viewport=viewport)
    page.on("filechooser", lambda _: None)  # the browser's file box is caught from the start, not raced
    page.goto(url + "/index?q=red+car")
    page.focus("#q")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('image-button')")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(settings.dataset_dir / "h.png"))
    page.wait_for_selector("#results .summary:text('Like your image')")
    assert "Like your image, and “red car”" in page.locator("#results .summary").inner_text()  # the words too
    for _ in range(40):  # every stop of the Tab order can be seen
        page.keyboard.press("Tab")
        seen = page.evaluate("() => { const e = document.activeElement, r = e.getBoundingClientRect(); "
                             "return e === document.body || (r.width > 2 && r.height > 2); }")
        assert seen, page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    page.close()


def test_focus_stays_where_the_keyboard_was(browser, with_model, viewport):
    """After a search from the Search button or a check box, or Load more, focus fell to the page's start."""
    url, _ = with_model
    page = browser.new_page(viewport=viewport)
    page.goto(url + "/index?q=red+car&k=3&mode=image&show_duplicates=1")
    page.fill("#q", "blue boat")
    page.focus("#search button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#results .summary')?.textContent.includes('blue boat')")
    assert page.evaluate("document.activeElement.matches('#search button[type=submit]')")
    show_filters(page)
    page.focus("input[name=show_duplicates]")
    page.keyboard.press("Space")
    page.wait_for_url(lambda u: "show_duplicates" not in u)
    page.wait_for_function("() => document.activeElement.name === 'show_duplicates'")
    page.goto(url + "/index?q=red+car&k=3&mode=image&show_duplicates=1")
    page.focus("#results .more a")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#results .card').length === 6")
    assert page.evaluate("document.activeElement === document.querySelectorAll('#results .card a.thumb')[3]")
    page.close()


def test_tab_stays_in_the_phone_s_preview_sheet(browser, with_model):
    """The sheet covers the screen, yet Tab went on to the page behind it."""
    url, _ = with_model
    page = browser.new_page(viewport=PHONE)
    page.goto(url + "/index?q=red+car")
    page.locator("#results .card a.thumb").first.click()
    page.wait_for_selector("#preview h1")
    for _ in range(25):
        page.keyboard.press("Tab")
        page.wait_for_function("() => document.getElementById('preview').contains(document.activeElement)",
                               timeout=2000)
    page.keyboard.press("Escape")
    page.wait_for_selector("#preview", state="hidden")
    page.keyboard.press("Tab")  # and the page is usable again
    assert not page.evaluate("document.getElementById('preview').contains(document.activeElement)")
    page.close()


def test_small_things_a_phone_shows(browser, with_model, viewport):
    """A one-word 300-character query ran off the side; the folded Filters button hid that filters were set;
    "Without" ended one line and its box began the next."""
    url, _ = with_model
    page = browser.new_page(viewport=viewport)
    page.goto(url + "/index?q=" + "x" * 300)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.goto(url + "/index?q=red+car&category=cars&orientation=landscape")
    assert page.locator("details.filters > summary").inner_text() == "Filters (2)"
    show_filters(page)
    label, box = page.locator("label[for=not]").bounding_box(), page.locator("#not").bounding_box()
    assert abs((label["y"] + label["height"] / 2) - (box["y"] + box["height"] / 2)) < 4
    page.close()


def test_without_javascript_an_image_search_keeps_the_words_and_options(browser, with_model, viewport):
    """The image form sent the image alone: the words and options of the search shown were dropped."""
    url, settings = with_model
    context = browser.new_context(java_script_enabled=False, viewport=viewport)
    page = context.new_page()
    page.goto(url + "/index?q=red+car&k=3&mode=image")
    page.set_input_files("#image", str(settings.dataset_dir / "h.png"))
    page.get_by_role("button", name="Find similar").click()
    page.wait_for_url(lambda u: "image_key=" in u)
    sent = parse_qs(urlparse(page.url).query)
    assert (sent["q"], sent["k"], sent["mode"]) == (["red car"], ["3"], ["image"])
    context.close()


@pytest.mark.parametrize("setup", ["model", "words only"])
def test_a_dropped_file_that_is_no_image_or_a_paste_without_the_model_says_why(browser, with_model, words_only,
                                                                                 tmp_path, viewport, setup):
    """A dropped text file did nothing and said nothing; a pasted image without the model was ignored."""
    url = with_model[0] if setup == "model" else words_only
    page = browser.new_page(viewport=viewport)
    page.goto(url + "/index?q=sale")
    notes = tmp_path / "notes.txt"
    notes.write_text("words, not a picture")
    drop_or_paste(page, "drop", "#results", notes, mime="text/plain")
    page.wait_for_selector(".error:text('not an image file')", timeout=5000)
    if setup == "words only":
        drop_or_paste(page, "paste", "body", make_image(tmp_path / "pasted.png", 6))
        message = page.locator("#upload-results .error")
        message.wait_for(timeout=5000)
        assert "needs the image model" in message.inner_text()
    page.close()


def test_the_collection_overview_leads_back_to_the_search_it_was_opened_from(browser, with_model, viewport):
    """/EDA's "Back to search" went to a bare /index: the search, its filters and k were lost."""
    url, _ = with_model
    page = browser.new_page(viewport=viewport)
    page.goto(url + "/index?q=red+car&k=24&mode=image")
    page.get_by_role("link", name="What is in the collection").click()
    page.wait_for_url("**/EDA?**")
    page.get_by_role("link", name="← Back to search").click()
    page.wait_for_url("**/index?**")
    assert parse_qs(urlparse(page.url).query) == {"q": ["red car"], "k": ["24"], "mode": ["image"]}
    assert page.input_value("#q") == "red car" and page.input_value("#k") == "24"
    page.close()


def test_closing_the_preview_undoes_opening_it(browser, with_model, viewport):
    """Esc or × added an entry of its own: Back after closing opened the preview again, not the page before."""
    url, _ = with_model
    page = browser.new_page(viewport=viewport)
    page.goto(url + "/index?q=blue+boat&mode=image")
    page.goto(url + "/index?q=red+car&mode=image")
    length = page.evaluate("history.length")
    page.locator("#results .card a.thumb").first.click()
    page.wait_for_selector("#preview h1")
    page.keyboard.press("ArrowRight")  # moving on in the preview is the same entry
    page.wait_for_url(lambda u: "open=" in u)
    page.keyboard.press("Escape")
    page.wait_for_selector("#preview", state="hidden")
    page.wait_for_url(lambda u: "open=" not in u)
    page.go_back()
    page.wait_for_url(lambda u: "blue+boat" in u)
    assert page.locator("#preview").is_hidden() and page.evaluate("history.length") == length + 1
    page.close()

"""The search page as a new user meets it (issue 17), in Debian's headless Chromium against real servers on
127.0.0.1, at 1280 and 390 px. Each test names the defect it guards against; each failed before its fix."""

import os
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from src.indexing import index_folder
from src.settings import Settings
from src.store import open_store
from tests.app_server import served
from tests.helpers import PHONE, choose, closed_port, make_image, show_filters

pytestmark = [pytest.mark.requires("chromium"), pytest.mark.slow]

NAMES = ["cars/a.jpg", "cars/b.png", "cars/c.webp", "food/d.jpeg", "food/e.gif", "food/f.bmp", "g.jpg", "h.png"]
# Resized copies: other files and bytes, the same picture (cosine > 0.9999 under the tiny CLIP, while the
# distinct pictures stay below 0.99), so they fold into their originals at FOLD_COSINE.
COPIES = {"cars/a-small.jpg": "cars/a.jpg", "cars/b-small.png": "cars/b.png", "food/d-small.jpeg": "food/d.jpeg"}
FOLD_COSINE = "0.995"
# The files' modification times, newest first: another order than their names' and than they were made in.
NEWEST_FIRST = ["food/e.gif", "cars/b-small.png", "g.jpg", "cars/a.jpg", "food/d-small.jpeg", "h.png",
                "cars/c.webp", "food/f.bmp", "cars/a-small.jpg", "food/d.jpeg", "cars/b.png"]
# The page as served by default (OCR on, as in `make run`), but with the fold at FOLD_COSINE.
PAGE_ENV = {"COLLAPSE_COSINE": FOLD_COSINE, "OCR": "true"}


def build(root, tiny_clip, embedder) -> Settings:
    """The images and their index under root: a server of its own needs a store of its own (the embedded
    store belongs to one process)."""
    folder = root / "images"
    for seed, name in enumerate(NAMES):
        make_image(folder / name, seed)
    for copy, original in COPIES.items():
        Image.open(folder / original).convert("RGB").resize((150, 112)).save(folder / copy)
    for age, name in enumerate(NEWEST_FIRST):
        os.utime(folder / name, ns=(1_700_000_000_000_000_000 - age * 60_000_000_000,) * 2)
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=folder, qdrant_path=root / "qdrant",
                             cache_dir=root / "cache", text_dir=root / "text", batch_size=4)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    return settings


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip, embedder):
    return build(tmp_path_factory.mktemp("search-page"), tiny_clip, embedder)


@pytest.fixture(scope="module")
def server(indexed):
    with served(indexed, **PAGE_ENV) as (url, _):
        yield url


def load_more(page) -> None:
    """Click Load more where it is, without scrolling to it: scrolling there loads the next page by itself
    (infinite scroll), and the test would not know which of the two it waits for."""
    page.locator("#results .more a").dispatch_event("click")


def search_requests(page) -> list[str]:
    """Every request the page sends for search results from now on."""
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/index?" in request.url else None)
    return sent


def query(page) -> dict:
    return parse_qs(urlparse(page.url).query)


def names(page) -> list[str]:
    return page.locator("#results .card .name").evaluate_all("els => els.map(e => e.title)")


# -- 1. Back and Forward, one request per search ---------------------------------------------------------
def test_back_and_forward_put_the_whole_search_back(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index")
    sent = search_requests(page)
    page.fill("#q", "coffee")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelector('#results .summary')?.textContent.includes('coffee')")
    page.wait_for_timeout(800)  # any late second request (typing delay, change event) would be sent by now
    assert len(sent) == 1, sent  # one Enter, one request
    page.fill("#q", "bank")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelector('#results .summary')?.textContent.includes('bank')")
    choose(page, "#category", "cars")
    page.wait_for_url(lambda url: "category=cars" in url)
    page.wait_for_function("() => document.querySelectorAll('#results .card').length > 0")
    assert page.evaluate("history.length") == 5  # blank, the empty page, coffee, bank, bank in cars: no doubles

    page.go_back()
    page.wait_for_function("() => !document.querySelector('#category').value")
    assert query(page).get("q") == ["bank"] and "category" not in query(page)
    assert page.input_value("#q") == "bank"
    assert "bank" in page.locator("#results .summary").inner_text()
    page.go_back()
    page.wait_for_function("() => document.querySelector('#q').value === 'coffee'")
    assert "coffee" in page.locator("#results .summary").inner_text()
    page.go_forward()
    page.wait_for_function("() => document.querySelector('#q').value === 'bank'")
    # Search again from a restored state: it is the state shown, not an empty form.
    choose(page, "#category", "food")
    page.wait_for_url(lambda url: "category=food" in url)
    assert query(page)["q"] == ["bank"]
    page.close()


# -- 2. "Find similar" with no file ------------------------------------------------------------------------
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_find_similar_without_a_file_keeps_the_results(browser, server, javascript, viewport):
    context = browser.new_context(java_script_enabled=javascript, viewport=viewport)
    page = context.new_page()
    page.goto(server + "/index?q=red+car")
    before = names(page)
    assert before
    posted = []
    page.on("request", lambda request: posted.append(request) if request.method == "POST" else None)
    page.evaluate("document.getElementById('by-image').requestSubmit()") if javascript else \
        page.get_by_role("button", name="Find similar").click()
    page.wait_for_timeout(500)
    assert posted == [] and names(page) == before  # the browser asks for a file; nothing is lost
    # A client that sends the form without a file anyway is told what to do.
    response = page.request.post(server + "/index?q=red+car", multipart={"q": "red car"})
    assert response.status == 422 and "choose an image file" in response.text()
    context.close()


# -- 3. Words-only: only the controls that work; one score scale with a cut-off that cuts ----------------------
def test_words_only_page_shows_only_the_controls_that_work(browser, tmp_path, tiny_clip, embedder, viewport):
    no_model = str(tmp_path / "no-such-model")
    with served(build(tmp_path, tiny_clip, embedder), **PAGE_ENV, CLIP_MODEL=no_model) as (url, _):
        page = browser.new_page(viewport=viewport)
        page.goto(url + "/index?q=sale")
        for control in ("#mode", "#not", "#min_score", "input[name=show_duplicates]"):
            assert page.locator(control).count() == 0, control  # they would do nothing without the model
        show_filters(page)
        assert "need the image model" in page.locator(".options .note").inner_text()
        # Its links carry the search as the page offers it: no mode, which would change nothing.
        page.goto(url + "/index?k=3&category=cars")  # the images carry no words: their folder, newest first
        links = page.locator("#results a[href*='?']").evaluate_all("els => els.map(e => e.href)")
        assert len(links) == 4 and all("mode=" not in link and "category=cars" in link for link in links), links
        page.locator("#results .card a.thumb").first.click()
        page.get_by_role("link", name="Open its page").click()
        page.wait_for_url("**/view/**")
        back = page.locator(".view-back a").get_attribute("href")
        assert "mode=" not in back and "category=cars" in back
        page.close()


def test_the_cut_off_speaks_the_score_shown(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car")
    assert page.locator("#min_score").count() == 0  # fused scores rank; they do not measure
    some = page.request.get(server + "/api/search?q=red+car").json()["results"][0]["id"]
    page.goto(server + f"/index?like={some}&mode=hybrid")  # pictures like a picture: cosines from 0 to 1
    choose(page, "#mode", "image")
    page.wait_for_selector("#min_score")
    scores = [float(s) for s in page.locator("#results .score").all_inner_texts()]
    cut = round((scores[0] + scores[-1]) / 2, 2)
    show_filters(page)
    page.fill("#min_score", str(cut))
    page.press("#min_score", "Enter")
    page.wait_for_url(lambda u: "min_score=" in u)
    page.wait_for_function(f"() => document.querySelectorAll('#results .card').length < {len(scores)}")
    kept = [float(s) for s in page.locator("#results .score").all_inner_texts()]
    assert kept and all(score >= cut for score in kept)
    # Where the score is a rank fusion, a cut-off is refused with the reason, not applied to something else.
    response = page.request.get(server + "/api/search?q=car&mode=hybrid&min_score=0.3")
    assert response.status == 422 and "mode=image" in response.json()["error"]["message"]
    page.close()


# -- 4, 7. Paging by what the store has left; "+N similar" opens the folded images -----------------------------
def test_load_more_pages_through_everything_once(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&k=3&mode=image")
    while page.locator("#results .more a").count():
        count = page.locator("#results .card").count()
        load_more(page)
        page.wait_for_function(f"() => document.querySelectorAll('#results .card').length > {count}")
    shown = names(page)
    folded = sum(int(text.split()[0].lstrip("+")) for text in page.locator("#results .similar").all_inner_texts())
    assert folded == len(COPIES)  # each copy folded into its original...
    assert len(shown) == len(set(shown)) == len(NAMES)  # ...and every picture shown once, none twice
    page.close()


def test_load_more_and_back_repeat_a_search_by_image(browser, server, indexed, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&k=3&mode=image&show_duplicates=1")
    before = page.url
    page.fill("#q", "")
    page.set_input_files("#image", str(indexed.dataset_dir / "h.png"))  # choosing it searches
    page.wait_for_url(lambda url: "image_key=" in url)
    page.wait_for_selector("#results .summary:text('Images like yours')")
    assert query(page)["k"] == ["3"] and page.input_value("#k") == "3"  # the page's own k, kept
    page.wait_for_function("() => { const i = document.querySelector('.chip img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")  # the query, shown
    first_page = names(page)
    assert first_page[0] == "h.png" and len(first_page) == 3
    while page.locator("#results .more a").count():  # the store's ranking for the image, page by page
        count = page.locator("#results .card").count()
        load_more(page)
        page.wait_for_function(f"() => document.querySelectorAll('#results .card').length > {count}")
    shown = names(page)
    assert shown[:3] == first_page and sorted(shown) == sorted(NAMES + list(COPIES))  # every image once
    searched = page.url
    page.go_back()  # to the search before the image, as it was
    page.wait_for_function("() => document.querySelector('#results .summary')?.textContent.includes('red car')")
    assert page.url == before and page.locator(".chip").count() == 0
    page.go_forward()  # and the image's search again, from its URL
    page.wait_for_selector("#results .summary:text('Images like yours')")
    assert page.url == searched and names(page) == first_page
    page.reload()  # a GET: nothing is sent again, the same first page comes back
    assert names(page) == first_page
    page.close()


def test_plus_n_similar_opens_the_folded_images(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&mode=image")
    card = page.locator("#results .card", has=page.locator(".similar")).first
    source = card.locator(".name").get_attribute("title")
    card.locator(".similar").click()
    page.wait_for_url(lambda url: "show_duplicates=1" in url and "like=" in url)
    shown = names(page)
    copy = next(c for c, original in COPIES.items() if original == source)
    assert copy == shown[0]  # its near-duplicate first, listed on its own
    page.close()


# -- 5. The whole state in the URL, carried by every link -------------------------------------------------------
def test_links_carry_the_whole_search(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    state = {"q": ["red car"], "k": ["24"], "mode": ["image"], "category": ["cars"], "show_duplicates": ["1"]}
    page.goto(server + "/index?q=red+car&k=24&mode=image&category=cars&show_duplicates=1")
    page.locator("#results .card a.thumb").first.click()  # the preview, then its page
    page.get_by_role("link", name="Open its page").click()
    page.wait_for_url("**/view/**")
    assert query(page) == state
    page.get_by_role("link", name="Back to results").click()
    page.wait_for_url("**/index?**")
    assert query(page) == state
    assert page.input_value("#k") == "24" and page.input_value("#category") == "cars"
    page.close()


# -- 6. More like this: the source as a removable chip, not among its own results, kept across modes --------------
def test_more_like_this_shows_its_source_as_a_chip(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&mode=image&show_duplicates=1")
    third = page.locator("#results .card").nth(2)
    source = third.locator(".name").get_attribute("title")
    third.get_by_role("link", name="More like this").click()
    page.wait_for_url("**like=**")
    assert page.locator(".chip strong").get_attribute("title") == source
    assert page.locator(".chip img").evaluate("i => i.complete && i.naturalWidth > 0")
    assert source not in names(page) and names(page)
    choose(page, "#mode", "hybrid")
    page.wait_for_url(lambda url: "mode=hybrid" in url)
    page.wait_for_function("() => document.querySelectorAll('#results .card').length > 0")
    assert page.locator(".chip strong").get_attribute("title") == source and source not in names(page)
    page.get_by_role("link", name="Remove the image from the search").click()
    page.wait_for_url(lambda url: "like=" not in url)
    assert page.locator(".chip").count() == 0
    page.close()


# -- 8. Keyboard focus is visible --------------------------------------------------------------------------------
def test_keyboard_focus_on_a_thumbnail_is_visible(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#results .card a.thumb')"):
            break
    else:
        pytest.fail("Tab never reached a thumbnail")
    outline = page.evaluate("""() => {
        const link = document.activeElement, style = getComputedStyle(link);
        let clipped = false;
        for (let el = link.parentElement; el && el !== document.body; el = el.parentElement)
            if (getComputedStyle(el).overflow !== 'visible') clipped = true;
        return {style: style.outlineStyle, width: parseFloat(style.outlineWidth), clipped};
    }""")
    assert outline["style"] != "none" and outline["width"] >= 2 and not outline["clipped"], outline
    page.close()


# -- 9. An empty query shows the collection, newest first, the filters working ---------------------------------
def test_an_empty_query_shows_the_collection_newest_first(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?k=4")
    assert page.locator("#results .summary").inner_text() == "All images, newest first"
    assert page.locator("#results .score").count() == 0  # nothing was matched: no score to show
    while page.locator("#results .more a").count():  # pages of 4, each once
        count = page.locator("#results .card").count()
        load_more(page)
        page.wait_for_function(f"() => document.querySelectorAll('#results .card').length > {count}")
    assert names(page) == NEWEST_FIRST
    page.goto(server + "/index")
    choose(page, "#category", "cars")
    page.wait_for_url(lambda url: "category=cars" in url)
    page.wait_for_function("() => document.querySelector('#results .summary')?.textContent.includes('in cars')")
    assert names(page) == [name for name in NEWEST_FIRST if name.startswith("cars/")]
    show_filters(page)
    page.locator("input[name=has_text]").check()  # no image here has text: say so, and how to see them all
    page.wait_for_selector("#results .empty")
    page.get_by_role("link", name="show all images").click()
    page.wait_for_function("() => document.querySelectorAll('#results .card').length === 11")
    # The JSON API still answers an empty query with nothing (README): a client asks for what it wants.
    assert page.request.get(server + "/api/search?q=").json()["results"] == []
    page.close()


# -- 13. Snippets keep the matched words whole; OCR noise is not shown; whole file names ------------------------
POSTER = "poster-for-the-grand-opening-weekend.jpg"
POSTER_TEXT = ("Grand opening of our new downtown bakery this weekend with warm bread, croissants and pastries baked "
               "fresh every single morning, and there is free parking for every customer until midnight")


@pytest.fixture(scope="module")
def texts_server(tmp_path_factory, tiny_clip, embedder):
    """Three images whose OCR text is set in the store: an ad's sentence, OCR noise, and none."""
    from src.store import SparseVector, Vectors
    from src.terms import document_vector

    root = tmp_path_factory.mktemp("snippets")
    for seed, name in enumerate([POSTER, "noise.png", "plain.png"]):
        make_image(root / "images" / name, 40 + seed)
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=root / "images",
                             qdrant_path=root / "qdrant", cache_dir=root / "cache", text_dir=root / "text")
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        for path, text in ((POSTER, POSTER_TEXT), ("noise.png", "Ww LL x")):
            vectors = Vectors(text=embedder.embed_texts([text])[0].tolist(), bm25=SparseVector(*document_vector(text)))
            store.update_text(store.by_path(path).id, vectors, {"text": text, "has_text": True})
    with served(settings) as (url, _):
        yield url


SHOWN_WHOLE = """el => {  // drawn, and not clipped by its box or the card's
    const r = el.getBoundingClientRect(), card = el.closest('.card').getBoundingClientRect();
    const box = el.parentElement.getBoundingClientRect();
    return r.width > 0 && r.top >= box.top && r.bottom <= box.bottom + 0.5 && r.bottom <= card.bottom
        && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === el;
}"""


def test_snippets_show_matched_words_whole_and_no_ocr_noise(browser, texts_server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(texts_server + "/index?q=opening+parking&mode=text")
    card = page.locator("#results .card", has=page.locator(f".name[title='{POSTER}']"))
    marks = card.locator(".snippet mark")
    assert marks.all_inner_texts() == ["opening", "parking"]  # the second matched word too, whole
    for n in range(2):
        marks.nth(n).scroll_into_view_if_needed()
        assert marks.nth(n).evaluate(SHOWN_WHOLE), marks.nth(n).inner_text()
    name = card.locator(".name")
    assert name.inner_text() == POSTER and name.evaluate("e => e.scrollWidth <= e.clientWidth")  # not cut short
    page.goto(texts_server + "/index")  # the collection: text that reads as words shows, noise does not
    snippets = {n: page.locator("#results .card", has=page.locator(f".name[title='{n}']")).locator(".snippet").count()
                for n in (POSTER, "noise.png", "plain.png")}
    assert snippets == {POSTER: 1, "noise.png": 0, "plain.png": 0}
    page.close()


# -- 11. Messages with a next step --------------------------------------------------------------------------------
def test_an_unknown_category_says_which_there_are(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    response = page.goto(server + "/index?q=car&category=shoes")
    message = page.locator("#results .error").inner_text()
    assert response.status == 422 and "shoes" in message and "cars" in message and "food" in message
    page.goto(server + "/index?q=car&category=cars&has_text=1")  # a real filter that matches nothing
    assert "search without the filters" in page.locator("#results .empty").inner_text()
    page.close()


def test_messages_say_what_to_do_next(browser, server, tmp_path, indexed, viewport):
    """Each message a user can reach names the next step, not just the failure."""
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index")
    page.locator("details.upload summary").click()
    pdf = tmp_path / "flyer.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    page.set_input_files("#files", str(pdf))
    page.get_by_role("button", name="Upload and index").click()
    rejected = page.locator(".outcome.rejected")
    rejected.wait_for()
    assert "PDF" in rejected.inner_text() and "JPEG, PNG, WebP, GIF or BMP" in rejected.inner_text()
    # A query image that is not one: the message names the formats that are.
    response = page.request.post(server + "/api/search?mode=image", multipart={
        "image": {"name": "notes.png", "mimeType": "image/png", "buffer": b"Buy milk and eggs"}})
    assert response.status == 422 and "JPEG, PNG, WebP, GIF or BMP" in response.json()["error"]["message"]
    # An unknown category from a link, in the API too: it says which there are.
    response = page.request.get(server + "/api/search?q=car&category=shoes")
    assert response.status == 422 and "cars, food" in response.json()["error"]["message"]
    page.close()

    # The store down and no image model: say what to start and what to set.
    qdrant = f"http://127.0.0.1:{closed_port()}"
    with served(indexed, **PAGE_ENV, QDRANT_URL=qdrant, QDRANT_TIMEOUT="2",
                CLIP_MODEL=str(tmp_path / "no-such-model")) as (url, _):
        page = browser.new_page(viewport=viewport)
        response = page.goto(url + "/index?q=car")
        message = page.locator("#results .error").inner_text()
        assert response.status == 503 and f"start the Qdrant server at {qdrant}" in message, message
        assert "unset QDRANT_URL" in message
        picture = (indexed.dataset_dir / "h.png").read_bytes()
        response = page.request.post(url + "/api/search", multipart={
            "image": {"name": "h.png", "mimeType": "image/png", "buffer": picture}})
        message = response.json()["error"]["message"]
        assert response.status == 422 and "set CLIP_MODEL" in message, message
        page.close()


# -- 12. Live count, drop anywhere, paste an image -----------------------------------------------------------------
def drop_or_paste(page, kind: str, target: str, path, mime: str = "image/png") -> None:
    """A drop or paste event carrying the file, as the browser sends it for a real drag or Ctrl+V."""
    data = list(path.read_bytes())
    page.evaluate("""([kind, target, data, name, mime]) => {
        const file = new File([new Uint8Array(data)], name, {type: mime});
        const transfer = new DataTransfer();
        transfer.items.add(file);
        const element = document.querySelector(target);
        if (kind === 'paste')
            element.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true}));
        else element.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [kind, target, data, path.name, mime])


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_an_image_dropped_anywhere_or_pasted_searches_with_it(browser, server, indexed, kind, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?mode=image")
    drop_or_paste(page, kind, "#results" if kind == "drop" else "body", indexed.dataset_dir / "h.png")
    page.wait_for_selector("#results .summary:text('Images like yours')")  # the collection's cards were there before
    assert names(page)[0] == "h.png"
    page.close()


def test_files_dropped_on_add_images_are_added_and_the_count_follows(browser, tmp_path, tiny_clip, embedder,
                                                                     viewport):
    with served(build(tmp_path, tiny_clip, embedder), **PAGE_ENV) as (url, _):
        page = browser.new_page(viewport=viewport)
        page.goto(url + "/index")
        count = int(page.locator("#stats").inner_text().split()[0])
        page.locator("details.upload summary").click()
        drop_or_paste(page, "drop", "details.upload", make_image(tmp_path / "upload" / "new-one.png", 777))
        page.wait_for_selector("#upload-results .outcome.added")
        page.wait_for_function(f"() => document.querySelector('#stats').textContent.includes('{count + 1} images')")
        page.close()


# -- 14. 390 px -----------------------------------------------------------------------------------------------------
def test_results_start_on_the_first_screen_of_a_phone(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.goto(server + "/index?q=red+car")
    first = page.locator("#results .card").first.bounding_box()
    assert first["y"] < PHONE["height"] / 2, first  # was about 600 px down
    nav = page.get_by_role("link", name="Collection overview").bounding_box()
    assert nav["height"] < 30  # one line
    page.get_by_text("Filters").click()  # the filters fold into a button, and open from it
    assert page.locator("#category").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing runs off the side
    page.goto(server + "/view/cars/a.jpg")
    size = page.locator(".details dd").first.inner_text()
    assert "bytes" in size and page.locator(".details .nowrap").evaluate("e => e.getClientRects().length") == 1
    page.close()


def test_result_actions_are_apart_and_tall_enough_to_tap_at_390_px(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.goto(server + "/index?q=red+car&mode=image")
    card = page.locator("#results .card", has=page.locator(".similar")).first
    like, similar = card.locator(".like").bounding_box(), card.locator(".similar").bounding_box()
    for box in (like, similar):
        assert box["height"] >= 24 and box["width"] >= 24, box  # WCAG 2.2's smallest target
    apart = max(similar["x"] - (like["x"] + like["width"]), similar["y"] - (like["y"] + like["height"]))
    assert apart >= 8, (like, similar)  # they touched: a tap meant for one could land on the other
    page.close()


def test_the_search_bar_is_one_line_at_390_px_and_a_search_still_shows(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.goto(server + "/index?q=red+car")
    bar = page.locator("#search .row").first
    controls = [page.locator(s).bounding_box() for s in ("#q", "label.image-button", "#search button[type=submit]")]
    assert len({round(box["y"] + box["height"] / 2) for box in controls}) == 1  # side by side...
    assert bar.bounding_box()["height"] <= max(box["height"] for box in controls) + 1  # ...and nothing below
    # A search under way shows along the top of the screen while its answer is held back.
    page.route("**/index?q=blue*", lambda route: (page.wait_for_timeout(1500), route.continue_()))
    page.fill("#q", "blue boat")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.body.classList.contains('searching')")
    shown = page.evaluate("() => { const s = getComputedStyle(document.body, '::before'); "
                          "return [s.position, s.height, s.top]; }")
    assert shown == ["fixed", "3px", "0px"]
    page.wait_for_function("() => !document.body.classList.contains('searching')")
    page.close()


# -- Infinite scroll, Load more kept -----------------------------------------------------------------------------
def test_scrolling_to_the_end_loads_the_next_results(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&k=3&mode=image&show_duplicates=1")
    page.evaluate("window.__sameDocument = true")
    assert page.locator("#results .card").count() == 3  # only a scroll loads more, not the page opening
    for _ in range(300):  # a person scrolling on and on, faster than the pages come
        if not page.locator("#results .more a").count():
            break
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(15)
    shown = names(page)
    assert len(shown) == len(set(shown)) == len(NAMES) + len(COPIES)  # all of them, none twice, no click
    # Never a page of its own: a link that had just come in was once followed before it was made to load
    # in place, and the grid was left for the offset's page.
    assert page.evaluate("window.__sameDocument") is True and query(page).get("offset") is None
    page.close()


def test_a_click_on_load_more_while_a_scroll_loads_it_stays_on_the_page(browser, server, viewport):
    """The page a scroll asked for is still on its way: the click loads it once, and the page stays."""
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&k=3&mode=image&show_duplicates=1")
    page.evaluate("window.__sameDocument = true")
    page.route("**/index?*offset=3*", lambda route: (page.wait_for_timeout(1000), route.continue_()))
    with page.expect_request("**/index?*offset=3*"):  # the scroll asked for the next page, held back a second
        page.mouse.wheel(0, 600)
    page.locator("#results .more a").click()
    page.wait_for_function("() => document.querySelectorAll('#results .card').length === 6")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__sameDocument") is True and "offset" not in query(page)
    page.close()


def test_a_next_page_that_fails_says_so_and_can_be_tried_again(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&k=3&mode=image&show_duplicates=1")
    page.route("**/index?*offset=3*", lambda route: route.fulfill(status=503, body="down"))
    load_more(page)
    message = page.locator("#results .more .error")
    message.wait_for()
    assert "503" in message.inner_text() and "try again" in message.inner_text()
    assert page.locator("#results .card").count() == 3 and page.locator("#results .more a").count() == 1
    page.unroute("**/index?*offset=3*")
    load_more(page)  # the link is still there, and now works
    page.wait_for_function("() => document.querySelectorAll('#results .card').length === 6")
    assert page.locator("#results .error").count() == 0
    page.close()


def test_eda_figures_text_reads_at_390_px(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.goto(server + "/EDA")
    page.wait_for_selector(".eda svg text", state="attached")
    sizes = page.evaluate("""() => [...document.querySelectorAll('.eda svg text')]
        .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0).map(t => {
        const scale = t.ownerSVGElement.getScreenCTM().a;  // user units to screen pixels
        return parseFloat(getComputedStyle(t).fontSize) * scale;
    })""")
    assert sizes and min(sizes) >= 9, sorted(sizes)[:5]  # was 8.4 px: the figures shrunk to the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # a figure scrolls, not the page
    page.close()


# -- A k from a link that the Results list does not offer -----------------------------------------------------------
def test_a_k_the_list_does_not_offer_is_shown_and_kept(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server + "/index?q=red+car&k=5&mode=image&show_duplicates=1")
    assert page.locator("#results .card").count() == 5 and page.input_value("#k") == "5"  # the list says so
    choose(page, "#category", "cars")  # the next search keeps it, rather than jumping to 12
    page.wait_for_url(lambda url: "category=cars" in url)
    assert query(page)["k"] == ["5"]
    page.goto(server + "/index?q=red+car&k=500")
    assert "k must be between 1 and 100" in page.locator("#results .error").inner_text()
    assert page.input_value("#k") == "12"  # a k it cannot take: the list shows the default
    page.close()


# -- 15. Favicon and one button style --------------------------------------------------------------------------------
def test_no_404_on_the_page_and_buttons_look_alike(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    page.goto(server + "/index?q=car")
    page.wait_for_load_state("networkidle")
    assert page.request.get(server + "/favicon.ico").headers["content-type"] == "image/x-icon"
    assert missing == []
    page.locator("details.upload summary").click()
    look = "b => { const s = getComputedStyle(b); return [s.backgroundColor, s.borderRadius, s.color, s.fontSize]; }"
    assert page.get_by_role("button", name="Search", exact=True).evaluate(look) == \
        page.get_by_role("button", name="Upload and index").evaluate(look)
    page.close()


# -- 16. /docs from vendored files under the same CSP -------------------------------------------------------------
def test_docs_renders_swagger_ui_under_the_csp(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith((server, "blob:" + server)) else None)  # blob: the page's own
    response = page.goto(server + "/docs")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/search" in paths and "/healthz" in paths
    assert page.request.get(server + "/static/swagger-ui/LICENSE").ok
    # Trying an endpoint that answers with an image: Swagger UI shows it through a blob: URL of its own.
    operation = page.locator("#operations-default-full_image_images__path__get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[placeholder='path']").fill("cars/a.jpg")
    operation.get_by_role("button", name="Execute").click()
    shown = operation.locator(".response-col_description img")
    shown.wait_for()
    assert shown.evaluate("i => new Promise(done => { if (i.complete) done(i.naturalWidth); "
                          "else { i.onload = () => done(i.naturalWidth); i.onerror = () => done(0); } })") > 0
    assert refused == [] and outside == []
    page.close()


# -- 10. Remove: confirm, POST-redirect-GET, undo while the file is kept ----------------------------------------------
def test_remove_asks_first_survives_a_reload_and_can_be_undone(browser, tmp_path, tiny_clip, embedder, viewport):
    with served(build(tmp_path, tiny_clip, embedder), **PAGE_ENV) as (url, _):
        page = browser.new_page(viewport=viewport)
        page.goto(url + "/view/g.jpg?q=red+car&k=24&mode=image")  # opened from a search
        remove = page.get_by_role("button", name="Remove", exact=True)
        assert not remove.is_visible()  # one click on a button is not enough to remove an image
        page.get_by_text("Remove from the index…").click()
        remove.click()
        page.wait_for_url("**/removed?**")
        assert "no longer appears" in page.content()
        posts = []
        page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
        page.reload()  # a GET page now: reloading sends nothing again
        assert posts == [] and "no longer appears" in page.content()
        assert page.request.get(url + "/api/images/g.jpg").status == 404
        back = parse_qs(urlparse(page.get_by_role("link", name="Back to search").get_attribute("href")).query)
        assert back == {"q": ["red car"], "k": ["24"], "mode": ["image"]}  # the way back leads to that search
        # Undo runs the index step over the folder (it adds back what is there and not indexed): on a
        # loaded machine that can take longer than a click's default wait.
        page.get_by_role("button", name="Undo: put it back in the index").click(no_wait_after=True)
        page.wait_for_url("**/view/g.jpg?**", timeout=180_000)
        assert page.locator("h1").inner_text() == "g.jpg"
        assert query(page) == {"q": ["red car"], "k": ["24"], "mode": ["image"]}  # and still, after the undo
        assert page.request.get(url + "/api/images/g.jpg").ok
        page.close()


def swipe(page, dx: int) -> None:
    """A one-finger swipe across the middle of the preview, dx pixels sideways (real touch events)."""
    box = page.locator("#preview").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 6):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + dx * step / 5, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    touch.detach()


# -- The preview panel -----------------------------------------------------------------------------------------------
def test_a_result_opens_in_a_preview_that_keeps_the_grid(browser, server, viewport):
    page = browser.new_page(viewport=viewport, has_touch=True)  # a touch screen at either width
    page.goto(server + "/index?q=red+car&k=24&mode=image&show_duplicates=1")
    page.evaluate("window.__sameDocument = true")
    page.mouse.wheel(0, 300)
    page.wait_for_function("() => window.scrollY > 0")
    scrolled = page.evaluate("window.scrollY")
    order = names(page)
    # A thumbnail wholly on screen, not the first: clicking one partly off the screen would make the
    # browser scroll it in first, and ← needs one before it.
    seen = page.locator("#results .card a.thumb").evaluate_all(
        "links => links.map(a => a.getBoundingClientRect()).map(r => r.top >= 0 && r.bottom <= innerHeight)")
    at = next(i for i, whole in enumerate(seen) if whole and i > 0)
    assert at + 2 < len(order)
    page.locator("#results .card a.thumb").nth(at).click()
    page.wait_for_selector("#preview h1")
    assert page.locator("#preview h1").inner_text() == order[at]
    assert query(page)["open"] == [order[at]] and page.evaluate("window.__sameDocument") is True
    assert page.evaluate("window.scrollY") == scrolled and page.locator("#results .card").count() == len(order)
    box = page.locator("#preview").bounding_box()
    assert (box["width"] == viewport["width"]) == (viewport is PHONE)  # a sheet on a phone, a side panel else
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => document.querySelector('#preview h1').textContent === {order[at + 1]!r}")
    assert query(page)["open"] == [order[at + 1]]
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => document.querySelector('#preview h1').textContent === {order[at]!r}")
    swipe(page, -200)  # a finger drawn to the left: the next one, as on a phone's photo viewer
    page.wait_for_function(f"() => document.querySelector('#preview h1').textContent === {order[at + 1]!r}")
    swipe(page, 200)
    page.wait_for_function(f"() => document.querySelector('#preview h1').textContent === {order[at]!r}")
    page.keyboard.press("Escape")
    page.wait_for_selector("#preview", state="hidden")
    assert "open" not in query(page)
    # The URL names the open result: shared, it opens the same preview over the same grid.
    page.goto(server + f"/index?q=red+car&k=24&mode=image&show_duplicates=1&open={order[3]}")
    page.wait_for_selector("#preview h1")
    assert page.locator("#preview h1").inner_text() == order[3] and names(page) == order
    page.close()

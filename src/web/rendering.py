"""The templates and the responses built from them: the search page (whole, its results, or more
cards), the API's result JSON, the /EDA page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from src.appearance import LARGE_FROM, SMALL_BELOW
from src.embedding import ModelUnavailable
from src.images import format_of
from src.search import DEFAULT_K, LOOK_FILTERS, MODES, QueryError, ResultPage, check_k
from src.store import StoreUnavailable
from src.web.backend import Backend
from src.web.forms import K_CHOICES, SearchForm
from src.web.guard import access_context, form_token_input
from src.web.services import (
    browse,
    folder_choices,
    images_usable,
    keep_query_image,
    run_search,
    source_image,
    text_only_reason,
)

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=ROOT / "templates", context_processors=[access_context])
templates.env.globals["form_token_input"] = form_token_input  # the forms' hidden token field
templates.env.filters["path_url"] = lambda path: quote(path, safe="/")


def is_partial(request: Request) -> bool:
    """An HTMX request for a fragment (a history restore wants the whole page)."""
    return bool(request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"))


def score_meaning(mode: str | None) -> str:
    """What the number on a card measures (None: words-only search)."""
    if mode is None:
        return "how well the ad's words match (BM25): higher is better; no fixed scale"
    if mode == "image":
        return "cosine similarity of the picture to the query, 0 to 1"
    return "rank-fusion score of the picture and text matches: orders the results, no fixed scale"


def k_choices(form: SearchForm) -> tuple[list[int], int]:
    """The Results list's choices and the one shown: a k from a link that the list does not offer is added
    to it, so the list says what the page shows and the next search keeps it."""
    try:
        k = check_k(form.k_value())
    except QueryError:  # the page says what is wrong with it; the list shows the default
        return list(K_CHOICES), DEFAULT_K
    return sorted({*K_CHOICES, k}), k


# The look filters on the page: field -> its label, and what its choices mean.
LOOK_LABELS = {
    "orientation": ("Orientation", "portrait, landscape or square (sides within 5%)"),
    "size": ("Size", f"small: under {SMALL_BELOW / 1e6:g} megapixels (web banners); large: {LARGE_FROM / 1e6:g} or "
                     "more (print, photos); medium between"),
    "colour": ("Colour", "the colour most of the image is"),
    "format": ("Format", "the file's format"),
}


def look_choices(backend: Backend, form: SearchForm) -> list[dict]:
    """Each look filter with the values the collection has and their counts, in the filter's own order.
    A filter with fewer than two values would change nothing and is left out, unless the URL sets it
    (then it shows, so it can be set back to all)."""
    chosen = form.looks()
    shown = []
    for field, allowed in LOOK_FILTERS.items():
        counts = {value.lower(): count for value, count in backend.read(lambda store, f=field: store.facet(f), [])}
        values = [value for value in allowed if value in counts or value == chosen.get(field)]
        if len(values) < 2 and field not in chosen:
            continue
        label, title = LOOK_LABELS[field]
        named = (lambda v: format_of(v.upper()).shown) if field == "format" else (lambda v: v)
        shown.append({"field": field, "label": label, "title": title, "selected": chosen.get(field, ""),
                      "choices": [(value, named(value), counts.get(value, 0)) for value in values]})
    return shown


def search_page(request: Request, backend: Backend, form: SearchForm, image: bytes | None = None,
                missing_image: bool = False):
    """The search page, its results alone (HTMX), or just the next cards (load more).
    missing_image: the image form was sent without a file: say so, keep the rest of the page."""
    backend.ensure_model()  # which controls work depends on it
    images_ok = images_usable(backend)
    form.mode_in_links = images_ok
    context = {"f": form, "modes": MODES, "results": [], "error": None,
               "searched": form.searched or bool(image), "images_ok": images_ok}
    context["score_title"] = score_meaning(form.mode if images_ok else None)
    context["k_choices"], context["k_shown"] = k_choices(form)
    status = 200
    try:
        if missing_image:
            raise QueryError("no image was chosen: choose an image file (JPEG, PNG, GIF, WebP or BMP), then press "
                             "Find similar")
        if image is not None and (key := keep_query_image(backend, image)):
            # The image is kept under its key: the search is a URL like any other (POST, redirect, GET),
            # so reloading does not send the image again and Load more and Back repeat it.
            return RedirectResponse("/index?" + form.query_string(offset="", image_key=key), status_code=303)
        context["source"] = source_image(backend, form)
        # No query: the collection itself, newest first (the API answers an empty query with nothing).
        context["browsing"] = form.empty and image is None
        if context["browsing"]:
            # A store that is down leaves the bare page (its count line says so), not an error page.
            found = backend.read(lambda _: browse(backend, form), None)
            context["unreachable"], context["store_remedy"] = found is None, backend.settings.store_remedy()
            found = found or ResultPage([], None)
        else:
            found = run_search(backend, form, image, images_ok=images_ok)
        context["results"] = found.results
        if found.next_offset is not None and not image:  # an image not kept (see above) cannot be paged
            context["more_url"] = "/index?" + form.query_string(offset=found.next_offset)
    except QueryError as exc:
        status, context["error"] = 422, str(exc)
    except StoreUnavailable as exc:
        backend.forget_store()
        status, context["error"] = 503, str(exc)
    except ModelUnavailable as exc:
        status, context["error"] = 503, str(exc)
    if request.headers.get("X-Results") == "more":  # "load more": just the next cards
        return templates.TemplateResponse(request, "_cards.html", context, status_code=status)
    partial = is_partial(request)
    if not partial:
        categories = backend.read(lambda store: store.facet("category"), [])
        context["model_error"] = backend.model_error or text_only_reason(backend)
        context["points"] = backend.read(lambda store: store.count(), None)
        context["categories"] = categories
        context["looks"] = look_choices(backend, form)
        context["folders"] = folder_choices(backend, categories, form.folder)
    return templates.TemplateResponse(
        request, "_results.html" if partial else "index.html", context, status_code=status
    )


def api_results(form: SearchForm, page: ResultPage) -> JSONResponse:
    # Plain JSON types already: a JSONResponse skips FastAPI's generic encoder, and vars() the deep
    # copy of asdict(), which together took a third of a cached query's time.
    return JSONResponse({
        "query": form.q,
        "k": form.k_value(),
        "offset": form.offset_value(),
        "mode": form.mode,
        "filters": {"category": form.category or None, "folder": form.folder or None, "has_text": bool(form.has_text)}
                   | {field: form.looks().get(field) for field in LOOK_FILTERS},
        "next_offset": page.next_offset,  # the offset of the next page; null on the last
        "results": [
            vars(r) | {"image_url": f"/images/{quote(r.path)}", "thumbnail_url": f"/thumbs/{quote(r.path)}",
                       "view_url": f"/view/{quote(r.path)}"}
            for r in page.results
        ],
    })


def eda_page(request: Request, backend: Backend, refresh: bool, partial: bool, search: str = ""):
    page = backend.eda_pages.page(backend.settings, backend.store(), refresh=refresh)
    return templates.TemplateResponse(request, "eda.html", {"p": page, "s": page.summary, "partial": partial,
                                                            "search": search})

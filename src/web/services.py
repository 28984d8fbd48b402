"""What the routes ask of the layers below: the one search call behind the page and the API, an image's
look-alikes, removal, files inside the dataset folder. Each raises the errors the handlers render."""

from __future__ import annotations

import base64
import binascii
import io
import logging
from collections.abc import Sequence
from pathlib import Path

from starlette.exceptions import HTTPException

from src.disk import disk_error
from src.images import ImageError, decode_image, resolve_inside
from src.removal import NotIndexed, Removal, RemovalError, remove_image
from src.search import NO_IMAGE_MODEL, Part, QueryError, ResultPage, SearchResult, clean_query, matching_words
from src.settings import Settings
from src.text_cache import TextCache
from src.web.backend import Backend
from src.web.forms import QueryPartIn, SearchForm, point_id

log = logging.getLogger(__name__)
NEIGHBOURS = 6  # look-alikes on the result view


def run_search(
    backend: Backend, form: SearchForm, image: bytes | None = None, parts: Sequence[Part] = (),
    images_ok: bool | None = None,
) -> ResultPage:
    """The one search call behind the page and the API; raises the errors both render.
    images_ok: whether picture search works, when the caller already knows (one store look-up)."""
    backend.ensure_model()  # the first search waits for the start-up load, so it knows how it went
    check_category(backend, form.category)
    check_folder(backend, form.folder)
    # Without a model, or with a collection indexed without one, the words of the ads still match.
    words_only = not (images_usable(backend, strict=True) if images_ok is None else images_ok)
    if image is None and form.image_key:
        parts = [*parts, Part(vector=kept_image_vector(backend, form.image_key))]
    parts = form.parts() + list(parts) + ([Part(vector=image_query_vector(backend, image))] if image else [])
    return backend.searcher().search_page(
        form.q, form.k_value(), form.mode, where=form.where(), words_only=words_only, parts=parts,
        offset=form.offset_value(), min_score=form.min_score_value(),
        collapse=None if form.show_duplicates or words_only else backend.settings.collapse_cosine,
    )


def answers_at_once(backend: Backend, form: SearchForm) -> bool:
    """Whether run_search(backend, form) is quick work: the model and the store are open, the store answers
    in the process without waiting (Store.answers_quickly), and every text of the query has its vector kept
    (a repeated query), so it is one store query and a little Python: no text encoding, image decoding,
    counting of categories, store opening or network. The API then answers it on the event loop: the hop
    to a worker thread and back cost a repeated query 0.2–0.7 ms (benchmarks/results/request_profile.md)."""
    if form.image_key or form.category or form.folder or not backend.embedder.loaded or not backend.store_is_open:
        return False  # an image to embed, filters to check against the collection's counts, or nothing open
    if not backend.store().answers_quickly:
        return False  # a server across a network, or a graph being built (its swap would stall the loop)
    try:
        texts = [text for text in (clean_query(form.q), clean_query(form.negative)) if text]
    except QueryError:
        return False  # run_search says what is wrong, in the thread as ever
    return backend.searcher().knows(texts)


def browse(backend: Backend, form: SearchForm) -> ResultPage:
    """The page's answer to an empty query: the collection, newest first, with the form's filters."""
    check_category(backend, form.category)
    check_folder(backend, form.folder)
    return backend.searcher().browse(form.k_value(), where=form.where(), offset=form.offset_value())


def check_category(backend: Backend, category: str) -> None:
    """A category from the URL that the collection does not have is a QueryError naming those it has
    (a filter that cannot match would otherwise read as "no images match")."""
    if not category:
        return
    names = [name for name, _ in backend.store().facet("category")]
    if category in names:
        return
    if not names:
        raise QueryError(f"there is no category “{category[:60]}”: this collection has none (categories come from "
                         "the top folders of the image folder or its labels.csv); leave Category on all")
    raise QueryError(f"there is no category “{category[:60]}”; choose one of {', '.join(names)} in the Category "
                     "list, or all")


def check_folder(backend: Backend, folder: str) -> None:
    """A folder from the URL that holds no indexed image is a QueryError naming those that do."""
    if not folder:
        return
    names = [name for name, _ in backend.store().facet("folder")]
    if folder not in names:
        raise QueryError(f"there is no folder “{folder[:60]}” with indexed images; choose one of "
                         f"{', '.join(names) or 'none'} in the Folder list, or all")


def folder_choices(backend: Backend, categories: list[tuple[str, int]], chosen: str) -> list[tuple[str, int]]:
    """The Folder list's (folder, count): offered when the folders are not simply the categories (which
    they are without a labels.csv that says otherwise, and no subfolders), else [] unless one is chosen."""
    folders = backend.read(lambda store: store.facet("folder"), [])
    return folders if chosen or sorted(folders) != sorted(categories) else []


def source_image(backend: Backend, form: SearchForm) -> dict | None:
    """The indexed image a "more like this" search starts from, to show as part of the query."""
    if not form.like:
        return None
    found = backend.read(lambda store: store.paths_of([point_id(form.like)]), {})
    return {"id": form.like, "path": found[point_id(form.like)]} if found else None


def query_part(backend: Backend, part: QueryPartIn) -> Part:
    """One part of a combined query as the searcher takes it."""
    given = [name for name in ("text", "like", "image") if getattr(part, name)]
    if len(given) != 1:
        raise QueryError("each part needs exactly one of text, like or image")
    if part.text:
        return Part(text=clean_query(part.text), weight=part.weight)
    if part.like:
        return Part(point_id=point_id(part.like), weight=part.weight)
    try:
        data = base64.b64decode(part.image or "", validate=True)
    except (binascii.Error, ValueError):
        raise QueryError("image must be a base64-encoded image file") from None
    return Part(vector=image_query_vector(backend, data), weight=part.weight)


def image_query_vector(backend: Backend, data: bytes) -> tuple[float, ...]:
    """An uploaded query image as a CLIP vector; it is not stored."""
    if backend.model_error:
        raise QueryError(f"searching by image {NO_IMAGE_MODEL}")
    try:
        decoded = decode_image(io.BytesIO(data), min_side=backend.embedder.input_size)
    except ImageError as exc:
        raise QueryError(f"the query image cannot be used: {exc}") from None
    return tuple(backend.embedder.embed_images([decoded.image])[0].tolist())


def keep_query_image(backend: Backend, data: bytes) -> str | None:
    """Check and embed an image searched with on the page, and keep it under its key (sha256), so the
    search is a URL: Load more, Back and reload repeat it. Raises QueryError for an image it cannot use;
    None when it cannot be kept (a full or read-only disk): it is searched with once, without paging."""
    vector = image_query_vector(backend, data)
    try:
        key = backend.query_images.put(data)
    except OSError as exc:
        log.warning("%s", disk_error(exc, "a query image", backend.query_images.folder))
        return None
    backend.query_images.remember(key, vector)
    return key


def kept_image_vector(backend: Backend, key: str) -> tuple[float, ...]:
    """The CLIP vector of an image kept by keep_query_image; QueryError when it is no longer kept."""
    vector = backend.query_images.vector(key)
    if vector is not None:
        return vector
    data = backend.query_images.get(key)
    if data is None:
        raise QueryError("the image this search was made with is no longer kept on the server (it keeps the "
                         "most recent ones); search with it again: Image, or drop it on the page")
    vector = image_query_vector(backend, data)
    backend.query_images.remember(key, vector)
    return vector


def images_usable(backend: Backend, strict: bool = False) -> bool:
    """Whether searching by picture works now: a model, and image vectors in the collection.
    An unreachable store counts as no, or (strict) raises StoreUnavailable."""
    if backend.model_error:
        return False
    if strict:
        return backend.store().state().has_images
    return backend.read(lambda store: store.state().has_images, False)


def text_only_reason(backend: Backend) -> str | None:
    state = backend.read(lambda store: store.state(), None)
    if state is not None and state.exists and not state.has_images:
        return "the collection was indexed without an image model; run index again with CLIP_MODEL set."
    return None


def indexed(backend: Backend, path: str):
    """The point showing path, or a 404."""
    hit = backend.store().by_path(path)
    if hit is None:
        raise HTTPException(404, "this image is not in the index (run index)")
    return hit


def neighbours(backend: Backend, point_id: str, count: int = NEIGHBOURS) -> list[SearchResult]:
    """The images that look most like this one (none without image vectors)."""
    if backend.model_error or not backend.store().state().has_images:
        return []
    found = backend.searcher().search(None, k=count + 1, mode="image", parts=[Part(point_id=point_id)])
    return [r for r in found if r.id != point_id][:count]


def remove(backend: Backend, path: str, delete_files: bool) -> Removal:
    try:
        return remove_image(backend.settings, backend.store(), path, delete_files)
    except NotIndexed:
        raise HTTPException(404, "this image is not in the index") from None
    except RemovalError as exc:  # a read-only image folder: nothing was changed
        raise HTTPException(503, exc.strerror) from None


def can_restore(backend: Backend, path: str) -> bool:
    """Whether a removed image can be put back: its file is still in the folder and it is not indexed."""
    if not path or resolve_inside(backend.settings.dataset_dir, path) is None:
        return False
    return backend.read(lambda store: store.by_path(path) is None, False)


def restore(backend: Backend, path: str) -> None:
    """Undo a removal whose file was kept: the index step adds back what is in the folder and not indexed
    (it leaves everything else as it is)."""
    if not can_restore(backend, path):
        raise HTTPException(404, "this image cannot be put back: its file is no longer in the image folder, "
                                 "or it is indexed already")
    backend.index_now()


def dataset_file(settings: Settings, path: str) -> Path:
    resolved = resolve_inside(settings.dataset_dir, path)
    if resolved is None:
        raise HTTPException(404, "no such image")
    return resolved


def image_view(backend: Backend, path: str, form: SearchForm) -> dict:
    """One indexed image for its page: its payload, the query's words marked in its text, look-alikes."""
    q = form.q
    form.mode_in_links = images_usable(backend)  # its links lead back to the search as the page offers it
    dataset_file(backend.settings, path)
    hit = indexed(backend, path)
    cache = TextCache(backend.settings.text_dir, backend.settings.ocr_langs)
    cached = cache.result(path, hit.payload.get("sha256", ""))  # the words of every engine, with boxes
    marks = matching_words(cached.words, q) if cached and q else []
    return {"path": path, "q": q, "f": form, "p": hit.payload, "id": hit.id, "marks": marks,
            "neighbours": neighbours(backend, hit.id)}

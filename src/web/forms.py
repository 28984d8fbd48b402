"""The request fields of the pages and the API, and their validation: a bad value is a QueryError (422)
with a message saying what to send instead, never a framework error."""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from urllib.parse import parse_qsl, urlencode

from fastapi import Query, Request, UploadFile
from pydantic import BaseModel, Field

from src.search import (
    DEFAULT_K,
    DEFAULT_MODE,
    LOOK_FILTERS,
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    Part,
    QueryError,
    clean_query,
    look_filter,
)
from src.uploads import MAX_FILES_PER_UPLOAD, MAX_UPLOAD_BYTES, MEGABYTE, UploadError

K_CHOICES = (12, 24, 48, 96)
NEGATIVE_WEIGHT = 0.5  # "minus night": pull away from it, but less than towards what is asked for
MAX_QUERY_IMAGE_BYTES = 20_000_000


@dataclass
class SearchForm:
    """The search fields of the page and the API, as sent: parsed on use, so a bad value is a 422 with a
    message rather than a framework error."""

    q: str = ""
    negative: str = Query("", alias="not", description="text whose meaning the results should avoid")
    like: str = Query("", description="an indexed image's id: more like this")
    k: str = str(DEFAULT_K)
    offset: str = "0"
    mode: str = DEFAULT_MODE
    category: str = ""
    has_text: str = ""
    folder: str = Query("", description="the folder the images are in (its path in the image folder)")
    orientation: str = Query("", description="portrait, landscape or square")
    size: str = Query("", description="small (under 0.4 megapixels), medium or large (2.5 megapixels or more)")
    colour: str = Query("", description="the dominant colour: " + ", ".join(LOOK_FILTERS["colour"]))
    format: str = Query("", description="the file's format: " + ", ".join(LOOK_FILTERS["format"]))
    min_score: str = Query("", description="lowest cosine similarity of a result, 0 to 1")
    show_duplicates: str = Query("", description="1: list near-duplicates one by one instead of folding them")
    image_key: str = Query("", description="an image searched with on the page: the key (sha256) it is kept "
                                           "under for a while, so the search can be repeated and paged")
    # Off when the page offers no choice of mode (words only, no image model): its links leave mode out,
    # as its form does, rather than carry a mode that changes nothing.
    mode_in_links: bool = dataclass_field(default=True, init=False)

    @property
    def searched(self) -> bool:
        return bool(self.q.strip() or self.like or self.image_key)

    @property
    def empty(self) -> bool:
        """Nothing to search for: the page shows the collection instead."""
        return not (clean_query(self.q) or self.like or self.image_key or clean_query(self.negative))

    def k_value(self) -> int:
        return whole_number("k", self.k, DEFAULT_K)

    def offset_value(self) -> int:
        return whole_number("offset", self.offset, 0)

    def min_score_value(self) -> float | None:
        if not self.min_score.strip():
            return None
        try:
            value = float(self.min_score)
        except ValueError:
            raise QueryError(f"min_score must be a number from 0 to 1, not {self.min_score[:20]!r}") from None
        if not 0 <= value <= 1:
            raise QueryError(f"min_score must be from 0 to 1, not {value}")
        return value

    def where(self) -> dict:
        """The payload filters, all inside the one query; a look filter it does not offer is a QueryError."""
        where = ({"category": self.category} if self.category else {}) | ({"has_text": True} if self.has_text else {})
        where |= {"folder": self.folder} if self.folder else {}
        for field in LOOK_FILTERS:
            where |= look_filter(field, getattr(self, field))
        return where

    def looks(self) -> dict[str, str]:
        """The look filters as sent (for the API's answer and the page's lists)."""
        return {field: getattr(self, field).strip().lower() for field in LOOK_FILTERS if getattr(self, field).strip()}

    def looks_shown(self) -> str:
        """The folder and look filters set, for the page's lines: ", portrait, red, png" ("" for none)."""
        folder = f", in folder {self.folder}" if self.folder else ""
        return folder + "".join(f", {value}" for value in self.looks().values())

    def filters_set(self) -> int:
        """How many of the Filters row's choices differ from their defaults (its folded button says so)."""
        chosen = [self.category, self.has_text, self.folder, self.negative.strip(), self.min_score.strip(),
                  self.show_duplicates]
        return sum(1 for value in chosen if value) + len(self.looks()) + (self.k != str(DEFAULT_K))

    def unfiltered(self) -> str:
        """The query string of the same search without its filters."""
        return self.query_string(offset="", category="", has_text="", min_score="", folder="",
                                 **dict.fromkeys(LOOK_FILTERS, ""))

    def parts(self) -> list[Part]:
        parts = []
        if self.negative.strip():
            parts.append(Part(text=clean_query(self.negative), weight=-NEGATIVE_WEIGHT))
        if self.like:
            parts.append(Part(point_id=point_id(self.like)))
        return parts

    def query_string(self, **changes) -> str:
        fields = {"q": self.q, "not": self.negative, "like": self.like, "k": self.k, "offset": self.offset,
                  "mode": self.mode if self.mode_in_links else "", "category": self.category,
                  "has_text": self.has_text, "folder": self.folder,
                  **{field: getattr(self, field) for field in LOOK_FILTERS},
                  "min_score": self.min_score, "show_duplicates": self.show_duplicates,
                  "image_key": self.image_key} | changes
        return urlencode({key: value for key, value in fields.items() if value not in ("", None)})


async def search_form(**fields: str) -> SearchForm:
    """SearchForm as a route's dependency, read from the same query parameters, on the event loop:
    FastAPI calls a class (or any plain function) given to Depends in its thread pool, a hop of 0.2–0.7 ms
    per request here for building a dataclass (benchmarks/results/request_profile.md)."""
    return SearchForm(**fields)


search_form.__signature__ = inspect.signature(SearchForm)  # type: ignore[attr-defined]  # FastAPI reads the fields


class QueryPartIn(BaseModel):
    """One part of a combined query: exactly one of text, like (an indexed image's id) or image (base64)."""

    text: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    like: str | None = None
    image: str | None = Field(None, description="an image file, base64-encoded", max_length=MAX_QUERY_IMAGE_BYTES * 2)
    weight: float = Field(1.0, ge=-10, le=10, description="negative: results should not look like this part")


class CombinedQuery(BaseModel):
    parts: list[QueryPartIn] = Field(min_length=1, max_length=10)
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    mode: str = DEFAULT_MODE
    category: str = ""
    has_text: bool = False
    folder: str = Field("", description="the folder the images are in (its path in the image folder)")
    orientation: str = Field("", description="portrait, landscape or square")
    size: str = Field("", description="small, medium or large")
    colour: str = Field("", description="the dominant colour: " + ", ".join(LOOK_FILTERS["colour"]))
    format: str = Field("", description="the file's format: " + ", ".join(LOOK_FILTERS["format"]))
    min_score: float | None = Field(None, ge=0, le=1)
    show_duplicates: bool = False

    def form(self) -> SearchForm:
        """The same options as the page's form: one search call serves both."""
        return SearchForm(q="", negative="", like="", k=str(self.k), offset=str(self.offset), mode=self.mode,
                          category=self.category, has_text="1" if self.has_text else "",
                          folder=self.folder, orientation=self.orientation, size=self.size, colour=self.colour,
                          format=self.format,
                          min_score="" if self.min_score is None else str(self.min_score),
                          show_duplicates="1" if self.show_duplicates else "", image_key="")


def search_state(sent: str) -> str:
    """A search's query string as a form or link carried it (the way back to it from another page), rebuilt
    from its fields: it can only ever be the query part of a link to this app's own pages."""
    return urlencode(parse_qsl(sent[:4000]))


def point_id(value: str) -> str:
    """An indexed image's id as sent, checked."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise QueryError("like must be the id of an indexed image, as a result's “More like this” link gives it; "
                         "search with words or an image instead") from None


def whole_number(name: str, value: str, default: int) -> int:
    if value is None or str(value).strip() == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        limit = f"between 1 and {MAX_K}" if name == "k" else "0 or more"
        raise QueryError(f"{name} must be a whole number {limit}, not {str(value)[:20]!r}") from None


def read_uploads(request: Request, files: list[UploadFile]) -> list[tuple[str, bytes]]:
    """(name, bytes) of each uploaded file; a body larger than any valid upload is refused."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_FILES_PER_UPLOAD * (MAX_UPLOAD_BYTES + 1024):
        raise UploadError(f"the upload is {declared / 1e6:.0f} MB; at most {MAX_FILES_PER_UPLOAD} files of "
                          f"{MAX_UPLOAD_BYTES // 1_000_000} MB each at a time")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise UploadError(f"too many files: {len(files)}; at most {MAX_FILES_PER_UPLOAD} at a time")
    # One byte past the limit is enough to know a file is too large, and keeps memory bounded.
    read = [(f.filename or "image", f.file.read(MAX_UPLOAD_BYTES + 1)) for f in files if f.filename]
    for name, data in read:
        if len(data) > MAX_UPLOAD_BYTES:  # a limit of the request, like the file count: nothing is added
            raise UploadError(f"{name} is larger than {MAX_UPLOAD_BYTES // MEGABYTE} MB, the limit for one file; "
                              "nothing was added")
    return read


async def read_query_image(image: UploadFile | None) -> bytes | None:
    if image is None or not image.filename:
        return None
    data = await image.read(MAX_QUERY_IMAGE_BYTES + 1)
    if len(data) > MAX_QUERY_IMAGE_BYTES:
        raise QueryError(f"the query image is larger than {MAX_QUERY_IMAGE_BYTES // 1_000_000} MB")
    if not data:
        raise QueryError("the query image is empty")
    return data

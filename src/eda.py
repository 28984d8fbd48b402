"""What is in the image collection: the numbers behind the /EDA page and EDA.ipynb.

collect() reads the indexed points (payloads, and the image vectors when there are any) and the image
files, decoded small, into an Overview; src/eda_figures.py draws it and src/eda_page.py keeps the page.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from src.images import ImageError, decode_image, resolve_inside
from src.labels import label_column
from src.settings import Settings
from src.store import FILE_FIELDS, IMAGE_VECTOR, Store
from src.terms import terms

# Bump when what is computed or drawn changes: pages cached by an older version are then redone.
EDA_VERSION = 2
PIXEL_SIDE = 64  # images are decoded this small for brightness, colours and the map's thumbnails
MAP_THUMB_SIDE = 48
# Above these sizes a figure is drawn from a random sample (seeded: the same collection, the same page)
# and the page says so; counts read from the payloads (images, categories, formats, sizes) stay exact.
IMAGE_SAMPLE = 500  # images decoded for brightness, colours and the map's thumbnails
TEXT_SAMPLE = 10_000  # OCR texts whose words and brands are counted
VECTOR_SAMPLE = 5000  # image vectors read for the map and the near-duplicates
DUPLICATE_COSINE = 0.95  # image vectors at least this similar are listed as near-duplicates
PALETTE_SIZE = 5  # dominant colours per category
PALETTE_PIXELS = 100_000  # pixels k-means sees per palette at most
TOP_WORDS = 20
TOP_BRANDS = 15
# The payload fields the overview reads of every point: what it counts, and the file fields that tell the
# page cache whether it changed (src/eda_page.py), so that one scroll serves both. The texts, half of what
# a scroll would carry, are read for the sample of TEXT_SAMPLE alone; the content hash is the point's id.
FIELDS = list(dict.fromkeys([*(f for f in FILE_FIELDS if f != "sha256"), "width", "height", "format", "has_text"]))
# Words too common in any ad to say anything about this collection.
STOPWORDS = frozenset(
    ["the", "and", "for", "with", "from", "your", "you", "our", "all", "any", "new", "now", "get", "off", "just",
     "only", "more", "are", "was", "has", "have", "this", "that", "its", "into", "out", "not", "but", "can", "per",
     "one", "two", "each", "most", "than", "then"]
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]{2,}\b")


@dataclass(slots=True)
class ImageStats:
    path: str
    category: str
    folder: str
    width: int
    height: int
    bytes: int
    format: str
    has_text: bool
    words: int | None = None  # in the OCR text; None when it is not in the sample of texts read
    brightness: float | None = None  # mean luma, 0-1; None when the file could not be read
    colourfulness: float | None = None  # Hasler and Süsstrunk's metric on 0-255 RGB


@dataclass
class Sampled:
    """A figure drawn from `used` of `of` items (images, texts or vectors); used == of when it is exact."""

    used: int
    of: int

    @property
    def sampled(self) -> bool:
        return self.used < self.of


@dataclass
class Overview:
    collection: str
    model: str | None  # of the image vectors; None when indexed without one
    images: list[ImageStats]
    copies: int  # files whose content another file already shows (one point for all)
    unreadable: list[tuple[str, str]]  # (path, reason) of files the pixel statistics could not read
    palettes: dict[str, list[tuple[str, float]]]  # "all" and each category -> (#rrggbb, share of pixels)
    top_words: list[tuple[str, int]]  # (word, ads whose text has it)
    brands: list[tuple[str, int, int]]  # (brand, ads, of which the OCR text names the brand)
    brand_source: str  # "labels.csv", or "capitalised words" when there are no labels
    nearest: np.ndarray | None = None  # per vector: cosine to its most similar other image
    duplicates: list[tuple[str, str, float]] = field(default_factory=list)  # most similar first
    map_paths: list[str] = field(default_factory=list)
    map_xy: np.ndarray | None = None  # PCA of the image vectors, one row per map_paths
    explained: tuple[float, float] = (0.0, 0.0)  # share of the variance along each map axis
    vector_note: str | None = None  # why there are no near-duplicates or map
    sample_note: str | None = None  # when they come from a sample of the images
    thumbs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # path -> small RGB, for the map
    # What the sampled figures were drawn from (Sampled(n, n) when exact).
    pixels: Sampled = field(default_factory=lambda: Sampled(0, 0))
    texts: Sampled = field(default_factory=lambda: Sampled(0, 0))
    vectors: Sampled = field(default_factory=lambda: Sampled(0, 0))

    @property
    def count(self) -> int:
        return len(self.images)

    def tally(self, attribute: str) -> list[tuple[str, int]]:
        """(value, images) of an ImageStats field, most common first."""
        return _most_common(Counter(getattr(i, attribute) for i in self.images))

    def notes(self) -> dict[str, str]:
        """figure section -> what it was drawn from, for each section drawn from a sample."""
        found = {}
        if self.pixels.sampled:
            found["colour"] = (f"Brightness, colours and the map's thumbnails are measured on a random sample of "
                               f"{self.pixels.used:,} of the {self.pixels.of:,} images.")
        if self.texts.sampled:
            found["text"] = (f"Words per ad, the words in most ads and the brands read by the OCR are counted in a "
                             f"random sample of {self.texts.used:,} of the {self.texts.of:,} ads; which ads have "
                             "text is counted in all.")
        if self.sample_note:
            found["vectors"] = self.sample_note
        return found


@dataclass
class Points:
    """What one scroll of every point's payload FIELDS gives: its id and numbers, row by row, the copies,
    and a digest of every point's file fields (the page cache's fingerprint, src/eda_page.py)."""

    ids: list[str]
    images: list[ImageStats]
    copies: int  # files whose content another file already shows
    files_digest: str


def read_points(store: Store) -> Points:
    """Every point's FIELDS, folded page by page into rows as they arrive: memory holds the rows and one
    page of payloads, never a dict per point (at 100k points the dicts, kept, made the read several times
    slower in a busy process: the garbage collector walked them again and again)."""
    ids: list[str] = []
    images: list[ImageStats] = []
    lines: list[str] = []
    copies = 0
    names: dict[str, str] = {}  # one string per category, folder and format, not one per point
    for page in store.scan(FIELDS):
        for pid, payload, _ in page:
            get = payload.get
            ids.append(pid)
            images.append(ImageStats(
                get("path", ""),
                names.setdefault(category := get("category") or "(none)", category),
                names.setdefault(folder := get("folder") or "(top)", folder),
                int(get("width") or 0), int(get("height") or 0), int(get("bytes") or 0),
                names.setdefault(fmt := get("format") or "unknown", fmt),
                bool(get("has_text")),
            ))
            duplicates = get("duplicates")
            copies += len(duplicates) if duplicates else 0
            lines.append(repr((pid, *(get(f) for f in FILE_FIELDS))))
    lines.sort()  # by id, whatever order an engine scrolls in
    digest = hashlib.sha256()
    for start in range(0, len(lines), 4096):
        digest.update("\n".join(lines[start:start + 4096]).encode())
        digest.update(b"\n")
    return Points(ids, images, copies, digest.hexdigest())


# -- the numbers ---------------------------------------------------------------------------------
def collect(settings: Settings, store: Store, timings: dict[str, float] | None = None,
            points: Points | None = None) -> Overview:
    """Everything the overview shows, from the store and the image files. Raises StoreUnavailable.

    Memory and time stay bounded at any size: the payloads are read without vectors, and at most
    IMAGE_SAMPLE images are decoded, TEXT_SAMPLE texts searched for words and VECTOR_SAMPLE vectors read.
    timings, when given, gets the seconds each stage took (benchmarks/eda_scale.py); points: the
    collection's read_points(), when the caller has read them already."""
    stage = _Stages(timings)
    state = store.state()
    count = store.count()
    # Above VECTOR_SAMPLE points the map and near-duplicates come from a random sample drawn by the engine:
    # reading every vector as Python floats would take ~1.6 GB and minutes at 100k points.
    sampled = state.has_images and count > VECTOR_SAMPLE
    rng = np.random.default_rng(0)
    # Images decode in threads (Pillow works outside the GIL) while this thread reads and counts; the
    # vectors are compared after, with every core for numpy's matrix products.
    with _decoders() as pool:
        with stage("read the vectors"):
            vectors = (store.sample(IMAGE_VECTOR, VECTOR_SAMPLE) if sampled
                       else store.points(IMAGE_VECTOR) if state.has_images else [])
        vectors = [vectors[i] for i in rng.permutation(len(vectors)) if vectors[i].vector is not None]  # not by id
        mapped = [(pid, payload.get("path", "")) for pid, payload, _ in vectors]
        matrix = np.asarray([vector for _, _, vector in vectors], dtype=np.float32)  # a tenth of the lists' memory
        del vectors
        # The images decoded: those on the map first (their thumbnails are drawn there), then others.
        decoding = {pid: pool.submit(_small, settings.dataset_dir, path) for pid, path in mapped[:IMAGE_SAMPLE]}
        with stage("read the payloads"):
            points = read_points(store) if points is None else points
            ids, images = points.ids, points.images
        row_of = {pid: row for row, pid in enumerate(ids)}
        for row in rng.permutation(len(images))[:max(0, min(IMAGE_SAMPLE, len(images)) - len(decoding))]:
            pid = ids[row]  # fewer vectors than IMAGE_SAMPLE (or none): any images
            decoding.setdefault(pid, pool.submit(_small, settings.dataset_dir, images[row].path))
        with stage("words and brands"):
            read = (sorted(int(r) for r in rng.choice(len(ids), TEXT_SAMPLE, replace=False))
                    if len(ids) > TEXT_SAMPLE else list(range(len(ids))))
            found = store.texts_of([ids[i] for i in read])
            texts = [""] * len(ids)  # the ads outside the sample count as no text in the sample's counts
            for row in read:
                texts[row] = found.get(ids[row], "")
                images[row].words = len(texts[row].split())
            brands, source, words = text_counts(settings.dataset_dir, images, texts, read)
        with stage("decode images, colours (what is left of it)"):
            decoded = [(images[row_of[pid]], job.result()) for pid, job in decoding.items() if pid in row_of]
            pixels = _pixel_stats(decoded)
    with stage("near-duplicates and map (PCA)"):
        paths = [path for _, path in mapped]
        nearest, pairs = near_duplicates(matrix) if len(matrix) >= 2 else (None, [])
        map_xy, explained = pca_2d(matrix) if len(matrix) >= 2 else (None, (0.0, 0.0))
    overview = Overview(
        collection=settings.collection,
        model=state.model,
        images=images,
        copies=points.copies,
        unreadable=pixels.unreadable,
        palettes=pixels.palettes,
        top_words=words,
        brands=brands,
        brand_source=source,
        thumbs=pixels.thumbs,
        pixels=Sampled(len(decoded), len(images)),
        texts=Sampled(len(read), len(texts)),
    )
    del points, texts  # the overview keeps what it shows, not what it was read from
    overview.vectors = Sampled(len(paths), count if sampled else len(paths))
    if sampled:
        overview.sample_note = (f"The map and the near-duplicates are drawn from a random sample of "
                                f"{len(paths):,} of the {count:,} images: pairs outside it are not listed.")
    if len(paths) < 2:
        overview.vector_note = (
            "The collection holds no image vectors (it was indexed without a CLIP model): run index with "
            "CLIP_MODEL set to see near-duplicates and the map." if not state.has_images
            else "Fewer than two images have image vectors: nothing to compare or map."
        )
        return overview
    overview.nearest = nearest
    overview.duplicates = [(paths[i], paths[j], score) for i, j, score in pairs]
    overview.map_paths = paths
    overview.map_xy, overview.explained = map_xy, explained
    return overview


def samples() -> tuple[int, int, int]:
    """The sample sizes (images, texts, vectors): a page drawn with others is drawn again."""
    return IMAGE_SAMPLE, TEXT_SAMPLE, VECTOR_SAMPLE


def summary(o: Overview) -> dict:
    """The key numbers, for the page's text and the notebook."""
    sizes = np.array([[i.width, i.height, i.bytes] for i in o.images], dtype=float).reshape(-1, 3)
    aspect = sizes[:, 0] / np.maximum(sizes[:, 1], 1)
    with_text = [i for i in o.images if i.has_text]
    measured = [i for i in o.images if i.brightness is not None]
    labelled = sum(n for _, n, _ in o.brands)
    return {
        "images": o.count,
        "files": o.count + o.copies,
        "copies": o.copies,
        "categories": len(o.tally("category")),
        "folders": len(o.tally("folder")),
        "formats": dict(o.tally("format")),
        "median_width": _median(sizes[:, 0]),
        "median_height": _median(sizes[:, 1]),
        "min_side": int(sizes[:, :2].min()) if o.count else 0,
        "max_side": int(sizes[:, :2].max()) if o.count else 0,
        "landscape": int((aspect > 1.05).sum()),
        "portrait": int((aspect < 1 / 1.05).sum()),
        "square": int(((aspect >= 1 / 1.05) & (aspect <= 1.05)).sum()),
        "median_kb": round(_median(sizes[:, 2]) / 1024, 1),
        "total_mb": round(float(sizes[:, 2].sum()) / 2**20, 1),
        "median_brightness": round(_median([i.brightness for i in measured]), 2),
        "median_colourfulness": round(_median([i.colourfulness for i in measured]), 1),
        "unreadable": len(o.unreadable),
        "with_text": len(with_text),
        "text_share": round(len(with_text) / o.count, 3) if o.count else 0.0,
        "median_words": _median([i.words for i in with_text]),  # of the sample of texts read
        "top_words": [word for word, _ in o.top_words[:8]],
        "brand_source": o.brand_source,
        "brands": len(o.brands),
        "brand_read_share": round(sum(r for _, _, r in o.brands) / labelled, 3) if labelled else None,
        "vectors": len(o.map_paths),
        "duplicate_threshold": DUPLICATE_COSINE,
        "duplicate_pairs": len(o.duplicates),
        "median_nearest": round(_median(o.nearest), 3) if o.nearest is not None else None,
        "explained": [round(float(v), 3) for v in o.explained],
        "vector_note": o.vector_note,
        "sample_note": o.sample_note,
        "notes": o.notes(),  # section -> what its figures were drawn from, when a sample
        "decoded": o.pixels.used,
        "model": o.model,
    }


def hasler_susstrunk(rgb: np.ndarray) -> float:
    """Colourfulness of an RGB array (0-255): 0 for greys, about 100+ for vivid images (Hasler and
    Süsstrunk 2003, 'Measuring colourfulness in natural images')."""
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def brightness(rgb: np.ndarray) -> float:
    """Mean luma (ITU-R BT.601 weights), 0 for black to 1 for white."""
    return float((rgb[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114]).mean() / 255)


def dominant_colours(pixels: np.ndarray, k: int = PALETTE_SIZE) -> list[tuple[str, float]]:
    """(#rrggbb, share) of the k main colours of an (n, 3) array of RGB pixels, largest share first:
    k-means, seeded, so the same pixels always give the same palette."""
    from scipy.cluster.vq import kmeans2

    data = pixels.reshape(-1, 3).astype(np.float64)
    k = min(k, len(np.unique(data, axis=0)))
    if k == 0:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "one of the clusters is empty" on flat images: the rest still count
        centres, labels = kmeans2(data, k, seed=0, minit="++")
    shares = np.bincount(labels, minlength=k) / len(labels)
    order = np.argsort(-shares)
    hexes = ["#{:02x}{:02x}{:02x}".format(*np.clip(centre, 0, 255).round().astype(int)) for centre in centres]
    return [(hexes[i], round(float(shares[i]), 4)) for i in order if shares[i] > 0]


def near_duplicates(matrix: np.ndarray, threshold: float = DUPLICATE_COSINE, block: int = 1024
                    ) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """Each row's cosine to its most similar other row, and the pairs (i < j) at or above threshold,
    most similar first. Compared block by block, so memory stays at block x n."""
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    nearest = np.empty(len(unit), dtype=np.float32)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(unit), block):
        sims = unit[start:start + block] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf  # an image is not its own duplicate
        nearest[start:start + block] = sims.max(axis=1)
        for i, j in zip(*np.nonzero(sims >= threshold)):
            if start + i < j:
                pairs.append((int(start + i), int(j), round(float(sims[i, j]), 4)))
    return nearest, sorted(pairs, key=lambda p: -p[2])


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The rows projected on their two main axes, and each axis's share of the variance. The axes are
    the covariance matrix's main eigenvectors: d x d whatever the number of rows, where an SVD of the rows
    would cost rows x d^2 and hold a copy of them."""
    centred = matrix - matrix.mean(axis=0)
    covariance = np.asarray(centred.T @ centred, dtype=np.float64)
    variance, vectors = np.linalg.eigh(covariance)  # ascending
    variance = np.clip(variance[::-1], 0, None)
    axes = vectors[:, ::-1][:, :2].T
    axes = axes * np.sign(axes[[0, 1], np.abs(axes).argmax(axis=1)])[:, None]  # the same signs every run
    share = variance[:2] / variance.sum() if variance.sum() else np.zeros(2)
    xy = centred @ axes.T.astype(centred.dtype)
    return xy, (float(share[0]), float(share[1]))


def top_words(texts: list[str], limit: int = TOP_WORDS) -> list[tuple[str, int]]:
    """The words in most ads (each ad counts a word once); numbers and very common words left out."""
    return _top_words([set(terms(text)) for text in texts], limit)


def _top_words(found: list[set[str]], limit: int = TOP_WORDS) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for words in found:
        counts.update(t for t in words if t.isalpha() and len(t) > 2 and t not in STOPWORDS)
    return _most_common(counts)[:limit]


def text_counts(folder: Path, images: list[ImageStats], texts: list[str], read: Sequence[int]
                ) -> tuple[list[tuple[str, int, int]], str, list[tuple[str, int]]]:
    """brand_counts() and the top words of the rows read (a sample), each text split into terms once."""
    found = {row: set(terms(texts[row])) for row in read}
    brands, source = brand_counts(folder, images, texts, read, found)
    return brands, source, _top_words(list(found.values()))


def brand_counts(folder: Path, images: list[ImageStats], texts: list[str], read: Sequence[int] | None = None,
                 found: dict[int, set[str]] | None = None) -> tuple[list[tuple[str, int, int]], str]:
    """(brand, ads, ads whose OCR text names it) and where the brands came from: labels.csv's brand
    column when the folder has one, else the capitalised words found in most ads. read: the rows whose
    text is searched (a sample; all when None); with labels, ads are counted in all rows and the share
    whose text names the brand is taken from the sample. found: row -> its text's terms, when known."""
    rows = range(len(texts)) if read is None else read
    labels = read_label_column(folder, "brand")
    if labels:
        ads: Counter[str] = Counter(brand for image in images if (brand := labels.get(image.path)))
        sampled: Counter[str] = Counter()
        named: Counter[str] = Counter()
        wanted: dict[str, set[str]] = {}  # brand -> its terms, made once per brand rather than per ad
        for row in rows:
            brand = labels.get(images[row].path)
            if brand:
                words = found[row] if found is not None else set(terms(texts[row]))
                sampled[brand] += 1
                if brand not in wanted:
                    wanted[brand] = set(terms(brand))
                named[brand] += wanted[brand] <= words
        return [(b, n, round(n * named[b] / sampled[b]) if sampled[b] else 0) for b, n in _most_common(ads)[:TOP_BRANDS]
                ], "labels.csv"
    capitalised = Counter(word for row in rows for word in set(_CAPITALISED.findall(texts[row]))
                          if word.lower() not in STOPWORDS)
    return [(word, n, n) for word, n in _most_common(capitalised)[:TOP_BRANDS]], "capitalised words"


def read_label_column(folder: Path, column: str) -> dict[str, str]:
    """file -> the column's value in the folder's labels.csv (src/labels.py reads it); empty when none."""
    return label_column(folder, column)


@contextlib.contextmanager
def _decoders() -> Iterator[ThreadPoolExecutor]:
    """Threads that decode images; on an error, the images not started yet are dropped."""
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Stages:
    """Times the stages of collect() into a dict, when one is given."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.timings is not None:
                self.timings[name] = time.perf_counter() - started


# -- reading the files ---------------------------------------------------------------------------
@dataclass
class _Pixels:
    unreadable: list[tuple[str, str]]
    palettes: dict[str, list[tuple[str, float]]]
    thumbs: dict[str, np.ndarray]


def _small(folder: Path, path: str) -> np.ndarray | str:
    """The image decoded small as RGB, or why it cannot be read."""
    source = resolve_inside(folder, path)
    if source is None:
        return "file missing from the image folder"
    try:
        return np.asarray(decode_image(source, min_side=PIXEL_SIDE).image)
    except ImageError as exc:
        return str(exc)


def _pixel_stats(decoded: list[tuple[ImageStats, np.ndarray | str]]) -> _Pixels:
    """Fill in each decoded image's brightness and colourfulness; pool 16 x 16 samples per category for
    the dominant colours; keep a thumbnail for the map."""
    from PIL import Image

    unreadable: list[tuple[str, str]] = []
    thumbs: dict[str, np.ndarray] = {}
    samples: dict[str, list[np.ndarray]] = {}
    for image, rgb in decoded:
        if isinstance(rgb, str):
            unreadable.append((image.path, rgb))
            continue
        image.brightness, image.colourfulness = round(brightness(rgb), 4), round(hasler_susstrunk(rgb), 2)
        picture = Image.fromarray(rgb)
        samples.setdefault(image.category, []).append(np.asarray(picture.resize((16, 16))).reshape(-1, 3))
        picture.thumbnail((MAP_THUMB_SIDE, MAP_THUMB_SIDE))
        thumbs[image.path] = np.asarray(picture)
    every = [s for group in samples.values() for s in group]
    palettes = {"all": dominant_colours(_at_most(np.concatenate(every)))} if samples else {}
    palettes |= {category: dominant_colours(_at_most(np.concatenate(group)))
                 for category, group in sorted(samples.items())}
    return _Pixels(unreadable, palettes, thumbs)


def _at_most(pixels: np.ndarray, limit: int = PALETTE_PIXELS) -> np.ndarray:
    """Every pixel, or an even spread of limit of them: k-means finds the same main colours in fewer."""
    return pixels[np.linspace(0, len(pixels) - 1, limit).astype(int)] if len(pixels) > limit else pixels


def _most_common(counts: Counter) -> list[tuple[str, int]]:
    """Most common first; ties in alphabetical order, so every run lists them alike."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _median(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if len(values) else 0.0

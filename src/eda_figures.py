"""The figures of the collection overview (src/eda.py), drawn with matplotlib.

Each function takes an Overview and returns a matplotlib Figure (None when there is nothing to draw):
the notebook shows them as they are, the /EDA page inlines them as SVG via to_svg(). Figures are made
with the object API, never pyplot: no display or backend to choose (SVG and PNG are drawn by
matplotlib's own SVG and Agg renderers), no global figure list to leak, safe in a server's threads.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from functools import wraps
from typing import Any
from urllib.parse import quote

import matplotlib
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from src.eda import DUPLICATE_COSINE, Overview

ACCENT, MUTED, LIGHT = "#2452c7", "#8a919c", "#dde1e6"
MAP_THUMBS = 200  # at most this many thumbnails on the map; the other images are dots
SCATTER_DOTS = 2000  # at most this many dots in the dimensions' scatter plot (an even spread beyond)
STYLE: dict[str, Any] = {
    "text.parse_math": False,  # "$5 off ... $10" in a label is money, not TeX
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "font.size": 9,
    "svg.fonttype": "none",  # real text in the SVG: selectable, searchable, smaller
    "svg.hashsalt": "adsearch-eda",  # the same ids every run
}


def _figure(draw):
    """Draw inside the overview's style."""

    @wraps(draw)
    def styled(*args, **kwargs):
        with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # its keys are a Literal of every rc name
            return draw(*args, **kwargs)

    return styled


@_figure
def categories(o: Overview) -> Figure:
    """Images per category, split into those with and without text."""
    counts = o.tally("category")
    names = [name for name, _ in counts][::-1]
    with_text = Counter(i.category for i in o.images if i.has_text)
    texted = [with_text[n] for n in names]
    total = [n for _, n in counts][::-1]
    figure = Figure(figsize=(10, 1.2 + 0.28 * len(names)), layout="constrained")
    axes = figure.add_subplot()
    axes.barh(names, texted, color=ACCENT, label="with text")
    axes.barh(names, np.subtract(total, texted), left=texted, color=MUTED, label="no text read")
    for y, n in enumerate(total):
        axes.text(n, y, f" {n}", va="center")
    axes.set(xlabel="images", title=f"{o.count} images in {len(names)} categories")
    axes.legend(loc="lower right", frameon=False)
    return figure


@_figure
def sizes(o: Overview) -> Figure:
    """Dimensions, aspect ratios, file sizes and formats."""
    width = np.array([i.width for i in o.images])
    height = np.array([i.height for i in o.images])
    kb = np.array([i.bytes for i in o.images]) / 1024
    figure = Figure(figsize=(10, 6.5), layout="constrained")
    (dims, aspect), (files, formats) = figure.subplots(2, 2)
    # Thousands of dots overlap into the same picture; an SVG of every one would be megabytes.
    shown = np.unique(np.linspace(0, o.count - 1, min(o.count, SCATTER_DOTS)).astype(int))
    formats_shown = np.array([o.images[n].format for n in shown])
    for fmt, _ in o.tally("format"):
        chosen = shown[formats_shown == fmt]
        dims.scatter(width[chosen], height[chosen], s=18, alpha=0.7, label=fmt)
    sampled = f" ({len(shown):,} of {o.count:,} images)" if len(shown) < o.count else ""
    dims.set(xlabel="width (px)", ylabel="height (px)", title=f"Dimensions{sampled}")
    dims.legend(frameon=False)
    aspect.hist(width / np.maximum(height, 1), bins=20, color=ACCENT)
    aspect.axvline(1, color=MUTED, linestyle="--")
    aspect.set(xlabel="width / height (1 = square)", ylabel="images", title="Aspect ratio")
    files.hist(kb, bins=np.geomspace(max(kb.min(), 1), max(kb.max(), 2), 20), color=ACCENT)
    files.set(xscale="log", xlabel="file size (KB, log scale)", ylabel="images", title="File size")
    # Plain numbers: the log axis's default labels are mathtext, which SVG text (svg.fonttype none) shows raw.
    files.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    files.xaxis.set_minor_formatter(ticker.NullFormatter())
    names, counts = zip(*o.tally("format"))
    formats.bar(names, counts, color=ACCENT)
    formats.set(ylabel="images", title="Format")
    return figure


@_figure
def light_and_colour(o: Overview) -> Figure | None:
    """Brightness and colourfulness, one value per image."""
    measured = [i for i in o.images if i.brightness is not None]
    if not measured:
        return None
    figure = Figure(figsize=(10, 3.2), layout="constrained")
    light, colour = figure.subplots(1, 2)
    light.hist([i.brightness for i in measured], bins=20, range=(0, 1), color=ACCENT)
    light.set(xlabel="mean brightness (0 black, 1 white)", ylabel="images", title="Brightness")
    colour.hist([i.colourfulness for i in measured], bins=20, color=ACCENT)
    colour.set(xlabel="colourfulness (Hasler–Süsstrunk; < 15 dull, > 60 vivid)", ylabel="images",
               title="Colourfulness")
    return figure


@_figure
def palettes(o: Overview) -> Figure | None:
    """The dominant colours of all images and of each category, as shares of their pixels."""
    if not o.palettes:
        return None
    names = list(o.palettes)[::-1]
    figure = Figure(figsize=(10, 1.0 + 0.3 * len(names)), layout="constrained")
    axes = figure.add_subplot()
    for y, name in enumerate(names):
        left = 0.0
        for colour, share in o.palettes[name]:
            axes.barh(y, share, left=left, color=colour, edgecolor="white", linewidth=0.5)
            left += share
    axes.set_yticks(range(len(names)), names)
    axes.set(xlim=(0, 1), xlabel="share of the pixels", title="Dominant colours (k-means, 5 per row)")
    axes.spines[["left", "bottom"]].set_visible(False)
    return figure


@_figure
def text(o: Overview) -> Figure:
    """Words per ad, the words in most ads, and the brands."""
    figure = Figure(figsize=(10, 4.8), layout="constrained")
    lengths, words, brands = figure.subplots(1, 3, width_ratios=(1, 1, 1.2))
    counts = [i.words for i in o.images if i.has_text and i.words is not None]
    lengths.hist(counts or [0], bins=15, color=ACCENT)
    with_text = sum(i.has_text for i in o.images)
    read = f", {len(counts):,} read" if len(counts) < with_text else ""
    lengths.set(xlabel="words read per ad (ads with text)", ylabel="ads",
                title=f"Text in {with_text} of {o.count} ads{read}")
    _top_bars(words, o.top_words[:15], "ads", "Words in most ads")
    if o.brand_source == "labels.csv":
        names = [b for b, _, _ in o.brands][::-1]
        brands.barh(names, [n for _, n, _ in o.brands][::-1], color=LIGHT, label="ads (labels.csv)")
        brands.barh(names, [r for _, _, r in o.brands][::-1], color=ACCENT, height=0.5, label="name read by OCR")
        brands.set(xlabel="ads", title="Brands")
        brands.legend(loc="upper center", bbox_to_anchor=(0.4, -0.12), ncols=2, frameon=False)
    else:
        _top_bars(brands, [(b, n) for b, n, _ in o.brands], "ads", "Capitalised words (brands?)")
    return figure


@_figure
def similarity(o: Overview) -> Figure | None:
    """How close each image's nearest neighbour is, with the near-duplicate threshold."""
    if o.nearest is None:
        return None
    figure = Figure(figsize=(10, 3), layout="constrained")
    axes = figure.add_subplot()
    axes.hist(o.nearest, bins=30, color=ACCENT)
    axes.axvline(DUPLICATE_COSINE, color="#a3261c", linestyle="--", label=f"near-duplicate ≥ {DUPLICATE_COSINE}")
    axes.set(xlabel="cosine similarity to the most similar other image", ylabel="images",
             title="Nearest neighbour of each image")
    axes.legend(loc="upper left", frameon=False)
    return figure


@_figure
def vector_map(o: Overview) -> Figure | None:
    """The image vectors on their two main axes (PCA), each shown by its thumbnail; in the page's SVG
    a thumbnail links to the image's view."""
    if o.map_xy is None:
        return None
    figure = Figure(figsize=(10, 7.5), layout="constrained")
    axes = figure.add_subplot()
    categories = [name for name, _ in o.tally("category")]
    by_path = {i.path: i.category for i in o.images}
    colours = {name: matplotlib.colormaps["tab20"](n % 20) for n, name in enumerate(categories)}
    shown = [by_path.get(p) for p in o.map_paths]
    for name in categories:  # the dots, one series per category for the legend; thumbnails go on top
        at = [n for n, category in enumerate(shown) if category == name]
        axes.scatter(o.map_xy[at, 0], o.map_xy[at, 1], s=12, color=colours[name], label=name)
    if len(categories) <= 20:  # beyond that the colours repeat and the legend outgrows the map
        axes.legend(loc="center left", bbox_to_anchor=(1, 0.5), frameon=False, title="category")
    pictured = [(path, xy) for path, xy in zip(o.map_paths, o.map_xy) if path in o.thumbs]
    step = max(1, len(pictured) // MAP_THUMBS)
    for path, (x, y) in pictured[::step][:MAP_THUMBS]:
        if path in o.thumbs:
            picture = OffsetImage(o.thumbs[path], zoom=0.6)
            picture.get_children()[0].set_url(f"/view/{quote(path, safe='/')}")
            frame = AnnotationBbox(picture, (x, y), frameon=True, pad=0.1,
                                   bboxprops={"edgecolor": colours.get(by_path.get(path, ""), MUTED), "linewidth": 1.5})
            axes.add_artist(frame)
    axes.set(xlabel=f"first principal axis ({o.explained[0]:.0%} of the variance)",
             ylabel=f"second principal axis ({o.explained[1]:.0%})",
             title=f"Map of {len(o.map_paths)} image vectors (PCA)")
    axes.margins(0.08)
    return figure


def page_figures(o: Overview) -> dict[str, str]:
    """section name -> inline SVG, for every figure there is something to draw for."""
    drawn = {name: draw(o) for name, draw in FIGURES.items()}
    return {name: to_svg(figure) for name, figure in drawn.items() if figure is not None}


def to_svg(figure: Figure) -> str:
    """The figure as an <svg> element that works under the app's CSP: no <style> element and no style
    attributes (each CSS property becomes the SVG presentation attribute of the same name)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # svg.fonttype is read when saving, not drawing
        figure.savefig(buffer, format="svg")
    figure.clear()  # frees the artists now rather than at garbage collection
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.S)
    svg = re.sub(r'\sstyle="([^"]*)"', lambda m: "".join(_attributes(m.group(1))), svg)
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)


def _attributes(style: str):
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        if name.strip() and value.strip():
            yield f' {name.strip()}="{value.strip()}"'


def _top_bars(axes, items: list[tuple[str, int]], xlabel: str, title: str) -> None:
    labels, values = (list(reversed(column)) for column in zip(*items)) if items else ([], [])
    axes.barh(labels, values, color=ACCENT)
    axes.set(xlabel=xlabel, title=title)


# Page order; the template names the sections after these keys.
FIGURES = {
    "categories": categories,
    "sizes": sizes,
    "light": light_and_colour,
    "palettes": palettes,
    "text": text,
    "similarity": similarity,
    "map": vector_map,
}

"""What an image looks like, in the few words people filter ads by: its orientation, its size class and
its dominant colour. Computed once at index time (the query cannot derive them) and stored in the payload,
where each is a keyword the search filters on inside the query."""

from __future__ import annotations

import numpy as np
from PIL import Image

ORIENTATIONS = ("portrait", "landscape", "square")
# Sides within 5% of each other read as square: 810x790 is a square ad re-cropped, 4:5 (0.8) is portrait.
SQUARE_TOLERANCE = 0.05

SIZES = ("small", "medium", "large")
# Bounds in pixels (width x height), chosen for ads: every standard web banner is small (IAB's largest,
# 970x250 and 300x1050, are 0.24 and 0.32 Mpx); social and web ads are medium (1200x628 is 0.75 Mpx,
# 1080x1080 1.17, a 1080x1920 story 2.07); print, posters and camera pictures are large (an A4 page at
# 150 dpi is 2.2 Mpx, at 300 dpi 8.7).
SMALL_BELOW = 400_000
LARGE_FROM = 2_500_000

# The named colours, in the order the page lists them.
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "grey", "white")
# A thumbnail this wide is plenty to find the colour that covers most of an ad, and costs ~0.1 ms.
COLOUR_SIDE = 48
# Hue bounds in degrees (0-360) -> the colour of hues below the bound; red wraps around 0.
HUES = ((15, "red"), (40, "orange"), (70, "yellow"), (165, "green"), (250, "blue"), (290, "purple"),
        (345, "pink"), (361, "red"))


def orientation(width: int, height: int) -> str:
    """portrait, landscape or square, from the upright width and height."""
    if abs(width - height) <= SQUARE_TOLERANCE * max(width, height):
        return "square"
    return "portrait" if height > width else "landscape"


def size_class(width: int, height: int) -> str:
    pixels = width * height
    return "small" if pixels < SMALL_BELOW else "large" if pixels >= LARGE_FROM else "medium"


def dominant_colour(image: Image.Image) -> str:
    """The named colour (one of COLOURS) that most of the image's pixels are closest to; a mostly white,
    grey or black ad says so. The image is the one decoded for embedding (RGB, upright, maybe shrunk)."""
    small = image.convert("RGB").resize((COLOUR_SIDE, COLOUR_SIDE), Image.Resampling.BOX)
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32).reshape(-1, 3) / 255.0
    names = pixel_colours(hsv[:, 0] * 360.0, hsv[:, 1], hsv[:, 2])
    found, counts = np.unique(names, return_counts=True)
    return str(found[np.argmax(counts)])


def pixel_colours(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The colour name of each pixel (hue in degrees, saturation and value from 0 to 1)."""
    bins = np.searchsorted([bound for bound, _ in HUES], hue, side="right")
    names = np.array([name for _, name in HUES], dtype=object)[np.minimum(bins, len(HUES) - 1)]
    # Dark oranges are what people call brown (wood, coffee, leather); pale reds are pink.
    warm = (hue >= 10) & (hue < 50)
    names = np.where(warm & (value < 0.6) & (saturation > 0.25), "brown", names)
    names = np.where((names == "red") & (saturation < 0.5) & (value > 0.7), "pink", names)
    # Colourless pixels by their lightness; very dark ones are black whatever their hue.
    grey = np.where(value > 0.85, "white", "grey")
    names = np.where(saturation < 0.16, grey, names)
    return np.where(value < 0.2, "black", names)


def appearance(width: int, height: int, image: Image.Image | None = None) -> dict:
    """The payload fields: orientation and size from the upright size; colour when the image is given."""
    described = {"orientation": orientation(width, height), "size": size_class(width, height)}
    return described | ({"colour": dominant_colour(image)} if image is not None else {})

"""Orientation, size class and dominant colour: what the look filters match on."""

import pytest
from PIL import Image, ImageDraw

from src.appearance import COLOURS, LARGE_FROM, SMALL_BELOW, appearance, dominant_colour, orientation, size_class
from src.search import LOOK_FILTERS, QueryError, look_filter


@pytest.mark.parametrize("size, expected", [
    ((120, 200), "portrait"), ((200, 120), "landscape"), ((300, 300), "square"),
    ((810, 790), "square"),  # within 5%: a square ad cropped a little
    ((800, 1000), "portrait"),  # 4:5, the feed format, is portrait
    ((1000, 940), "landscape"), ((1000, 960), "square"),  # the tolerance's edge: 6% off, 4% off
])
def test_orientation_from_the_upright_size(size, expected):
    assert orientation(*size) == expected


def test_size_classes_at_their_bounds():
    assert size_class(300, 250) == "small"  # an IAB medium rectangle
    assert size_class(1000, SMALL_BELOW // 1000 - 1) == "small" and size_class(1000, SMALL_BELOW // 1000) == "medium"
    assert size_class(1080, 1920) == "medium"  # a story ad
    assert size_class(1000, LARGE_FROM // 1000 - 1) == "medium" and size_class(1000, LARGE_FROM // 1000) == "large"


KNOWN = {  # an RGB each, as a person would name it
    "red": (220, 30, 30), "orange": (255, 140, 0), "yellow": (250, 220, 30), "green": (30, 160, 60),
    "blue": (30, 80, 200), "purple": (120, 40, 160), "pink": (240, 120, 180), "brown": (110, 70, 40),
    "black": (10, 10, 12), "grey": (128, 128, 128), "white": (250, 250, 248),
}


@pytest.mark.parametrize("name", COLOURS)
def test_a_plain_image_is_its_colour(name):
    assert dominant_colour(Image.new("RGB", (90, 60), KNOWN[name])) == name


def test_the_colour_most_of_the_image_is_wins():
    image = Image.new("RGB", (200, 100), KNOWN["blue"])
    ImageDraw.Draw(image).rectangle((0, 0, 79, 99), fill=KNOWN["white"])  # 40% white
    assert dominant_colour(image) == "blue"
    # A white ad with a red logo is a white ad: the bundled ads measured no better with white ignored.
    logo = Image.new("RGB", (200, 100), KNOWN["white"])
    ImageDraw.Draw(logo).ellipse((70, 20, 130, 80), fill=KNOWN["red"])
    assert dominant_colour(logo) == "white"
    # Greys of several shades are still grey, not the hue of their slight tint.
    greys = Image.new("RGB", (100, 100), (120, 122, 126))
    ImageDraw.Draw(greys).rectangle((0, 0, 49, 99), fill=(160, 158, 155))
    assert dominant_colour(greys) == "grey"


def test_appearance_reads_any_mode_and_leaves_out_the_colour_without_an_image():
    assert appearance(640, 480) == {"orientation": "landscape", "size": "small"}
    palette = Image.new("RGB", (64, 64), KNOWN["green"]).convert("P")
    assert appearance(64, 64, palette) == {"orientation": "square", "size": "small", "colour": "green"}


def test_look_filters_take_any_case_and_name_the_allowed_values():
    assert look_filter("orientation", " Portrait ") == {"orientation": "portrait"}
    assert look_filter("format", "PNG") == {"format": "PNG"} and look_filter("format", "webp") == {"format": "WEBP"}
    assert look_filter("colour", "") == {}
    with pytest.raises(QueryError, match="orientation must be one of portrait, landscape, square, not 'round'"):
        look_filter("orientation", "round")
    with pytest.raises(QueryError, match="format must be one of jpeg, png, webp, gif, bmp"):
        look_filter("format", "tiff")
    assert set(LOOK_FILTERS) == {"orientation", "size", "colour", "format"}

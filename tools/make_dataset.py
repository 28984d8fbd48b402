"""Generate adsearch's bundled sample dataset of advertisement images.

Writes about 95 advertisement-style images for 14 fictional brands, plus a few
text-free product photos, into ``DIR/<category>/`` and a ``DIR/labels.csv``
with the ground truth (``file,brand,category,text``) used to evaluate search.

Sources are only data that ship inside installed wheels, so the script runs
offline and gives the same result on every machine:

* photos: public-domain / CC0 sample images bundled with scikit-image
  (``skimage.data``), plus simple products (bottle, sneaker, phone, watch)
  drawn here;
* fonts: the DejaVu TTF fonts bundled with matplotlib, never system fonts.

The output is deterministic: one seeded ``random.Random`` drives every choice
and images are saved with fixed encoder options, so two runs on the same
package versions produce byte-identical files.

Usage: ``python tools/make_dataset.py [--out DIR]`` (default: ``dataset`` in
the repository root). Before writing, it deletes what an earlier run made:
image files inside DIR's subfolders and ``DIR/labels.csv``; anything else
(a README, for example) is left alone.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = 20240611
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
TEXT_SEPARATOR = " | "

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_FILES = {
    "sans": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif_bold": "DejaVuSerif-Bold.ttf",
    "mono_bold": "DejaVuSansMono-Bold.ttf",
}

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1

WHITE: RGB = (255, 255, 255)
INK: RGB = (24, 24, 28)

# --------------------------------------------------------------------------
# Content: fictional brands. Each brand's photos match its category so that
# CLIP-style semantic search has something real to find.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Brand:
    name: str
    category: str
    photos: tuple[str, ...]  # keys of PHOTO_MAKERS
    slogans: tuple[str, ...]
    prices: tuple[str, ...]
    color: RGB  # main brand colour (dark enough for white text)
    accent: RGB  # badges, offers
    ads: int  # how many ads this brand gets


BRANDS: tuple[Brand, ...] = (
    Brand("Brewhaven Coffee", "coffee", ("coffee",),
          ("Wake up to something rich", "Roasted fresh every morning",
           "Your daily cup of calm", "Bold beans, smooth finish",
           "Espresso worth the wait", "Brewed slow, served warm"),
          ("$4.99", "$3.50", "from $2.99", "€3.90"),
          (92, 52, 28), (226, 160, 60), 7),
    Brand("Whiskerly Pet Food", "petfood", ("cat",),
          ("Dinner your cat deserves", "Real fish, happy whiskers",
           "Purr-fect nutrition", "Tasty meals for fussy cats",
           "Vet approved recipes", "Crunchy treats they love"),
          ("$12.99", "$8.49", "€9.99", "from $5"),
          (120, 46, 120), (255, 196, 64), 7),
    Brand("Orbitra Space Tours", "space", ("rocket", "astronaut"),
          ("Your ticket to orbit", "See Earth from above",
           "Launch into adventure", "Weekend trips to space",
           "Zero gravity, full comfort", "The sky is not the limit",
           "Book your seat among stars"),
          ("from $299,000", "$99,000", "from $49,999"),
          (18, 36, 84), (255, 120, 40), 8),
    Brand("Ledgerstone Bank", "banking", ("coins",),
          ("Save smarter every day", "Your money, growing safely",
           "Zero fee checking", "Loans made simple",
           "Banking built on trust", "Open an account today"),
          ("3.5% APY", "0% fees", "from $0/month"),
          (16, 70, 60), (212, 175, 55), 6),
    Brand("Bramblegate Riding", "riding", ("horse",),
          ("Ride into the countryside", "Lessons for every age",
           "Trail rides at sunset", "Meet our gentle horses",
           "Saddle up this weekend", "Pony camp for kids"),
          ("$45 per lesson", "from $30", "€39"),
          (88, 60, 30), (150, 190, 60), 6),
    Brand("Tickwell Watches", "watches", ("watch",),
          ("Time, beautifully kept", "Precision you can feel",
           "Classic design, modern heart", "Every second counts",
           "Swiss style, fair price", "A gift that lasts"),
          ("$199", "from $149", "€249", "$89.99"),
          (30, 30, 40), (196, 160, 90), 7),
    Brand("Lumeno Cameras", "cameras", ("camera",),
          ("Capture every moment", "Sharp shots, every time",
           "Film look, digital ease", "Lenses for every story",
           "Shoot like a pro"),
          ("$649", "from $399", "€799"),
          (40, 40, 48), (230, 60, 60), 6),
    Brand("Starwise Telescopes", "astronomy", ("hubble",),
          ("See galaxies from home", "The universe in your garden",
           "Explore the night sky", "Deep sky, crystal clear",
           "Stargazing made easy", "Count a million stars"),
          ("$329", "from $189", "€450"),
          (20, 20, 60), (120, 200, 255), 7),
    Brand("Greenvale Gardens", "garden", ("grass", "gravel"),
          ("Greener lawns, happier homes", "Fresh turf in one day",
           "Paths and patios done right", "Your garden, our passion",
           "Lawn care made easy", "Grow something beautiful"),
          ("from $79", "$25 per bag", "€59"),
          (34, 100, 40), (240, 200, 60), 6),
    Brand("Brickhollow Builders", "construction", ("brick",),
          ("Built to last for ages", "Solid walls, honest prices",
           "Home extensions made easy", "Quality brickwork since 1962",
           "Free quote in 24 hours"),
          ("from $1,999", "$35 per m2", "€2,500"),
          (130, 40, 30), (250, 210, 90), 6),
    Brand("Stridewell Sneakers", "sneakers", ("shoe",),
          ("Run further, feel lighter", "Comfort in every step",
           "Made for city streets", "Step up your game",
           "Light as air", "Built for the long run"),
          ("$89", "$119.99", "from $59", "€95"),
          (200, 40, 60), (255, 210, 60), 7),
    Brand("Pixora Phones", "phones", ("phone",),
          ("Smart phone, smarter price", "All day battery life",
           "A camera in your pocket", "Fast, thin, brilliant",
           "The screen you deserve", "Upgrade today"),
          ("$499", "from $299", "€549", "$24/month"),
          (30, 60, 150), (255, 200, 0), 7),
    Brand("Glacielle Water", "water", ("bottle",),
          ("Pure spring water", "Stay fresh, stay hydrated",
           "From the mountains to you", "Crisp, clean, cold",
           "Naturally mineral rich"),
          ("$1.49", "6 for $5", "€0.99"),
          (20, 90, 150), (120, 220, 240), 6),
    Brand("Irisvale Eye Clinic", "eyecare", ("retina",),
          ("See the world clearly", "Eye exams in 20 minutes",
           "Caring for your vision", "Modern eye care for all",
           "Book your check-up now"),
          ("$49 eye exam", "from $29", "€60"),
          (0, 96, 120), (255, 140, 90), 5),
)

OFFERS = ("50% OFF", "2 FOR 1", "20% OFF", "NEW", "SALE", "BUY 1 GET 1 FREE",
          "LIMITED OFFER", "30% OFF TODAY")
# Only goods that can be posted get this one (no free shipping to orbit).
SHIPPED_CATEGORIES = {"coffee", "petfood", "watches", "cameras", "sneakers",
                      "phones", "water", "astronomy"}

SMALL_PRINT = ("Offer valid until 31 December. Terms apply.",
               "While stocks last. One per customer.",
               "See store for details. Not valid with other offers.")

# Text-free product photos: (photo key, category). Fewer than the brands so
# some categories have none.
TEXT_FREE = (("coffee", "coffee"), ("cat", "petfood"), ("rocket", "space"),
             ("watch", "watches"), ("hubble", "astronomy"),
             ("bottle", "water"))

# --------------------------------------------------------------------------
# Fonts and text
# --------------------------------------------------------------------------


@cache
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[name]), size)


def fit_font(text: str, name: str, max_width: float, max_size: int,
             min_size: int = 11) -> ImageFont.FreeTypeFont:
    """Largest font (up to max_size) that draws ``text`` within max_width."""
    size = max_size
    while size > min_size and font(name, size).getlength(text) > max_width:
        size -= 1
    return font(name, size)


@dataclass
class Line:
    """One line of ad text and how it should look."""
    text: str
    style: str = "bold"
    size: int = 40  # wanted size; shrunk to fit the box
    color: RGB = WHITE
    angle: float = 0.0  # degrees, counter-clockwise


def draw_line(canvas: Image.Image, text: str, fnt: ImageFont.FreeTypeFont,
              xy: tuple[float, float], color: RGB, anchor: str,
              angle: float = 0.0) -> None:
    """Draw text at xy; rotated text goes through its own RGBA layer."""
    if not angle:
        ImageDraw.Draw(canvas).text(xy, text, font=fnt, fill=color,
                                    anchor=anchor)
        return
    x0, y0, x1, y1 = fnt.getbbox(text)
    pad = 4
    layer = Image.new("RGBA", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad))
    ImageDraw.Draw(layer).text((pad - x0, pad - y0), text, font=fnt,
                               fill=color)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC,
                         expand=True)
    # Rotated lines are always centred on xy.
    pos = (round(xy[0] - layer.width / 2), round(xy[1] - layer.height / 2))
    canvas.alpha_composite(layer, pos)


def line_height(line: Line, fnt: ImageFont.FreeTypeFont) -> float:
    """Vertical room a line needs, including the extent of a tilted one."""
    if not line.angle:
        return fnt.size * 1.3
    a = math.radians(abs(line.angle))
    return (fnt.getlength(line.text) * math.sin(a)
            + fnt.size * math.cos(a)) + fnt.size * 0.4


def draw_stack(canvas: Image.Image, lines: list[Line], box: Box) -> None:
    """Stack lines vertically, centred in box, each shrunk to the box width.

    If the stack is too tall, every wanted size is scaled down together so
    the hierarchy (big brand, smaller slogan) survives.
    """
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    scale = 1.0
    while True:
        fonts = [fit_font(ln.text, ln.style, width * (0.9 if ln.angle else 1),
                          max(11, int(ln.size * scale))) for ln in lines]
        heights = [line_height(ln, f) for ln, f in zip(lines, fonts)]
        if sum(heights) <= height or scale < 0.3:
            break
        scale *= 0.9
    y = y0 + (height - sum(heights)) / 2
    for ln, fnt, h in zip(lines, fonts, heights):
        draw_line(canvas, ln.text, fnt, ((x0 + x1) / 2, y + h / 2),
                  ln.color, "mm", ln.angle)
        y += h


# --------------------------------------------------------------------------
# Photos: skimage samples (recoloured where grey) and drawn products
# --------------------------------------------------------------------------


def to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array).convert("RGB")


def blend(a: RGB, b: RGB, t: np.ndarray) -> Image.Image:
    """Image whose pixels mix colour a into b by t (shape h x w x 1)."""
    rgb = np.array(a, np.float32) * (1 - t) + np.array(b, np.float32) * t
    return Image.fromarray(rgb.round().astype(np.uint8))


def duotone(gray: np.ndarray, dark: RGB, light: RGB) -> Image.Image:
    """Map a grey image onto a dark→light colour ramp (e.g. gold coins)."""
    return blend(dark, light, (gray.astype(np.float32) / 255.0)[..., None])


def vertical_gradient(size: tuple[int, int], top: RGB,
                      bottom: RGB) -> Image.Image:
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return blend(top, bottom, np.broadcast_to(t, (h, w, 1)))


def horse_scene() -> Image.Image:
    """The skimage horse silhouette standing on grass under a sky."""
    horse = skdata.horse()  # True = background
    h, w = horse.shape
    scene = vertical_gradient((w + 120, h + 90), (120, 170, 225),
                              (225, 235, 245))
    grass = duotone(skdata.grass()[:150, : w + 120], (40, 90, 30),
                    (130, 190, 80))
    scene.paste(grass, (0, scene.height - 150))
    body = Image.new("RGB", (w, h), (70, 42, 24))
    mask = Image.fromarray((~horse).astype(np.uint8) * 255)
    scene.paste(body, (60, scene.height - h - 20), mask)
    return scene


@cache
def sample_photo(key: str) -> Image.Image:
    """A bundled skimage sample as RGB; greys get a colour fitting the ad."""
    if key == "coins":
        return duotone(skdata.coins(), (60, 35, 10), (255, 215, 120))
    if key == "grass":
        return duotone(skdata.grass(), (20, 60, 15), (150, 215, 90))
    if key == "gravel":
        return duotone(skdata.gravel(), (60, 55, 50), (225, 215, 200))
    if key == "brick":
        return duotone(skdata.brick(), (70, 25, 15), (225, 140, 100))
    if key == "horse":
        return horse_scene()
    loaders = {"coffee": skdata.coffee, "cat": skdata.chelsea,
               "rocket": skdata.rocket, "astronaut": skdata.astronaut,
               "camera": skdata.camera, "hubble": skdata.hubble_deep_field,
               "retina": skdata.retina}
    return to_image(loaders[key]())


# Drawn products are sprites on a transparent 640x640 canvas; they are
# scaled into the photo box whole, since cropping would cut them apart.
SPRITE = 640


def random_color(rng: random.Random) -> RGB:
    return tuple(rng.randint(30, 230) for _ in range(3))


def new_sprite() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    sprite = Image.new("RGBA", (SPRITE, SPRITE))
    return sprite, ImageDraw.Draw(sprite)


def drawn_bottle(rng: random.Random) -> Image.Image:
    sprite, d = new_sprite()
    water = (150 + rng.randint(0, 60), 200 + rng.randint(0, 40), 240)
    edge = (90, 140, 190)
    d.rectangle((285, 110, 355, 200), fill=water, outline=edge, width=4)
    d.rounded_rectangle((230, 180, 410, 600), radius=50, fill=water,
                        outline=edge, width=4)
    d.rounded_rectangle((275, 60, 365, 115), radius=8,
                        fill=random_color(rng))  # cap
    d.rectangle((232, 330, 408, 450), fill=random_color(rng))  # label
    d.rounded_rectangle((250, 210, 270, 570), radius=10,
                        fill=(240, 250, 255))  # highlight
    return sprite


def drawn_shoe(rng: random.Random) -> Image.Image:
    sprite, d = new_sprite()
    d.polygon([(90, 450), (100, 300), (170, 285), (250, 320), (330, 320),
               (380, 290), (410, 340), (500, 370), (560, 410), (560, 450)],
              fill=random_color(rng))  # upper, heel on the left
    d.ellipse((140, 280, 260, 320), fill=(35, 35, 35))  # collar opening
    d.line([(150, 430), (330, 360), (520, 430)], fill=random_color(rng),
           width=16)  # side stripe
    for i in range(4):  # laces
        x = 320 + i * 26
        d.line([(x, 322 + i * 9), (x + 24, 306 + i * 12)], fill=WHITE,
               width=7)
    d.rounded_rectangle((70, 440, 580, 495), radius=26, fill=(245, 245, 240),
                        outline=(120, 120, 120), width=3)  # sole
    return sprite


def drawn_phone(rng: random.Random) -> Image.Image:
    sprite, d = new_sprite()
    d.rounded_rectangle((190, 30, 450, 610), radius=40, fill=(25, 25, 30))
    screen = vertical_gradient((230, 510), random_color(rng),
                               random_color(rng))
    sprite.paste(screen, (205, 70))
    d.ellipse((312, 42, 328, 58), fill=(70, 70, 80))  # camera
    for row in range(5):  # app icons
        for col in range(3):
            x, y = 232 + col * 64, 100 + row * 74
            d.rounded_rectangle((x, y, x + 44, y + 44), radius=11,
                                fill=random_color(rng))
    return sprite


def drawn_watch(rng: random.Random) -> Image.Image:
    sprite, d = new_sprite()
    strap = rng.choice(((70, 40, 25), (30, 30, 30), (20, 40, 80)))
    d.rounded_rectangle((250, 0, 390, 640), radius=30, fill=strap)
    case = rng.choice(((200, 200, 205), (212, 175, 90)))
    d.rectangle((450, 300, 490, 340), fill=case)  # crown
    d.ellipse((150, 150, 490, 490), fill=case, outline=(90, 90, 90), width=4)
    d.ellipse((180, 180, 460, 460), fill=(250, 246, 235))  # dial
    cx = cy = 320
    for k in range(12):  # hour ticks, no numerals: the photo carries no text
        a = math.radians(k * 30)
        r0 = 105 if k % 3 else 95
        d.line([(cx + r0 * math.sin(a), cy - r0 * math.cos(a)),
                (cx + 125 * math.sin(a), cy - 125 * math.cos(a))],
               fill=INK, width=6 if k % 3 == 0 else 3)
    hour, minute = rng.uniform(0, 12), rng.uniform(0, 60)
    for length, width, turns in ((70, 9, hour / 12), (110, 5, minute / 60)):
        a = 2 * math.pi * turns
        d.line([(cx, cy), (cx + length * math.sin(a),
                           cy - length * math.cos(a))], fill=INK, width=width)
    d.ellipse((cx - 9, cy - 9, cx + 9, cy + 9), fill=(200, 40, 40))
    return sprite


DRAWN = {"bottle": drawn_bottle, "shoe": drawn_shoe, "phone": drawn_phone,
         "watch": drawn_watch}


def staged_product(key: str, size: tuple[int, int],
                   rng: random.Random) -> Image.Image:
    """A drawn product centred whole on a soft studio gradient."""
    top = tuple(rng.randint(200, 250) for _ in range(3))
    bottom = tuple(max(0, c - rng.randint(40, 90)) for c in top)
    scene = vertical_gradient(size, top, bottom).convert("RGBA")
    sprite = DRAWN[key](rng)
    sprite = sprite.crop(sprite.getbbox())  # trim the empty margin
    fill = rng.uniform(0.75, 0.9)  # share of the box the product spans
    scale = min(size[0] * fill / sprite.width, size[1] * fill / sprite.height)
    sprite = sprite.resize((max(1, round(sprite.width * scale)),
                            max(1, round(sprite.height * scale))),
                           Image.Resampling.LANCZOS)
    scene.alpha_composite(sprite, ((size[0] - sprite.width) // 2,
                                   (size[1] - sprite.height) // 2))
    return scene.convert("RGB")


def cover(img: Image.Image, size: tuple[int, int],
          rng: random.Random) -> Image.Image:
    """Crop img to the aspect of size (random zoom and offset), then resize.

    The random crop makes ads of the same brand differ even when they share
    one source photo.
    """
    w, h = size
    zoom = rng.uniform(1.0, 1.3)
    crop_w = min(img.width, img.height * w / h) / zoom
    crop_h = crop_w * h / w
    left = rng.uniform(0, img.width - crop_w)
    top = rng.uniform(0, img.height - crop_h)
    box = tuple(round(v) for v in (left, top, left + crop_w, top + crop_h))
    return img.resize(size, Image.Resampling.LANCZOS, box=box)


def photo(key: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """The product photo for key, filling exactly size."""
    if key in DRAWN:
        return staged_product(key, size, rng)
    return cover(sample_photo(key), size, rng)


# --------------------------------------------------------------------------
# Layouts. Each takes (spec, rng), returns an RGBA canvas, and draws exactly
# the texts listed in spec.texts().
# --------------------------------------------------------------------------


@dataclass
class AdSpec:
    brand: Brand
    photo_key: str
    size: tuple[int, int]
    slogan: str
    price: str | None
    offer: str | None
    small_print: str | None
    slogan_angle: float = 0.0

    def texts(self) -> list[str]:
        """Visible text in reading order, as written to labels.csv."""
        items = [self.brand.name, self.slogan, self.price, self.offer,
                 self.small_print]
        return [t for t in items if t]


def extras(spec: AdSpec, color: RGB, size: int) -> list[Line]:
    """Price and offer lines, when the ad has them."""
    return [Line(t, "bold", size, color) for t in (spec.price, spec.offer)
            if t]


def small_print_line(canvas: Image.Image, spec: AdSpec, color: RGB) -> None:
    """The deliberately hard-to-read fine print at the bottom edge."""
    if not spec.small_print:
        return
    w, h = canvas.size
    fnt = fit_font(spec.small_print, "sans", w - 40, 13, min_size=10)
    draw_line(canvas, spec.small_print, fnt, (w / 2, h - 16), color, "ms")


def readable_on(background: RGB) -> RGB:
    """Dark or white text, whichever contrasts with the background."""
    r, g, b = background
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 150 else WHITE


def new_canvas(size: tuple[int, int], color: RGB) -> Image.Image:
    return Image.new("RGBA", size, color + (255,))


def paste_photo(canvas: Image.Image, spec: AdSpec, box: Box,
                rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    canvas.paste(photo(spec.photo_key, (x1 - x0, y1 - y0), rng), (x0, y0))


def layout_banner(spec: AdSpec, rng: random.Random) -> Image.Image:
    """Coloured banner with brand and slogan on top, photo below, badge."""
    w, h = spec.size
    band = int(h * 0.3)
    canvas = new_canvas(spec.size, spec.brand.color)
    paste_photo(canvas, spec, (0, band, w, h), rng)
    draw_stack(canvas, [Line(spec.brand.name, "bold", band // 2),
                        Line(spec.slogan, "sans", band // 4,
                             spec.brand.accent, spec.slogan_angle)],
               (20, 8, w - 20, band - 8))
    badge = extras(spec, readable_on(spec.brand.accent), 30)
    if badge:
        bw, bh = int(w * 0.42), 44 * len(badge) + 16
        bx, by = w - bw - 16, h - bh - 16 - (16 if spec.small_print else 0)
        ImageDraw.Draw(canvas).rounded_rectangle(
            (bx, by, bx + bw, by + bh), radius=14, fill=spec.brand.accent)
        draw_stack(canvas, badge, (bx + 10, by + 6, bx + bw - 10,
                                   by + bh - 6))
    small_print_line(canvas, spec, WHITE)
    return canvas


def layout_split(spec: AdSpec, rng: random.Random) -> Image.Image:
    """Photo on one side, text panel on the other (stacked if portrait)."""
    w, h = spec.size
    canvas = new_canvas(spec.size, (246, 242, 234))
    if w > h * 1.2:  # side by side only when the panel is wide enough
        cut = int(w * 0.5)
        paste_photo(canvas, spec, (0, 0, cut, h), rng)
        panel = (cut + 20, 20, w - 20, h - 30)
    else:
        cut = int(h * 0.55)
        paste_photo(canvas, spec, (0, 0, w, cut), rng)
        panel = (20, cut + 10, w - 20, h - 24)
    lines = [Line(spec.brand.name, "serif_bold", 48, spec.brand.color),
             Line(spec.slogan, "serif", 26, INK, spec.slogan_angle),
             *extras(spec, spec.brand.color, 36)]
    draw_stack(canvas, lines, panel)
    small_print_line(canvas, spec, (90, 90, 90))
    return canvas


def layout_overlay(spec: AdSpec, rng: random.Random) -> Image.Image:
    """Full-bleed photo with a dark translucent text box at the bottom."""
    w, h = spec.size
    canvas = new_canvas(spec.size, INK)
    paste_photo(canvas, spec, (0, 0, w, h), rng)
    lines = [Line(spec.brand.name, "bold", 50),
             Line(spec.slogan, "sans", 26, (235, 235, 235), spec.slogan_angle),
             *extras(spec, spec.brand.accent, 32)]
    box_h = int(h * (0.34 + 0.08 * (len(lines) - 2)))
    box = (16, h - box_h - 16, w - 16, h - 16)
    shade = Image.new("RGBA", spec.size)
    ImageDraw.Draw(shade).rounded_rectangle(box, radius=18,
                                            fill=(0, 0, 0, 170))
    canvas.alpha_composite(shade)
    draw_stack(canvas, lines, (box[0] + 16, box[1] + 8, box[2] - 16,
                               box[3] - (22 if spec.small_print else 8)))
    small_print_line(canvas, spec, (200, 200, 200))
    return canvas


def framed_photo(canvas: Image.Image, spec: AdSpec, box: Box,
                 rng: random.Random, frame: RGB) -> None:
    x0, y0, x1, y1 = box
    ImageDraw.Draw(canvas).rectangle(box, fill=frame)
    paste_photo(canvas, spec, (x0 + 8, y0 + 8, x1 - 8, y1 - 8), rng)


def layout_poster(spec: AdSpec, rng: random.Random) -> Image.Image:
    """Solid colour poster: huge brand, framed photo, slogan, offer."""
    w, h = spec.size
    canvas = new_canvas(spec.size, spec.brand.color)
    top = int(h * 0.22)
    photo_box = (int(w * 0.12), top, int(w * 0.88), int(h * 0.62))
    framed_photo(canvas, spec, photo_box, rng, WHITE)
    draw_stack(canvas, [Line(spec.brand.name, "bold", 90)],
               (16, 8, w - 16, top - 8))
    lines = [Line(spec.slogan.upper(), "bold", 30, WHITE, spec.slogan_angle),
             *extras(spec, spec.brand.accent, 48)]
    draw_stack(canvas, lines, (16, photo_box[3] + 10, w - 16, h - 24))
    small_print_line(canvas, spec, WHITE)
    return canvas


def dashed_rectangle(draw: ImageDraw.ImageDraw, box: Box, color: RGB,
                     dash: int = 14, width: int = 3) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1, dash * 2):
        draw.line([(x, y0), (min(x + dash, x1), y0)], fill=color, width=width)
        draw.line([(x, y1), (min(x + dash, x1), y1)], fill=color, width=width)
    for y in range(y0, y1, dash * 2):
        draw.line([(x0, y), (x0, min(y + dash, y1))], fill=color, width=width)
        draw.line([(x1, y), (x1, min(y + dash, y1))], fill=color, width=width)


def layout_coupon(spec: AdSpec, rng: random.Random) -> Image.Image:
    """Cream coupon with dashed cut line, small photo, big price or offer."""
    w, h = spec.size
    canvas = new_canvas(spec.size, (252, 246, 222))
    dashed_rectangle(ImageDraw.Draw(canvas), (6, 6, w - 7, h - 7), INK)
    if w >= h:
        photo_box = (28, 28, int(w * 0.4), h - 40)
        text_box = (int(w * 0.4) + 20, 28, w - 28, h - 40)
    else:
        photo_box = (28, 28, w - 28, int(h * 0.42))
        text_box = (28, int(h * 0.42) + 12, w - 28, h - 40)
    framed_photo(canvas, spec, photo_box, rng, spec.brand.color)
    lines = [*extras(spec, (200, 30, 30), 64),
             Line(spec.brand.name, "serif_bold", 40, spec.brand.color),
             Line(spec.slogan, "serif", 24, INK, spec.slogan_angle)]
    draw_stack(canvas, lines, text_box)
    small_print_line(canvas, spec, (80, 80, 80))
    return canvas


def circle_photo(canvas: Image.Image, spec: AdSpec, center: tuple[int, int],
                 radius: int, rng: random.Random) -> None:
    d = 2 * radius
    disc = photo(spec.photo_key, (d, d), rng)
    mask = Image.new("L", (d, d))
    ImageDraw.Draw(mask).ellipse((0, 0, d - 1, d - 1), fill=255)
    canvas.paste(disc, (center[0] - radius, center[1] - radius), mask)


def layout_dark(spec: AdSpec, rng: random.Random) -> Image.Image:
    """Light text on a dark background beside a round photo."""
    w, h = spec.size
    canvas = new_canvas(spec.size, (18, 18, 24))
    if w >= h:
        r = int(min(w * 0.22, h * 0.4))
        circle_photo(canvas, spec, (int(w * 0.27), h // 2), r, rng)
        text_box = (int(w * 0.52), 20, w - 24, h - 30)
    else:
        r = int(min(w * 0.36, h * 0.22))
        circle_photo(canvas, spec, (w // 2, int(h * 0.3)), r, rng)
        text_box = (24, int(h * 0.55), w - 24, h - 30)
    lines = [Line(spec.brand.name, "bold", 46, (235, 235, 240)),
             Line(spec.slogan, "sans", 24, spec.brand.accent,
                  spec.slogan_angle),
             *extras(spec, spec.brand.accent, 34)]
    draw_stack(canvas, lines, text_box)
    small_print_line(canvas, spec, (150, 150, 160))
    return canvas


Layout = Callable[[AdSpec, random.Random], Image.Image]
LAYOUTS: tuple[Layout, ...] = (layout_banner, layout_split, layout_overlay,
                               layout_poster, layout_coupon, layout_dark)

# --------------------------------------------------------------------------
# Planning: sizes, text choices and file formats
# --------------------------------------------------------------------------

ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (2, 3), (4, 5))


def random_size(rng: random.Random) -> tuple[int, int]:
    """Long side 480-900 px, in landscape, square or portrait aspect."""
    aw, ah = rng.choice(ASPECTS)
    long_side = rng.randrange(480, 901, 10)
    if aw >= ah:
        return long_side, round(long_side * ah / aw)
    return round(long_side * aw / ah), long_side


def plan_ad(brand: Brand, index: int, slogans: list[str],
            rng: random.Random) -> tuple[AdSpec, Layout]:
    """Pick the content of one ad; layouts rotate so a brand uses many."""
    layout = LAYOUTS[(index + BRANDS.index(brand)) % len(LAYOUTS)]
    # Coupons are about the deal, so they always carry a price or offer.
    coupon = layout is layout_coupon
    price = rng.choice(brand.prices) if coupon or rng.random() < 0.6 else None
    offers = OFFERS + (("FREE SHIPPING",)
                       if brand.category in SHIPPED_CATEGORIES else ())
    offer = rng.choice(offers) if rng.random() < (0.7 if coupon else 0.4) \
        else None
    small = rng.choice(SMALL_PRINT) if coupon or rng.random() < 0.12 else None
    # A few ads tilt the slogan to give OCR a harder case.
    angle = 0.0
    if rng.random() < 0.15:
        angle = rng.choice((-1, 1)) * rng.uniform(5, 15)
    spec = AdSpec(brand, brand.photos[index % len(brand.photos)],
                  random_size(rng), slogans[index % len(slogans)], price,
                  offer, small, round(angle, 1))
    return spec, layout


def pick_format(rng: random.Random, flat: bool) -> str:
    """Mostly JPEG; PNG favoured for flat artwork where it stays small."""
    roll = rng.random()
    if roll < (0.45 if flat else 0.12):
        return "png"
    if roll < (0.55 if flat else 0.24):
        return "webp"
    return "jpg"


def save_image(img: Image.Image, path: Path, fmt: str,
               rng: random.Random) -> None:
    """Save with fixed encoder options so the bytes are reproducible."""
    img = img.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jpg":
        img.save(path, "JPEG", quality=rng.choice((85, 88, 90)),
                 subsampling=2, optimize=False, progressive=False)
    elif fmt == "png":
        img.save(path, "PNG", compress_level=9, optimize=False)
    elif fmt == "webp":
        img.save(path, "WEBP", quality=85, method=4, lossless=False,
                 exact=False)
    elif fmt == "gif":
        img.quantize(colors=128, method=Image.Quantize.MEDIANCUT,
                     dither=Image.Dither.NONE).save(path, "GIF")
    else:
        raise ValueError(fmt)


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def clean(out: Path) -> None:
    """Delete the files an earlier run wrote; keep everything else."""
    (out / "labels.csv").unlink(missing_ok=True)
    for sub in sorted(p for p in out.iterdir() if p.is_dir()):
        for f in sorted(sub.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                f.unlink()
        if not any(sub.iterdir()):
            sub.rmdir()


def generate_ads(out: Path, rng: random.Random) -> list[dict[str, str]]:
    rows = []
    gif_done = False
    for brand in BRANDS:
        slogans = list(brand.slogans)
        rng.shuffle(slogans)
        for i in range(brand.ads):
            spec, layout = plan_ad(brand, i, slogans, rng)
            img = layout(spec, rng)
            flat = layout in (layout_poster, layout_coupon) \
                or spec.photo_key in DRAWN
            fmt = pick_format(rng, flat)
            if flat and not gif_done and fmt == "png":
                fmt, gif_done = "gif", True  # one GIF is enough variety
            rel = f"{brand.category}/{slugify(brand.name)}-{i + 1:02d}.{fmt}"
            save_image(img, out / rel, fmt, rng)
            rows.append({"file": rel, "brand": brand.name,
                         "category": brand.category,
                         "text": TEXT_SEPARATOR.join(spec.texts())})
    return rows


def generate_photos(out: Path, rng: random.Random) -> list[dict[str, str]]:
    """Plain product photos with no text at all."""
    rows = []
    for i, (key, category) in enumerate(TEXT_FREE, start=1):
        img = photo(key, random_size(rng), rng)
        fmt = "png" if key in DRAWN else "jpg"
        rel = f"{category}/photo-{i:02d}.{fmt}"
        save_image(img, out / rel, fmt, rng)
        rows.append({"file": rel, "brand": "", "category": category,
                     "text": ""})
    return rows


def write_labels(out: Path, rows: list[dict[str, str]]) -> None:
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["file", "brand", "category", "text"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["file"]))


def generate(out: Path) -> list[dict[str, str]]:
    """Write the whole dataset into out and return the label rows."""
    out.mkdir(parents=True, exist_ok=True)
    clean(out)
    rng = random.Random(SEED)
    rows = generate_ads(out, rng) + generate_photos(out, rng)
    write_labels(out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dataset",
                        help="output folder (default: dataset/ in the "
                             "repository root)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    rows = generate(out)
    print(f"wrote {len(rows)} images and labels.csv to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

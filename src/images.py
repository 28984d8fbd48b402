"""Image files on disk: finding them, hashing them, decoding them safely."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True)
class ImageFormat:
    shown: str  # its name in messages
    media_type: str  # served with it
    extensions: tuple[str, ...]  # the names of dataset files in it end so; a saved upload takes the first


# The one list of the formats an image may come in, for dataset files, uploads and query images alike:
# Pillow's reader -> the format. Only these readers may look at a file, and the format is sniffed from
# the content by them alone, whatever the file's name says. Each decodes in Pillow itself; formats such
# as EPS hand the file to an outside program (Ghostscript), which one looping 60-byte file kept busy for ever.
FORMATS: dict[str, ImageFormat] = {
    "JPEG": ImageFormat("JPEG", "image/jpeg", (".jpg", ".jpeg")),
    "PNG": ImageFormat("PNG", "image/png", (".png",)),
    "WEBP": ImageFormat("WebP", "image/webp", (".webp",)),
    "GIF": ImageFormat("GIF", "image/gif", (".gif",)),
    "BMP": ImageFormat("BMP", "image/bmp", (".bmp",)),
}
# What a reader may report finding besides its own name -> that reader. MPO is a JPEG with several
# pictures in it, as many cameras write them; the JPEG reader opens it.
VARIANTS = {"MPO": "JPEG"}


def accepted_formats() -> str:
    """The accepted formats for messages: "JPEG, PNG, WebP, GIF or BMP"."""
    shown = [f.shown for f in FORMATS.values()]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def image_extensions() -> frozenset[str]:
    """The file name endings of the accepted formats (".jpg", ".png", ...)."""
    return frozenset(ext for f in FORMATS.values() for ext in f.extensions)


def format_of(found: str) -> ImageFormat:
    """The accepted format of what a reader reported (a name sniff_format or decode_image returns)."""
    return FORMATS[VARIANTS.get(found, found)]


# Time budget of one decode, checked each time the decoder asks for more of the file (every 64 KiB); with
# the pixel budget it bounds what one image can cost. A 100-megapixel PNG decodes in about 2 s.
DECODE_SECONDS = 10.0
# Pillow's own bomb check warns at 89 Mpx and fails at twice that; we fail clearly at our limit instead
# (src/runtime.configure turns Pillow's check off).
MAX_PIXELS = 100_000_000


class ImageError(Exception):
    """A file that cannot be used as an image; the message is the reason shown to users."""


class NotAnAcceptedFormat(ImageError):
    """Content that none of the accepted formats' readers recognises (the file may be empty)."""


@dataclass(frozen=True)
class ImageFile:
    path: str  # relative to the dataset folder, with forward slashes
    abs_path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, upright, possibly reduced in size while decoding
    width: int  # of the upright original
    height: int
    format: str


def find_images(root: Path) -> tuple[list[ImageFile], list[Skipped]]:
    """Every image file below root, sorted by path; symlinks leading out of root are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    real_root = root.resolve()
    extensions = image_extensions()
    found: list[ImageFile] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            abs_path = Path(dirpath) / name
            if name.startswith(".") or abs_path.suffix.lower() not in extensions:
                continue
            rel = abs_path.relative_to(root).as_posix()
            if not _is_utf8(rel):  # such a path cannot go into JSON: every page showing it would fail
                shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                skipped.append(Skipped(shown, "file name is not valid UTF-8; rename the file"))
                continue
            if not abs_path.resolve().is_relative_to(real_root):
                skipped.append(Skipped(rel, "symlink to a file outside the image folder"))
                continue
            try:
                stat = abs_path.stat()
            except OSError as exc:
                skipped.append(Skipped(rel, f"cannot read: {exc.strerror or exc}"))
                continue
            found.append(ImageFile(rel, abs_path, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda f: f.path)
    return found, skipped


def _is_utf8(name: str) -> bool:
    """False for a name whose bytes on disk are not UTF-8 (Python holds them as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def resolve_inside(root: Path, rel_path: str) -> Path | None:
    """The image file rel_path names inside root, or None if it is missing or would escape root."""
    if not rel_path or "\x00" in rel_path or rel_path.startswith(("/", "\\")):
        return None
    candidate = Path(root) / rel_path
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(Path(root).resolve()):
        return None
    if resolved.suffix.lower() not in image_extensions() or not resolved.is_file():
        return None
    return resolved


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Deadline:
    """A file that refuses to be read past a deadline: Pillow's decoders read as they decode, so a decode
    that runs over its budget stops at its next read."""

    def __init__(self, handle: BinaryIO, seconds: float):
        self._handle = handle
        self._deadline = time.monotonic() + seconds
        self._seconds = seconds

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() > self._deadline:
            raise ImageError(f"decoding took longer than {self._seconds:g} s, the limit for one image")
        return self._handle.read(size)

    def __getattr__(self, name):  # seek, tell...
        return getattr(self._handle, name)


def sniff_format(path: Path | BinaryIO) -> str:
    """The format of an image file from its first bytes (a key of FORMATS or VARIANTS); raises ImageError.
    Reads the header only, so it is cheap enough for every served file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=list(FORMATS)) as image:
                return _known(image.format)
    except UnidentifiedImageError:
        raise NotAnAcceptedFormat(f"not a {accepted_formats()} image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot decode: {exc}") from None


def decode_image(path: Path | BinaryIO, min_side: int | None = None,
                 seconds: float = DECODE_SECONDS) -> DecodedImage:
    """Decode an image upright in RGB: one of FORMATS, sniffed from the content, within MAX_PIXELS and
    the time budget (seconds); anything else raises ImageError with the reason.

    With min_side, the image is shrunk so its shorter side is min_side (never enlarged): the model sees
    224 px anyway, and JPEG decoding can skip the detail, which is several times faster on big photos.
    """
    try:
        with warnings.catch_warnings(), _opened(path) as handle:
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF, palettes with alpha...
            with Image.open(_Deadline(handle, seconds), formats=list(FORMATS)) as image:
                width, height = image.size  # from the header: a bomb is refused before it is decoded
                if width * height > MAX_PIXELS:
                    raise ImageError(f"too many pixels: {width}x{height} ({width * height / 1_000_000:.0f} "
                                     f"megapixels), the limit is {MAX_PIXELS // 1_000_000} megapixels")
                fmt = _known(image.format)
                orientation = image.getexif().get(0x0112, 1)
                if min_side and fmt == "JPEG":
                    image.draft("RGB", (min_side, min_side))
                # Each step below makes a new image only when it changes something: on a 100-megapixel
                # picture every needless copy costs a second.
                rgb = _to_rgb(image)
                if orientation in TRANSPOSES:  # upright before shrinking: a rotated copy gives the same pixels
                    rgb = rgb.transpose(TRANSPOSES[orientation])
                rgb = _shrunk(rgb, min_side)
                if rgb is image:
                    rgb = image.copy()  # the opened image's memory is freed when it closes
    except ImageError:
        raise
    except UnidentifiedImageError:
        if _is_empty(path):
            raise NotAnAcceptedFormat(f"not an image: the file is empty; choose a {accepted_formats()} file with "
                                      "the picture in it") from None
        raise NotAnAcceptedFormat(f"not an image in an accepted format ({accepted_formats()}); the file's name "
                                  "does not count, its content does") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot decode: {exc}; the file may be damaged or cut short: save it again as "
                         f"{accepted_formats()}") from None
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees: the upright size swaps
        width, height = height, width
    return DecodedImage(rgb, width, height, fmt)


# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose does).
TRANSPOSES = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def _shrunk(image: Image.Image, min_side: int | None) -> Image.Image:
    """image with its shorter side brought down to min_side (never enlarged); reducing_gap first shrinks
    by whole factors, about 9 times faster than plain bicubic on 100 megapixels."""
    if not min_side or min(image.size) <= min_side:
        return image
    scale = min_side / min(image.size)
    size = (max(min_side, round(image.width * scale)), max(min_side, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _known(found: str | None) -> str:
    """What a reader reported, if it is an accepted format (a reader may know variants we do not)."""
    if found not in FORMATS and VARIANTS.get(found or "") not in FORMATS:
        raise ImageError(f"not a {accepted_formats()} image ({found or 'an unknown variant'})")
    return found or ""


def _opened(source: Path | BinaryIO):
    """A file object for source: opened here (and closed after) for a path, as given otherwise."""
    if hasattr(source, "read"):
        return nullcontext(source)
    return open(source, "rb")


def _is_empty(source: Path | BinaryIO) -> bool:
    try:
        return (source.seek(0, os.SEEK_END) if hasattr(source, "seek") else os.stat(source).st_size) == 0
    except OSError:
        return False


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for the model; transparent areas become white, as they show on a page."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of clipping everything to white.
        image = image.point(lambda v: v / 256).convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        return background
    image.load()
    return image.convert("RGB") if image.mode != "RGB" else image

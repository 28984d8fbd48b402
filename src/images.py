"""Image files on disk: finding them, hashing them, decoding them safely."""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
# Pillow's own bomb check warns at 89 Mpx and fails at twice that; we fail clearly at our limit instead
# (src/runtime.configure turns Pillow's check off).
MAX_PIXELS = 100_000_000


class ImageError(Exception):
    """A file that cannot be used as an image; the message is the reason shown to users."""


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
    found: list[ImageFile] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            abs_path = Path(dirpath) / name
            if name.startswith(".") or abs_path.suffix.lower() not in IMAGE_EXTENSIONS:
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
    if resolved.suffix.lower() not in IMAGE_EXTENSIONS or not resolved.is_file():
        return None
    return resolved


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decode_image(path: Path | BinaryIO, min_side: int | None = None) -> DecodedImage:
    """Decode an image upright in RGB.

    With min_side, the image is shrunk so its shorter side is min_side (never enlarged): the model sees
    224 px anyway, and JPEG decoding can skip the detail, which is several times faster on big photos.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF, palettes with alpha...
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"image too large: {width}x{height} pixels (limit {MAX_PIXELS // 1_000_000} megapixels)"
                    )
                fmt = image.format or "unknown"
                orientation = image.getexif().get(0x0112, 1)
                if min_side and fmt == "JPEG":
                    image.draft("RGB", (min_side, min_side))
                upright = ImageOps.exif_transpose(image)
                rgb = _to_rgb(upright)
    except ImageError:
        raise
    except UnidentifiedImageError:
        if _is_empty(path):
            raise ImageError("not an image: the file is empty") from None
        raise ImageError("not an image Pillow can read (wrong extension or unknown format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot decode: {exc}") from None
    if min_side and min(rgb.size) > min_side:
        scale = min_side / min(rgb.size)
        rgb = rgb.resize((max(min_side, round(rgb.width * scale)), max(min_side, round(rgb.height * scale))), Image.BICUBIC)
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees: the upright size swaps
        width, height = height, width
    return DecodedImage(rgb, width, height, fmt)


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
    return image.convert("RGB") if image.mode != "RGB" else image.copy()

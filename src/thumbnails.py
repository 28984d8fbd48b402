"""Thumbnails for the result grid, made on first request and kept on disk."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from src.atomic import write_atomically
from src.images import decode_image

THUMB_SIDE = 320


def thumbnail(image_path: Path, cache_dir: Path) -> Path:
    """The cached JPEG thumbnail of image_path, made now if missing or if the image changed.

    Keyed by path, size and mtime, so an edited image gets a fresh thumbnail. Raises ImageError.
    """
    stat = image_path.stat()
    key = hashlib.sha256(f"{image_path}|{stat.st_size}|{stat.st_mtime_ns}|{THUMB_SIDE}".encode()).hexdigest()
    target = cache_dir / "thumbnails" / key[:2] / f"{key}.jpg"
    if target.exists():
        return target
    decoded = decode_image(image_path, min_side=THUMB_SIDE)
    image = decoded.image
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=82)
    write_atomically(target, encoded.getvalue())  # two requests for one thumbnail never see half a file
    return target

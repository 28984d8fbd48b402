"""Process-wide set-up, done once by the command line and by the app's start-up, never on import."""

from __future__ import annotations

import os

from PIL import Image


def configure() -> None:
    # OpenMP threads that wait for work sleep instead of spinning (unless the user says otherwise). OCR
    # workers and the web server share the cores with torch: with spinning threads indexing with OCR ran
    # at 5.2 images/s, with sleeping ones at 6.1, and the model alone ran as fast. Read when torch loads,
    # so this must run before the first model is loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Pillow's own bomb check warns at 89 Mpx and fails at twice that; src/images.py fails clearly at its
    # own limit (MAX_PIXELS) from the header instead, before any pixel is decoded.
    Image.MAX_IMAGE_PIXELS = None

"""The changes the crash trials kill mid-way (tests/integration/test_crash_safety.py): uploads and removals
through the same code the app runs, in a process of their own. Run again, it finishes what is left:
it first does what `serve` does at start (finish_interrupted), and uploading known content or removing
what is gone changes nothing. Prints "step N" as each change is done, so a trial can aim its kill.

    python -m tests.integration.crash_driver UPLOAD_FOLDER   (settings from the environment)
"""

import contextlib
import sys
from pathlib import Path

from src.embedding import ClipEmbedder
from src.recovery import finish_interrupted
from src.removal import NotIndexed, remove_image
from src.runtime import configure
from src.settings import Settings
from src.store import open_store
from src.uploads import add_images

REMOVED = ["cars/a.jpg", "food/e.gif"]  # with their files


def main(uploads: Path) -> None:
    configure()
    settings = Settings.load()
    embedder = ClipEmbedder.from_settings(settings).load()
    with open_store(settings) as store:
        finish_interrupted(settings, store, notify=lambda line: None)
        step = 0
        for file in sorted(uploads.iterdir()):
            add_images([(file.name, file.read_bytes())], settings, embedder, store, None)
            step += 1
            print(f"step {step}", flush=True)
        for path in REMOVED:
            with contextlib.suppress(NotIndexed):  # removed by the run that was killed
                remove_image(settings, store, path, delete_files=True)
            step += 1
            print(f"step {step}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

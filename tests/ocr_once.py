"""OCR text read once per test run, for the tests that need an ad's text but do not test reading it.

Reading one ad with both engines costs about a second of both cores, and every new reader starts its
worker processes and loads PP-OCR's models; tests of search, the result view, the EDA page and the
evaluation read the same bundled ads again and again (a third of `make test-fast`). `give_text(images,
text_dir)` leaves in text_dir what an earlier `index` of that folder would have: each image's cached
reading by the default engines. What no test of the run has read yet is read once, under a lock that
the xdist workers share. Tests of OCR, of its failures and of the cache's own rules read cold instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from src.images import file_sha256, find_images
from src.text_cache import TextCache
from src.text_reading import TextReader
from tests.helpers import run_lock


class OcrOnce:
    def __init__(self, folder: Path, langs: str):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        # One reader for the test process: its workers start and load the engines' models once.
        self._reader = TextReader(TextCache(folder, langs))

    def close(self) -> None:
        self._reader.close()

    def give_text(self, images: Path, text_dir: Path) -> None:
        files, _ = find_images(images)
        contents = {f.path: (f.abs_path, file_sha256(f.abs_path)) for f in files}
        with run_lock(self.folder):
            unread = {sha: path for path, sha in contents.values() if not (self.folder / f"{sha}.json").exists()}
            if unread:
                # The shared cache is keyed by content, so one reading serves every test's copy of an ad.
                for pending in [self._reader.submit(sha, path, sha) for sha, path in unread.items()]:
                    self._reader.result(pending)
        for rel_path, (_, sha) in contents.items():
            for suffix in (".txt", ".json"):
                target = text_dir / f"{rel_path}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.folder / f"{sha}{suffix}", target)


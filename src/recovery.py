"""What a killed process left half-done, finished at the next start (`serve`) or `index`: uploads
written but not moved into place, and removals whose files were renamed aside."""

from __future__ import annotations

from collections.abc import Callable

from src import removal, uploads
from src.settings import Settings
from src.store import Store


def finish_interrupted(settings: Settings, store: Store, notify: Callable[[str], None] = print) -> int:
    """Finish or undo every change cut short; returns how many there were."""
    if not settings.dataset_dir.is_dir():
        return 0
    done = uploads.finish_interrupted(settings, store) + removal.finish_interrupted(settings, store)
    for line in done:
        notify(line)
    return len(done)

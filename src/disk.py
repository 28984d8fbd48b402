"""A full disk or a read-only folder, said once and clearly: which folder, what to do, and the HTTP
status the web layer answers with (507 for no space, 503 for a folder that cannot be written)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


class DiskError(OSError):
    """Writing failed for want of space or permission; nothing was half-written. str() is for users."""

    def __init__(self, code: int, message: str):
        super().__init__(code, message)
        self.message = message
        self.status = 507 if code in NO_SPACE else 503

    def __str__(self) -> str:
        return self.message


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE | NOT_WRITABLE


def disk_error(exc: OSError, what: str, folder: Path | str | None = None) -> DiskError:
    """The user's message for a failed write: `what` is the thing being written ("the upload")."""
    if isinstance(exc, DiskError):
        return exc
    code = exc.errno or 0
    where = Path(folder) if folder is not None else Path(exc.filename or ".")
    if exc.errno in NO_SPACE:
        return DiskError(code, f"no space left on the disk holding {where}: {what} was not written; "
                                    "free some space and try again (nothing was half-written)")
    return DiskError(code, f"{where} cannot be written ({exc.strerror}): {what} was not written; "
                                "make the folder writable and try again")


def free_bytes(folder: Path) -> int:
    """Free space for this process in folder's file system (the nearest existing parent's)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free

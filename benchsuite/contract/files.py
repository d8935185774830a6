"""Files read whole: a regular file of bounded size, opened without blocking, so that a FIFO or a device is refused
instead of waited on or read without end. Each reader words the refusal for its own file (``FileRefused.reason``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """Why a file was not read: ``reason`` is "unreadable" (``detail``: the system's words), "not regular",
    "too large" (``detail``: its size in bytes) or "grew" (longer than its size when read: still being written, or
    not a file on disk, as under /proc)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def bounded_bytes(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; a missing file is a FileNotFoundError,
    anything else that stops it a ``FileRefused``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise FileRefused("unreadable", error.strerror or str(error)) from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise FileRefused("not regular")
        if status.st_size > limit:
            raise FileRefused("too large", str(status.st_size))
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(status.st_size + 1)  # one byte more than its size: a file that grows is refused
    except OSError as error:
        raise FileRefused("unreadable", error.strerror or str(error)) from None
    finally:
        os.close(fd)
    if len(data) > status.st_size:
        raise FileRefused("grew", str(status.st_size))
    return data

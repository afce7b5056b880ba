"""Low-level local writes: ``O_DIRECT`` (the flag where the system has one, the alignment it needs, how a filesystem
refuses it), the plain writes both object writers (big files, packs) build on, and directory syncs that make a
rename durable."""

from __future__ import annotations

import errno
import mmap
import os

__all__ = ["ALIGN", "NO_DIRECT", "O_DIRECT", "fsync_dir", "pwrite_all", "pwrite_plain"]

ALIGN = 4096
"""O_DIRECT needs buffer address, file offset and length aligned to the device's blocks."""

O_DIRECT: int = getattr(os, "O_DIRECT", 0)
"""The flag, or 0 where the system has none (macOS, ...)."""

NO_DIRECT = frozenset({errno.EINVAL, errno.EOPNOTSUPP})
"""How a filesystem refuses O_DIRECT (at open or at the first write)."""


def pwrite_all(fd: int, buf: mmap.mmap | bytes, start: int, end: int, offset: int) -> None:
    """Write ``buf[start:end]`` at ``offset`` of ``fd`` (short writes continued)."""
    with memoryview(buf) as view:  # released even on an error, else an mmap buffer could not be closed
        while start < end:
            with view[start:end] as part:
                done = os.pwrite(fd, part, offset)
            start, offset = start + done, offset + done


def pwrite_plain(path: str, buf: mmap.mmap | bytes, start: int, end: int, offset: int) -> None:
    """Write ``buf[start:end]`` at ``offset`` of the existing file ``path`` through the page cache (the unaligned
    end of a file otherwise written with O_DIRECT)."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        pwrite_all(fd, buf, start, end, offset)
    finally:
        os.close(fd)


def fsync_dir(path: str, *, strict: bool = False) -> None:
    """Make the renames and new entries in the directory ``path`` durable.

    By default a failure is ignored (a system or filesystem where directories cannot be opened or synced gives no
    stronger guarantee anyway); ``strict`` raises it, for a writer whose next step must not become durable before
    this one (a pack's index before the pack's name).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)

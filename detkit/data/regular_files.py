"""Only regular files are read. A FIFO given where a file is due blocks ``open`` until some
writer appears (forever, as a rule); a character device reads without end (``/dev/zero``) or
as empty (``/dev/null``); a folder cannot be read at all. Every reader of a user's file opens
it through `open_regular`, which never blocks (``O_NONBLOCK``) and then looks at what it opened
(``fstat`` on the descriptor, so the answer is about this very file, not one swapped in later)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotARegularFile(OSError):
    """A path that names something other than a regular file; ``strerror`` says what."""

    def __init__(self, path: str | Path, kind: str):
        super().__init__(errno.EINVAL, f"{kind}, not a regular file", str(path))


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("a FIFO (named pipe)")."""
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path) -> int:
    """A descriptor of ``path`` opened for reading, or `NotARegularFile` when it names a FIFO,
    a device, a socket or a folder (other `OSError`s as ``open`` raises them). Never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotARegularFile(path, kind_of(mode))
    os.set_blocking(fd, True)
    return fd


def open_regular_file(path: str | Path) -> BinaryIO:
    """`open_regular` as a buffered binary file object (for PIL and other readers of files),
    named by ``path`` as ``open`` names it (PIL's messages show the name)."""
    file = os.fdopen(open_regular(path), "rb")
    file.raw.name = os.fspath(path)
    return file


def read_head(path: str | Path, size: int) -> bytes | None:
    """The first ``size`` bytes of a regular file, to tell its kind by; None when it cannot be
    read (a FIFO or a device is refused, never waited on)."""
    try:
        with open_regular_file(path) as file:
            return file.read(size)
    except OSError:
        return None


def read_regular(path: str | Path, max_bytes: int | None = None) -> bytes:
    """The whole of a regular file, in one read; with ``max_bytes``, a file larger than that
    raises `FileTooLarge` before anything is read."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if max_bytes is not None and size > max_bytes:
            raise FileTooLarge(path, size, max_bytes)
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as file:
            return file.readall()
    finally:
        os.close(fd)


class FileTooLarge(OSError):
    """A file above the size a reader takes; ``strerror`` gives both sizes."""

    def __init__(self, path: str | Path, size: int, limit: int):
        self.size, self.limit = size, limit
        super().__init__(errno.EFBIG, f"{size:,} bytes, over the limit of {limit:,}", str(path))

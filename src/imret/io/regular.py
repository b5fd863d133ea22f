"""Opening regular files only, without ever blocking on a FIFO, socket or device."""
from __future__ import annotations

import os
import stat
from typing import BinaryIO, Union

from .errors import ImageDecodeError, ImageNotFoundError, NotRegularFileError

PathLike = Union[str, os.PathLike]
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` is, in words ("a regular file", "a FIFO (named pipe)", ...)."""
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def not_regular_reason(mode: int) -> str:
    """The reason given when a file of ``st_mode`` is refused or skipped."""
    return f"it is {file_kind(mode)}, not a regular file; imret opens regular files only"


def _stat_error(path: str, exc: OSError) -> ImageDecodeError:
    if isinstance(exc, FileNotFoundError):
        return ImageNotFoundError(path, "no such file; check the path")
    return ImageDecodeError(path, f"cannot read the file: {exc.strerror or exc}")


def open_regular(path: PathLike) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symlinks followed).

    FIFOs, sockets, devices and directories raise ``NotRegularFileError`` and are never opened in
    blocking mode: the type is checked with ``stat`` first and again on the opened descriptor
    (``O_NONBLOCK``), so a file swapped for a FIFO in between cannot hang the caller.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    try:
        before = os.stat(name)
    except OSError as exc:
        raise _stat_error(name, exc) from None
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFileError(name, not_regular_reason(before.st_mode))
    try:
        descriptor = os.open(name, _OPEN_FLAGS)
    except OSError as exc:
        raise _stat_error(name, exc) from None
    try:
        after = os.fstat(descriptor)
        if not stat.S_ISREG(after.st_mode):
            raise NotRegularFileError(name, not_regular_reason(after.st_mode))
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: PathLike) -> bytes:
    """All bytes of the regular file ``path`` (see ``open_regular``)."""
    with open_regular(path) as handle:
        return handle.read()

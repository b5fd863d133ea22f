"""Replacing a file in one step: readers see the old content or the new, never a partial write."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where the OS allows)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it: set and restore at once
    os.umask(mask)
    return mask


def fsync_file(path: Union[str, os.PathLike]) -> None:
    """Flush a file's content to disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Union[str, os.PathLike]) -> None:
    """Flush a directory's entries (renames into it) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_output(path: Union[str, os.PathLike], durable: bool = False) -> Iterator[str]:
    """A temporary file name beside ``path``; when the block succeeds it replaces ``path``.

    If the block raises, ``path`` is untouched and the temporary file is removed. ``durable`` also
    flushes the new content and the rename to disk, so the replacement survives a power loss. The
    file gets the mode a plain ``open(path, 'w')`` would give (0666 minus the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(handle, 0o666 & ~current_umask())
        finally:
            os.close(handle)
        yield temp
        if durable:
            fsync_file(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent.resolve())

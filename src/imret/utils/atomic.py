"""Replacing a file in one step: readers see the old content or the new, never a partial write."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union


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
    flushes the new content and the rename to disk, so the replacement survives a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield temp
        if durable:
            fsync_file(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent.resolve())

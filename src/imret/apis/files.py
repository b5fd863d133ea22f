"""Finding image files in folders and fingerprinting a set of files."""
from __future__ import annotations

import hashlib
import os
import warnings
from typing import Callable, Iterable, Optional

from imret.io import display_name, walk_images
from imret.io.walk import IMAGE_EXTENSIONS

__all__ = ["IMAGE_EXTENSIONS", "SkippedFileWarning", "files_fingerprint", "list_image_files"]


class SkippedFileWarning(UserWarning):
    """Warned for a file with an image extension that is not a regular file (FIFO, socket, ...)."""


def _warn_skipped(path: str, reason: str) -> None:
    warnings.warn(f"skipped {display_name(path)}: {reason}", SkippedFileWarning, stacklevel=3)


def list_image_files(folder: str | os.PathLike,
                     on_skip: Optional[Callable[[str, str], None]] = None) -> list[str]:
    """Image files under ``folder`` (recursive, by extension, hidden names left out), sorted.

    Only regular files are listed (``imret.io.walk_images``); each skipped entry (FIFO, socket,
    device, unreadable folder) is passed to ``on_skip(path, reason)``, or warned
    (``SkippedFileWarning``) when ``on_skip`` is None.
    """
    scan = walk_images(folder)
    report = on_skip or _warn_skipped
    for path, reason in scan.skipped.items():
        report(path, reason)
    return scan.paths


def files_fingerprint(paths: Iterable[str]) -> str:
    """A hash of the paths with their sizes and modification times (changes when any file does)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            state = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            state = "missing"
        digest.update(os.fsencode(os.path.abspath(path)) + f"\0{state}\n".encode())
    return digest.hexdigest()

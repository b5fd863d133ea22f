"""Listing the image files of a gallery folder with their size and modification time."""
from __future__ import annotations

import os
from typing import Iterable

from imret.io.walk import IMAGE_EXTENSIONS, FileEntry, walk_images

__all__ = ["IMAGE_EXTENSIONS", "FileEntry", "scan_folder"]


def scan_folder(folder: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> tuple[list[FileEntry], dict[str, str]]:
    """Image files under ``folder`` sorted by id (absolute paths), and ``{path: reason}`` for skipped entries.

    ``imret.io.walk_images`` does the walk: regular files only (FIFOs, sockets, devices are skipped
    with the reason, never opened), hidden names left out, any file name (non-UTF-8 names as
    surrogate-escaped ``str``).
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"gallery folder {os.fsdecode(folder)!r} does not exist or is not a directory")
    scan = walk_images(os.path.abspath(folder), extensions)
    return scan.entries, scan.skipped

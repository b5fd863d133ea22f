"""Listing the image files of a gallery folder with their size and modification time."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")


@dataclass(frozen=True)
class FileEntry:
    """A file found under the folder: id (posix path relative to the folder), absolute path, size, mtime."""

    id: str
    path: str
    size: int
    mtime: float


def scan_folder(folder: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> tuple[list[FileEntry], dict[str, str]]:
    """Image files under ``folder`` sorted by id, and ``{path: reason}`` for entries that cannot be read."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"gallery folder {folder!r} does not exist or is not a directory")
    suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    root = os.path.abspath(folder)
    entries, failed = [], {}

    def on_error(err: OSError) -> None:
        failed[err.filename] = f"cannot list directory: {err.strerror}"

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames.sort()
        for name in filenames:
            if not name.lower().endswith(suffixes):
                continue
            path = os.path.join(dirpath, name)
            try:
                stat = os.stat(path)
            except OSError as exc:
                failed[path] = f"cannot stat: {exc.strerror}"
                continue
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            entries.append(FileEntry(rel, path, stat.st_size, stat.st_mtime))
    entries.sort(key=lambda e: e.id)
    return entries, failed

"""Finding image files in folders and fingerprinting a set of files."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

from imret.index.scan import IMAGE_EXTENSIONS


def list_image_files(folder: str | os.PathLike) -> list[str]:
    """Image files under ``folder`` (recursive, by extension, hidden files skipped), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
        for name in names:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.join(directory, name))
    return sorted(found)


def files_fingerprint(paths: Iterable[str]) -> str:
    """A hash of the paths with their sizes and modification times (changes when any file does)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            state = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            state = "missing"
        digest.update(f"{os.path.abspath(path)}\0{state}\n".encode())
    return digest.hexdigest()

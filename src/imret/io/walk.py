"""``walk_images``: the one folder walker (galleries, query folders, prototype folders, datasets)."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Union

from .regular import not_regular_reason

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")


@dataclass(frozen=True)
class FileEntry:
    """A file found under the folder: id (posix path relative to the folder), path, size, mtime."""

    id: str
    path: str
    size: int
    mtime: float


@dataclass
class FolderScan:
    """The image files of a folder sorted by id, and ``{path: reason}`` for what was skipped."""

    entries: list[FileEntry] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> list[str]:
        """The entries' paths, in id order."""
        return [entry.path for entry in self.entries]


def normalize_extensions(extensions: Union[Iterable[str], str]) -> tuple[str, ...]:
    """Lower-case extensions with a leading dot (``'JPG'`` -> ``'.jpg'``)."""
    if isinstance(extensions, str):
        extensions = (extensions,)
    result = tuple(ext.lower() if ext.startswith(".") else "." + ext.lower() for ext in extensions)
    if not result:
        raise ValueError("extensions must name at least one file extension, e.g. ('.jpg', '.png')")
    return result


def walk_images(folder: Union[str, os.PathLike], extensions: Union[Iterable[str], str] = IMAGE_EXTENSIONS
                ) -> FolderScan:
    """Files under ``folder`` (recursively) whose name ends in one of ``extensions`` (any case).

    Hidden files and folders (name starting with '.') are left out. Symbolic links are followed,
    each directory is listed once (no link loops). Only regular files are returned: FIFOs, sockets,
    devices and broken links with an image extension are skipped with the reason, never opened, as
    are files that cannot be stat'ed and folders that cannot be listed; none of these fails the walk.
    Names that are not valid UTF-8 come back as ``str`` with surrogate escapes (``os.fsdecode``),
    which open the right file; show them with ``display_name``. Entry paths are ``folder`` joined
    with the relative path; ids are the relative paths with '/' separators.

    Raises ``NotADirectoryError`` naming ``folder`` when it is not a directory.
    """
    root = os.fsdecode(os.fspath(folder))
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root} is not a folder (or does not exist)")
    suffixes = normalize_extensions(extensions)
    scan = FolderScan()
    visited: set[tuple[int, int]] = set()
    pending = [("", root)]
    while pending:
        relative, directory = pending.pop()
        try:
            info = os.stat(directory)
            if (info.st_dev, info.st_ino) in visited:
                scan.skipped[directory] = "folder already listed through another path (symbolic link loop?)"
                continue
            visited.add((info.st_dev, info.st_ino))
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda item: item.name)
        except OSError as exc:
            scan.skipped[directory] = f"cannot list the folder: {exc.strerror or exc}"
            continue
        subfolders = []
        for child in children:
            if child.name.startswith("."):
                continue
            rel = f"{relative}/{child.name}" if relative else child.name
            try:
                if child.is_dir():
                    subfolders.append((rel, child.path))
                    continue
            except OSError:
                pass
            if not child.name.lower().endswith(suffixes):
                continue
            try:
                info = child.stat()
            except FileNotFoundError:
                scan.skipped[child.path] = "broken symbolic link or removed while listing"
                continue
            except OSError as exc:
                scan.skipped[child.path] = f"cannot stat: {exc.strerror or exc}"
                continue
            if not stat.S_ISREG(info.st_mode):
                scan.skipped[child.path] = not_regular_reason(info.st_mode)
                continue
            scan.entries.append(FileEntry(rel, child.path, info.st_size, info.st_mtime))
        pending.extend(reversed(subfolders))
    scan.entries.sort(key=lambda entry: entry.id)
    return scan

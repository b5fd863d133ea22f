"""Serving gallery files and their thumbnails: only files inside the gallery root, never outside it."""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

from imret.index.scan import IMAGE_EXTENSIONS

from .errors import ApiError

MAX_ID_LENGTH = 1024


def check_item_id(item_id: str) -> str:
    """``item_id`` if it is a plausible gallery id (a relative posix path without tricks), else 400."""
    shown = item_id if len(item_id) <= 80 else item_id[:77] + "..."
    problem = None
    if not item_id:
        problem = "it is empty"
    elif len(item_id) > MAX_ID_LENGTH:
        problem = f"it is longer than {MAX_ID_LENGTH} characters"
    elif any(ord(char) < 32 or char == "\x7f" for char in item_id):
        problem = "it contains control characters"
    elif "\\" in item_id or item_id.startswith("/") or (len(item_id) > 1 and item_id[1] == ":"):
        problem = "ids are relative paths with '/' separators"
    elif any(part in ("", ".", "..") for part in item_id.split("/")):
        problem = "it contains an empty, '.' or '..' path segment"
    if problem:
        raise ApiError(400, "bad_id", f"invalid gallery id {shown!r}: {problem}")
    return item_id


@dataclass(frozen=True)
class GalleryFile:
    """A gallery file that may be served: its real path and what identifies its content."""

    real_path: str
    size: int
    mtime_ns: int

    @property
    def etag(self) -> str:
        return hashlib.sha256(f"{self.real_path}\0{self.size}\0{self.mtime_ns}".encode()).hexdigest()[:32]


def resolve_gallery_file(snapshot, item_id: str) -> GalleryFile:
    """The file of ``item_id`` under the snapshot's gallery root, or an :class:`ApiError` saying why not.

    The file must be ``root/id`` as recorded at indexing time, resolve (symlinks followed) to a regular
    file inside the real root, and have an image extension.
    """
    from .adapter import UnknownItemError

    check_item_id(item_id)
    try:
        recorded = snapshot.stored_path(item_id)
    except UnknownItemError:
        raise ApiError(404, "unknown_id", f"no gallery item with id {item_id!r} in the index") from None
    root = snapshot.root
    if root is None:
        raise ApiError(404, "no_gallery_root", "this index records no single gallery folder, so its files are "
                                               "not served; rebuild it with imret index GALLERY --out INDEX")
    expected = os.path.join(root, *item_id.split("/"))
    if recorded is None or os.path.normpath(recorded) != os.path.normpath(expected):
        raise ApiError(403, "outside_gallery", f"gallery item {item_id!r} is not stored under the gallery folder")
    real_root = os.path.realpath(root)
    real = os.path.realpath(expected)
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        raise ApiError(403, "outside_gallery", f"gallery item {item_id!r} links outside the gallery folder")
    if not real.lower().endswith(IMAGE_EXTENSIONS):
        raise ApiError(403, "not_an_image", f"gallery item {item_id!r} is not an image file")
    try:
        stat = os.stat(real)
    except OSError:
        raise ApiError(404, "file_missing", f"the file of gallery item {item_id!r} is gone from the gallery "
                                            "folder; re-run imret index") from None
    if not os.path.isfile(real):
        raise ApiError(404, "file_missing", f"gallery item {item_id!r} is not a regular file")
    return GalleryFile(real, stat.st_size, stat.st_mtime_ns)


class ThumbnailCache:
    """Thumbnails in memory, least recently used dropped first, within ``max_bytes``.

    Keyed by the file's real path, size, modification time and thumbnail size, so an edited file gets
    a fresh thumbnail.
    """

    def __init__(self, make: Callable[[str, str, int], bytes], size_px: int, max_bytes: int) -> None:
        self._make, self.size_px, self.max_bytes = make, size_px, max_bytes
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, file: GalleryFile, name: str) -> bytes:
        key = (file.real_path, file.size, file.mtime_ns, self.size_px)
        with self._lock:
            found: Optional[bytes] = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        data = self._make(file.real_path, name, self.size_px)
        with self._lock:
            if key not in self._entries and len(data) <= self.max_bytes:
                self._entries[key] = data
                self._bytes += len(data)
                while self._bytes > self.max_bytes:
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= len(dropped)
        return data

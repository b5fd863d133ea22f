"""On-disk layout of a gallery index and its atomic replacement.

``<index>/CURRENT`` names the live version directory ``<index>/v<NNNNNN>-<hex>/`` holding
``manifest.json``, ``vectors.safetensors``, ``ids.json``, ``metadata.sqlite`` and optionally
``faiss.index``. A save writes a complete new version into a temporary directory, renames it into
place, then replaces ``CURRENT`` with ``os.replace``: a crash at any moment leaves ``CURRENT``
naming either the old or the new complete version. Version directories are never modified.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Callable, Optional

from ..utils.atomic import atomic_output, fsync_dir, fsync_file
from .errors import IndexFormatError

FORMAT = "imret-gallery-index"
FORMAT_VERSION = 1
POINTER = "CURRENT"
MANIFEST = "manifest.json"
VECTORS = "vectors.safetensors"
IDS = "ids.json"
METADATA = "metadata.sqlite"
FAISS = "faiss.index"
TEMP_PREFIX = ".tmp-"
MANIFEST_KEYS = ("format", "format_version", "dim", "metric", "count", "dtype", "provenance")


def write_json_atomic(path: str, data) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace``, flushed to disk."""
    with atomic_output(path, durable=True) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)


def is_index_dir(root: str) -> bool:
    return os.path.isfile(os.path.join(root, POINTER))


def current_version(root: str) -> str:
    """Absolute path of the live version directory of the index at ``root``."""
    if not os.path.exists(root):
        raise FileNotFoundError(f"gallery index {root!r} does not exist (create it with GalleryIndex.create "
                                "or `imret index`)")
    if not os.path.isdir(root):
        raise IndexFormatError(f"{root}: is a file, not a gallery index directory")
    pointer = os.path.join(root, POINTER)
    if not os.path.isfile(pointer):
        raise IndexFormatError(f"{root}: not an imret gallery index (no {POINTER} file)")
    try:
        with open(pointer) as fh:
            data = json.load(fh)
        name = data["version"]
        if data.get("format") != FORMAT or not isinstance(name, str) or os.sep in name or name.startswith("."):
            raise ValueError("unexpected content")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexFormatError(f"{pointer}: corrupt index pointer ({exc})") from None
    version = os.path.join(root, name)
    if not os.path.isdir(version):
        raise IndexFormatError(f"{root}: {POINTER} names {name!r}, which is missing")
    return version


def _read_json(path: str, what: str):
    """The JSON content of ``path``; a missing or unreadable file is an :class:`IndexFormatError`."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise IndexFormatError(f"{path}: {what} is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: {what} is not valid JSON ({exc})") from None


def read_manifest(version_dir: str) -> dict:
    """The validated manifest of a version directory."""
    path = os.path.join(version_dir, MANIFEST)
    manifest = _read_json(path, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not an imret gallery index manifest")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise IndexFormatError(f"{path}: manifest lacks {', '.join(missing)}")
    if manifest["format_version"] > FORMAT_VERSION:
        raise IndexFormatError(f"{path}: format version {manifest['format_version']} is newer than this imret "
                               f"supports ({FORMAT_VERSION}); upgrade imret")
    return manifest


def read_ids(version_dir: str, count: int) -> list[str]:
    path = os.path.join(version_dir, IDS)
    ids = _read_json(path, "ids file")
    if not isinstance(ids, list) or len(ids) != count or not all(isinstance(i, str) for i in ids):
        raise IndexFormatError(f"{path}: expected a list of {count} string ids")
    if len(set(ids)) != len(ids):
        raise IndexFormatError(f"{path}: duplicate ids")
    return ids


def _version_number(name: str) -> int:
    try:
        return int(name[1:].split("-", 1)[0])
    except ValueError:
        return -1


def _versions(root: str) -> list[str]:
    return sorted((n for n in os.listdir(root) if n.startswith("v") and _version_number(n) >= 0
                   and os.path.isdir(os.path.join(root, n))), key=_version_number)


def publish_version(root: str, fill: Callable[[str], None]) -> str:
    """Create a new version of the index at ``root``: ``fill(tmp_dir)`` writes its files.

    Returns the new version directory. Older versions except the previous one are removed.
    """
    os.makedirs(root, exist_ok=True)
    previous: Optional[str] = None
    if is_index_dir(root):
        try:
            previous = os.path.basename(current_version(root))
        except IndexFormatError:
            previous = None
    existing = _versions(root)
    number = max([_version_number(n) for n in existing], default=0) + 1
    name = f"v{number:06d}-{uuid.uuid4().hex[:8]}"
    tmp = os.path.join(root, f"{TEMP_PREFIX}{name}")
    os.makedirs(tmp)
    try:
        fill(tmp)
        for entry in os.listdir(tmp):
            fsync_file(os.path.join(tmp, entry))
        fsync_dir(tmp)
        final = os.path.join(root, name)
        os.rename(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json_atomic(os.path.join(root, POINTER), {"format": FORMAT, "version": name})
    keep = {name, previous}
    for entry in os.listdir(root):
        stale_version = entry in existing and entry not in keep
        if stale_version or (entry.startswith(TEMP_PREFIX) and entry != os.path.basename(tmp)):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        elif entry.startswith(f".{POINTER}.") and entry.endswith(".tmp"):  # pointer write of a killed save
            os.remove(os.path.join(root, entry))
    return final

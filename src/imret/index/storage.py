"""On-disk layout of a local gallery index, its atomic replacement, checks and repair.

``<index>/CURRENT`` names the live version directory ``<index>/v<NNNNNN>-<hex>/`` holding
``manifest.json``, ``vectors.safetensors``, ``ids.json``, ``metadata.sqlite`` and optionally
``faiss.index``. A save writes a complete new version into ``<index>/.tmp-<name>/``, renames it into
place, then replaces ``CURRENT`` with ``os.replace``: a crash at any moment leaves ``CURRENT`` naming
the old or the new complete version, or (first save of a new index) a complete version and no
``CURRENT`` yet; :func:`repair` turns the latter into the new index and removes what a killed save
left behind. Version directories are never modified. The manifest records the size and SHA-256 of
every other file of its version (``checksums``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ..utils.atomic import atomic_output, fsync_dir, fsync_file
from ..utils.hashing import file_sha256
from .errors import IndexFormatError
from .metadata_db import count_rows
from .names import from_json_name, to_json_name
from .vector_file import DTYPES, read_vectors

FORMAT = "imret-gallery-index"
FORMAT_VERSION = 1
POINTER = "CURRENT"
MANIFEST = "manifest.json"
VECTORS = "vectors.safetensors"
IDS = "ids.json"
METADATA = "metadata.sqlite"
FAISS = "faiss.index"
TEMP_PREFIX = ".tmp-"
CHECKSUMMED = (IDS, METADATA, VECTORS, FAISS)
MANIFEST_KEYS = ("format", "format_version", "dim", "metric", "count", "dtype", "provenance")
METRICS = ("cosine_similarity", "dot_product", "euclidean")
_VERSION_NAME = re.compile(r"^v(\d{6,})-[0-9a-f]{8}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def write_json_atomic(path: str, data: Any) -> None:
    """Write JSON (strict: no NaN/Infinity) to ``path`` through a temporary file and ``os.replace``, flushed."""
    with atomic_output(path, durable=True) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True, allow_nan=False)


# layout ----------------------------------------------------------------------------------------------
def _is_pointer_temp(name: str) -> bool:
    return name.startswith(f".{POINTER}.") and name.endswith(".tmp")


def _is_save_entry(name: str) -> bool:
    """Whether a save of imret writes an entry of this name into an index directory."""
    return (name == POINTER or _is_pointer_temp(name) or name.startswith(TEMP_PREFIX)
            or _VERSION_NAME.match(name) is not None)


def _version_number(name: str) -> int:
    match = _VERSION_NAME.match(name)
    return int(match.group(1)) if match else -1


def _versions(root: str) -> list[str]:
    """Version directory names, oldest first."""
    return sorted((n for n in os.listdir(root) if _version_number(n) >= 0 and os.path.isdir(os.path.join(root, n))),
                  key=_version_number)


def is_index_dir(root: str) -> bool:
    return os.path.isfile(os.path.join(root, POINTER))


def _read_pointer(root: str) -> str:
    """The version name ``CURRENT`` holds (not checked for existence)."""
    pointer = os.path.join(root, POINTER)
    try:
        with open(pointer) as fh:
            data = json.load(fh)
        name = data["version"]
        if data.get("format") != FORMAT or not isinstance(name, str) or _version_number(name) < 0:
            raise ValueError("unexpected content")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexFormatError(f"{pointer}: corrupt index pointer ({exc})") from None
    return name


def current_version(root: str) -> str:
    """Absolute path of the live version directory of the index at ``root``.

    ``FileNotFoundError`` when there is no index (missing or empty directory).
    """
    if not os.path.exists(root):
        raise FileNotFoundError(f"gallery index {root!r} does not exist (create it with GalleryIndex.create "
                                "or `imret index`)")
    if not os.path.isdir(root):
        raise IndexFormatError(f"{root}: is a file, not a gallery index directory")
    if not is_index_dir(root):
        names = os.listdir(root)
        if not names:
            raise FileNotFoundError(f"gallery index {root!r} does not exist (empty directory)")
        if all(_is_save_entry(n) for n in names):
            raise IndexFormatError(f"{root}: an interrupted save left no {POINTER} file; run `imret index` again "
                                   "(or open the index for writing), which repairs it")
        raise IndexFormatError(f"{root}: not an imret gallery index (no {POINTER} file)")
    name = _read_pointer(root)
    version = os.path.join(root, name)
    if not os.path.isdir(version):
        raise IndexFormatError(f"{root}: {POINTER} names {name!r}, which is missing; run `imret index` again "
                               "(or open the index for writing), which falls back to the newest intact version")
    return version


def check_target(root: str, overwrite: bool) -> None:
    """Raise ``FileExistsError`` when a new index may not be created at ``root``; changes nothing."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise FileExistsError(f"{root} is a file, not an index directory")
    if not os.path.isdir(root):
        return
    names = os.listdir(root)
    if not names:
        return
    if not is_index_dir(root) and not all(_is_save_entry(n) for n in names):
        raise FileExistsError(f"{root} is a non-empty directory that is not an imret index; nothing was changed: "
                              "choose another location or empty it")
    if (is_index_dir(root) or _versions(root)) and not overwrite:
        raise FileExistsError(f"{root} is already an index; open it with GalleryIndex.open or pass "
                              "overwrite=True (--rebuild)")


# manifest --------------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and bool(np.isfinite(value))


_OPTIONAL_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "index_type": (lambda v: v is None or isinstance(v, str) and bool(v), "a non-empty string or null"),
    "backend": (lambda v: v in ("exact", "faiss"), "'exact' or 'faiss'"),
    "faiss_params": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and _is_number(x) for k, x in v.items()),
                     "an object of numbers"),
    "faiss_stale": (lambda v: isinstance(v, bool), "true or false"),
    "imret_version": (lambda v: isinstance(v, str), "a string"),
    "created": (lambda v: isinstance(v, str), "a string"),
    "updated": (lambda v: isinstance(v, str), "a string"),
    "checksums": (lambda v: isinstance(v, dict) and all(
        k in CHECKSUMMED and isinstance(e, dict) and set(e) == {"size", "sha256"} and _is_int(e["size"])
        and e["size"] >= 0 and isinstance(e["sha256"], str) and _SHA256.match(e["sha256"]) for k, e in v.items()),
        f"an object naming {', '.join(CHECKSUMMED)} with a size and a sha256 each"),
}


def validate_manifest(manifest: Any, path: str) -> dict:
    """``manifest`` when every field has its type and range; otherwise ``IndexFormatError`` naming ``path``."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: not an imret gallery index manifest")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise IndexFormatError(f"{path}: manifest lacks {', '.join(missing)}")
    required: dict[str, tuple[bool, str]] = {
        "format_version": (_is_int(manifest["format_version"]) and manifest["format_version"] >= 1,
                           "a positive integer"),
        "dim": (_is_int(manifest["dim"]) and manifest["dim"] > 0, "a positive integer"),
        "count": (_is_int(manifest["count"]) and manifest["count"] >= 0, "a non-negative integer"),
        "metric": (manifest["metric"] in METRICS, f"one of {', '.join(METRICS)}"),
        "dtype": (manifest["dtype"] in DTYPES, f"one of {', '.join(DTYPES)}"),
        "provenance": (isinstance(manifest["provenance"], dict), "an object"),
    }
    for key, (ok, expected) in required.items():
        if not ok:
            raise IndexFormatError(f"{path}: manifest field {key!r} must be {expected}, got {manifest[key]!r}")
    for key, (check, expected) in _OPTIONAL_FIELDS.items():
        if key in manifest and not check(manifest[key]):
            raise IndexFormatError(f"{path}: manifest field {key!r} must be {expected}, got {manifest[key]!r}")
    if manifest["format_version"] > FORMAT_VERSION:
        raise IndexFormatError(f"{path}: format version {manifest['format_version']} is newer than this imret "
                               f"supports ({FORMAT_VERSION}); upgrade imret")
    return manifest


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise IndexFormatError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise IndexFormatError(f"{path}: {what} is unreadable ({exc.strerror or exc})") from None


def _parse_json(data: bytes, path: str, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise IndexFormatError(f"{path}: {what} is not valid JSON ({exc})") from None


def read_manifest(version_dir: str) -> dict:
    """The validated manifest of a version directory."""
    path = os.path.join(version_dir, MANIFEST)
    return validate_manifest(_parse_json(_read_bytes(path, "manifest"), path, "manifest"), path)


def check_files_one(version_dir: str, name: str, expected: Optional[Mapping[str, Any]], full: bool) -> None:
    """Compare one file of a version with its manifest checksum (``None``: the file must not exist)."""
    path = os.path.join(version_dir, name)
    if expected is None:
        if os.path.exists(path):
            raise IndexFormatError(f"{path}: file not recorded in the manifest (written by something else)")
        return
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise IndexFormatError(f"{path}: missing (the manifest records it)") from None
    if size != expected["size"]:
        raise IndexFormatError(f"{path}: {size} bytes, the manifest records {expected['size']} (truncated or "
                               "replaced)")
    if full and file_sha256(path) != expected["sha256"]:
        raise IndexFormatError(f"{path}: checksum mismatch (the content changed after it was written)")


def check_files(version_dir: str, manifest: Mapping[str, Any], full: bool) -> None:
    """Compare the files of a version with the manifest's checksums (sizes only unless ``full``).

    An index written before checksums were recorded passes unchecked.
    """
    checksums = manifest.get("checksums")
    if checksums is None:
        return
    for name in CHECKSUMMED:
        check_files_one(version_dir, name, checksums.get(name), full)


def read_ids(version_dir: str, count: int, sha256: Optional[str] = None) -> list[str]:
    """The ids of a version, checked against ``sha256`` (the manifest's checksum) when given."""
    path = os.path.join(version_dir, IDS)
    data = _read_bytes(path, "ids file")
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise IndexFormatError(f"{path}: checksum mismatch (the ids changed after they were written)")
    raw = _parse_json(data, path, "ids file")
    if not isinstance(raw, list) or len(raw) != count:
        raise IndexFormatError(f"{path}: expected a list of {count} string ids")
    try:
        ids = [from_json_name(value) for value in raw]
    except ValueError as exc:
        raise IndexFormatError(f"{path}: expected a list of {count} string ids ({exc})") from None
    if len(set(ids)) != len(ids):
        raise IndexFormatError(f"{path}: duplicate ids")
    return ids


def write_ids(path: str, ids: list[str]) -> None:
    """Write ``ids.json`` (see :mod:`.names` for names that are not UTF-8)."""
    with open(path, "w") as fh:
        json.dump([to_json_name(key) for key in ids], fh, indent=1)


@dataclass
class Version:
    """The checked content of one version directory."""

    path: str
    manifest: dict
    ids: list[str]
    vectors: np.ndarray
    metadata_file: str
    faiss_file: Optional[str]


def load_version(version_dir: str, mmap: bool = True, full: bool = False) -> Version:
    """Read and check a version: manifest field types, file sizes (and hashes when ``full``), ids, vectors.

    The cheap check (``full=False``) compares every file's size with the manifest and the SHA-256 of
    ``ids.json``, which is read whole anyway; ``full=True`` hashes every file.
    """
    manifest = read_manifest(version_dir)
    check_files(version_dir, manifest, full)
    count, dim, dtype = manifest["count"], manifest["dim"], manifest["dtype"]
    checksums = manifest.get("checksums") or {}
    ids = read_ids(version_dir, count, (checksums.get(IDS) or {}).get("sha256"))
    vectors = read_vectors(os.path.join(version_dir, VECTORS), dtype, (count, dim), mmap=mmap)
    metadata_file = os.path.join(version_dir, METADATA)
    if not os.path.isfile(metadata_file):
        raise IndexFormatError(f"{metadata_file}: metadata database is missing")
    rows = count_rows(metadata_file)
    if rows != count:
        raise IndexFormatError(f"{metadata_file}: {rows} metadata rows for {count} vectors")
    faiss_file = os.path.join(version_dir, FAISS)
    return Version(version_dir, manifest, ids, vectors, metadata_file,
                   faiss_file if os.path.isfile(faiss_file) else None)


# repair ----------------------------------------------------------------------------------------------
def _intact(version_dir: str) -> bool:
    """Whether a version passes the checks of an open (a complete version was renamed into place only
    after all its files were flushed, so a partly removed or altered one fails them)."""
    try:
        load_version(version_dir, mmap=True, full=False)
        return True
    except (IndexFormatError, OSError):
        return False


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def repair(root: str) -> list[str]:
    """Make ``root`` a clean index again after an interrupted save; returns what was done (one line each).

    Removes temporary directories and pointer files of killed saves; when ``CURRENT`` is missing or
    names a missing version, points it at the newest intact version (passing the checks of an open;
    with none, leaves an empty directory: no index). Keeps the live version and the newest older one
    (as a save does). Leaves a directory holding anything imret does not write untouched.
    """
    if not os.path.isdir(root):
        return []
    names = os.listdir(root)
    has_pointer = is_index_dir(root)
    if not has_pointer and not all(_is_save_entry(n) for n in names):
        return []
    done = []
    for name in names:
        if name.startswith(TEMP_PREFIX) or _is_pointer_temp(name):
            _remove(os.path.join(root, name))
            done.append(f"removed {name} (left by an interrupted save)")
    live: Optional[str] = None
    if has_pointer:
        live = _read_pointer(root)  # a corrupt pointer is not what a kill leaves: reported, not guessed
        if not os.path.isdir(os.path.join(root, live)):
            done.append(f"{POINTER} named the missing version {live}")
            live = None
    versions = _versions(root)
    if live is None:
        for name in reversed(versions):
            if _intact(os.path.join(root, name)):
                live = name
                break
        if live is not None:
            write_json_atomic(os.path.join(root, POINTER), {"format": FORMAT, "version": live})
            done.append(f"{POINTER} now names {live}, the newest intact version")
        elif has_pointer:
            _remove(os.path.join(root, POINTER))
            done.append(f"removed {POINTER}: no intact version is left")
    older = [n for n in versions if _version_number(n) < _version_number(live)] if live else []
    keep_previous = older[-1] if older else None
    for name in versions:
        if name not in (live, keep_previous):
            _remove(os.path.join(root, name))
            done.append(f"removed version {name} (superseded or incomplete)")
    if done:
        fsync_dir(root)
    return done


# saving ----------------------------------------------------------------------------------------------
def publish_version(root: str, fill: Callable[[str], Mapping[str, str]], manifest: dict) -> tuple[str, dict]:
    """Create a new version of the index at ``root``: ``fill(tmp_dir)`` writes its files.

    ``fill`` returns the SHA-256 of any file it already hashed while writing; the others are hashed
    here. Returns the new version directory and its manifest (with ``checksums``). Older versions
    except the previous one are removed.
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
        known = dict(fill(tmp) or {})
        checksums = {}
        for entry in CHECKSUMMED:
            path = os.path.join(tmp, entry)
            if os.path.isfile(path):
                checksums[entry] = {"size": os.path.getsize(path), "sha256": known.get(entry) or file_sha256(path)}
        manifest = dict(manifest, checksums=checksums)
        write_json_atomic(os.path.join(tmp, MANIFEST), manifest)
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
        elif _is_pointer_temp(entry):  # pointer write of a killed save
            _remove(os.path.join(root, entry))
    return final, manifest

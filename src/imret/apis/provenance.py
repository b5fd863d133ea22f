"""What a set of vectors depends on: model, weights, preprocessing, imret version."""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from typing import Any, Optional

from imret.utils.hashing import file_sha256 as sha256_of_bytes
from imret.utils.provenance import ENCODING_VERSION, provenance_differences
from imret.version import __version__


def _jsonable(value: Any) -> Any:
    """``value`` turned into plain JSON types (tuples to lists, unknown objects to their repr)."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of_bytes(path)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (cached per path, size and mtime)."""
    stat = os.stat(path)
    return _sha256_cached(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def build_provenance(name: str, encoder: dict, pipeline: list, weights_sha256: Optional[str],
                     weights_file: Optional[str] = None) -> dict:
    """The provenance dict stored with every index or prototype cache built by a model.

    ``weights_file``: where a checkpoint the user named was read from (recorded, not compared), so
    that a search can find it again.
    """
    record = {
        "model": name,
        "encoder": encoder,
        "weights_sha256": weights_sha256,
        "preprocessing": pipeline,
        "encoding_version": ENCODING_VERSION,
        "imret_version": __version__,
    }
    if weights_file:
        record["weights_file"] = weights_file
    return _jsonable(record)


def provenance_key(provenance: dict) -> str:
    """A short stable fingerprint of a provenance dict."""
    text = json.dumps(provenance, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_difference(expected: dict, found: dict) -> str:
    """Which compared provenance fields differ, e.g. ``model ('a' vs 'b')``; ``''`` when none do."""
    parts = []
    for key in provenance_differences(found, expected):
        if key in ("model", "weights_sha256", "encoding_version"):
            parts.append(f"{key} ({found.get(key)!r} vs {expected.get(key)!r})")
        else:
            parts.append(key)
    return ", ".join(parts)

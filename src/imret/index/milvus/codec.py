"""How imret's ids, metadata, metrics and scores map onto a Milvus collection.

Ids become a fixed-length primary key (the SHA-256 of the id's code points), so any id (quotes,
backslashes, non-UTF-8 file names, any length) is safe in Milvus's filter expressions; the id itself
is kept in the JSON metadata field. Strings Milvus cannot store (lone surrogates, from file names
that are not UTF-8) are stored as ``{"$imret_str": BASE64}`` and restored on reading.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Any, Mapping

import numpy as np

# imret metric -> Milvus metric_type
MILVUS_METRICS = {"cosine_similarity": "COSINE", "dot_product": "IP", "euclidean": "L2"}
META_COLUMNS = ("path", "label", "size", "mtime", "sha256")
_ESCAPED = "$imret_str"


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def item_key(item_id: str) -> str:
    """The primary key that stores ``item_id``: 64 hex digits."""
    return hashlib.sha256(_raw(item_id)).hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return {_ESCAPED: base64.b64encode(_raw(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {_plain_key(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _plain_key(key: Any) -> str:
    try:
        return str(key).encode("utf-8").decode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"metadata key {str(key).encode('utf-8', 'backslashreplace').decode()!r} is not "
                         "valid UTF-8; use plain keys") from None


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _ESCAPED in value:
            return base64.b64decode(value[_ESCAPED]).decode("utf-8", "surrogatepass")
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def encode_metadata(item_id: str, metadata: Mapping[str, Any]) -> dict:
    """The JSON value stored for one item: its metadata plus ``id`` (the fixed columns drop None, as locally)."""
    meta = {k: v for k, v in metadata.items() if k != "id" and not (k in META_COLUMNS and v is None)}
    meta["id"] = item_id
    return _encode(meta)


def decode_metadata(stored: Mapping[str, Any]) -> dict:
    """The metadata dict (with ``id``) of a stored JSON value."""
    return _decode(dict(stored))


def scores_from_distances(distances: np.ndarray, metric: str) -> np.ndarray:
    """imret scores (larger = more similar): Milvus L2 distances are squared, reported as -sqrt like locally."""
    distances = np.asarray(distances, dtype=np.float32)
    if metric == "euclidean":
        return -np.sqrt(np.maximum(distances, 0.0))
    return distances

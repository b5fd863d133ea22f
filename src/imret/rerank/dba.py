"""(alpha-)DBA: replace each stored gallery vector by a weighted mean of itself and its k nearest others.

An index-side transform applied after encoding: it changes the stored vectors, so an index built
with it records ``{'gallery_transform': {'dba': {'k': k, 'alpha': alpha}}}`` in its provenance.
Neighbours come from exact searches of the gallery in blocks of rows (never a gallery x gallery
matrix); every vector is augmented from the original (not yet augmented) vectors.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from .gallery_view import GalleryView
from .registry import parse_params
from .weighting import check_non_negative, check_positive_int, similarity_weights, weighted_sum

DBA_PROVENANCE_KEY = "gallery_transform"
BLOCK_ROWS = 1024


def parse_dba(text: str) -> dict:
    """``'k=5,alpha=3'`` -> ``{'k': 5, 'alpha': 3.0}`` (alpha defaults to 0: plain average)."""
    params = parse_params(text, "dba")
    unknown = set(params) - {"k", "alpha"}
    if unknown:
        raise ValueError(f"dba: unknown parameter(s) {', '.join(sorted(unknown))}; use k=N[,alpha=A]")
    if "k" not in params:
        raise ValueError("dba: k is required, e.g. --dba k=5,alpha=3")
    return {"k": check_positive_int(params["k"], "dba: k"),
            "alpha": check_non_negative(params.get("alpha", 0.0), "dba: alpha")}


def dba_vectors(vectors: np.ndarray, metric: str, k: int, alpha: float = 0.0,
                block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """DBA-augmented copy (M, C) of gallery ``vectors``: ``x + sum_j max(s_j, 0)^alpha x_j`` over the
    ``k`` most similar other rows (unit-normalised for cosine, divided by the total weight otherwise)."""
    k = check_positive_int(k, "dba: k")
    alpha = check_non_negative(alpha, "dba: alpha")
    gallery = GalleryView(vectors, metric)
    total = len(gallery)
    if k > total - 1:
        raise ValueError(f"dba: k={k} needs at least {k + 1} gallery items, the gallery has {total}")
    out = np.empty((total, gallery.dim), dtype=np.float32)
    for start in range(0, total, block_rows):
        rows = np.arange(start, min(total, start + block_rows))
        own = gallery.vectors_of(rows)
        scores, neighbours = gallery.search(own, k, exclude=rows)
        out[rows] = weighted_sum(own, gallery.vectors_of(neighbours), similarity_weights(scores, alpha), metric)
    return out


def dba_provenance(provenance: Mapping[str, Any], k: int, alpha: float) -> dict:
    """``provenance`` with the DBA transform recorded."""
    return dict(provenance, **{DBA_PROVENANCE_KEY: {"dba": {"k": int(k), "alpha": float(alpha)}}})


def encoder_provenance(provenance: Optional[Mapping[str, Any]]) -> dict:
    """The provenance without gallery-side transforms: what a query encoder must match."""
    return {key: value for key, value in (provenance or {}).items() if key != DBA_PROVENANCE_KEY}


def apply_dba_to_index(index: Any, k: int, alpha: float = 0.0) -> None:
    """Replace every vector of a ``GalleryIndex`` by its DBA version (ids, order and metadata kept),
    record it in the provenance and save."""
    if DBA_PROVENANCE_KEY in index.provenance:
        raise ValueError(f"the index {index.path} already has a gallery transform "
                         f"({index.provenance[DBA_PROVENANCE_KEY]}); rebuild it (--rebuild) to apply DBA again")
    ids = index.ids
    if not ids:
        return
    augmented = dba_vectors(np.asarray(index.vectors()), index.metric, k, alpha)
    metadata = [{key: value for key, value in meta.items() if key != "id"} for meta in index.get_metadata(ids)]
    index.upsert(ids, augmented, metadata)
    index.set_provenance(dba_provenance(index.provenance, k, alpha))
    index.save()

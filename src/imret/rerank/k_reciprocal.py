"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) within each query's shortlist.

For each query the graph is the query plus its top-K shortlist (rows sorted by gallery index),
with squared Euclidean distances between the (unit, for cosine) vectors: a (K+1) x (K+1) matrix per
query, never gallery x gallery. On that set: k-reciprocal neighbours R(i, k1), expanded by the
R(c, round(k1/2)) of candidates sharing more than 2/3 of them; Gaussian-weighted neighbour vectors
V_i = exp(-d(i, .)) on R*(i) normalised to sum 1; local query expansion V_i <- mean of V over the
k2 nearest; Jaccard distance d_J = 1 - sum(min) / (2 - sum(min)); final distance
(1 - lambda) d_J + lambda d. The returned score is minus the final distance.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import Reranker
from .gallery_view import GalleryView
from .registry import register_reranker
from .weighting import check_non_negative, check_positive_int


def _membership(order: np.ndarray, width: int) -> np.ndarray:
    """(n, n) bool: [i, j] when j is among the first ``width`` of row i's ranking."""
    n = order.shape[0]
    member = np.zeros((n, n), dtype=bool)
    member[np.arange(n)[:, None], order[:, :width]] = True
    return member


def k_reciprocal_distance(vectors: np.ndarray, k1: int, k2: int, lambda_value: float) -> np.ndarray:
    """Final distances (n - 1,) from node 0 (the query) to nodes 1..n-1 of the set ``vectors`` (n, C)."""
    x = vectors.astype(np.float64)
    squared = (x * x).sum(axis=1)
    dist = np.maximum(squared[:, None] + squared[None, :] - 2.0 * (x @ x.T), 0.0)
    np.fill_diagonal(dist, 0.0)
    n = dist.shape[0]
    order = np.argsort(dist, axis=1, kind="stable")
    near = _membership(order, k1 + 1)
    reciprocal = near & near.T
    half = int(np.around(k1 / 2.0))
    near_half = _membership(order, half + 1)
    reciprocal_half = near_half & near_half.T
    half_sizes = reciprocal_half.sum(axis=1)
    # overlap[c, i] = |R(c, k1/2) & R(i, k1)|
    overlap = reciprocal_half.astype(np.int64) @ reciprocal.T.astype(np.int64)
    accept = reciprocal & (overlap.T > (2.0 / 3.0) * half_sizes[None, :])
    expanded = reciprocal | ((accept.astype(np.int64) @ reciprocal_half.astype(np.int64)) > 0)
    weights = np.where(expanded, np.exp(-dist), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    if k2 > 1:
        weights = weights[order[:, :k2]].mean(axis=1)
    shared = np.minimum(weights[0][None, :], weights[1:]).sum(axis=1)
    jaccard = 1.0 - shared / (2.0 - shared)
    return (1.0 - lambda_value) * jaccard + lambda_value * dist[0, 1:]


@register_reranker("k-reciprocal")
class KReciprocalReranker(Reranker):
    """k-reciprocal re-ranking of the shortlist (k1, k2, lambda); see the module docstring.

    Needs k1 < shortlist length and k2 <= shortlist length + 1 (the set is the query plus its
    shortlist); otherwise a ``ValueError`` says so. Cost per query: O(K^2 C) for K shortlisted rows.
    """

    def __init__(self, k1: int = 10, k2: int = 3, lambda_value: float = 0.1) -> None:
        self.k1 = check_positive_int(k1, "k-reciprocal: k1")
        self.k2 = check_positive_int(k2, "k-reciprocal: k2")
        self.lambda_value = check_non_negative(lambda_value, "k-reciprocal: lambda")
        if self.lambda_value > 1:
            raise ValueError(f"k-reciprocal: lambda must be in [0, 1], got {lambda_value!r}")

    def params(self) -> dict:
        return {"k1": self.k1, "k2": self.k2, "lambda": self.lambda_value}

    def rerank(self, queries: np.ndarray, scores: np.ndarray, rows: np.ndarray, gallery: GalleryView,
               exclude: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        length = rows.shape[1]
        if self.k1 >= length or self.k2 > length + 1:
            raise ValueError(f"k-reciprocal: k1={self.k1} and k2={self.k2} need a shortlist longer than k1 "
                             f"(got {length} results per query); lower k1/k2 or raise the shortlist")
        prepared = gallery.prepare(queries)
        out_scores = np.empty(rows.shape, dtype=np.float32)
        out_rows = np.empty(rows.shape, dtype=np.int64)
        for q in range(rows.shape[0]):
            members = np.sort(rows[q], kind="stable")
            vectors = np.concatenate([prepared[q:q + 1], gallery.vectors_of(members)])
            final = k_reciprocal_distance(vectors, self.k1, self.k2, self.lambda_value)
            order = np.argsort(final, kind="stable")
            out_rows[q] = members[order]
            out_scores[q] = -final[order]
        return out_scores, out_rows

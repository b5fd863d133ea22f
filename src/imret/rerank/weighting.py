"""Shared arithmetic of query expansion and DBA: similarity weights and weighted vector sums."""
from __future__ import annotations

import numpy as np

from imret.matching.similarity import NORM_EPS


def check_positive_int(value: object, what: str) -> int:
    """``value`` as a positive int; ``ValueError`` naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative(value: object, what: str) -> float:
    """``value`` as a finite float >= 0; ``ValueError`` naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def similarity_weights(scores: np.ndarray, alpha: float) -> np.ndarray:
    """``max(s, 0) ** alpha`` (alpha=0 gives 1 for every result, negative ones included)."""
    if alpha == 0:
        return np.ones_like(scores, dtype=np.float32)
    return np.power(np.maximum(scores, 0.0), alpha).astype(np.float32)


def weighted_sum(base: np.ndarray, neighbours: np.ndarray, weights: np.ndarray, metric: str) -> np.ndarray:
    """``base + sum_i w_i n_i`` per row: unit length for cosine, divided by the total weight otherwise.

    ``base`` (Q, C) weighs 1; ``neighbours`` (Q, k, C); ``weights`` (Q, k).
    """
    total = base.astype(np.float32) + np.einsum("qk,qkc->qc", weights.astype(np.float32), neighbours)
    if metric == "cosine_similarity":
        norms = np.linalg.norm(total, axis=1, keepdims=True)
        return (total / np.maximum(norms, NORM_EPS)).astype(np.float32)
    return (total / (1.0 + weights.sum(axis=1, keepdims=True))).astype(np.float32)

"""Average query expansion: search again with the mean of the query and its top-k results."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import Reranker
from .gallery_view import GalleryView
from .registry import register_reranker
from .weighting import check_positive_int, weighted_sum


@register_reranker("qe")
class AverageQueryExpansion(Reranker):
    """``q' = q + g_1 + ... + g_k`` (normalised for cosine, averaged for dot product), searched again.

    The new search returns as many results as the shortlist had. ``k`` must not exceed the gallery
    (without the excluded row); cost: one extra search per query.
    """

    def __init__(self, k: int = 2) -> None:
        self.k = check_positive_int(k, "qe: k")

    def params(self) -> dict:
        return {"k": self.k}

    def weights(self, scores: np.ndarray) -> np.ndarray:
        """Weight of each of the top-k results (Q, k); the query itself weighs 1."""
        return np.ones_like(scores, dtype=np.float32)

    def expand(self, queries: np.ndarray, scores: np.ndarray, rows: np.ndarray, gallery: GalleryView
               ) -> np.ndarray:
        """The expanded queries (Q, C)."""
        if self.k > rows.shape[1]:
            raise ValueError(f"{self.name}: k={self.k} needs at least {self.k} shortlisted results per query, "
                             f"got {rows.shape[1]} (gallery too small? use a smaller k)")
        top_rows, top_scores = rows[:, :self.k], scores[:, :self.k]
        return weighted_sum(gallery.prepare(queries), gallery.vectors_of(top_rows), self.weights(top_scores),
                            gallery.metric)

    def rerank(self, queries: np.ndarray, scores: np.ndarray, rows: np.ndarray, gallery: GalleryView,
               exclude: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        expanded = self.expand(queries, scores, rows, gallery)
        return gallery.search(expanded, rows.shape[1], exclude)

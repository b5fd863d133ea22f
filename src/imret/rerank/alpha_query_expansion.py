"""alpha-QE: query expansion with each result weighted by its similarity to the power alpha."""
from __future__ import annotations

import numpy as np

from .query_expansion import AverageQueryExpansion
from .registry import register_reranker
from .weighting import check_non_negative, similarity_weights


@register_reranker("alpha-qe")
class AlphaQueryExpansion(AverageQueryExpansion):
    """``q' = q + sum_i max(s_i, 0)^alpha g_i`` over the top-k results (alpha=0 is average QE)."""

    def __init__(self, k: int = 3, alpha: float = 3.0) -> None:
        super().__init__(k)
        self.alpha = check_non_negative(alpha, "alpha-qe: alpha")

    def params(self) -> dict:
        return {"k": self.k, "alpha": self.alpha}

    def weights(self, scores: np.ndarray) -> np.ndarray:
        return similarity_weights(scores, self.alpha)

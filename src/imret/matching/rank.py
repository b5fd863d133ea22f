"""The one ranking function: best-first order with one tie rule (equal scores: lower gallery index first).

Every consumer ranks through :func:`rank`: the retriever's ``predict``/``matching``, the retrieval
metrics, the inferencer, ``GalleryIndex.search`` (exact path) and, through it, the server. Given a
score matrix it orders that; given query and gallery vectors it runs the blockwise matching engine,
which keeps the same rule at every block boundary.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

from .blocks import GalleryLike
from .blockwise import topk_similarity
from .similarity import SimilarityFn
from .topk_merge import settle_cut

__all__ = ["rank", "rank_scores"]


def _check_k(k: Optional[int]) -> None:
    if k is not None and (not isinstance(k, (int, np.integer)) or isinstance(k, bool) or (k <= 0 and k != -1)):
        raise ValueError(f"k must be a positive integer, -1 or None (all), got {k!r}")


def rank_scores(scores: torch.Tensor, k: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sorted scores, gallery indices) of an (N, M) score matrix, best first, cut to ``k``.

    ``k`` None or -1 ranks everything; ``k`` is clamped to M. Equal scores keep the lower gallery
    index first, also at the cut (which of several equal scores survive the cut is decided by index).
    NaN scores are an error: they have no place in an order.
    """
    _check_k(k)
    if scores.ndim != 2:
        raise ValueError(f"scores must be an (N, M) matrix, got shape {tuple(scores.shape)}")
    if scores.is_floating_point() and bool(torch.isnan(scores).any()):
        raise ValueError("scores contain NaN; cannot rank them")
    total = scores.shape[1]
    if k is None or k == -1 or k >= total:
        return torch.sort(scores, dim=1, descending=True, stable=True)
    values, index = torch.topk(scores, k + 1, dim=1, largest=True, sorted=True)
    values, index = settle_cut(values, index, k, lambda rows: scores[rows])
    # topk's order among equal scores inside the kept part is unspecified: sort by (score desc, index asc)
    by_index = torch.argsort(index, dim=1)
    values, index = torch.gather(values, 1, by_index), torch.gather(index, 1, by_index)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    return torch.gather(values, 1, order), torch.gather(index, 1, order)


def rank(scores_or_queries: Union[torch.Tensor, np.ndarray], gallery: Optional[GalleryLike] = None,
         k: Optional[int] = None, similarity: Union[str, SimilarityFn] = "cosine_similarity",
         **engine_options) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank a gallery for each query: ``(scores (N, k), gallery indices (N, k))``, best first.

    ``rank(scores, k=k)`` orders an (N, M) score matrix; ``rank(queries, gallery, k, similarity)``
    scores (N, C) queries against (M, C) gallery vectors with the blockwise engine (exact, bounded
    memory; ``engine_options`` such as ``block_bytes`` or ``precision`` are passed on). Either way the
    tie rule is the same: equal scores list the lower gallery index first.
    """
    _check_k(k)
    if gallery is None:
        scores = scores_or_queries
        if isinstance(scores, np.ndarray):
            scores = torch.from_numpy(scores)
        return rank_scores(scores, k)
    return topk_similarity(scores_or_queries, gallery, -1 if k is None else int(k), similarity, **engine_options)

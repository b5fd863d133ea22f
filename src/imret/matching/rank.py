"""The one ranking function: best-first order with one tie rule (equal scores: lower gallery index first).

Every consumer ranks through :func:`rank`: the retriever's ``predict``/``matching``, the retrieval
metrics, the inferencer, ``GalleryIndex.search`` (exact path) and, through it, the server. Given a
score matrix it orders that; given query and gallery vectors it runs the blockwise matching engine,
which keeps the same rule at every block boundary. numpy inputs with a built-in similarity take the
engine's numpy path (:mod:`.array_topk`), which does not load torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .blocks import GalleryLike, is_tensor
from .similarity import SimilarityFn, resolve_similarity, similarity_kind

if TYPE_CHECKING:
    import torch

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
    import torch

    from .topk_merge import settle_cut

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


def _numpy_path(queries: object, gallery: object, kind: str, engine_options: dict) -> bool:
    """Whether the numpy engine serves a search: numpy queries and gallery, a built-in similarity, and
    no option only the torch engine has (bfloat16 precision)."""
    return (isinstance(queries, np.ndarray) and not is_tensor(gallery) and kind != "callable"
            and set(engine_options) <= {"block_bytes", "precision"}
            and engine_options.get("precision", "auto") in ("auto", "float32"))


def rank(scores_or_queries: Union[torch.Tensor, np.ndarray], gallery: Optional[GalleryLike] = None,
         k: Optional[int] = None, similarity: Union[str, SimilarityFn] = "cosine_similarity",
         **engine_options) -> tuple[Union[torch.Tensor, np.ndarray], Union[torch.Tensor, np.ndarray]]:
    """Rank a gallery for each query: ``(scores (N, k), gallery indices (N, k))``, best first.

    ``rank(scores, k=k)`` orders an (N, M) score matrix; ``rank(queries, gallery, k, similarity)``
    scores (N, C) queries against (M, C) gallery vectors with the blockwise engine (exact, bounded
    memory; ``engine_options`` such as ``block_bytes`` or ``precision`` are passed on). Either way the
    tie rule is the same: equal scores list the lower gallery index first.

    Tensors in, tensors out; a numpy score matrix or numpy queries give numpy results (float32 scores,
    int64 indices). A numpy score matrix, and numpy queries against a numpy gallery (array or memory
    map) with a built-in similarity, are ranked by the engine's numpy path without loading torch.
    """
    _check_k(k)
    if gallery is None:
        if isinstance(scores_or_queries, np.ndarray):
            from .array_topk import rank_score_array
            return rank_score_array(scores_or_queries, k)
        return rank_scores(scores_or_queries, k)
    k = -1 if k is None else int(k)
    kind = similarity_kind(resolve_similarity(similarity))
    if _numpy_path(scores_or_queries, gallery, kind, engine_options):
        from .array_topk import topk_arrays
        return topk_arrays(scores_or_queries, gallery, k, kind,
                           **{key: value for key, value in engine_options.items() if key == "block_bytes"})
    from .blockwise import topk_similarity
    scores, index = topk_similarity(scores_or_queries, gallery, k, similarity, **engine_options)
    if isinstance(scores_or_queries, np.ndarray):
        return scores.cpu().numpy(), index.cpu().numpy()
    return scores, index

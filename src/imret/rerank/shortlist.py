"""Search with re-ranking: an exact shortlist from the gallery, then each re-ranker in turn."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .base import Reranker
from .gallery_view import GalleryView

DEFAULT_SHORTLIST = 100


def check_shortlist(shortlist: int, topk: int, gallery_size: int, excluded: bool = False) -> int:
    """The shortlist length used: at least ``topk``, at most the gallery (documented fallback)."""
    if isinstance(shortlist, bool) or not isinstance(shortlist, (int, np.integer)) or shortlist < 1:
        raise ValueError(f"shortlist must be a positive integer, got {shortlist!r}")
    return int(min(max(shortlist, topk), gallery_size - (1 if excluded else 0)))


def rerank_search(queries: np.ndarray, gallery: GalleryView, rerankers: Sequence[Reranker], topk: int,
                  shortlist: int = DEFAULT_SHORTLIST, exclude: Optional[np.ndarray] = None,
                  initial: Optional[tuple[np.ndarray, np.ndarray]] = None) -> tuple[np.ndarray, np.ndarray]:
    """Best ``topk`` (scores, rows) per query after re-ranking a shortlist.

    The shortlist is ``initial`` (scores, rows) when given (e.g. from an index's own search), else an
    exact search of ``shortlist`` rows (clamped to [topk, gallery size]). ``exclude`` (Q,) leaves one
    row per query out everywhere (leave-one-out evaluation).
    """
    length = check_shortlist(shortlist, topk, len(gallery), exclude is not None)
    if initial is None:
        scores, rows = gallery.search(queries, length, exclude)
    else:
        scores, rows = initial
    for reranker in rerankers:
        scores, rows = reranker.rerank(queries, scores, rows, gallery, exclude)
    if not np.isfinite(scores).all():
        raise FloatingPointError("re-ranking produced non-finite scores")
    return scores[:, :topk], rows[:, :topk]

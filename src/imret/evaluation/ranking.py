"""Ranking kernels shared by the retrieval metrics, vectorized over queries and gallery.

Every metric reduces a query to its *ranked relevance*: a boolean row whose position ``r`` says
whether the gallery item ranked ``r``-th (0-based) is relevant, plus the total number of relevant
gallery items. Recall@k and average precision are then computed on whole (N, L) matrices.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from imret.matching.rank import rank_scores

AP_MODES = ("IR", "integrate")


def check_topk(topk: object, name: str = "topk") -> tuple[int, ...]:
    """``topk`` as a tuple of positive ints; ``ValueError`` naming the argument otherwise."""
    values = (topk,) if isinstance(topk, int) and not isinstance(topk, bool) else topk
    try:
        values = tuple(values)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a positive int or a sequence of positive ints, got {topk!r}") from None
    if not values or any(not isinstance(k, int) or isinstance(k, bool) or k <= 0 for k in values):
        raise ValueError(f"{name} must be a positive int or a sequence of positive ints, got {topk!r}")
    return values


def rank_relevance(scores: torch.Tensor, relevant: torch.Tensor, k: Optional[int] = None) -> torch.Tensor:
    """(N, L) relevance of each query's gallery items in descending score order.

    ``k`` keeps only the best ``k`` (top-k selection, no full sort); ``None`` ranks the whole gallery.
    Order and ties follow :func:`imret.matching.rank` (equal scores: lower gallery index first).
    """
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and relevance {tuple(relevant.shape)} differ in shape")
    _, order = rank_scores(scores, k)
    return torch.gather(relevant, 1, order)


def first_hit_rank(ranked: torch.Tensor) -> torch.Tensor:
    """(N,) 0-based rank of the first relevant item; ``L`` when none is in the ranking."""
    length = ranked.shape[1]
    if length == 0:
        return torch.zeros(ranked.shape[0], dtype=torch.long, device=ranked.device)
    positions = torch.arange(length, device=ranked.device).expand_as(ranked)
    return torch.where(ranked, positions, torch.full_like(positions, length)).amin(dim=1)


def recall_hits(ranked: torch.Tensor, topk: Sequence[int]) -> torch.Tensor:
    """(N, len(topk)) 1.0 where a relevant item is within the first k ranks, else 0.0."""
    first = first_hit_rank(ranked)
    ks = torch.tensor(list(topk), device=ranked.device)
    return (first.unsqueeze(1) < ks.unsqueeze(0)).float()


def average_precision(ranked: torch.Tensor, num_relevant: torch.Tensor, mode: str = "IR") -> torch.Tensor:
    """(N,) average precision in [0, 1] of each ranked relevance row.

    The sum over relevant ranks is divided by the query's total number of relevant gallery items,
    also when the ranking was cut at k. ``'IR'`` sums the precision at each relevant rank;
    ``'integrate'`` sums the mean of the precisions just before and at each relevant rank (the
    trapezoidal area under the precision-recall curve, the Oxford/Paris convention).
    Rows without any relevant item give NaN.
    """
    if mode not in AP_MODES:
        raise ValueError(f"mode must be one of {', '.join(AP_MODES)}, got {mode!r}")
    hits = ranked.to(torch.float64)
    found = torch.cumsum(hits, dim=1)
    rank = torch.arange(1, hits.shape[1] + 1, device=hits.device, dtype=torch.float64)
    precision = found / rank
    if mode == "integrate":
        before = rank - 1
        precision_before = torch.where(before > 0, (found - 1) / before.clamp_min(1), torch.ones_like(found))
        precision = (precision + precision_before) / 2
    total = (precision * hits).sum(dim=1)
    denom = num_relevant.to(torch.float64)
    return torch.where(denom > 0, total / denom.clamp_min(1), torch.full_like(total, float("nan")))

"""Turning the ``calculate`` inputs of the retrieval metrics into ranked relevance.

``pred`` is either an (N, M) score matrix or, with ``pred_indices=True``, one ranked list of gallery
indices per query (best first, lists may differ in length). ``target`` is either an (N, M)
multi-hot matrix or, with ``target_indices=True``, one list of relevant gallery indices per query.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from .ground_truth import mask_from_indices
from .ranking import rank_relevance


def _matrix(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        value = torch.as_tensor(np.asarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, an np.ndarray or a sequence, got {type(value).__name__} "
                        f"(pass {name}_indices=True for lists of gallery indices)")
    if value.ndim != 2:
        raise ValueError(f"{name} must be an (N, M) matrix, got shape {tuple(value.shape)}")
    return value.detach().cpu()


def _index_lists(value: Any, name: str) -> list[torch.Tensor]:
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 2:
        value = list(value)
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise TypeError(f"with {name}_indices=True, {name} must be a sequence of index lists, "
                        f"got {type(value).__name__}")
    lists = []
    for position, item in enumerate(value):
        tensor = torch.as_tensor(np.asarray(item) if not isinstance(item, torch.Tensor) else item)
        if tensor.numel() and tensor.is_floating_point():
            if not bool((tensor == tensor.round()).all()):
                raise ValueError(f"{name}[{position}] holds non-integer values; with {name}_indices=True "
                                 "it must list gallery indices")
        lists.append(tensor.reshape(-1).long().cpu())
    return lists


def _pad(lists: list[torch.Tensor], length: int) -> torch.Tensor:
    padded = torch.full((len(lists), length), -1, dtype=torch.long)
    for row, indices in enumerate(lists):
        padded[row, :min(length, indices.numel())] = indices[:length]
    return padded


def ranked_relevance(pred: Any, target: Any, k: Optional[int], pred_indices: bool = False,
                     target_indices: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Ranked relevance (N, L) of the best ``k`` predictions (all when ``None``) and the number of
    relevant gallery items per query (N,)."""
    if pred_indices:
        ranked_lists = _index_lists(pred, "pred")
        num_queries = len(ranked_lists)
    else:
        scores = _matrix(pred, "pred").float()
        num_queries = scores.shape[0]
    if target_indices:
        target_lists = _index_lists(target, "target")
        num_targets = len(target_lists)
    else:
        dense = _matrix(target, "target")
        num_targets = dense.shape[0]
    if num_queries != num_targets:
        raise ValueError(f"pred has {num_queries} queries but target has {num_targets}; they must match")

    if pred_indices:
        longest = max((indices.numel() for indices in ranked_lists), default=0)
        length = longest if k is None else min(k, longest)
        order = _pad(ranked_lists, length)
        if target_indices:
            largest = max([int(order.max()) if order.numel() else -1]
                          + [int(t.max()) for t in target_lists if t.numel()])
            relevant = mask_from_indices(target_lists, largest + 1, "target")
        else:
            relevant = dense > 0
            if order.numel() and int(order.max()) >= relevant.shape[1]:
                raise ValueError(f"pred holds gallery index {int(order.max())} but target has only "
                                 f"{relevant.shape[1]} columns")
        ranked = torch.gather(relevant, 1, order.clamp_min(0)) & (order >= 0)
        return ranked, relevant.sum(dim=1)

    if target_indices:
        relevant = mask_from_indices(target_lists, scores.shape[1], "target")
    else:
        if dense.shape != scores.shape:
            raise ValueError(f"pred {tuple(scores.shape)} and target {tuple(dense.shape)} must have the same shape")
        relevant = dense > 0
    return rank_relevance(scores, relevant, k), relevant.sum(dim=1)

"""Which gallery items are relevant to a query, read from its data sample.

The contract the retrieval metrics follow, per query data sample (a ``DataSample`` or the dict
mmengine's ``Evaluator`` makes of it):

* ``pred_score`` (M,): similarity to every gallery item, in gallery order (the retriever's output).
* Ground truth, first match wins:

  1. ``gt_score`` (M,): multi-hot, gallery item ``j`` is relevant when ``gt_score[j] > 0``;
  2. ``gt_label`` with the metric's ``gallery_labels`` set: the query's class label(s); gallery item
     ``j`` is relevant when ``gallery_labels[j]`` is one of them (negative gallery labels never match);
  3. ``gt_label`` otherwise: the gallery indices of the relevant items (In-Shop / mmpretrain form).

* Exclusion: metainfo ``ignore_gallery_idx`` (an int or a list of gallery indices, usually the
  query's own index when the query set is the gallery) removes those items from the ranking and from
  the ground truth, as if they were not in the gallery. A metric built with ``exclude_self=True``
  also removes gallery item ``sample_idx`` (query ``i`` is gallery item ``i``).
"""
from __future__ import annotations

from numbers import Integral
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

GalleryLabelsLike = Union[Sequence[int], np.ndarray, torch.Tensor, dict, Any]


def _as_index_tensor(value: Any, what: str) -> torch.Tensor:
    if value is None:
        return torch.empty(0, dtype=torch.long)
    if isinstance(value, Integral) and not isinstance(value, bool):
        return torch.tensor([int(value)])
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    if tensor.numel() and tensor.is_floating_point():
        raise TypeError(f"{what} must hold integer indices or labels, got floating-point values")
    return tensor.reshape(-1).long().cpu()


def _get(sample: Any, key: str) -> Any:
    return sample.get(key) if hasattr(sample, "get") else getattr(sample, key, None)


def resolve_gallery_labels(spec: GalleryLabelsLike) -> torch.Tensor:
    """(M,) class label of every gallery item, from labels or from a dataset (instance or config)."""
    if isinstance(spec, dict):
        from imret.registry import DATASETS
        spec = DATASETS.build(spec)
    if hasattr(spec, "get_data_info") and hasattr(spec, "__len__"):
        labels = []
        for index in range(len(spec)):
            label = spec.get_data_info(index).get("gt_label")
            if label is None:
                raise ValueError(f"gallery_labels: gallery dataset sample {index} has no 'gt_label'; "
                                 "use a labelled dataset (e.g. CustomDataset with class subfolders)")
            label = _as_index_tensor(label, "gallery_labels")
            if label.numel() != 1:
                raise ValueError(f"gallery_labels: gallery dataset sample {index} has {label.numel()} labels; "
                                 "each gallery item needs exactly one class label")
            labels.append(int(label))
        return torch.tensor(labels, dtype=torch.long)
    if isinstance(spec, (str, bytes)):
        raise TypeError("gallery_labels must be a sequence of ints, an array, a tensor, or a dataset "
                        f"(instance or config dict), got the string {spec!r}")
    labels = _as_index_tensor(spec, "gallery_labels")
    if isinstance(spec, torch.Tensor) and spec.ndim != 1:
        raise ValueError(f"gallery_labels must be 1-D, got shape {tuple(spec.shape)}")
    return labels


def mask_from_indices(index_lists: Sequence[torch.Tensor], num_gallery: int, what: str) -> torch.Tensor:
    """(B, M) boolean mask with row ``b`` true at the indices ``index_lists[b]``."""
    mask = torch.zeros(len(index_lists), num_gallery, dtype=torch.bool)
    counts = torch.tensor([len(indices) for indices in index_lists], dtype=torch.long)
    if int(counts.sum()) == 0:
        return mask
    cols = torch.cat(list(index_lists))
    bad = (cols < 0) | (cols >= num_gallery)
    if bool(bad.any()):
        hint = {"gt_label": "; check that gt_label holds gallery indices, or pass gallery_labels= to compare "
                            "class labels instead",
                "ignore_gallery_idx": "; with exclude_self=True the query set must be the gallery"}.get(what, "")
        raise ValueError(f"{what} holds gallery index {int(cols[bad][0])}, outside the gallery of "
                         f"{num_gallery} items (pred_score length){hint}")
    rows = torch.repeat_interleave(torch.arange(len(index_lists)), counts)
    mask[rows, cols] = True
    return mask


def mask_from_labels(label_lists: Sequence[torch.Tensor], gallery_labels: torch.Tensor) -> torch.Tensor:
    """(B, M) boolean mask: gallery item ``j`` matches row ``b`` when its label is in ``label_lists[b]``."""
    labelled = gallery_labels >= 0
    num_classes = int(gallery_labels.max()) + 1 if labelled.any() else 0
    counts = torch.tensor([len(labels) for labels in label_lists], dtype=torch.long)
    wanted = torch.zeros(len(label_lists), num_classes + 1, dtype=torch.bool)
    if int(counts.sum()):
        cols = torch.cat(list(label_lists))
        # labels absent from the gallery (or negative) fall into the spare last column, which no item uses
        cols = torch.where((cols >= 0) & (cols < num_classes), cols, torch.full_like(cols, num_classes))
        rows = torch.repeat_interleave(torch.arange(len(label_lists)), counts)
        wanted[rows, cols] = True
    wanted[:, num_classes] = False
    safe = torch.where(labelled, gallery_labels, torch.full_like(gallery_labels, num_classes))
    return wanted[:, safe]


def batch_targets(data_samples: Sequence[Any], gallery_labels: Optional[torch.Tensor] = None,
                  exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (B, M) with excluded items at -inf, and relevance (B, M) without excluded items."""
    if not data_samples:
        return torch.empty(0, 0), torch.empty(0, 0, dtype=torch.bool)
    scores = []
    for position, sample in enumerate(data_samples):
        score = _get(sample, "pred_score")
        if score is None:
            raise ValueError(f"data sample {position} of the batch has no 'pred_score'; retrieval metrics need "
                             "the similarity to every gallery item (the retriever's predict output)")
        scores.append(torch.as_tensor(score).detach().reshape(-1).float().cpu())
    sizes = {score.numel() for score in scores}
    if len(sizes) != 1:
        raise ValueError(f"pred_score lengths differ within a batch ({sorted(sizes)}); every query must be "
                         "scored against the same gallery")
    scores = torch.stack(scores)
    num_gallery = scores.shape[1]

    relevant = torch.zeros(scores.shape, dtype=torch.bool)
    dense_rows = [b for b, sample in enumerate(data_samples) if _get(sample, "gt_score") is not None]
    dense_set = set(dense_rows)
    label_rows = [b for b in range(len(data_samples)) if b not in dense_set]
    for b in dense_rows:
        gt_score = torch.as_tensor(_get(data_samples[b], "gt_score")).reshape(-1).cpu()
        if gt_score.numel() != num_gallery:
            raise ValueError(f"gt_score of batch sample {b} has {gt_score.numel()} values but pred_score has "
                             f"{num_gallery}; gt_score must be multi-hot over the gallery")
        relevant[b] = gt_score > 0
    if label_rows:
        labels = []
        for b in label_rows:
            label = _get(data_samples[b], "gt_label")
            if label is None:
                raise ValueError(f"data sample {b} of the batch has neither 'gt_label' nor 'gt_score'")
            labels.append(_as_index_tensor(label, "gt_label"))
        if gallery_labels is None:
            rows_mask = mask_from_indices(labels, num_gallery, "gt_label")
        else:
            if gallery_labels.numel() != num_gallery:
                raise ValueError(f"gallery_labels has {gallery_labels.numel()} labels but pred_score has "
                                 f"{num_gallery} values; they must describe the same gallery, in the same order")
            rows_mask = mask_from_labels(labels, gallery_labels)
        if dense_rows:
            relevant[label_rows] = rows_mask
        else:
            relevant = rows_mask

    ignored_lists = []
    for sample in data_samples:
        ignored = _as_index_tensor(_get(sample, "ignore_gallery_idx"), "ignore_gallery_idx")
        if exclude_self:
            own = _get(sample, "sample_idx")
            if own is None:
                raise ValueError("exclude_self=True needs 'sample_idx' in every query's metainfo")
            ignored = torch.cat([ignored, _as_index_tensor(own, "sample_idx")])
        ignored_lists.append(ignored)
    if any(len(ignored) for ignored in ignored_lists):
        ignored = mask_from_indices(ignored_lists, num_gallery, "ignore_gallery_idx")
        scores.masked_fill_(ignored, float("-inf"))
        relevant &= ~ignored
    return scores, relevant

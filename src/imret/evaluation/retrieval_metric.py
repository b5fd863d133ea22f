"""Common machinery of the retrieval metrics: ground truth, per-query results, averaging."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from .ground_truth import GalleryLabelsLike, batch_targets, resolve_gallery_labels


class RetrievalMetric(BaseMetric):
    """Base of the retrieval metrics: one result row per query, averaged over queries with a match.

    ``process`` stores one row per query (so mmengine's cross-rank collection, which drops the
    sampler's padding by count, sees every query once); ``compute_metrics`` averages rows, leaving
    out queries that have no relevant gallery item at all (NaN rows) and saying how many were left out.
    See :mod:`imret.evaluation.ground_truth` for how data samples give scores and ground truth.
    """

    default_prefix: Optional[str] = "retrieval"

    def __init__(self, gallery_labels: Optional[GalleryLabelsLike] = None, exclude_self: bool = False,
                 collect_device: str = "cpu", prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._gallery_labels_spec = gallery_labels
        self._gallery_labels: Optional[torch.Tensor] = None
        self.exclude_self = bool(exclude_self)

    @property
    def gallery_labels(self) -> Optional[torch.Tensor]:
        """(M,) gallery class labels when the label form of ground truth is used, else ``None``."""
        if self._gallery_labels is None and self._gallery_labels_spec is not None:
            self._gallery_labels = resolve_gallery_labels(self._gallery_labels_spec)
        return self._gallery_labels

    def score_batch(self, scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
        """(B, ...) per-query results (NaN where a query has no relevant item); subclasses define it."""
        raise NotImplementedError

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Score each query of the batch against the gallery and keep one result row per query."""
        if not data_samples:
            return
        scores, relevant = batch_targets(data_samples, self.gallery_labels, self.exclude_self)
        self.results.extend(row.clone() for row in self.score_batch(scores, relevant).unbind(0))

    def average(self, results: list) -> tuple[torch.Tensor, int]:
        """Mean of the result rows over queries with a match, and the number of queries left out."""
        if not results:
            raise ValueError(f"{type(self).__name__}: no query was processed, nothing to evaluate")
        rows = torch.stack([torch.as_tensor(row, dtype=torch.float64) for row in results])
        valid = ~torch.isnan(rows.reshape(rows.shape[0], -1)[:, 0])
        skipped = int((~valid).sum())
        if skipped:
            print_log(f"{type(self).__name__}: {skipped} of {rows.shape[0]} queries have no relevant gallery "
                      "item and are left out of the average", logger="current", level=30)
        if not bool(valid.any()):
            return torch.zeros(rows.shape[1:], dtype=torch.float64), skipped
        return rows[valid].mean(dim=0), skipped

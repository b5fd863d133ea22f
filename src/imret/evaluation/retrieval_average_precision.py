"""``RetrievalAveragePrecision``: mean average precision over the ranked gallery (mAP, mAP@k)."""
from __future__ import annotations

from typing import Any, Optional

import torch

from imret.registry import METRICS

from .ground_truth import GalleryLabelsLike
from .metric_inputs import ranked_relevance
from .ranking import AP_MODES, average_precision, check_topk, rank_relevance
from .retrieval_metric import RetrievalMetric


def _check_mode(mode: str) -> str:
    if mode not in AP_MODES:
        raise ValueError(f"mode must be one of {', '.join(AP_MODES)}, got {mode!r}")
    return mode


@METRICS.register_module()
class RetrievalAveragePrecision(RetrievalMetric):
    """Mean average precision in percent (0-100); key ``'retrieval/mAP@{topk}'``, or ``'retrieval/mAP'``.

    Per query, precision is taken at the rank of every relevant gallery item found among the best
    ``topk`` (the whole ranking when ``topk`` is ``None``) and summed; the sum is divided by the
    query's total number of relevant gallery items (mmpretrain's normalisation, also with a cut-off).

    Args:
        topk: ranking cut-off k, or ``None`` for full mAP.
        mode: ``'IR'`` — precision at each relevant rank (the information-retrieval definition);
            ``'integrate'`` — mean of the precisions just before and at each relevant rank, i.e. the
            trapezoidal area under the precision-recall curve (Revisited Oxford/Paris convention).
        collect_device, prefix, gallery_labels, exclude_self: as in :class:`RetrievalRecall` — by
            default ``gt_label`` holds relevant gallery indices; with ``gallery_labels`` it holds the
            query's class label; metainfo ``ignore_gallery_idx`` removes gallery items per query.

    Queries without any relevant gallery item are left out of the average.
    Full data-sample contract: :mod:`imret.evaluation.ground_truth`.
    """

    def __init__(self, topk: Optional[int] = None, mode: str = "IR", collect_device: str = "cpu",
                 prefix: Optional[str] = None, gallery_labels: Optional[GalleryLabelsLike] = None,
                 exclude_self: bool = False) -> None:
        super().__init__(gallery_labels=gallery_labels, exclude_self=exclude_self,
                         collect_device=collect_device, prefix=prefix)
        self.topk = None if topk is None else check_topk(topk)[0]
        if topk is not None and not isinstance(topk, int):
            raise ValueError(f"topk must be a positive int or None (full mAP), got {topk!r}")
        self.mode = _check_mode(mode)

    def score_batch(self, scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
        """(B,) average precision in [0, 1], NaN for queries without relevant items."""
        ranked = rank_relevance(scores, relevant, self.topk)
        return average_precision(ranked, relevant.sum(dim=1), self.mode)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """``{'mAP@k': percent}`` (``'mAP'`` without cut-off)."""
        mean, _ = self.average(results)
        name = "mAP" if self.topk is None else f"mAP@{self.topk}"
        return {name: float(mean) * 100.0}

    @staticmethod
    def calculate(pred: Any, target: Any, topk: Optional[int] = None, pred_indices: bool = False,
                  target_indices: bool = False, mode: str = "IR") -> float:
        """mAP in percent over the queries that have a relevant item.

        ``pred``: (N, M) scores, or ranked gallery-index lists with ``pred_indices=True``.
        ``target``: (N, M) multi-hot, or relevant-index lists with ``target_indices=True``.
        ``topk``: cut-off, ``None`` for the whole ranking.
        """
        k = None if topk is None else check_topk(topk)[0]
        ranked, num_relevant = ranked_relevance(pred, target, k, pred_indices, target_indices)
        ap = average_precision(ranked, num_relevant, _check_mode(mode))
        ap = ap[~torch.isnan(ap)]
        return float(ap.mean()) * 100.0 if ap.numel() else 0.0

"""``RetrievalRecall``: share of queries with a relevant gallery item among the top k."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch

from imret.registry import METRICS

from .ground_truth import GalleryLabelsLike
from .metric_inputs import ranked_relevance
from .ranking import check_topk, rank_relevance, recall_hits
from .retrieval_metric import RetrievalMetric


@METRICS.register_module()
class RetrievalRecall(RetrievalMetric):
    """Recall@k for image retrieval, in percent (0-100), keys ``'retrieval/Recall@{k}'``.

    A query counts as recalled at k when at least one relevant gallery item is among its k
    best-scored items. Queries without any relevant gallery item are left out of the average.

    Args:
        topk: k, or several k values reported together.
        collect_device: ``'cpu'`` or ``'gpu'``, where results are gathered across processes.
        prefix: key prefix, ``'retrieval'`` by default.
        gallery_labels: ``None`` (default): each query's ``gt_label`` lists the indices of its relevant
            gallery items (In-Shop / mmpretrain form). Otherwise the class label of every gallery item,
            in gallery order — a sequence, array or tensor of ints, or a dataset (instance or config
            dict) whose samples' ``gt_label`` are read — and each query's ``gt_label`` is its class label.
        exclude_self: query ``i`` is gallery item ``i`` (the query set is the gallery); leave it out of
            its own ranking and ground truth. Per query, metainfo ``ignore_gallery_idx`` does the same
            for any listed gallery indices (datasets such as ``QueryGalleryDataset`` set it).

    Each data sample needs ``pred_score`` (M,), the similarity to every gallery item; a multi-hot
    ``gt_score`` (M,) takes precedence over ``gt_label``. Full contract:
    :mod:`imret.evaluation.ground_truth`.
    """

    def __init__(self, topk: Union[int, Sequence[int]] = 1, collect_device: str = "cpu", prefix: Optional[str] = None,
                 gallery_labels: Optional[GalleryLabelsLike] = None, exclude_self: bool = False) -> None:
        super().__init__(gallery_labels=gallery_labels, exclude_self=exclude_self,
                         collect_device=collect_device, prefix=prefix)
        self.topk = check_topk(topk)

    def score_batch(self, scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
        """(B, len(topk)) hit flags, NaN rows for queries without relevant items."""
        ranked = rank_relevance(scores, relevant, max(self.topk))
        hits = recall_hits(ranked, self.topk).double()
        hits[relevant.sum(dim=1) == 0] = float("nan")
        return hits

    def compute_metrics(self, results: list) -> dict[str, float]:
        """``{'Recall@k': percent}`` for every k."""
        mean, _ = self.average(results)
        return {f"Recall@{k}": float(mean[i]) * 100.0 for i, k in enumerate(self.topk)}

    @staticmethod
    def calculate(pred: Any, target: Any, topk: Union[int, Sequence[int]], pred_indices: bool = False,
                  target_indices: bool = False) -> list[torch.Tensor]:
        """Recall@k in percent for each k, averaged over the queries that have a relevant item.

        ``pred``: (N, M) scores, or ranked gallery-index lists with ``pred_indices=True``.
        ``target``: (N, M) multi-hot, or relevant-index lists with ``target_indices=True``.
        """
        ks = check_topk(topk)
        ranked, num_relevant = ranked_relevance(pred, target, max(ks), pred_indices, target_indices)
        hits = recall_hits(ranked, ks)[num_relevant > 0]
        if hits.shape[0] == 0:
            return [torch.tensor(0.0) for _ in ks]
        return [hits[:, i].mean() * 100.0 for i in range(len(ks))]

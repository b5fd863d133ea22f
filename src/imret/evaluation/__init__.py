"""Retrieval metrics (registered in ``imret.registry.METRICS``) and their ground-truth contract."""
from .ground_truth import batch_targets, mask_from_indices, mask_from_labels, resolve_gallery_labels
from .ranking import average_precision, check_topk, first_hit_rank, rank_relevance, recall_hits
from .retrieval_average_precision import RetrievalAveragePrecision
from .retrieval_metric import RetrievalMetric
from .retrieval_recall import RetrievalRecall

__all__ = [
    "RetrievalRecall", "RetrievalAveragePrecision", "RetrievalMetric", "batch_targets", "mask_from_indices",
    "mask_from_labels", "resolve_gallery_labels", "average_precision", "check_topk", "first_hit_rank",
    "rank_relevance", "recall_hits",
]

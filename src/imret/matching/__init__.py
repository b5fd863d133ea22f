"""Exact matching: similarity functions, the blockwise top-k engine and the one ranking function.

The torch engine's names are imported on first use, so importing ``imret.matching`` (or ranking numpy
vectors) does not load torch.
"""
from imret.utils.lazy_exports import lazy_exports

from .array_topk import order_arrays, topk_arrays
from .blocks import DEFAULT_BLOCK_BYTES, block_rows_for
from .rank import rank, rank_scores
from .similarity import (SIMILARITY_FUNCTIONS, SimilarityFn, cosine_similarity, dot_product, euclidean,
                         resolve_similarity, similarity_name)

_TORCH_EXPORTS = {
    "as_tensor_rows": "blocks", "gather_rows": "blocks", "iter_gallery_blocks": "blocks",
    "PRECISIONS": "blockwise", "pairwise_similarity": "blockwise", "topk_similarity": "blockwise",
    "bf16_matmul_supported": "lowprecision",
    "RunningTopK": "topk_merge", "order_by_score": "topk_merge",
}

__all__ = sorted([
    "SIMILARITY_FUNCTIONS", "SimilarityFn", "cosine_similarity", "dot_product", "euclidean",
    "resolve_similarity", "similarity_name", "DEFAULT_BLOCK_BYTES", "block_rows_for", "rank", "rank_scores",
    "order_arrays", "topk_arrays", *_TORCH_EXPORTS,
])


__getattr__ = lazy_exports(__name__, _TORCH_EXPORTS)

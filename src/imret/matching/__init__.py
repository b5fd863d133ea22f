from .blocks import DEFAULT_BLOCK_BYTES, as_tensor_rows, block_rows_for, gather_rows, iter_gallery_blocks
from .blockwise import PRECISIONS, pairwise_similarity, topk_similarity
from .lowprecision import bf16_matmul_supported
from .rank import rank, rank_scores
from .similarity import (SIMILARITY_FUNCTIONS, SimilarityFn, cosine_similarity, dot_product, euclidean,
                         resolve_similarity, similarity_name)
from .topk_merge import RunningTopK, order_by_score

__all__ = [
    "SIMILARITY_FUNCTIONS", "SimilarityFn", "cosine_similarity", "dot_product", "euclidean",
    "resolve_similarity", "similarity_name", "iter_gallery_blocks", "pairwise_similarity", "topk_similarity",
    "DEFAULT_BLOCK_BYTES", "PRECISIONS", "as_tensor_rows", "block_rows_for", "gather_rows",
    "bf16_matmul_supported", "RunningTopK", "order_by_score", "rank", "rank_scores",
]

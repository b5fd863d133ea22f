from .blockwise import iter_gallery_blocks, pairwise_similarity, topk_similarity
from .similarity import (SIMILARITY_FUNCTIONS, SimilarityFn, cosine_similarity, dot_product, euclidean,
                         resolve_similarity, similarity_name)

__all__ = [
    "SIMILARITY_FUNCTIONS", "SimilarityFn", "cosine_similarity", "dot_product", "euclidean",
    "resolve_similarity", "similarity_name", "iter_gallery_blocks", "pairwise_similarity", "topk_similarity",
]

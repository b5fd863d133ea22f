"""Re-ranking a search's shortlist (query expansion, k-reciprocal) and DBA on stored gallery vectors."""
from .alpha_query_expansion import AlphaQueryExpansion
from .base import Reranker
from .dba import DBA_PROVENANCE_KEY, dba_vectors, parse_dba
from .gallery_view import GalleryView
from .k_reciprocal import KReciprocalReranker, k_reciprocal_distance
from .query_expansion import AverageQueryExpansion
from .registry import RERANKERS, parse_rerank, parse_reranks, register_reranker
from .shortlist import rerank_search

__all__ = [
    "AlphaQueryExpansion", "AverageQueryExpansion", "DBA_PROVENANCE_KEY", "GalleryView", "KReciprocalReranker",
    "RERANKERS", "Reranker", "dba_vectors", "k_reciprocal_distance", "parse_dba", "parse_rerank",
    "parse_reranks", "register_reranker", "rerank_search",
]

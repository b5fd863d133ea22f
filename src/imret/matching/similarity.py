"""Similarity functions (larger = more similar), name resolution and the kind of a similarity.

Importing this module does not load torch (the functions take torch tensors and import it when called).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Union

if TYPE_CHECKING:
    import torch

SimilarityFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
#: Smallest norm a vector is divided by when normalized (as ``torch.nn.functional.normalize``'s eps).
NORM_EPS = 1e-12


def cosine_similarity(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """(N, C) x (M, C) -> (N, M) cosine similarity."""
    import torch.nn.functional as F

    return F.normalize(queries, dim=-1) @ F.normalize(prototypes, dim=-1).T


def dot_product(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """(N, C) x (M, C) -> (N, M) inner product."""
    return queries @ prototypes.T


def euclidean(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """(N, C) x (M, C) -> (N, M) negative L2 distance."""
    squared = (
        queries.pow(2).sum(-1, keepdim=True)
        + prototypes.pow(2).sum(-1).unsqueeze(0)
        - 2.0 * (queries @ prototypes.T)
    )
    return -squared.clamp_min_(0).sqrt_()


SIMILARITY_FUNCTIONS: dict[str, SimilarityFn] = {
    "cosine_similarity": cosine_similarity,
    "dot_product": dot_product,
    "euclidean": euclidean,
}


def similarity_name(similarity: Union[str, SimilarityFn]) -> str:
    """The registered name of ``similarity``, or ``'callable'`` for a user function."""
    if isinstance(similarity, str):
        resolve_similarity(similarity)
        return similarity
    for name, fn in SIMILARITY_FUNCTIONS.items():
        if fn is similarity:
            return name
    return "callable"


def resolve_similarity(similarity: Union[str, SimilarityFn]) -> SimilarityFn:
    """Return the function for a name in ``SIMILARITY_FUNCTIONS`` or a callable unchanged."""
    if isinstance(similarity, str):
        try:
            return SIMILARITY_FUNCTIONS[similarity]
        except KeyError:
            raise ValueError(
                f"unknown similarity_fn {similarity!r}; valid names are "
                f"{', '.join(SIMILARITY_FUNCTIONS)} (or pass a callable (queries, prototypes) -> scores)"
            ) from None
    if callable(similarity):
        return similarity
    raise TypeError(f"similarity_fn must be a name or a callable, got {type(similarity).__name__}")


def similarity_kind(fn: SimilarityFn) -> str:
    """'cosine', 'dot', 'euclidean' for the built-in functions, else 'callable'."""
    if fn is cosine_similarity:
        return "cosine"
    if fn is dot_product:
        return "dot"
    if fn is euclidean:
        return "euclidean"
    return "callable"

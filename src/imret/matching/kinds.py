"""Per-block score computation for each similarity kind (float32)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .similarity import NORM_EPS, SimilarityFn, similarity_kind

__all__ = ["NORM_EPS", "BlockScorer", "block_scorer", "prepare_queries", "similarity_kind"]

BlockScorer = Callable[[torch.Tensor], torch.Tensor]


def prepare_queries(queries: torch.Tensor, kind: str) -> torch.Tensor:
    """Float32 queries in the form the block scorer expects (unit rows for cosine)."""
    queries = queries.float()
    return F.normalize(queries, dim=-1, eps=NORM_EPS) if kind == "cosine" else queries


class _ScoreBuffer:
    """Reuses one (Q, rows) output so each block does not fault in fresh pages."""

    def __init__(self, num_queries: int, device: torch.device) -> None:
        self.num_queries, self.device = num_queries, device
        self.buffer: torch.Tensor | None = None

    def get(self, width: int) -> torch.Tensor | None:
        if self.buffer is None:
            self.buffer = torch.empty((self.num_queries, width), dtype=torch.float32, device=self.device)
        return self.buffer if self.buffer.shape[1] == width else None


def block_scorer(queries: torch.Tensor, kind: str, fn: SimilarityFn) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``block (B, C) -> scores (Q, B)`` for prepared ``queries``.

    For 'cosine' and 'dot' the returned scores may live in a buffer reused by the next call.
    """
    num_queries, dim = queries.shape
    buffer = _ScoreBuffer(num_queries, queries.device)

    def matmul(block: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (queries.requires_grad or block.requires_grad):
            return queries @ block.T  # autograd cannot write into a reused buffer
        out = buffer.get(block.shape[0])
        return torch.mm(queries, block.T, out=out) if out is not None else queries @ block.T

    if kind == "cosine":

        def cosine_block(block: torch.Tensor) -> torch.Tensor:
            inv_norm = block.norm(dim=1).clamp_min_(NORM_EPS).reciprocal_()
            if num_queries < dim:
                return matmul(block).mul_(inv_norm)
            return matmul(block * inv_norm[:, None])

        return cosine_block
    if kind == "dot":
        return matmul
    return lambda block: fn(queries, block)

"""Exact similarity and top-k over a gallery, one block of gallery rows at a time.

Memory is bounded by the block (queries x block scores); no (N, M, C) tensor is built,
and with ``k`` small the gallery is never fully sorted.
"""
from __future__ import annotations

from typing import Iterator, Union

import numpy as np
import torch
import torch.nn.functional as F

from .similarity import SimilarityFn, cosine_similarity, resolve_similarity

GalleryLike = Union[torch.Tensor, np.ndarray]
DEFAULT_BLOCK_BYTES = 256 * 2**20


def _block_rows(num_queries: int, dim: int, block_bytes: int) -> int:
    per_row = 4 * (max(num_queries, 1) + dim)
    return max(1, block_bytes // per_row)


def iter_gallery_blocks(gallery: GalleryLike, rows: int, device: torch.device | None = None
                        ) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, block)`` float32 tensors of ``rows`` gallery rows (works on memory-mapped arrays)."""
    total = gallery.shape[0]
    for start in range(0, total, rows):
        block = gallery[start:start + rows]
        if isinstance(block, np.ndarray):
            block = torch.from_numpy(np.ascontiguousarray(block))
        block = block.to(device=device, dtype=torch.float32) if device is not None else block.float()
        yield start, block


def _prepare_queries(queries: torch.Tensor, fn: SimilarityFn) -> tuple[torch.Tensor, SimilarityFn]:
    queries = queries.float()
    if fn is cosine_similarity:
        normalized = F.normalize(queries, dim=-1)
        return normalized, lambda q, g: q @ F.normalize(g, dim=-1).T
    return queries, fn


def pairwise_similarity(queries: torch.Tensor, gallery: GalleryLike,
                        similarity: Union[str, SimilarityFn] = "cosine_similarity",
                        block_bytes: int = DEFAULT_BLOCK_BYTES) -> torch.Tensor:
    """Full (N, M) similarity matrix, computed block by block."""
    fn = resolve_similarity(similarity)
    queries, block_fn = _prepare_queries(queries, fn)
    out = torch.empty(queries.shape[0], gallery.shape[0], dtype=torch.float32, device=queries.device)
    rows = _block_rows(queries.shape[0], queries.shape[1], block_bytes)
    for start, block in iter_gallery_blocks(gallery, rows, queries.device):
        out[:, start:start + block.shape[0]] = block_fn(queries, block)
    return out


def topk_similarity(queries: torch.Tensor, gallery: GalleryLike, k: int,
                    similarity: Union[str, SimilarityFn] = "cosine_similarity",
                    block_bytes: int = DEFAULT_BLOCK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` scores and gallery indices per query, best first.

    ``k`` is clamped to the gallery size; ``k=-1`` ranks the whole gallery.
    """
    total = gallery.shape[0]
    if k == -1 or k >= total:
        scores = pairwise_similarity(queries, gallery, similarity, block_bytes)
        sorted_scores, order = torch.sort(scores, dim=1, descending=True, stable=True)
        return sorted_scores, order
    if k <= 0:
        raise ValueError(f"k must be a positive integer or -1 (all), got {k}")
    fn = resolve_similarity(similarity)
    queries, block_fn = _prepare_queries(queries, fn)
    num_queries = queries.shape[0]
    best_scores = torch.full((num_queries, 0), float("-inf"), device=queries.device)
    best_index = torch.empty((num_queries, 0), dtype=torch.long, device=queries.device)
    rows = max(k, _block_rows(num_queries, queries.shape[1], block_bytes))
    for start, block in iter_gallery_blocks(gallery, rows, queries.device):
        block_scores = block_fn(queries, block)
        block_k = min(k, block_scores.shape[1])
        top_scores, top_index = torch.topk(block_scores, block_k, dim=1)
        merged_scores = torch.cat([best_scores, top_scores], dim=1)
        merged_index = torch.cat([best_index, top_index + start], dim=1)
        keep = min(k, merged_scores.shape[1])
        best_scores, where = torch.topk(merged_scores, keep, dim=1)
        best_index = torch.gather(merged_index, 1, where)
    return best_scores, best_index

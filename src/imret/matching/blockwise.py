"""Exact similarity and top-k over a gallery, one block of gallery rows at a time.

Memory is bounded by the block (queries x block scores); no (N, M, C) tensor is built,
and with ``k`` small the gallery is never fully sorted.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

from .blocks import (DEFAULT_BLOCK_BYTES, ROW_ALIGN, GalleryLike, as_tensor_rows, block_rows_for, check_dims,
                     iter_gallery_blocks)
from .faiss_kernel import faiss_block_rows, faiss_block_topk, faiss_kernel_applies
from .kinds import block_scorer, prepare_queries, similarity_kind
from .lowprecision import bf16_matmul_supported, shortlist_size, topk_bf16, warn_if_emulated
from .similarity import SimilarityFn, resolve_similarity
from .topk_merge import RunningTopK, order_by_score

__all__ = ["PRECISIONS", "pairwise_similarity", "topk_similarity"]

PRECISIONS = ("auto", "float32", "bfloat16")
# 'auto' stays in float32: on this project's reference CPU (AVX512-BF16, 2 cores) the bfloat16 matmul
# itself is ~2.5x faster, but block conversion, the shortlist and the re-score cancel the gain end to
# end (benchmarks/README.md). 'bfloat16' remains available, exact, for CPUs where it pays off.
AUTO_USES_BF16 = False
TRANSPOSED_MAX_QUERIES = 256
TRANSPOSED_BLOCK_BYTES = 8 * 2**20


def _as_queries(queries: Union[torch.Tensor, np.ndarray]) -> torch.Tensor:
    tensor = as_tensor_rows(queries)
    if tensor.dim() != 2:
        raise ValueError(f"queries must be a 2-D (N, C) array, got shape {tuple(tensor.shape)}")
    return tensor



def pairwise_similarity(queries: torch.Tensor, gallery: GalleryLike,
                        similarity: Union[str, SimilarityFn] = "cosine_similarity",
                        block_bytes: int = DEFAULT_BLOCK_BYTES) -> torch.Tensor:
    """Full (N, M) similarity matrix, computed block by block."""
    queries = _as_queries(queries)
    check_dims(queries, gallery)
    fn = resolve_similarity(similarity)
    kind = similarity_kind(fn)
    prepared = prepare_queries(queries, kind)
    score = block_scorer(prepared, kind, fn)
    total = gallery.shape[0]
    out = torch.empty(queries.shape[0], total, dtype=torch.float32, device=queries.device)
    rows = block_rows_for(queries.shape[0], queries.shape[1], total, block_bytes)
    for start, block in iter_gallery_blocks(gallery, rows, queries.device):
        out[:, start:start + block.shape[0]] = score(block)
    return out


def _use_bf16(precision: str, kind: str, queries: torch.Tensor, k: int, total: int) -> bool:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float32" or kind == "callable" or queries.device.type != "cpu":
        return False
    if shortlist_size(k, total) >= total:
        return False
    if precision == "bfloat16":  # asked for: runs everywhere (torch emulates bfloat16 where the CPU lacks it)
        warn_if_emulated()
        return True
    return AUTO_USES_BF16 and bf16_matmul_supported()


def _topk_float32(prepared: torch.Tensor, gallery: GalleryLike, k: int, kind: str, fn: SimilarityFn,
                  rows: int, block_bytes: int) -> tuple[torch.Tensor, torch.Tensor]:
    running = RunningTopK(prepared.shape[0], k, device=prepared.device)
    if faiss_kernel_applies(kind, prepared, k):
        rows = faiss_block_rows(gallery.dtype, prepared.shape[1], gallery.shape[0], kind, block_bytes)
        for start, block in iter_gallery_blocks(gallery, rows, prepared.device):
            values, columns = faiss_block_topk(prepared, block, k, kind, fn)
            running.push_selected(values, columns.add_(start))
        return order_by_score(*running.result())
    if kind == "dot" and prepared.shape[0] < TRANSPOSED_MAX_QUERIES:
        # (B, C) @ (C, Q) with top-k down the rows: faster for few queries (measured 1.4-1.6x at Q=64),
        # fastest with blocks of a few MiB (measured 1.2-1.4x over 32 MiB blocks)
        transposed = prepared.T.contiguous()
        rows = min(rows, max(ROW_ALIGN, TRANSPOSED_BLOCK_BYTES // (4 * prepared.shape[1] * ROW_ALIGN) * ROW_ALIGN))
        for start, block in iter_gallery_blocks(gallery, rows, prepared.device):
            running.push_transposed(block @ transposed, start)
        return order_by_score(*running.result())
    score = block_scorer(prepared, kind, fn)
    for start, block in iter_gallery_blocks(gallery, rows, prepared.device):
        running.push(score(block), start)
    return order_by_score(*running.result())


def topk_similarity(queries: torch.Tensor, gallery: GalleryLike, k: int,
                    similarity: Union[str, SimilarityFn] = "cosine_similarity",
                    block_bytes: int = DEFAULT_BLOCK_BYTES,
                    precision: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` scores and gallery indices per query, best first (exact).

    ``k`` is clamped to the gallery size; ``k=-1`` ranks the whole gallery. Equal scores list the
    lower gallery index first. ``precision='bfloat16'`` ranks with a bfloat16 matmul and re-scores
    a shortlist in float32 (falling back to float32 for any query it cannot prove exact), so
    results stay exact; on a CPU without native bfloat16 torch emulates it (slower; an
    ``EmulatedBfloat16Warning`` says so). ``'auto'`` currently means float32 (see AUTO_USES_BF16).
    """
    queries = _as_queries(queries)
    check_dims(queries, gallery)
    total = gallery.shape[0]
    if k == -1 or k >= total:
        scores = pairwise_similarity(queries, gallery, similarity, block_bytes)
        sorted_scores, order = torch.sort(scores, dim=1, descending=True, stable=True)
        return sorted_scores, order
    if k <= 0:
        raise ValueError(f"k must be a positive integer or -1 (all), got {k}")
    fn = resolve_similarity(similarity)
    kind = similarity_kind(fn)
    prepared = prepare_queries(queries, kind)
    rows = max(k, block_rows_for(queries.shape[0], queries.shape[1], total, block_bytes))
    if not _use_bf16(precision, kind, prepared, k, total):
        return _topk_float32(prepared, gallery, k, kind, fn, rows, block_bytes)
    # bfloat16 scores plus their float32 copy: half the rows keep the same memory bound
    scores, index, proven = topk_bf16(prepared, gallery, k, kind, max(k, rows // 2 - rows // 2 % ROW_ALIGN, ROW_ALIGN))
    redo = (~proven).nonzero().squeeze(1)
    if redo.numel():
        redo_scores, redo_index = _topk_float32(prepared[redo], gallery, k, kind, fn, rows, block_bytes)
        scores[redo] = redo_scores
        index[redo] = redo_index
    return scores, index

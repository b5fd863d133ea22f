"""Exact per-block top-k through FAISS's brute-force kernel, for large query batches on the CPU.

Once queries x dims reaches FAISS_MIN_WORK, FAISS's exhaustive search (its blocked sgemm feeding
result heaps) beats a torch matmul followed by ``torch.topk`` on this project's reference CPU by
1.0-1.4x; below it FAISS is 3-5x slower (measured: 256 x 512, 128 x 1024 and 64 x 2048 are fast,
200 x 512, 100 x 1024 and 48 x 2048 are not; benchmarks/README.md). So the engine hands FAISS whole
gallery blocks only above that size. Results keep the engine's contract: exact scores, and of equal
scores at the cut the lower gallery index is kept.
"""
from __future__ import annotations

import faiss
import numpy as np
import torch

from .blocks import block_rows_for
from .kinds import NORM_EPS, block_scorer
from .similarity import SimilarityFn
from .topk_merge import settle_cut

FAISS_MIN_WORK = 2**17  # queries x dims
FAISS_MAX_K = 256
_METRICS = {"dot": faiss.METRIC_INNER_PRODUCT, "cosine": faiss.METRIC_INNER_PRODUCT, "euclidean": faiss.METRIC_L2}


def faiss_kernel_applies(kind: str, queries: torch.Tensor, k: int) -> bool:
    """Whether :func:`faiss_block_topk` serves this search (built-in kinds, CPU, many queries, small k)."""
    num_queries, dim = queries.shape
    return kind in _METRICS and queries.device.type == "cpu" and num_queries * dim >= FAISS_MIN_WORK \
        and k <= FAISS_MAX_K


def faiss_block_rows(gallery_dtype: object, dim: int, total: int, kind: str, block_bytes: int) -> int:
    """Gallery rows per FAISS call; FAISS tiles its own score buffer, so only a converted copy costs memory."""
    copies = kind == "cosine" or gallery_dtype not in (torch.float32, np.float32)
    if not copies:
        return max(total, 1)  # FAISS reads the rows in place: one call, nothing to merge
    return block_rows_for(0, dim, total, block_bytes)  # no score block of ours, only the row copy


def faiss_block_topk(queries: torch.Tensor, block: torch.Tensor, k: int, kind: str, fn: SimilarityFn
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The best ``min(k, len(block))`` (scores, block columns) per prepared query, unordered.

    ``queries`` are float32 and prepared for ``kind`` (unit rows for cosine); ``block`` is float32.
    """
    width = block.shape[0]
    take = min(k, width)
    rows = block
    if kind == "cosine":
        rows = block * block.norm(dim=1).clamp_min_(NORM_EPS).reciprocal_()[:, None]
    found, columns = faiss.knn(queries.numpy(), np.ascontiguousarray(rows.numpy()), min(take + 1, width),
                               _METRICS[kind])
    values = torch.from_numpy(found)
    if kind == "euclidean":
        values = values.clamp_min_(0).sqrt_().neg_()
    index = torch.from_numpy(columns)
    if take < width:
        values, index = settle_cut(values, index, take, lambda rows: block_scorer(queries[rows], kind, fn)(block))
    return values, index

"""Exact top-k through a bfloat16 shortlist re-scored in float32.

The bfloat16 matmul ranks every gallery row; the best ``k + extra`` per query are re-scored in
float32. A rounding-error bound proves, per query, that no row left out of the shortlist can beat
the k-th re-scored score; queries without that proof are reported so the caller can redo them
in float32. Results are therefore exact, never approximate.
"""
from __future__ import annotations

import functools
import warnings

import torch

from .blocks import GalleryLike, gather_rows, iter_gallery_blocks
from .kinds import NORM_EPS
from .topk_merge import RunningTopK, score_order

SHORTLIST_EXTRA = 32
CHUNK = 32
CHUNK_EXTRA = 2
BF16_UNIT = 2.0 ** -8
FP32_UNIT = 2.0 ** -24
RESCORE_CHUNK_BYTES = 32 * 2**20


@functools.lru_cache(maxsize=1)
def bf16_matmul_supported() -> bool:
    """True when this CPU has native bfloat16 dot products that torch uses (oneDNN)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class EmulatedBfloat16Warning(RuntimeWarning):
    """``precision='bfloat16'`` on a CPU without native bfloat16 dot products: torch emulates them."""


def warn_if_emulated() -> None:
    """Warn (``EmulatedBfloat16Warning``) when the bfloat16 path will run on emulated bfloat16 matmuls.

    The results stay exact either way; only the speed differs (emulated: slower than float32).
    """
    if not bf16_matmul_supported():
        warnings.warn("precision='bfloat16': this CPU has no native bfloat16 matmul, so torch emulates it "
                      "(exact, but slower than float32); use precision='float32' or 'auto'",
                      EmulatedBfloat16Warning, stacklevel=3)


def shortlist_size(k: int, total: int) -> int:
    """How many bfloat16 candidates per query are re-scored."""
    return min(total, k + max(k, SHORTLIST_EXTRA))


def _rescore(queries: torch.Tensor, gallery: GalleryLike, index: torch.Tensor, kind: str
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact float32 (similarity, ranking key) of each query against its candidate rows.

    The ranking key equals the similarity except for euclidean, where it is q.g - |g|^2 / 2.
    """
    num_queries, width = index.shape
    dim = queries.shape[1]
    chunk = max(1, RESCORE_CHUNK_BYTES // max(1, width * dim * 4))
    scores = torch.empty(index.shape, dtype=torch.float32, device=queries.device)
    keys = torch.empty_like(scores)
    for lo in range(0, num_queries, chunk):
        hi = min(num_queries, lo + chunk)
        rows = gather_rows(gallery, index[lo:hi].reshape(-1)).to(queries.device).view(hi - lo, width, dim)
        q = queries[lo:hi]
        if kind == "cosine":
            rows = rows / rows.norm(dim=2, keepdim=True).clamp_min_(NORM_EPS)
        dots = torch.bmm(rows, q[:, :, None]).squeeze(2)
        if kind == "euclidean":
            scores[lo:hi] = -(rows - q[:, None, :]).norm(dim=2)
            keys[lo:hi] = dots - 0.5 * rows.square().sum(dim=2)
        else:
            scores[lo:hi] = dots
            keys[lo:hi] = dots
    return scores, keys


def _chunk_candidates(scores: torch.Tensor, chunks: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Columns of the ``chunks`` best groups of CHUNK columns per row, and a cutoff per row.

    Every column left out scores at most the cutoff (the best left-out group maximum).
    """
    num_rows, width = scores.shape
    full = width - width % CHUNK
    groups = full // CHUNK
    tail = torch.arange(full, width, device=scores.device).expand(num_rows, width - full)
    if groups <= chunks:
        columns = torch.arange(width, device=scores.device).expand(num_rows, width)
        cutoff = torch.full((num_rows,), float("-inf"), device=scores.device)
        return torch.gather(scores, 1, columns), columns, cutoff
    maxima = scores[:, :full].reshape(num_rows, groups, CHUNK).amax(dim=2)
    top, which = torch.topk(maxima, chunks + 1, dim=1)
    cutoff = top[:, -1]
    columns = (which[:, :-1, None] * CHUNK + torch.arange(CHUNK, device=scores.device)).reshape(num_rows, -1)
    columns = torch.cat([columns, tail], dim=1)
    return torch.gather(scores, 1, columns), columns, cutoff


def topk_bf16(queries: torch.Tensor, gallery: GalleryLike, k: int, kind: str, rows: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores, indices, proven) for prepared float32 ``queries``; ``proven`` marks exact rows.

    ``kind`` is 'cosine' (queries already unit length), 'dot' or 'euclidean'.
    """
    total, dim = gallery.shape[0], queries.shape[1]
    width = shortlist_size(k, total)
    q_bf16 = queries.bfloat16()
    q_round = q_bf16.float()
    q_round_norm = q_round.norm(dim=1)
    q_round_err = (q_round - queries).norm(dim=1)
    running = RunningTopK(queries.shape[0], width, device=queries.device)
    left_out = torch.full((queries.shape[0],), float("-inf"), device=queries.device)
    max_norm = 0.0
    for start, block in iter_gallery_blocks(gallery, rows, queries.device):
        norms = block.norm(dim=1)
        if kind == "cosine":
            block = block / norms.clamp_min(NORM_EPS)[:, None]
            max_norm = 1.0
        elif block.shape[0]:
            max_norm = max(max_norm, float(norms.max()))
        scores = (q_bf16 @ block.bfloat16().T).float()
        if kind == "euclidean":
            scores.sub_(0.5 * norms.square()[None, :])
        values, columns, cutoff = _chunk_candidates(scores, k + CHUNK_EXTRA)
        torch.maximum(left_out, cutoff, out=left_out)
        running.push_selected(values, columns + start)
    cand_scores, cand_index = running.result()
    cutoff = torch.maximum(cand_scores.min(dim=1).values, left_out)

    exact, keys = _rescore(queries, gallery, cand_index, kind)
    perm = score_order(keys, cand_index)[:, :k]
    kth_key = torch.gather(keys, 1, perm[:, -1:]).squeeze(1)

    g = max_norm * (1.0 + 4 * BF16_UNIT) + 1e-6
    input_err = q_round_norm * BF16_UNIT * g + q_round_err * g
    sum_err = 2 * dim * 2 * FP32_UNIT * q_round_norm * g
    if kind == "euclidean":
        output_err = 2 * BF16_UNIT * q_round_norm * g + dim * FP32_UNIT * g * g
    else:
        output_err = 2 * BF16_UNIT * cutoff.abs()
    bound = cutoff + output_err + input_err + sum_err
    proven = (kth_key > bound) | torch.tensor(width >= total, device=queries.device)
    return torch.gather(exact, 1, perm), torch.gather(cand_index, 1, perm), proven

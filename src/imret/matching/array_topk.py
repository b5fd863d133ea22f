"""The matching engine's numpy path: exact top-k of numpy vectors or a score matrix, without torch.

It keeps the engine's contract (exact float32 scores computed as :mod:`.kinds` computes them, one
block of gallery rows at a time; the tie rule: equal scores list the lower gallery index first, also
at the cut; NaN ranks first, as in torch's descending order) so a search does not have to load torch.
:func:`imret.matching.rank` hands numpy inputs with a built-in similarity here.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np

from .blocks import DEFAULT_BLOCK_BYTES, MIN_BLOCK_ROWS, block_rows_for, check_dims
from .similarity import NORM_EPS

ARRAY_KINDS = ("cosine", "dot", "euclidean")
MERGE_EVERY = 8  # blocks whose winners are buffered before they are merged
_pool: dict = {}
_pool_lock = threading.Lock()


def _block_pool(workers: int) -> ThreadPoolExecutor:
    """The process's thread pool for scoring blocks (numpy releases the GIL in its products)."""
    with _pool_lock:
        pool = _pool.get(workers)
        if pool is None:
            pool = _pool[workers] = ThreadPoolExecutor(workers, thread_name_prefix="imret-topk")
        return pool


def tie_order(scores: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per-row permutation sorting by descending score, lower gallery index first on equal scores
    (NaN first, as torch's descending sort puts it)."""
    keys = -scores
    if np.isnan(keys).any():
        keys = np.where(np.isnan(keys), -np.inf, keys)
        # a real +inf score also has key -inf: NaN must still come before it
        return np.lexsort((index, keys, ~np.isnan(scores)), axis=-1)
    return np.lexsort((index, keys), axis=-1)


def order_arrays(scores: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, index)`` with each row sorted by :func:`tie_order`."""
    perm = tie_order(scores, index)
    return np.take_along_axis(scores, perm, 1), np.take_along_axis(index, perm, 1)


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    return rows / np.maximum(norms, np.float32(NORM_EPS))[:, None]


def prepare_query_array(queries: np.ndarray, kind: str) -> np.ndarray:
    """Float32 queries as the block scorer expects them (unit rows for cosine)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return _unit_rows(queries) if kind == "cosine" else queries


def score_block(queries: np.ndarray, block: np.ndarray, kind: str) -> np.ndarray:
    """(Q, B) float32 scores of prepared queries against a float32 block, as :func:`.kinds.block_scorer`."""
    if kind == "dot":
        return queries @ block.T
    if kind == "cosine":
        inv_norm = np.float32(1.0) / np.maximum(np.sqrt(np.einsum("ij,ij->i", block, block)), np.float32(NORM_EPS))
        if queries.shape[0] < queries.shape[1]:
            return (queries @ block.T) * inv_norm[None, :]
        return queries @ (block * inv_norm[:, None]).T
    if kind == "euclidean":
        squared = (np.einsum("ij,ij->i", queries, queries)[:, None] + np.einsum("ij,ij->i", block, block)[None, :]
                   - np.float32(2.0) * (queries @ block.T))
        return -np.sqrt(np.maximum(squared, np.float32(0.0)))
    raise ValueError(f"the numpy engine ranks {', '.join(ARRAY_KINDS)} similarities, not {kind!r}")


def select_best(scores: np.ndarray, take: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``take`` (scores, columns) of each row of ``scores`` under the tie rule, unordered."""
    num_rows, width = scores.shape
    if take >= width:
        return scores, np.broadcast_to(np.arange(width, dtype=np.int64), scores.shape)
    keys = np.where(np.isnan(scores), np.inf, scores) if np.isnan(scores).any() else scores
    columns = np.argpartition(keys, width - take, axis=1)[:, width - take:]
    values = np.take_along_axis(scores, columns, 1)
    cut = np.take_along_axis(keys, columns, 1).min(axis=1)
    # rows where a dropped column equals the cut: which of the equal scores survived is arbitrary,
    # so those rows keep the lowest columns instead
    tied = np.flatnonzero((keys >= cut[:, None]).sum(axis=1) > take)
    if tied.size:
        columns = columns.astype(np.int64, copy=True)
        values = values.copy()
        full = np.broadcast_to(np.arange(width, dtype=np.int64), (tied.size, width))
        best = tie_order(scores[tied], full)[:, :take]
        columns[tied] = best
        values[tied] = np.take_along_axis(scores[tied], best, 1)
    return values, columns.astype(np.int64, copy=False)


def rank_score_array(scores: np.ndarray, k: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted scores, gallery indices) of an (N, M) numpy score matrix, best first, cut to ``k``
    (None or -1: all); the tie rule of :func:`imret.matching.rank_scores`."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be an (N, M) matrix, got shape {tuple(scores.shape)}")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ValueError("scores contain NaN; cannot rank them")
    total = scores.shape[1]
    take = total if k is None or k == -1 or k >= total else int(k)
    values, columns = select_best(scores, take)
    return order_arrays(values, columns)


def topk_arrays(queries: np.ndarray, gallery: np.ndarray, k: int, kind: str,
                block_bytes: int = DEFAULT_BLOCK_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` float32 scores and int64 gallery indices per query, best first (exact).

    ``gallery`` may be any float dtype or a memory map (read block by block); ``k`` is clamped to the
    gallery size, ``k=-1`` ranks it all; ``kind`` is 'cosine', 'dot' or 'euclidean'.
    """
    if kind not in ARRAY_KINDS:
        raise ValueError(f"the numpy engine ranks {', '.join(ARRAY_KINDS)} similarities, not {kind!r}")
    queries = np.asarray(queries)
    check_dims(queries, gallery)
    if k != -1 and k <= 0:
        raise ValueError(f"k must be a positive integer or -1 (all), got {k}")
    total = gallery.shape[0]
    take = total if k == -1 or k >= total else int(k)
    from imret.utils.threads import array_engine_workers

    prepared = prepare_query_array(queries, kind)
    rows = max(take, block_rows_for(queries.shape[0], queries.shape[1], total, block_bytes), 1)
    workers = array_engine_workers()
    if workers > 1 and total >= 2 * MIN_BLOCK_ROWS:
        # at least one block per worker: blocks are independent, so a busy machine slows each alone
        rows = max(take, MIN_BLOCK_ROWS, min(rows, -(-total // workers)))
    blocks = -(-total // rows) if total else 0
    rows = -(-total // blocks) if blocks else rows  # balanced: the last block is padded by < `blocks` rows

    def best_of(start: int) -> tuple[np.ndarray, np.ndarray]:
        block = _full_block(gallery[start:start + rows], rows)
        values, columns = select_best(score_block(prepared, block, kind)[:, :min(rows, total - start)], take)
        return values, columns + start

    starts = list(range(0, total, rows))
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    wave = max(MERGE_EVERY, workers)  # blocks scored before their winners are merged
    for first in range(0, len(starts), wave):
        part = starts[first:first + wave]
        if workers > 1 and len(part) > 1:
            kept.extend(_block_pool(workers).map(best_of, part))
        else:
            kept.extend(best_of(start) for start in part)
        if len(kept) >= MERGE_EVERY:
            kept = [_merge(kept, take)]
    if not kept:
        return np.zeros((queries.shape[0], 0), np.float32), np.zeros((queries.shape[0], 0), np.int64)
    values, index = _merge(kept, take) if len(kept) > 1 else kept[0]
    return order_arrays(values.astype(np.float32, copy=False), index)


def _full_block(rows: np.ndarray, size: int) -> np.ndarray:
    """``rows`` as float32, zero-padded to ``size`` rows: BLAS picks its kernel by the matrix shape
    (measured: OpenBLAS scores a row differently in a 220-row and a 256-row product), so every block
    of a search has the same shape and equal gallery rows get bit-identical scores."""
    if rows.shape[0] == size:
        return np.ascontiguousarray(rows, dtype=np.float32)
    block = np.zeros((size, rows.shape[1]), np.float32)
    block[:rows.shape[0]] = rows
    return block


def _merge(kept: list[tuple[np.ndarray, np.ndarray]], take: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([v for v, _ in kept], axis=1)
    index = np.concatenate([i for _, i in kept], axis=1)
    if values.shape[1] <= take:
        return values, index
    perm = tie_order(values, index)[:, :take]
    return np.take_along_axis(values, perm, 1), np.take_along_axis(index, perm, 1)

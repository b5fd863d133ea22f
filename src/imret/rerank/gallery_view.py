"""What a re-ranker may ask of a gallery: its size, vectors of given rows, and an exact search."""
from __future__ import annotations

from typing import Optional

import numpy as np

from imret.matching.rank import rank
from imret.matching.similarity import NORM_EPS, SIMILARITY_FUNCTIONS

RERANK_METRICS = ("cosine_similarity", "dot_product")


class GalleryView:
    """Gallery vectors (an array or a memory map, in gallery row order) searched with ``metric``.

    For ``cosine_similarity`` the rows are used unit-normalised, so scores are cosines.
    """

    def __init__(self, vectors: np.ndarray, metric: str = "cosine_similarity") -> None:
        if metric not in SIMILARITY_FUNCTIONS:
            raise ValueError(f"metric must be one of {', '.join(SIMILARITY_FUNCTIONS)}, got {metric!r}")
        if metric not in RERANK_METRICS:
            raise ValueError(f"re-ranking needs a cosine_similarity or dot_product gallery, not {metric!r}")
        if np.ndim(vectors) != 2:
            raise ValueError(f"gallery vectors must be a 2-D (M, C) array, got shape {np.shape(vectors)}")
        self.metric = metric
        # cosine galleries of an index are stored unit-length; others are normalised once, here
        self._vectors = self.prepare(vectors) if metric == "cosine_similarity" and not _unit_rows(vectors) \
            else vectors

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """Float32 rows in the metric's space (unit length for cosine)."""
        out = np.asarray(vectors, dtype=np.float32)
        if self.metric == "cosine_similarity":
            out = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), NORM_EPS)
        return out

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """Float32 vectors of the given rows (any shape of row indices; -1 is not allowed)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"gallery rows must be in [0, {len(self)}), got {int(rows.min())}..{int(rows.max())}")
        flat = rows.reshape(-1)
        order = np.argsort(flat, kind="stable")
        picked = np.empty((flat.size, self.dim), dtype=np.float32)
        picked[order] = self._vectors[flat[order]]
        return picked.reshape(rows.shape + (self.dim,))

    def search(self, queries: np.ndarray, k: int, exclude: Optional[np.ndarray] = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Exact best ``k`` (scores, rows) per query through :func:`imret.matching.rank`.

        ``exclude`` (Q,) names one row per query left out of its results (-1 for none).
        """
        if k > len(self) - (0 if exclude is None else 1):
            raise ValueError(f"asked for {k} neighbours but the gallery has only {len(self)} items"
                             + (" (one excluded per query)" if exclude is not None else ""))
        queries = self.prepare(queries)
        extra = 0 if exclude is None else 1
        scores, rows = rank(queries, self._vectors, k + extra, "dot_product")
        if exclude is None:
            return scores, rows
        return drop_rows(scores, rows, np.asarray(exclude), k)


def drop_rows(scores: np.ndarray, rows: np.ndarray, exclude: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the first ``k`` entries whose row is not ``exclude[q]`` (order kept)."""
    keep = rows != exclude[:, None]
    # rows with nothing excluded drop their last entry instead
    keep[keep.all(axis=1), -1] = False
    out_rows = rows[keep].reshape(rows.shape[0], -1)[:, :k]
    out_scores = scores[keep].reshape(rows.shape[0], -1)[:, :k]
    return out_scores, out_rows


def _unit_rows(vectors: np.ndarray) -> bool:
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float32), axis=1)
    return bool(np.allclose(norms, 1.0, atol=1e-4))


"""FAISS indexes built from any ``index_factory`` string, searched with imret's metrics."""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..matching.similarity import NORM_EPS

ADD_CHUNK_ROWS = 65536
TRAIN_SAMPLE_ROWS = 100_000


def _faiss():
    import faiss  # imported lazily: the exact backend does not need it
    return faiss


def faiss_metric(metric: str) -> int:
    """FAISS metric constant for an imret similarity name."""
    faiss = _faiss()
    if metric in ("cosine_similarity", "dot_product"):
        return faiss.METRIC_INNER_PRODUCT
    if metric == "euclidean":
        return faiss.METRIC_L2
    raise ValueError(f"the faiss backend supports cosine_similarity, dot_product and euclidean, not {metric!r}")


def prepare_vectors(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Contiguous float32 rows, unit length for cosine (norms in float64, so huge rows do not overflow)."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric == "cosine_similarity":
        norms = np.linalg.norm(out.astype(np.float64), axis=1, keepdims=True)
        out = np.ascontiguousarray(out / np.maximum(norms, NORM_EPS), dtype=np.float32)
    return out


def build_faiss_index(vectors: np.ndarray, factory: str, metric: str, seed: int = 0):
    """A FAISS index for ``factory`` (e.g. 'Flat', 'HNSW32', 'IVF1024,PQ32'), trained if needed, with all rows added.

    Row ``i`` of ``vectors`` gets FAISS label ``i``.
    """
    faiss = _faiss()
    count, dim = vectors.shape
    try:
        index = faiss.index_factory(dim, factory, faiss_metric(metric))
    except RuntimeError as exc:
        raise ValueError(f"invalid faiss index_type {factory!r}: {str(exc).splitlines()[-1]}") from None
    if not index.is_trained:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(count, TRAIN_SAMPLE_ROWS, replace=False)) if count > TRAIN_SAMPLE_ROWS \
            else np.arange(count)
        try:
            index.train(prepare_vectors(vectors[sample], metric))
        except RuntimeError as exc:
            raise ValueError(f"cannot train faiss index {factory!r} on {count} vectors: "
                             f"{str(exc).splitlines()[-1]}; add more vectors or choose a smaller index_type "
                             "(e.g. fewer IVF lists)") from None
    for start in range(0, count, ADD_CHUNK_ROWS):
        index.add(prepare_vectors(vectors[start:start + ADD_CHUNK_ROWS], metric))
    return index


def set_search_params(index, params: Optional[Mapping[str, float]]) -> None:
    """Apply search-time parameters such as ``{'efSearch': 128}`` or ``{'nprobe': 32}``."""
    if not params:
        return
    faiss = _faiss()
    text = ",".join(f"{key}={value}" for key, value in params.items())
    try:
        faiss.ParameterSpace().set_index_parameters(index, text)
    except RuntimeError as exc:
        raise ValueError(f"cannot set faiss search parameters {text!r}: {str(exc).splitlines()[-1]}") from None


def faiss_search(index, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores (Q, k) float32, rows (Q, k) int64) with imret's score convention (larger = more similar).

    Missing results (fewer than ``k`` found) have row -1 and score -inf.
    """
    distances, rows = index.search(prepare_vectors(queries, metric), k)
    scores = distances.astype(np.float32)
    if metric == "euclidean":
        scores = -np.sqrt(np.maximum(scores, 0.0))
    scores[rows < 0] = -np.inf
    return scores, rows.astype(np.int64)


def write_faiss_index(index, path: str) -> None:
    """Write ``index`` to ``path`` (not atomic on its own; callers write into a temporary directory).

    Written through a Python file object, so any file name works (FAISS's own path argument is UTF-8 only).
    """
    with open(path, "wb") as handle:
        writer = _faiss().PyCallbackIOWriter(handle.write)
        _faiss().write_index(index, writer)
        del writer


def read_faiss_index(path: str):
    """Read an index written by :func:`write_faiss_index`."""
    with open(path, "rb") as handle:
        reader = _faiss().PyCallbackIOReader(handle.read)
        index = _faiss().read_index(reader)
        del reader
    return index

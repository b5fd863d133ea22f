"""Checks of the ids and arrays passed to any index back end (one rule for every back end)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .names import name_bytes


def as_matrix(values: Any, what: str) -> np.ndarray:
    """``values`` (array, tensor or nested sequence) as a finite float32 (n, dim) array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().float().numpy()
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (n, dim) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return array


def check_ids(ids: Sequence[str], what: str) -> list[str]:
    """``ids`` as a list of distinct, non-empty, storable strings; a ``TypeError``/``ValueError`` otherwise."""
    if isinstance(ids, str):
        raise TypeError(f"{what}: ids must be a list of strings, not a single string")
    ids = list(ids)
    bad = [i for i in ids if not isinstance(i, str) or not i]
    if bad:
        raise TypeError(f"{what}: ids must be non-empty strings, got {bad[0]!r}")
    seen: set[str] = set()
    for key in ids:
        name_bytes(key)
        if key in seen:
            raise ValueError(f"{what}: id {key!r} appears twice in the same call")
        seen.add(key)
    return ids
